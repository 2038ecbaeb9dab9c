package clickwrap

import (
	"context"
	"errors"
	"fmt"
)

// The rotation package's CredentialService (and SourceMatcher), joining
// minting and the Bearer check to the secret format.

// NewPending is the createSecret half of rotation: it parses the current
// SecretString, mints a new token, and returns the new SecretString, which
// keeps every other field of the current one.
//
// In the inline form it mints with the secret's own client_id and
// client_secret. In the split form (credentials_secret set, see [Secret]) it
// first reads the credentials secret's AWSCURRENT through [Client.Secrets]
// (one GetSecretValue), parses it ([ParseCredentials]), mints with the
// application [Credentials.Next] picks for the current client_id, and
// records that application's client_id in the new SecretString. The
// credentials secret's values go into the token request and nowhere else:
// the new SecretString never holds a client_secret, and no error carries a
// value.
//
// Nothing is minted when the current secret is malformed, or, in the split
// form, when the credentials secret cannot be read or is malformed (a
// [*CredentialsError] naming it and the member at fault).
func (c *Client) NewPending(ctx context.Context, current string) (string, error) {
	s, err := ParseSecret(current)
	if err != nil {
		return "", err
	}
	if s.CredentialsSecret != "" {
		return c.newPendingSplit(ctx, s)
	}
	tok, err := c.Mint(ctx, s)
	if err != nil {
		return "", err
	}
	return marshalSecret(s.WithToken(tok))
}

// newPendingSplit is NewPending for a token secret in the split form.
func (c *Client) newPendingSplit(ctx context.Context, s *Secret) (string, error) {
	creds, err := c.splitCredentials(ctx, s)
	if err != nil {
		return "", err
	}
	app := creds.Next(s.ClientID)
	// The secret minted with holds the application's credentials and the
	// token endpoint alone; it is never stored.
	tok, err := c.Mint(ctx, &Secret{ClientID: app.ClientID, ClientSecret: app.ClientSecret, TokenURL: creds.TokenURL})
	if err != nil {
		return "", fmt.Errorf("minting with %s of credentials secret %s (the client_id and client_secret there are the ones used): %w",
			creds.position(app), s.CredentialsSecret, err)
	}
	p := s.WithToken(tok)
	p.ClientID = app.ClientID
	p.ClientSecret = "" // ParseSecret refused one already; never write one here
	return marshalSecret(p)
}

// splitCredentials reads the credentials secret of s, a token secret in the
// split form, and checks that s agrees with it: the client secrets go only
// where the credentials secret says, so a token_url in the token secret
// (writable by more people) must be the credentials secret's.
func (c *Client) splitCredentials(ctx context.Context, s *Secret) (*Credentials, error) {
	creds, err := c.readCredentials(ctx, s.CredentialsSecret)
	if err != nil {
		return nil, err
	}
	if s.TokenURL != "" && s.TokenEndpoint() != creds.tokenEndpoint() {
		return nil, &FieldError{Field: FieldTokenURL, Problem: fmt.Sprintf("differs from the token endpoint of credentials secret %s (its token_url, default %s): "+
			"in the split form the client secrets are sent only where the credentials secret says, so that whoever can write the token secret "+
			"cannot have them sent elsewhere. Put token_url in the credentials secret, or remove it from the token secret. Nothing was minted",
			s.CredentialsSecret, DefaultTokenURL)}
	}
	return creds, nil
}

// CheckConfiguration is rotation's ConfigurationChecker: it checks, without
// minting or sending anything to Clickwrap, that the token secret
// secretString can be rotated. The secret must parse ([ParseSecret]); in the
// split form its credentials secret is read (one GetSecretValue through
// [Client.Secrets]) and must be well formed ([ReadCredentials]), and a
// token_url in the token secret must be the credentials secret's. The errors
// are NewPending's for the same faults: a [*FieldError] or a
// [*CredentialsError] naming the secret and the member at fault, never a
// value. The inline form needs no call.
func (c *Client) CheckConfiguration(ctx context.Context, secretString string) error {
	s, err := ParseSecret(secretString)
	if err != nil {
		return err
	}
	if s.CredentialsSecret == "" {
		return nil
	}
	_, err = c.splitCredentials(ctx, s)
	return err
}

