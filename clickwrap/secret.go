package clickwrap

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"
)

// Default endpoints, used when the secret does not override them.
const (
	DefaultTokenURL = "https://api.pactsafe.com/oauth/token"
	DefaultAPIURL   = "https://api.pactsafe.com/v1.1"
)

// The secret's field names. They are part of the user-facing contract
// documented in the README.
const (
	FieldClientID     = "client_id"
	FieldClientSecret = "client_secret"
	FieldAccessToken  = "access_token"
	FieldTokenType    = "token_type"
	FieldExpiresAt    = "expires_at"
	FieldTokenURL     = "token_url"
	FieldAPIURL       = "api_url"
	// FieldCredentialsSecret names, by ARN or name, the separate secret
	// that holds the API applications' credentials (see [Credentials]).
	// When it is set, the token secret holds no client_secret.
	FieldCredentialsSecret = "credentials_secret"
)

// knownFields are the fields this package reads and writes, in the order a
// new field is appended when the secret did not have it yet.
var knownFields = []string{
	FieldClientID, FieldClientSecret, FieldAccessToken, FieldTokenType,
	FieldExpiresAt, FieldTokenURL, FieldAPIURL, FieldCredentialsSecret,
}

// Secret is the SecretString of a rotated secret (the token secret): a JSON
// object, in one of two forms.
//
//   - Inline: client_id and client_secret, both required, are the one API
//     application's credentials, and whoever reads the secret can mint.
//   - Split: credentials_secret names (by ARN or name) a separate secret,
//     read only by the rotation function, that holds one or two API
//     applications (see [Credentials]). The token secret must then hold no
//     client_secret, and client_id, optional, names the application that
//     minted the current token; rotation rewrites it.
//
// access_token, token_type and expires_at are written by rotation. token_url
// and api_url optionally override the default endpoints. Every other key is
// kept with its JSON value untouched, and keys keep their order, so a
// rotation never loses or reshapes a field that a user put there.
//
// Secret redacts itself when formatted with fmt or logged with log/slog:
// values show only as present or absent.
type Secret struct {
	ClientID     string
	ClientSecret string
	AccessToken  string
	TokenType    string
	// ExpiresAt is when AccessToken expires; zero when the token endpoint
	// did not say (the field is then left out of the JSON).
	ExpiresAt time.Time
	// TokenURL and APIURL are empty unless the secret overrides them; see
	// [Secret.TokenEndpoint] and [Secret.APIEndpoint].
	TokenURL string
	APIURL   string
	// CredentialsSecret is the credentials_secret field: the ARN or name of
	// the secret holding the API applications' credentials; empty in the
	// inline form.
	CredentialsSecret string

	order []string                   // every key of the parsed object, in order
	extra map[string]json.RawMessage // keys this package does not know
}

// ParseSecret parses and checks a SecretString. The error names the field at
// fault, never a value: in the inline form a missing or empty client_id or
// client_secret; in the split form (credentials_secret set) a client_secret
// at all, or a credentials_secret that is not a secret's ARN or name (see
// [IsSecretID]); a known field that is not a string, a duplicated key, an
// expires_at that is not RFC 3339, or a token_url or api_url that is not an
// https:// URL.
func ParseSecret(secretString string) (*Secret, error) {
	s, err := decodeSecret(secretString)
	if err != nil {
		return nil, err
	}
	if err := s.checkCredentials(); err != nil {
		return nil, err
	}
	return s, nil
}

// decodeSecret is ParseSecret without the rules on the client credentials
// (which form, which fields): the JSON shape, the known fields' types and
// the endpoints. A token consumer needs no more: a misplaced client_secret
// is the rotation's to refuse, not a reason to stop serving the token.
func decodeSecret(secretString string) (*Secret, error) {
	dec := json.NewDecoder(bytes.NewReader([]byte(secretString)))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, ErrNotObject
	}
	s := &Secret{extra: map[string]json.RawMessage{}}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, ErrNotObject
		}
		key := tok.(string) // inside an object the decoder only yields string keys
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, ErrNotObject
		}
		if seen[key] {
			return nil, &FieldError{Field: key, Problem: "appears more than once: keep one"}
		}
		seen[key] = true
		s.order = append(s.order, key)
		if key == FieldExpiresAt {
			if err := s.parseExpiresAt(raw); err != nil {
				return nil, err
			}
			continue
		}
		if dst := s.knownField(key); dst != nil {
			if err := decodeString(key, raw, dst); err != nil {
				return nil, err
			}
			continue
		}
		s.extra[key] = raw
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, ErrNotObject
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, ErrNotObject
	}
	if err := checkHTTPS(FieldTokenURL, s.TokenURL); err != nil {
		return nil, err
	}
	if err := checkHTTPS(FieldAPIURL, s.APIURL); err != nil {
		return nil, err
	}
	return s, nil
}

