// Package operator is what `rotatorctl` does, as a library: it inspects a
// rotated Clickwrap secret and diagnoses it ([Operator.Inspect]), proves a
// token with the Bearer check ([Operator.Verify]), follows a rotation until
// it finishes or fails ([Operator.Wait]), and removes a stuck AWSPENDING
// label ([Operator.PlanUnstick], [Operator.Unstick]).
//
// It reuses the rotation package for the diagnosis and the stage names, and
// the clickwrap package for the secret format and the Bearer check. It takes
// the Secrets Manager client and the Clickwrap client as interfaces, so tests
// run it against the Secrets Manager emulator and the Clickwrap sandbox.
//
// No secret value leaves this package: a report shows each field of a secret
// as present or absent, and a token at most as its [clickwrap.Fingerprint].
package operator
