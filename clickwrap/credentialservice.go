package clickwrap

import "context"

// The rotation package's CredentialService (and SourceMatcher), joining
// minting and the Bearer check to the secret format.

// NewPending is the createSecret half of rotation: it parses the current
// SecretString, mints a new token with its client credentials, and returns
// the new SecretString, which keeps every other field of the current one.
// Nothing is minted when the current secret is malformed.
func (c *Client) NewPending(ctx context.Context, current string) (string, error) {
	s, err := ParseSecret(current)
	if err != nil {
		return "", err
	}
	tok, err := c.Mint(ctx, s)
	if err != nil {
		return "", err
	}
	b, err := s.WithToken(tok).MarshalJSON()
	if err != nil {
		return "", err
	}
	return string(b), nil
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
// aside). The rotation package uses it to refuse to promote a pending
// version that would undo a change made to AWSCURRENT meanwhile.
func (c *Client) MadeFrom(pending, current string) bool {
	p, err := ParseSecret(pending)
	if err != nil {
		return false
	}
	cur, err := ParseSecret(current)
	if err != nil {
		return false
	}
	return p.sameSource(cur)
}
