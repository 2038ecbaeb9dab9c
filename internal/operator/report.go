package operator

import (
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/clickwrap-rotator/clickwrap-rotator/clickwrap"
)

// Report is what Inspect found. Its JSON form is `rotatorctl status --json`.
type Report struct {
	Secret   SecretInfo    `json:"secret"`
	Rotation RotationInfo  `json:"rotation"`
	Versions []VersionInfo `json:"versions"`
	// Current is the AWSCURRENT version's value; Pending the AWSPENDING
	// one's when that is another version (null otherwise).
	Current *TokenInfo `json:"current"`
	Pending *TokenInfo `json:"pending"`
	// Credentials is where the AWSCURRENT value keeps the client
	// credentials, which application minted its token and which one the
	// next rotation mints with; null when AWSCURRENT holds no well-formed
	// secret.
	Credentials *CredentialsInfo `json:"credentials"`
	Diagnosis   Diagnosis        `json:"diagnosis"`
	Warnings    []string         `json:"warnings,omitempty"`
	CheckedAt   time.Time        `json:"checked_at"`

	desc *secretsmanager.DescribeSecretOutput
}

// SecretInfo names the secret.
type SecretInfo struct {
	Name string `json:"name"`
	ARN  string `json:"arn"`
}

// RotationInfo is the secret's rotation configuration.
type RotationInfo struct {
	Enabled   bool   `json:"enabled"`
	LambdaARN string `json:"lambda_arn,omitempty"`
	// Schedule is the ScheduleExpression, or rate(N days) for
	// AutomaticallyAfterDays.
	Schedule string `json:"schedule,omitempty"`
	// Window is the rotation window (RotationRules.Duration); empty means
	// Secrets Manager's default.
	Window       string    `json:"window,omitempty"`
	LastRotated  time.Time `json:"last_rotated,omitzero"`
	NextRotation time.Time `json:"next_rotation,omitzero"`
}

// VersionInfo is one labelled version.
type VersionInfo struct {
	VersionID string    `json:"version_id"`
	Stages    []string  `json:"stages"`
	Created   time.Time `json:"created,omitzero"`
}

// ValueKind is what a version's value was found to be: [TokenInfo.Value],
// as `rotatorctl status --json` prints it, and [Value.Kind], what Diagnose
// judges.
type ValueKind string

// The kinds of value.
const (
	// ValueNotRead: the value was not read. Nothing is concluded from it.
	ValueNotRead ValueKind = ""
	// ValueOK: a well-formed secret with a token.
	ValueOK ValueKind = "ok"
	// ValueNoToken: well formed, but no access_token yet (a first secret,
	// before its first rotation).
	ValueNoToken ValueKind = "no-token"
	// ValueNoValue: the version has no value yet: a pending version before
	// createSecret stored one.
	ValueNoValue ValueKind = "no-value"
	// ValueMalformed: not a usable secret; the problem names the field,
	// never its value.
	ValueMalformed ValueKind = "malformed"
	// ValueUnreadable: reading the value failed; the problem says why.
	ValueUnreadable ValueKind = "unreadable"
)

// Presence of a field in a secret: its value is never shown.
const (
	Present = "present"
	Absent  = "absent"
)

// TokenInfo describes one version's value without showing any secret.
type TokenInfo struct {
	Stage     string    `json:"stage"`
	VersionID string    `json:"version_id"`
	Value     ValueKind `json:"value"`
	Problem   string    `json:"problem,omitempty"`
	// ClientID, ClientSecret and AccessToken are Present or Absent.
	ClientID     string `json:"client_id,omitempty"`
	ClientSecret string `json:"client_secret,omitempty"`
	AccessToken  string `json:"access_token,omitempty"`
	// Fingerprint is clickwrap.Fingerprint of the token: enough to tell two
	// tokens apart, far too little to recover one.
	Fingerprint string     `json:"fingerprint,omitempty"`
	TokenType   string     `json:"token_type,omitempty"`
	ExpiresAt   time.Time  `json:"expires_at,omitzero"`
	TokenURL    string     `json:"token_url,omitempty"`
	APIURL      string     `json:"api_url,omitempty"`
	Check       *CheckInfo `json:"check,omitempty"`
}

func (t *TokenInfo) describe(s *clickwrap.Secret) {
	t.ClientID = presence(s.ClientID)
	t.ClientSecret = presence(s.ClientSecret)
	t.AccessToken = presence(s.AccessToken)
	t.Fingerprint = clickwrap.Fingerprint(s.AccessToken)
	t.TokenType = s.TokenType
	t.ExpiresAt = s.ExpiresAt.UTC()
	if s.ExpiresAt.IsZero() {
		t.ExpiresAt = time.Time{}
	}
	t.TokenURL = clickwrap.RedactURL(s.TokenEndpoint())
	t.APIURL = clickwrap.RedactURL(s.APIEndpoint())
}

func presence(v string) string {
	if v == "" {
		return Absent
	}
	return Present
}

// Outcomes of the Bearer check (CheckInfo.Result).
const (
	CheckAccepted = "accepted" // Clickwrap answered 2xx
	CheckRejected = "rejected" // 401 or 403: the token does not work
	CheckError    = "error"    // could not tell: network, 5xx, 429
)

// CheckInfo is the outcome of one Bearer check.
type CheckInfo struct {
	Result   string `json:"result"`
	Detail   string `json:"detail,omitempty"`
	Endpoint string `json:"endpoint"`
	err      error
}

// Err is the check's error, nil when Clickwrap accepted the token.
func (c *CheckInfo) Err() error { return c.err }
