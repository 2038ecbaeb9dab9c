package clickwrap

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"time"
)

// Everything that decides what of a secret, a token or an endpoint may be
// shown: in an error, a log line or a report, values show only as present or
// absent, and URLs without their query.

// RedactURL returns raw with only its scheme, host and path: what an error,
// a log line or a report may show of an endpoint (a query string or user
// info could hold a proxy's key).
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(unparseable URL)"
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}

// Format prints the secret with every value redacted, whatever the verb, so
// that a stray %v or %+v cannot leak a credential.
func (s Secret) Format(f fmt.State, _ rune) { io.WriteString(f, "clickwrap.Secret"+s.redacted()) }

// LogValue redacts the secret in log/slog output.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.redacted()) }

func (s *Secret) redacted() string {
	exp := "absent"
	if !s.ExpiresAt.IsZero() {
		exp = s.ExpiresAt.UTC().Format(time.RFC3339)
	}
	return fmt.Sprintf("{client_id:%s client_secret:%s credentials_secret:%s access_token:%s expires_at:%s token_url:%s api_url:%s other_fields:%d}",
		presence(s.ClientID), presence(s.ClientSecret), presence(s.CredentialsSecret), presence(s.AccessToken), exp,
		RedactURL(s.TokenEndpoint()), RedactURL(s.APIEndpoint()), len(s.extra))
}

// Format prints the application with its values redacted, whatever the
// verb.
func (a Application) Format(f fmt.State, _ rune) {
	io.WriteString(f, "clickwrap.Application"+a.redacted())
}

// LogValue redacts the application in log/slog output.
func (a Application) LogValue() slog.Value { return slog.StringValue(a.redacted()) }

func (a Application) redacted() string {
	return fmt.Sprintf("{client_id:%s client_secret:%s}", presence(a.ClientID), presence(a.ClientSecret))
}

// Format prints the credentials with every value redacted, whatever the
// verb: only how many applications there are.
func (c Credentials) Format(f fmt.State, _ rune) {
	io.WriteString(f, "clickwrap.Credentials"+c.redacted())
}

// LogValue redacts the credentials in log/slog output.
func (c Credentials) LogValue() slog.Value { return slog.StringValue(c.redacted()) }

func (c Credentials) redacted() string {
	return fmt.Sprintf("{applications:%d}", len(c.Applications))
}

func presence(v string) string {
	if v == "" {
		return "absent"
	}
	return "present"
}

// Fingerprint returns the first 8 hex digits of the SHA-256 of a token: enough
// to tell two tokens apart in a report, far too little to recover either.
func Fingerprint(token string) string {
	if token == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:4])
}

// Format prints the token with its value redacted, whatever the verb.
func (t Token) Format(f fmt.State, _ rune) {
	io.WriteString(f, "clickwrap.Token"+t.redacted())
}

// LogValue redacts the token in log/slog output.
func (t Token) LogValue() slog.Value { return slog.StringValue(t.redacted()) }

func (t Token) redacted() string {
	return fmt.Sprintf("{access_token:%s token_type:%s expires_at:%v}", presence(t.AccessToken), t.TokenType, t.ExpiresAt)
}
