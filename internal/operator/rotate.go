package operator

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/clickwrap-rotator/clickwrap-rotator/rotation"
)

// Errors StartRotation wraps around Secrets Manager's answer.
var (
	// ErrPreviousIncomplete: AWSPENDING is on a version that is not
	// AWSCURRENT ("A previous rotation isn't complete").
	ErrPreviousIncomplete = errors.New("a previous rotation is not complete")
	// ErrNotConfigured: the secret has no rotation function.
	ErrNotConfigured = errors.New("rotation is not configured for this secret")
)

// RotationBlocker returns the finding that makes starting a rotation
// pointless or harmful, if any: a stuck or running rotation (RotateSecret
// would fail), rotation not enabled (RotateSecret would turn it on with
// whatever configuration is stored: that is for whoever owns the
// configuration), no AWSCURRENT value, a malformed one, or an unusable
// credentials secret in the split form (createSecret would fail on any of
// them, mint nothing and leave AWSPENDING stuck).
func RotationBlocker(d Diagnosis) (Finding, bool) {
	for _, f := range d.Findings() {
		switch f.State {
		case StateEmpty, StateStuck, StateInProgress, StateNotEnabled, StateMalformed, StateCredentialsUnusable:
			return f, true
		}
	}
	return Finding{}, false
}

// StartRotation calls RotateSecret with the rotation configuration the
// secret already has (no function ARN, no rules) and returns the new pending
// version. Rotation runs asynchronously in Secrets Manager; follow it with
// Wait. Should the answer name no version, the version AWSPENDING is on is
// looked up; "" with a nil error means it could not be told.
//
// When RotateSecret fails, it may have failed after making the pending
// version (it makes it, then invokes the function): the error is then a
// [*RotateError], which says whether AWSPENDING was left.
func (o *Operator) StartRotation(ctx context.Context, arn string) (string, error) {
	out, err := o.Secrets.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String(arn)})
	if err == nil && aws.ToString(out.VersionId) == "" {
		if stages, err := o.versionStages(ctx, arn); err == nil {
			return VersionWithStage(stages, rotation.StagePending), nil
		}
		return "", nil
	}
	if err != nil {
		var inv *types.InvalidRequestException
		if errors.As(err, &inv) {
			msg := strings.ToLower(inv.ErrorMessage())
			switch {
			case strings.Contains(msg, "previous rotation"):
				return "", fmt.Errorf("%w: %w", ErrPreviousIncomplete, err)
			case strings.Contains(msg, "lambda"), strings.Contains(msg, "not configured"):
				return "", fmt.Errorf("%w: %w", ErrNotConfigured, err)
			}
		}
		re := &RotateError{Err: o.explain(err)}
		if ctx.Err() == nil {
			if stages, err := o.versionStages(ctx, arn); err == nil {
				re.Checked = true
				if p := VersionWithStage(stages, rotation.StagePending); p != "" && p != VersionWithStage(stages, rotation.StageCurrent) {
					re.Pending = p
				}
			}
		}
		return "", re
	}
	return aws.ToString(out.VersionId), nil
}

// RotateError is a RotateSecret call that failed. RotateSecret makes the new
// version and labels it AWSPENDING before it invokes the rotation function,
// so a failure (the function cannot be invoked, say) may leave that label
// behind, and until it is removed every rotation fails with "A previous
// rotation isn't complete".
type RotateError struct {
	Err error
	// Checked reports that the stages could be read after the failure;
	// Pending is then the version that holds AWSPENDING but not AWSCURRENT,
	// "" when none does.
	Checked bool
	Pending string
}

func (e *RotateError) Error() string { return "RotateSecret: " + e.Err.Error() }
func (e *RotateError) Unwrap() error { return e.Err }