// tokenEndpoint is where the applications' credentials may be sent.
func (c *Credentials) tokenEndpoint() string {
	if c.TokenURL != "" {
		return c.TokenURL
	}
	return DefaultTokenURL
}

// position names app's place in the credentials secret, as
// "applications[1]".
func (c *Credentials) position(app Application) string {
	for i, a := range c.Applications {
		if a.ClientID == app.ClientID {
			return fmt.Sprintf("%s[%d]", CredentialsFieldApplications, i)
		}
	}
	return CredentialsFieldApplications
}

func marshalSecret(s *Secret) (string, error) {
	b, err := s.MarshalJSON()
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// readCredentials is [ReadCredentials] for the rotation function: every
// error is a *CredentialsError naming id, whose Problem says what the
// function's role needs and that nothing was minted.
func (c *Client) readCredentials(ctx context.Context, id string) (*Credentials, error) {
	if c.Secrets == nil {
		return nil, &CredentialsError{Secret: id, Reason: CredentialsReadFailed, Problem: "cannot be read: this clickwrap.Client has no Secrets reader (Client.Secrets is nil); " +
			"set it to the Secrets Manager client, as cmd/rotator does. Nothing was minted"}
	}
	creds, err := ReadCredentials(ctx, c.Secrets, id)
	var ce *CredentialsError
	if !errors.As(err, &ce) {
		return creds, err
	}
	switch ce.Reason {
	case CredentialsMalformed:
		ce.Problem += ". Nothing was minted"
	case CredentialsNotFound:
		ce.Problem = "was not found, or holds no AWSCURRENT value: create it holding " +
			`{"applications": [{"client_id": "...", "client_secret": "..."}]}, or fix credentials_secret in the token secret ` +
			"(the credentials secret's ARN, or its name in this account and region). Nothing was minted"
	case CredentialsUndecryptable:
		ce.Problem = "cannot be decrypted: the rotation function's role needs kms:Decrypt on the credentials secret's KMS key " +
			"(check the key policy, and that the key is enabled). Nothing was minted"
	case CredentialsAccessDenied:
		ce.Problem = "cannot be read by the rotation function: its role needs secretsmanager:GetSecretValue on the credentials secret, " +
			"and kms:Decrypt on its KMS key when that is a customer-managed key. Nothing was minted"
	default:
		ce.Problem = "could not be read. Nothing was minted, and Secrets Manager retries the rotation"
	}
	return nil, ce
}

// Verify is the testSecret half of rotation: it parses a SecretString and
// proves its access_token with [Client.Check] against the secret's API URL.
// A well-formed secret that holds no access_token yet (a first secret,
// before its first rotation) gives [ErrNoAccessToken], which wraps
// rotation.ErrNoCredential.
func (c *Client) Verify(ctx context.Context, secretString string) error {
	s, err := ParseSecret(secretString)
	if err != nil {
		return err
	}
	return c.Check(ctx, s.APIEndpoint(), s.AccessToken)
}

// MadeFrom reports whether the pending SecretString was made from current:
// every field but access_token, token_type and expires_at alike (key order
// aside), and, in the split form, but client_id, which names the application
// that minted the token and so changes with it. The rotation package uses it
// to refuse to promote a pending version that would undo a change made to
// AWSCURRENT meanwhile.
func (c *Client) MadeFrom(pending, current string) bool {
	// Compared as they are (decodeSecret, not ParseSecret): whether either
	// follows the rules of its form is Verify's to say, naming the field,
	// not a reason to call the version stale.
	p, err := decodeSecret(pending)
	if err != nil {
		return false
	}
	cur, err := decodeSecret(current)
	if err != nil {
		return false
	}
	return p.sameSource(cur)
}