// knownField returns where a known string field is stored, nil for others
// (expires_at included: it is a time, see parseExpiresAt).
func (s *Secret) knownField(key string) *string {
	switch key {
	case FieldClientID:
		return &s.ClientID
	case FieldClientSecret:
		return &s.ClientSecret
	case FieldAccessToken:
		return &s.AccessToken
	case FieldTokenType:
		return &s.TokenType
	case FieldTokenURL:
		return &s.TokenURL
	case FieldAPIURL:
		return &s.APIURL
	case FieldCredentialsSecret:
		return &s.CredentialsSecret
	}
	return nil
}

func decodeString(key string, raw json.RawMessage, dst *string) error {
	if string(raw) == "null" {
		return nil
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return &FieldError{Field: key, Problem: "must be a JSON string"}
	}
	return nil
}

func (s *Secret) parseExpiresAt(raw json.RawMessage) error {
	var text string
	if err := decodeString(FieldExpiresAt, raw, &text); err != nil || text == "" {
		return err
	}
	t, err := time.Parse(time.RFC3339, text)
	if err != nil {
		return &FieldError{Field: FieldExpiresAt, Problem: "is not an RFC 3339 time such as 2026-01-02T15:04:05Z: fix it or remove it (rotation rewrites it)"}
	}
	s.ExpiresAt = t
	return nil
}

// checkCredentials applies the rules of the two forms: inline, client_id
// and client_secret required; split (credentials_secret set), no
// client_secret and no applications list in the token secret, since every
// reader of the token could mint with them.
func (s *Secret) checkCredentials() error {
	switch {
	case s.CredentialsSecret != "":
		// The split form: the credentials are in their own secret, and
		// client_id (optional) only records which application minted.
		if !IsSecretID(s.CredentialsSecret) {
			// Never echoed: it may be a value pasted into the wrong field.
			return &FieldError{Field: FieldCredentialsSecret, Problem: "is not the ARN or name of a Secrets Manager secret " +
				"(a name has letters, digits and / _ + = . @ - only; an ARN is arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME): " +
				"perhaps a value was pasted into the wrong field. Put the credentials secret's ARN there"}
		}
		if s.ClientSecret != "" {
			return &FieldError{Field: FieldClientSecret, Problem: "must not be in a token secret that names a credentials_secret: " +
				"every reader of the token could mint tokens with it. It belongs in the credentials secret alone: remove it from this secret"}
		}
		if _, ok := s.extra[CredentialsFieldApplications]; ok {
			return &FieldError{Field: CredentialsFieldApplications, Problem: "must not be in a token secret: every reader of the token could mint " +
				"with the client secrets it lists. It belongs in the credentials secret that credentials_secret names, a separate secret: remove it from this one"}
		}
	case s.ClientID == "":
		return &FieldError{Field: FieldClientID, Problem: "is missing or empty: put the Clickwrap API application's client_id in the secret " +
			"(or name a separate credentials secret in credentials_secret)"}
	case s.ClientSecret == "":
		return &FieldError{Field: FieldClientSecret, Problem: "is missing or empty: put the Clickwrap API application's client_secret in the secret " +
			"(or name a separate credentials secret in credentials_secret)"}
	}
	return nil
}

// IsSecretID reports whether id can name a Secrets Manager secret, as
// GetSecretValue's SecretId takes it: a name of 1 to 512 ASCII letters,
// digits and / _ + = . @ - (Secrets Manager's rule for names), or an ARN
// arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME whose NAME
// follows that rule, with or without the "-" and six characters that
// Secrets Manager appends in full ARNs. It checks the shape only: whether
// the secret exists is for Secrets Manager to say.
func IsSecretID(id string) bool {
	limit := 512
	if rest, ok := strings.CutPrefix(id, "arn:"); ok {
		parts := strings.SplitN(rest, ":", 6)
		if len(parts) != 6 || !strings.HasPrefix(parts[0], "aws") || parts[1] != "secretsmanager" || parts[4] != "secret" ||
			!isARNField(parts[0]) || !isARNField(parts[2]) || !isAccountID(parts[3]) {
			return false
		}
		id = parts[5]
		limit += len("-AbCdEf")
	}
	if id == "" || len(id) > limit {
		return false
	}
	for _, r := range id {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune("/_+=.@-", r)) {
			return false
		}
	}
	return true
}

