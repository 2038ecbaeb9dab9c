package operator

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/clickwrap-rotator/clickwrap-rotator/clickwrap"
	"github.com/clickwrap-rotator/clickwrap-rotator/rotation"
)

// VerifyNoToken is the VerifyResult.Outcome when there is no token to check:
// no version has the stage, the version has no value yet, the value is
// malformed, or it holds no access_token.
const VerifyNoToken = "no-token"

// VerifyResult is the outcome of Verify.
type VerifyResult struct {
	Name, ARN string
	Stage     string
	VersionID string
	// Fingerprint is clickwrap.Fingerprint of the token checked.
	Fingerprint string
	// Endpoint is the URL checked (without its query).
	Endpoint string
	// Outcome is CheckAccepted, CheckRejected, CheckError or VerifyNoToken.
	Outcome string
	// Detail says why, for anything but CheckAccepted. It never holds a
	// secret value.
	Detail string
}

// Verify makes the Bearer check (clickwrap.Client.Check against the secret's
// api_url) with the token of the version that holds stage (AWSCURRENT when
// empty). An error means Secrets Manager could not be asked: the secret
// itself could not be found or read.
func (o *Operator) Verify(ctx context.Context, secretID, stage string) (*VerifyResult, error) {
	if stage == "" {
		stage = rotation.StageCurrent
	}
	// DescribeSecret first, so that "no such secret" and "no such stage"
	// (both ResourceNotFoundException from GetSecretValue) are told apart.
	desc, err := o.describe(ctx, secretID)
	if err != nil {
		return nil, err
	}
	r := &VerifyResult{Name: aws.ToString(desc.Name), ARN: aws.ToString(desc.ARN), Stage: stage}
	r.VersionID = VersionWithStage(desc.VersionIdsToStages, stage)
	if r.VersionID == "" {
		r.Outcome, r.Detail = VerifyNoToken, fmt.Sprintf("no version of the secret has the stage %s", stage)
		return r, nil
	}
	s, err := o.readSecret(ctx, r.ARN, r.VersionID, stage)
	var bad *malformedError
	switch {
	case notFound(err):
		r.Outcome, r.Detail = VerifyNoToken, fmt.Sprintf("version %s has no value yet", r.VersionID)
		return r, nil
	case errors.As(err, &bad):
		r.Outcome, r.Detail = VerifyNoToken, bad.Error()
		return r, nil
	case err != nil:
		return nil, fmt.Errorf("reading the %s value: %w", stage, err)
	case s.AccessToken == "":
		r.Outcome, r.Detail = VerifyNoToken, fmt.Sprintf("the %s value has no access_token yet: rotate to mint one", stage)
		return r, nil
	}
	r.Fingerprint = clickwrap.Fingerprint(s.AccessToken)
	c := o.check(ctx, s)
	r.Endpoint, r.Outcome, r.Detail = c.Endpoint, c.Result, c.Detail
	return r, nil
}
