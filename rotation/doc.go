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
// It holds the contract alone, and what a caller needs to act on a step's
// outcome ([StepError], [IsPermanent], [RemovePendingCommand]). Judging a
// rotated secret from outside (healthy, stuck, about to expire) and printing
// anything for a person are not its business: internal/operator diagnoses,
// and cmd/rotatorctl prints.
//
// Every step is idempotent, because Secrets Manager retries a failed rotation
// by running all four steps again, and each step first checks the event
// against DescribeSecret in the order of the AWS rotation template:
// rotation enabled, the version known, the version already AWSCURRENT
// (nothing to do), the version AWSPENDING. A step never logs or returns a
// secret value or the RotationToken.
//
// # The invariant
//
// AWSCURRENT moves only to a version whose credential passed
// CredentialService.Verify, in this container's testSecret or again in
// finishSecret, which verifies whatever this container did not; never to a
// version whose credential failed Verify, that holds no credential
// ([ErrNoCredential]), or that was made from an AWSCURRENT that has since
// been replaced (known when this container made the version and, for any
// version, when the CredentialService is a [SourceMatcher], as the Clickwrap
// one is; without one, a version of unknown origin cannot be compared).
// With the Clickwrap CredentialService, Verify passes only on the API's own
// success answer: a 2xx JSON object in the API's shape (with "data") from
// the api_url host, with no redirect followed (clickwrap.Client.Check). So AWSCURRENT moves only to a token
// that got one; cmd/rotator's end-to-end tests and the fault matrix check
// it under sign-in redirects, HTML pages and CDN challenges.
//
// A pending version is abandoned (AWSPENDING removed from it) only when it
// can never pass, or when it is stale. It can never pass when Verify's
// failure is permanent once the version is older than
// [Rotator.PropagationGrace], when it holds no credential (at once: no wait
// changes that), or when its value is not a SecretString. It is stale when
// it was made from an AWSCURRENT that has since been replaced.
//
// # Abandoning a pending version
//
// A deliberate addition to the AWS template: a pending version that can
// never pass (versions are immutable) is not left to keep the secret stuck
// ("A previous rotation isn't complete") until someone removes the label by
// hand. testSecret removes AWSPENDING from it; Secrets Manager's own
// retries of that rotation then stop at the checks, and the next rotation
// starts afresh. That covers a credential the service rejects (after the
// PropagationGrace, since many services accept a new credential only a
// moment after issuing it), a value with no credential, and a version made
// from an AWSCURRENT that the owner replaced (put-secret-value) while the
// rotation waited for its retry: testing that stale copy again would fail
// again (say the owner fixed a wrong api_url), and promoting it would undo
// the edit. Such a version is abandoned before anything is verified, and the
// next rotation starts from the new value.
//
// The configuration test (RotateImmediately=false), in which Secrets
// Manager copies AWSCURRENT into a pending version and invokes testSecret
// alone, asks whether rotation can work. When the CredentialService is a
// [ConfigurationChecker] (the Clickwrap one is, and a [SourceMatcher], which
// the checker needs to be called in every configuration test), the
// configuration is checked without minting: a split-form secret whose credentials secret is
// missing or malformed fails the test, not the first rotation. A first
// secret that holds no credential yet passes: its outcome says so, and the
// version is not counted as verified. A rejected AWSCURRENT credential
// fails the test with an error saying that consumers are failing now and a
// rotation replaces it; the copy can never pass, and is abandoned as any
// such version is, so that it cannot block that rotation.
//
// # Calls
//
// A rotation that succeeds first time makes 9 calls to Secrets Manager
// (4 DescribeSecret, 3 GetSecretValue, 1 PutSecretValue,
// 1 UpdateSecretVersionStage), and one NewPending and one Verify. Other paths
// cost more, only where they run:
//   - testSecret in a container that did not store the pending version from
//     the AWSCURRENT that is still current (the step ran in another
//     container, the configuration test, AWSCURRENT replaced meanwhile):
//     1 more GetSecretValue (AWSCURRENT), when the CredentialService is a
//     [SourceMatcher], to compare the values; a finishSecret in the same
//     container then needs no read for that check;
//   - testSecret of a value with no credential, or whose credential is
//     refused for good, in a container that did not mint it: 1 more
//     GetSecretValue (AWSCURRENT), unless it was read already, to tell the
//     configuration test; that test costs 1 DescribeSecret, 2 GetSecretValue and 1 Verify,
//     and one CheckConfiguration with a [ConfigurationChecker] (the Clickwrap
//     one reads the credentials secret of a split-form secret: 1 more
//     GetSecretValue);
//   - abandoning a version: 1 UpdateSecretVersionStage; a stale version
//     costs no Verify;
//   - finishSecret in a container that did not verify the version: up to
//     2 more GetSecretValue (the pending value, and AWSCURRENT to compare)
//     and 1 more Verify;
//   - a permanent Verify failure within the PropagationGrace: 1 more Verify
//     per try, no more calls to Secrets Manager;
//   - a createSecret retry whose read of the pending version lags a write
//     this container made: 1 DescribeSecret and 2 GetSecretValue, and
//     nothing minted or written.
package rotation
