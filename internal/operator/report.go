package operator

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/clickwrap-rotator/clickwrap-rotator/clickwrap"
	"github.com/clickwrap-rotator/clickwrap-rotator/rotation"
)

// Report is what Inspect found. Its JSON form is `rotatorctl status --json`.
type Report struct {
	Secret   SecretInfo    `json:"secret"`
	Rotation RotationInfo  `json:"rotation"`
	Versions []VersionInfo `json:"versions"`
	// Current is the AWSCURRENT version's value; Pending the AWSPENDING
	// one's when that is another version (null otherwise).
	Current   *TokenInfo         `json:"current"`
	Pending   *TokenInfo         `json:"pending"`
	Diagnosis rotation.Diagnosis `json:"diagnosis"`
	Warnings  []string           `json:"warnings,omitempty"`
	CheckedAt time.Time          `json:"checked_at"`

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

// What a version's value was found to be (TokenInfo.Value).
const (
	ValueOK         = "ok"         // a well-formed secret with a token
	ValueNoToken    = "no-token"   // well formed, no access_token yet
	ValueNoValue    = "no-value"   // a pending version createSecret has not filled
	ValueMalformed  = "malformed"  // Problem names the field
	ValueUnreadable = "unreadable" // Problem says why
)

// Presence of a field in a secret: its value is never shown.
const (
	Present = "present"
	Absent  = "absent"
)

// TokenInfo describes one version's value without showing any secret.
type TokenInfo struct {
	Stage     string `json:"stage"`
	VersionID string `json:"version_id"`
	Value     string `json:"value"`
	Problem   string `json:"problem,omitempty"`
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

// Hints name rotatorctl's own commands next to the AWS CLI fixes.
type Hints struct {
	// Program is the command name, e.g. "rotatorctl".
	Program string
	// Secret is the secret as the operator named it.
	Secret string
}

// WriteText prints the report for a person: configuration, versions, the
// tokens (fields as present/absent, the token as its fingerprint), and the
// diagnosis with the exact fix.
func (r *Report) WriteText(w io.Writer, h Hints) {
	now := r.CheckedAt
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Secret\t%s\n", r.Secret.Name)
	fmt.Fprintf(tw, "ARN\t%s\n", r.Secret.ARN)
	ro := r.Rotation
	switch {
	case ro.Enabled && ro.LambdaARN != "":
		fmt.Fprintf(tw, "Rotation\tenabled, function %s\n", ro.LambdaARN)
	case ro.Enabled:
		fmt.Fprintf(tw, "Rotation\tenabled\n")
	default:
		fmt.Fprintf(tw, "Rotation\tNOT enabled\n")
	}
	if ro.Schedule != "" {
		window := "window " + ro.Window
		if ro.Window == "" {
			window = "default window"
		}
		fmt.Fprintf(tw, "Schedule\t%s, %s\n", ro.Schedule, window)
	}
	fmt.Fprintf(tw, "Last rotated\t%s\n", when(ro.LastRotated, now))
	fmt.Fprintf(tw, "Next rotation\t%s\n", when(ro.NextRotation, now))
	tw.Flush()

	fmt.Fprintf(w, "\nVersions\n")
	r.writeVersions(w)

	for _, t := range []*TokenInfo{r.Current, r.Pending} {
		if t != nil {
			fmt.Fprintln(w)
			t.writeText(w, now)
		}
	}
	for _, warn := range r.Warnings {
		fmt.Fprintf(w, "\nWarning: %s\n", warn)
	}
	fmt.Fprintln(w)
	WriteDiagnosis(w, r.Diagnosis, h)
}

func (r *Report) writeVersions(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	defer tw.Flush()
	fmt.Fprintf(tw, "  VERSION\tSTAGES\tCREATED\n")
	for _, v := range r.Versions {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", v.VersionID, strings.Join(v.Stages, ","), when(v.Created, r.CheckedAt))
	}
}

func (t *TokenInfo) writeText(w io.Writer, now time.Time) {
	fmt.Fprintf(w, "%s (version %s)\n", t.Stage, t.VersionID)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	defer tw.Flush()
	switch t.Value {
	case ValueNoValue:
		fmt.Fprintf(tw, "  value\tnone yet (createSecret has not stored it)\n")
		return
	case ValueMalformed, ValueUnreadable:
		fmt.Fprintf(tw, "  value\t%s: %s\n", t.Value, t.Problem)
		return
	}
	fmt.Fprintf(tw, "  client_id\t%s\n", t.ClientID)
	fmt.Fprintf(tw, "  client_secret\t%s\n", t.ClientSecret)
	if t.AccessToken == Present {
		fmt.Fprintf(tw, "  access_token\tpresent, fingerprint %s\n", t.Fingerprint)
	} else {
		fmt.Fprintf(tw, "  access_token\tabsent\n")
	}
	if t.ExpiresAt.IsZero() {
		fmt.Fprintf(tw, "  expires_at\tunknown (the token endpoint gave no expiry)\n")
	} else {
		fmt.Fprintf(tw, "  expires_at\t%s\n", when(t.ExpiresAt, now))
	}
	fmt.Fprintf(tw, "  api_url\t%s\n", t.APIURL)
	if c := t.Check; c != nil {
		switch c.Result {
		case CheckAccepted:
			fmt.Fprintf(tw, "  Bearer check\taccepted by %s\n", c.Endpoint)
		case CheckRejected:
			fmt.Fprintf(tw, "  Bearer check\tREJECTED: %s\n", c.Detail)
		default:
			fmt.Fprintf(tw, "  Bearer check\tcould not check: %s\n", c.Detail)
		}
	}
}

// WriteDiagnosis prints a diagnosis: the state, the message, the exact fix,
// and rotatorctl's own command for it.
func WriteDiagnosis(w io.Writer, d rotation.Diagnosis, h Hints) {
	fmt.Fprintf(w, "Diagnosis: %s\n", d.State)
	writeFinding(w, d.Finding, h)
	for _, f := range d.More {
		fmt.Fprintf(w, "Also: %s\n", f.State)
		writeFinding(w, f, h)
	}
}

func writeFinding(w io.Writer, f rotation.Finding, h Hints) {
	WriteWrapped(w, "  ", f.Message, 96)
	if f.Fix == "" {
		return
	}
	fmt.Fprintf(w, "  Fix:  %s\n", f.Fix)
	if h.Program == "" {
		return
	}
	switch f.State {
	case rotation.StateStuck:
		fmt.Fprintf(w, "        or: %s unstick %s\n", h.Program, h.Secret)
		fmt.Fprintf(w, "  Then: %s rotate %s --wait\n", h.Program, h.Secret)
	case rotation.StateRejected, rotation.StateExpired, rotation.StateNoCredential:
		fmt.Fprintf(w, "        or: %s rotate %s --wait\n", h.Program, h.Secret)
	}
}

// WriteWrapped writes text as lines of at most width columns (a longer word
// gets a line of its own), each with prefix.
func WriteWrapped(w io.Writer, prefix, text string, width int) {
	line := prefix
	for _, word := range strings.Fields(text) {
		if len(line) > len(prefix) && len(line)+1+len(word) > width {
			fmt.Fprintln(w, line)
			line = prefix
		}
		if len(line) > len(prefix) {
			line += " "
		}
		line += word
	}
	if len(line) > len(prefix) {
		fmt.Fprintln(w, line)
	}
}

// when formats a date with how far it is from now: "2026-05-01T10:00:00Z
// (2h ago)", "... (in 29d)", or "-" for none.
func when(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	s := t.UTC().Format(time.RFC3339)
	if d := t.Sub(now); d > 0 {
		return fmt.Sprintf("%s (in %s)", s, rotation.ShortDuration(d))
	}
	return fmt.Sprintf("%s (%s ago)", s, rotation.ShortDuration(now.Sub(t)))
}
