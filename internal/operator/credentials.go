package operator

import (
	"context"
	"errors"
	"fmt"

	"github.com/clickwrap-rotator/clickwrap-rotator/clickwrap"
)

// The forms of a token secret (CredentialsInfo.Form): where the API
// application's client credentials are kept (docs/credentials-secret.md).
const (
	// FormInline: the token secret holds client_id and client_secret, so
	// whoever can read the token can also mint tokens.
	FormInline = "inline"
	// FormSplit: the token secret names a credentials secret in
	// credentials_secret, which holds one or two applications and which
	// only the rotation function needs to read.
	FormSplit = "split"
)

// What reading a credentials secret may find (CredentialsInfo.Value), besides
// ValueOK, ValueMalformed (not a usable credentials secret: the problem
// names the field) and ValueUnreadable (Secrets Manager refused the read:
// access denied, or its KMS key cannot decrypt it).
const (
	// ValueMissing: no such secret, or it has no AWSCURRENT value.
	ValueMissing ValueKind = "missing"
	// ValueReadFailed: the read failed for a reason that may pass
	// (throttling, an HTTP 5xx, the network): nothing is concluded.
	ValueReadFailed ValueKind = "read-failed"
)

// CredentialsInfo says where the AWSCURRENT token secret keeps the client
// credentials, which API application minted its token, and which one the
// next rotation mints with. It is `credentials` in `rotatorctl status
// --json`.
//
// It shows client_ids, where the rest of the report shows a field only as
// present or absent. A client_id is not a secret: it names an API
// application, minting also takes that application's client_secret, and
// the split form records it in the token secret, which every consumer
// reads. Telling the applications apart by name is what an operator needs
// to follow the alternation and to match a token to the application in
// Clickwrap's console. It never holds a client_secret, an access token or
// anything else from the credentials secret.
type CredentialsInfo struct {
	// Form is FormInline or FormSplit.
	Form string `json:"form"`
	// ClientID is the client_id of the application that minted the
	// AWSCURRENT token: the token secret's client_id (in the inline form,
	// its one application). Empty in the split form until a rotation has
	// recorded one.
	ClientID string `json:"client_id,omitempty"`
	// ClientSecretInTokenSecret reports that the token secret holds a
	// client_secret: whoever can read the token can mint tokens. True in
	// the inline form, false in the split form (clickwrap.ParseSecret
	// refuses a client_secret beside credentials_secret).
	ClientSecretInTokenSecret bool `json:"client_secret_in_token_secret"`
	// Warning says so in plain words, and where the split form is
	// described (inline form only).
	Warning string `json:"warning,omitempty"`

	// Secret is the credentials secret as credentials_secret names it
	// (an ARN, or a name in the token secret's account and region).
	// Split form only, as are the fields below.
	Secret string `json:"secret,omitempty"`
	// Value is what the one GetSecretValue of its AWSCURRENT version found:
	// ValueOK, ValueMissing, ValueUnreadable, ValueMalformed or
	// ValueReadFailed, with Problem saying why when it is not ValueOK. The
	// problem names the secret and the field at fault, never a value.
	Value   ValueKind `json:"value,omitempty"`
	Problem string    `json:"problem,omitempty"`
	// Applications lists the client_ids of its applications (one or two),
	// in its order, when Value is ValueOK.
	Applications []string `json:"applications,omitempty"`
	// NextClientID is the client_id of the application the next rotation
	// mints with ([clickwrap.Credentials.Next]); in the inline form, the
	// one application. Empty when the credentials secret is not usable.
	NextClientID string `json:"next_client_id,omitempty"`
}

// inlineWarning is CredentialsInfo.Warning in the inline form.
const inlineWarning = "The token secret holds the client_secret: anyone who can read the token can also mint tokens. " +
	"To keep it from readers of the token, move it to a credentials secret that only the rotation function reads " +
	"(the split form: docs/credentials-secret.md)."

