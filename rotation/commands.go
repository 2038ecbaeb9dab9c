package rotation

import "fmt"

// RemovePendingCommand is the AWS CLI command that removes AWSPENDING from
// version of the secret arn: the fix for a stuck rotation. It is the command
// the rotation's own error names when a pending version can never pass and
// the label stays on it; rotatorctl gives the same one.
func RemovePendingCommand(arn, version string) string {
	return fmt.Sprintf("aws secretsmanager update-secret-version-stage --secret-id %s --version-stage %s --remove-from-version-id %s",
		arn, StagePending, version)
}
