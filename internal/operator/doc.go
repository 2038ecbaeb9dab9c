// Package operator is what `rotatorctl` does, as a library: it inspects a
// rotated Clickwrap secret and diagnoses it ([Operator.Inspect], [Diagnose]),
// proves a token with the Bearer check ([Operator.Verify]), follows a
// rotation until it finishes or fails ([Operator.Wait]), and removes a stuck
// AWSPENDING label ([Operator.PlanUnstick], [Operator.Unstick]).
//
// It returns data: a [Report] (whose JSON form is `rotatorctl status
// --json`), a [Diagnosis] whose findings say in plain words what is wrong and
// give the exact command that fixes it, a [VerifyResult], the [Progress] of a
// rotation. Printing them for a person is the command's business.
//
// The diagnosis belongs here, not in the rotation package: it judges a secret
// from outside, as an operator sees it, while rotation holds the contract the
// rotation function implements. It reuses rotation's stage names, its
// [rotation.IsPermanent] and the fix its errors name
// ([rotation.RemovePendingCommand]), and the clickwrap package for the secret
// format and the Bearer check. It takes the Secrets Manager client and the
// Clickwrap client as interfaces, so tests run it against the Secrets Manager
// emulator and the Clickwrap sandbox. An error about the AWS credentials or
// about reaching Secrets Manager carries a hint that names the region and the
// endpoint and says what to check ([Connection], [HintOf]).
//
// No secret value leaves this package: a report shows each field of a secret
// as present or absent, and a token at most as its [clickwrap.Fingerprint].
// The one exception is client_ids, which are not secrets ([CredentialsInfo]
// says why it shows them); a client_secret is never shown, from the token
// secret or from a credentials secret, which is read to be checked and
// never to mint.
package operator