// credentials describes where the well-formed token secret s keeps its
// client credentials. In the split form it reads the credentials secret's
// AWSCURRENT version with one GetSecretValue, as createSecret does, and
// checks it with clickwrap.ParseCredentials. It never mints.
func (o *Operator) credentials(ctx context.Context, s *clickwrap.Secret) *CredentialsInfo {
	if s.CredentialsSecret == "" {
		return &CredentialsInfo{
			Form: FormInline, ClientID: s.ClientID, NextClientID: s.ClientID,
			ClientSecretInTokenSecret: s.ClientSecret != "",
			Warning:                   inlineWarning,
		}
	}
	c := &CredentialsInfo{Form: FormSplit, ClientID: s.ClientID, Secret: s.CredentialsSecret, ClientSecretInTokenSecret: s.ClientSecret != ""}
	creds, err := clickwrap.ReadCredentials(ctx, o.Secrets, s.CredentialsSecret)
	if err != nil {
		c.Value, c.Problem = credentialsProblem(err)
		return c
	}
	c.Value = ValueOK
	for _, app := range creds.Applications {
		c.Applications = append(c.Applications, app.ClientID)
	}
	c.NextClientID = creds.Next(s.ClientID).ClientID
	return c
}

// credentialsValues is what each reason a credentials secret cannot be used
// means for the diagnosis.
var credentialsValues = map[clickwrap.CredentialsReason]ValueKind{
	clickwrap.CredentialsMalformed:     ValueMalformed,
	clickwrap.CredentialsNotFound:      ValueMissing,
	clickwrap.CredentialsUndecryptable: ValueUnreadable,
	clickwrap.CredentialsAccessDenied:  ValueUnreadable,
	clickwrap.CredentialsReadFailed:    ValueReadFailed,
}

// credentialsProblem says why clickwrap.ReadCredentials could not give a
// usable credentials secret, from rotatorctl's side: the AWS credentials it
// runs with are not the rotation function's role.
func credentialsProblem(err error) (ValueKind, string) {
	var ce *clickwrap.CredentialsError
	if !errors.As(err, &ce) {
		return ValueReadFailed, err.Error()
	}
	if ce.Reason == clickwrap.CredentialsAccessDenied {
		ce.Problem = "cannot be read with the AWS credentials rotatorctl runs with"
	}
	v, ok := credentialsValues[ce.Reason]
	if !ok {
		v = ValueReadFailed // a reason this build does not know: conclude nothing
	}
	return v, ce.Error()
}

// credentialsFinding judges the credentials secret of a token secret in the
// split form. The inline form, and a usable credentials secret, give none:
// the inline form's exposure is a property of the form, reported in
// CredentialsInfo.Warning, not a fault of this secret.
func credentialsFinding(c *CredentialsInfo) (Finding, bool) {
	if c == nil || c.Form != FormSplit {
		return Finding{}, false
	}
	const fails = "Until it is fixed, every rotation fails at createSecret: nothing is minted, and AWSPENDING is left on a version without a value."
	switch c.Value {
	case ValueOK, ValueNotRead:
		return Finding{}, false
	case ValueReadFailed:
		return Finding{State: StateCheckFailed, Message: fmt.Sprintf("Could not check the token secret's credentials secret: the %s. "+
			"Whether the next rotation can mint is unknown; try again.", c.Problem)}, true
	case ValueMissing:
		return Finding{State: StateCredentialsUnusable, Message: fmt.Sprintf("The %s. %s Create it holding "+
			"{\"applications\": [{\"client_id\": \"...\", \"client_secret\": \"...\"}]} from a file, never on the command line "+
			"(docs/credentials-secret.md), or correct credentials_secret in the token secret (the credentials secret's ARN, or its "+
			"name in this account and region).", c.Problem, fails)}, true
	case ValueUnreadable:
		// rotatorctl's AWS credentials are not the function's role, and
		// docs/credentials-secret.md advises granting the read to the
		// function alone: a refusal here says nothing certain about the
		// rotation, so it is "could not check" (exit 4), and rotate is not
		// blocked.
		return Finding{State: StateCheckFailed, Message: fmt.Sprintf("The %s, so whether the next rotation can mint "+
			"is unknown. If the rotation function cannot read it either, every rotation fails at createSecret, minting nothing. "+
			"The function's role needs secretsmanager:GetSecretValue on the credentials secret, and kms:Decrypt on its KMS key "+
			"when that is a customer-managed key (check that the key is enabled). Grant whoever runs rotatorctl the same read, "+
			"so that status can check it.", c.Problem)}, true
	}
	return Finding{
		State: StateCredentialsUnusable,
		Message: fmt.Sprintf("The token secret's credentials secret is malformed. The %s. %s Store a corrected value from a file, "+
			"never on the command line (docs/credentials-secret.md).", c.Problem, fails),
		Fix: fmt.Sprintf("aws secretsmanager put-secret-value --secret-id %s --secret-string file://credentials.json", c.Secret),
	}, true
}
