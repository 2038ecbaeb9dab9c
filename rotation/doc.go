// Package rotation implements the four-step AWS Secrets Manager rotation
// contract (createSecret, setSecret, testSecret, finishSecret) for a
// credential that a service can mint and prove, independently of which
// service that is.
//
// A [Rotator] depends on two small interfaces that this package declares:
// [SecretsManager], the four Secrets Manager calls it makes (the real
// *secretsmanager.Client satisfies it), and [CredentialService], which makes
// the pending credential from the current secret and proves a credential
// works. The clickwrap package provides the Clickwrap one.
//
// Every step is idempotent, because Secrets Manager retries a failed rotation
// by running all four steps again, and each step first checks the event
// against DescribeSecret in the order of the AWS rotation template:
// rotation enabled, the version known, the version already AWSCURRENT
// (nothing to do), the version AWSPENDING. A step never logs or returns a
// secret value or the RotationToken.
//
// One deliberate addition to the AWS template: a pending version whose
// credential the service rejects (or whose value is malformed) can never
// pass, since versions are immutable, so testSecret removes AWSPENDING from
// it instead of leaving the secret stuck ("A previous rotation isn't
// complete") until someone removes the label by hand. Secrets Manager's own
// retries of that rotation then stop at the checks, and the next rotation
// starts afresh.
//
// Calls to Secrets Manager for a rotation that succeeds first time: 9
// (4 DescribeSecret, 3 GetSecretValue, 1 PutSecretValue,
// 1 UpdateSecretVersionStage), and one NewPending and one Verify.
package rotation