// isARNField reports whether a partition or region is lower-case letters,
// digits and hyphens, and not empty.
func isARNField(s string) bool {
	return s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == ""
}

// isAccountID reports whether s is a 12-digit AWS account ID.
func isAccountID(s string) bool {
	return len(s) == 12 && strings.Trim(s, "0123456789") == ""
}

// checkHTTPS refuses a URL that is not absolute https://host. An empty value
// means "use the default" and passes.
func checkHTTPS(field, raw string) error {
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
		return &FieldError{Field: field, Problem: "must be an https:// URL with a host and no user info: Clickwrap is reached over HTTPS only"}
	}
	return nil
}

// TokenEndpoint is the token URL to use: the override or [DefaultTokenURL].
func (s *Secret) TokenEndpoint() string {
	if s.TokenURL != "" {
		return s.TokenURL
	}
	return DefaultTokenURL
}

// APIEndpoint is the REST API base URL to use: the override or [DefaultAPIURL].
func (s *Secret) APIEndpoint() string {
	if s.APIURL != "" {
		return s.APIURL
	}
	return DefaultAPIURL
}

// WithToken returns a copy of s holding tok, with every other field kept.
// expires_at follows the token: it is dropped when tok has no expiry.
func (s *Secret) WithToken(tok Token) *Secret {
	c := *s
	c.order = append([]string(nil), s.order...)
	c.AccessToken, c.TokenType, c.ExpiresAt = tok.AccessToken, tok.TokenType, tok.ExpiresAt
	return &c
}

// sameSource reports whether s and o agree on everything but the token
// fields. In the split form client_id is a token field too: it names the
// application that minted the token, and changes with it.
func (s *Secret) sameSource(o *Secret) bool {
	if s.CredentialsSecret != o.CredentialsSecret || s.ClientSecret != o.ClientSecret || s.TokenURL != o.TokenURL || s.APIURL != o.APIURL ||
		len(s.extra) != len(o.extra) {
		return false
	}
	if s.CredentialsSecret == "" && s.ClientID != o.ClientID {
		return false
	}
	for k, v := range s.extra {
		w, ok := o.extra[k]
		if !ok {
			return false
		}
		var a, b bytes.Buffer
		if json.Compact(&a, v) != nil || json.Compact(&b, w) != nil || !bytes.Equal(a.Bytes(), b.Bytes()) {
			return false
		}
	}
	return true
}

// MarshalJSON writes the secret as a JSON object: keys in their original
// order, unknown keys with their original values, known keys that were not
// there before appended, and empty known values left out.
func (s *Secret) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	written := map[string]bool{}
	write := func(key string, value []byte) {
		if buf.Len() > 1 {
			buf.WriteByte(',')
		}
		k, _ := json.Marshal(key)
		buf.Write(k)
		buf.WriteByte(':')
		buf.Write(value)
	}
	emit := func(key string) error {
		if written[key] {
			return nil
		}
		written[key] = true
		if raw, ok := s.extra[key]; ok {
			var compact bytes.Buffer
			if err := json.Compact(&compact, raw); err != nil {
				return fmt.Errorf("secret field %q: %w", key, err)
			}
			write(key, compact.Bytes())
			return nil
		}
		if v := s.knownValue(key); v != "" {
			b, _ := json.Marshal(v)
			write(key, b)
		}
		return nil
	}
	for _, key := range s.order {
		if err := emit(key); err != nil {
			return nil, err
		}
	}
	for _, key := range knownFields {
		if err := emit(key); err != nil {
			return nil, err
		}
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

func (s *Secret) knownValue(key string) string {
	if key == FieldExpiresAt {
		if s.ExpiresAt.IsZero() {
			return ""
		}
		return s.ExpiresAt.UTC().Format(time.RFC3339)
	}
	if p := s.knownField(key); p != nil {
		return *p
	}
	return ""
}
