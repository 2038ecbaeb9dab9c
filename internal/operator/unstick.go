package operator

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/clickwrap-rotator/clickwrap-rotator/rotation"
)

// UnstickPlan is the one change Unstick makes, or why it makes none.
type UnstickPlan struct {
	Report *Report
	// Version is the version to remove AWSPENDING from; Current holds
	// AWSCURRENT and is not touched.
	Version, Current string
	// Command is the AWS CLI equivalent of the change.
	Command string
	// Refusal, when not empty, says why nothing may be changed.
	Refusal string
}

// PlanUnstick inspects the secret (checking the pending token, whose
// rejection proves the rotation can never pass) and plans the removal of
// AWSPENDING. It refuses when no version has AWSPENDING, when AWSPENDING is
// on the AWSCURRENT version (a finished rotation may leave it there; it
// blocks nothing), and when the rotation may still be running (younger than
// stuckAfter with nothing showing that it failed). With rotation off no
// rotation can be running, so a pending version is stuck whatever its age
// ([Diagnose]).
func (o *Operator) PlanUnstick(ctx context.Context, secretID string, stuckAfter time.Duration) (*UnstickPlan, error) {
	r, err := o.Inspect(ctx, secretID, InspectOptions{VerifyPending: true, StuckAfter: stuckAfter})
	if err != nil {
		return nil, err
	}
	d := r.Diagnosis
	plan := &UnstickPlan{Report: r, Version: d.PendingVersion, Current: d.CurrentVersion}
	pendingOnCurrent := slices.Contains(r.desc.VersionIdsToStages[d.CurrentVersion], rotation.StagePending)
	switch {
	case d.PendingVersion == "" && pendingOnCurrent:
		plan.Refusal = fmt.Sprintf("Nothing is stuck: AWSPENDING is on the AWSCURRENT version %s, as a finished rotation may leave it. "+
			"It blocks nothing, and AWSPENDING is only removed from a version that is not AWSCURRENT.", d.CurrentVersion)
	case d.PendingVersion == "":
		plan.Refusal = "Nothing is stuck: no version has AWSPENDING."
	case d.Has(StateStuck):
		plan.Command = rotation.RemovePendingCommand(r.Secret.ARN, d.PendingVersion)
	default:
		msg := "Not stuck (yet): a rotation may still be running."
		for _, f := range d.Findings() {
			if f.State == StateInProgress {
				msg = f.Message
			}
		}
		plan.Refusal = msg + " Wait for it, or, if you know it has failed, run unstick again with --stuck-after 0s."
	}
	return plan, nil
}

// ErrRemovedUnread: Unstick made the change, but reading the stages
// afterwards failed. The change stands; only the report is missing.
var ErrRemovedUnread = errors.New("AWSPENDING was removed, but reading the stages again failed")

// ErrStagesChanged: the stages changed between PlanUnstick and Unstick.
var ErrStagesChanged = errors.New("the secret's stages changed since the plan was made; nothing was changed")

// Unstick makes the planned change with one UpdateSecretVersionStage call
// (VersionStage AWSPENDING, RemoveFromVersionId the stuck version) and
// returns the versions afterwards. It first checks, with DescribeSecret,
// that AWSPENDING is still on that version and that it is still not
// AWSCURRENT; if not it changes nothing and returns ErrStagesChanged.
func (o *Operator) Unstick(ctx context.Context, plan *UnstickPlan) ([]VersionInfo, error) {
	if plan.Refusal != "" || plan.Version == "" {
		return nil, errors.New("nothing to unstick: " + plan.Refusal)
	}
	arn := plan.Report.Secret.ARN
	desc, err := o.describe(ctx, arn)
	if err != nil {
		return nil, err
	}
	stages := desc.VersionIdsToStages[plan.Version]
	if !slices.Contains(stages, rotation.StagePending) || slices.Contains(stages, rotation.StageCurrent) {
		return nil, fmt.Errorf("%w: version %s now has the stages %v", ErrStagesChanged, plan.Version, stages)
	}
	if _, err := o.Secrets.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
		SecretId:            aws.String(arn),
		VersionStage:        aws.String(rotation.StagePending),
		RemoveFromVersionId: aws.String(plan.Version),
	}); err != nil {
		return nil, o.explain(fmt.Errorf("removing AWSPENDING from version %s: %w", plan.Version, err))
	}
	after, err := o.describe(ctx, arn)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRemovedUnread, err)
	}
	versions, _ := o.listVersions(ctx, arn)
	return versionInfos(after, versions), nil
}
