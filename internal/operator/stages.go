package operator

import (
	"context"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/clickwrap-rotator/clickwrap-rotator/rotation"
)

// Staging labels: which version holds a label, and the versions with their
// labels in the order status shows them.

// versionStages is DescribeSecret's VersionIdsToStages for secret arn: the
// staging labels each version holds. Its error is DescribeSecret's.
func (o *Operator) versionStages(ctx context.Context, arn string) (map[string][]string, error) {
	desc, err := o.Secrets.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(arn)})
	if err != nil {
		return nil, err
	}
	return desc.VersionIdsToStages, nil
}

// versionInfos lists the labelled versions, newest first. DescribeSecret's
// map is authoritative for the stages; the listing adds creation dates.
func versionInfos(desc *secretsmanager.DescribeSecretOutput, listed []types.SecretVersionsListEntry) []VersionInfo {
	out := []VersionInfo{}
	seen := map[string]bool{}
	for _, v := range listed {
		id := aws.ToString(v.VersionId)
		stages, ok := desc.VersionIdsToStages[id]
		if !ok {
			stages = v.VersionStages
		}
		vi := VersionInfo{VersionID: id, Stages: sortStages(stages)}
		if v.CreatedDate != nil {
			vi.Created = v.CreatedDate.UTC()
		}
		out = append(out, vi)
		seen[id] = true
	}
	for id, stages := range desc.VersionIdsToStages {
		if !seen[id] {
			out = append(out, VersionInfo{VersionID: id, Stages: sortStages(stages)})
		}
	}
	slices.SortStableFunc(out, func(a, b VersionInfo) int {
		if c := b.Created.Compare(a.Created); c != 0 {
			return c
		}
		// Made in the same instant (the clock's resolution): in rotation
		// order, AWSCURRENT first.
		if c := stagesRank(a.Stages) - stagesRank(b.Stages); c != 0 {
			return c
		}
		return strings.Compare(a.VersionID, b.VersionID)
	})
	return out
}

// VersionWithStage returns the version that holds stage in DescribeSecret's
// VersionIdsToStages, or "".
func VersionWithStage(versionIDsToStages map[string][]string, stage string) string {
	for id, stages := range versionIDsToStages {
		if slices.Contains(stages, stage) {
			return id
		}
	}
	return ""
}

// stageRank orders the staging labels in rotation order: AWSCURRENT,
// AWSPENDING, AWSPREVIOUS, then any other.
func stageRank(s string) int {
	switch s {
	case rotation.StageCurrent:
		return 0
	case rotation.StagePending:
		return 1
	case rotation.StagePrevious:
		return 2
	}
	return 3
}

// stagesRank is the rank of a version's first label, its stages sorted by
// sortStages (4 for none).
func stagesRank(stages []string) int {
	if len(stages) == 0 {
		return 4
	}
	return stageRank(stages[0])
}

// sortStages puts the rotation labels first, in rotation order.
func sortStages(stages []string) []string {
	rank := stageRank
	out := slices.Clone(stages)
	if out == nil {
		out = []string{}
	}
	slices.SortStableFunc(out, func(a, b string) int {
		if c := rank(a) - rank(b); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	return out
}
