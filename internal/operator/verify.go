package operator

import (
	"context"
	"errors"
	"fmt"
	"strings"

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
//
// The stage is matched as Secrets Manager spells it, whatever the case it is
// given in: AWSCURRENT, AWSPENDING and AWSPREVIOUS always, another label when
// exactly one version holds a label that differs from it only in case
// (VerifyResult.Stage is then that label).
func (o *Operator) Verify(ctx context.Context, secretID, stage string) (*VerifyResult, error) {
	stage = CanonicalStage(stage)
	// DescribeSecret first, so that "no such secret" and "no such stage"
	// (both ResourceNotFoundException from GetSecretValue) are told apart.
	desc, err := o.describe(ctx, secretID)
	if err != nil {
		return nil, err
	}
	r := &VerifyResult{Name: aws.ToString(desc.Name), ARN: aws.ToString(desc.ARN), Stage: stage}
	r.VersionID = VersionWithStage(desc.VersionIdsToStages, stage)
	if r.VersionID == "" {
		if id, label, ok := versionWithStageFold(desc.VersionIdsToStages, stage); ok {
			r.VersionID, r.Stage, stage = id, label, label
		}
	}
	if r.VersionID == "" {
		r.Outcome, r.Detail = VerifyNoToken, fmt.Sprintf("no version of the secret has the stage %s", stage)
		if stage == rotation.StageCurrent {
			r.Detail += ": the secret has no value yet"
		}
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
		return nil, o.explain(fmt.Errorf("reading the %s value: %w", stage, err))
	case s.AccessToken == "":
		r.Outcome, r.Detail = VerifyNoToken, fmt.Sprintf("the %s value has no access_token yet: rotate to mint one", stage)
		return r, nil
	}
	r.Fingerprint = clickwrap.Fingerprint(s.AccessToken)
	c := o.check(ctx, s)
	r.Endpoint, r.Outcome, r.Detail = c.Endpoint, c.Result, c.Detail
	return r, nil
}

// CanonicalStage spells the staging labels Secrets Manager reserves
// (AWSCURRENT, AWSPENDING, AWSPREVIOUS) as it does, whatever their case; it
// returns any other label as given, and AWSCURRENT for "".
func CanonicalStage(stage string) string {
	stage = strings.TrimSpace(stage)
	if stage == "" {
		return rotation.StageCurrent
	}
	for _, s := range []string{rotation.StageCurrent, rotation.StagePending, rotation.StagePrevious} {
		if strings.EqualFold(stage, s) {
			return s
		}
	}
	return stage
}

// versionWithStageFold finds the version holding a label equal to stage but
// for case, when exactly one label matches so.
func versionWithStageFold(versionIDsToStages map[string][]string, stage string) (id, label string, ok bool) {
	n := 0
	for v, stages := range versionIDsToStages {
		for _, s := range stages {
			if strings.EqualFold(s, stage) {
				id, label = v, s
				n++
			}
		}
	}
	return id, label, n == 1
}
