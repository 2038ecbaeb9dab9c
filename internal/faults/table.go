package faults

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/clickwrap-rotator/clickwrap-rotator/internal/machine"
	"github.com/clickwrap-rotator/clickwrap-rotator/internal/markdown"
)

// maxErrLen bounds a shortened error, in runes.
const maxErrLen = 170

var shorteners = []struct {
	re   *regexp.Regexp
	with string
}{
	// lambdarie's wrapping of the function's error payload.
	{regexp.MustCompile(`^lambda function error: [\w.*]+: `), ""},
	// The emulator's request id in a runtime exit.
	{regexp.MustCompile(`RequestId: [0-9a-f-]+ Error: `), ""},
	// rotation.StepError names the version and the secret.
	{regexp.MustCompile(`^(\w+) for version \S+ of secret \S+: `), "$1: "},
	{regexp.MustCompile(`making the pending credential from AWSCURRENT: |verifying the pending credential: `), ""},
	// The SDK's wrapping of an API error.
	{regexp.MustCompile(`operation error Secrets Manager: (\w+), (?:exceeded maximum number of attempts, (\d+), )?https response error StatusCode: \d+, RequestID: [0-9a-f-]+, `), "$1 ($2 attempts): "},
	{regexp.MustCompile(` \( attempts\): `), ": "},
	// net/url's wrapping of a transport error.
	{regexp.MustCompile(`(Post|Get) "[^"]*": `), ""},
	{regexp.MustCompile(`arn:aws:secretsmanager:[^\s:]+:\d+:secret:[\w/+=.@-]+`), "<arn>"},
	{regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`), "<version>"},
	{regexp.MustCompile(`https://127\.0\.0\.1:\d+`), "https://127.0.0.1:PORT"},
	{regexp.MustCompile(`127\.0\.0\.1:\d+`), "127.0.0.1:PORT"},
	// The remedy that follows "This version can never pass".
	{regexp.MustCompile(`(This version can never pass)[^:]*: .*`), "$1 (…remove AWSPENDING…)"},
}

// Shorten makes an error message fit a table cell: it drops wrappers,
// version ids, ARNs and ports, and cuts it to a bounded length.
func Shorten(msg string) string {
	for _, s := range shorteners {
		msg = s.re.ReplaceAllString(msg, s.with)
	}
	msg = strings.Join(strings.Fields(msg), " ")
	if utf8.RuneCountInString(msg) > maxErrLen {
		r := []rune(msg)
		msg = string(r[:maxErrLen-1]) + "…"
	}
	return msg
}

// Machine is where the matrix ran and how long it took.
type Machine struct {
	machine.Description
	// Wall is how long the whole matrix took.
	Wall time.Duration
}

func (m Machine) String() string {
	return fmt.Sprintf("%s, %s, %d CPUs (%s), %s; matrix wall time %s",
		m.Date.Format("2006-01-02 15:04 UTC"), m.OSArch(), m.CPUs, m.CPU, m.Go, m.Wall.Round(100*time.Millisecond))
}

// tableHeader names the columns of WriteTable.
var tableHeader = []string{
	"#", "fault", "outcome", "first error (shortened)", "AWSCURRENT accepted at end",
	"401 window during rotation: AWSCURRENT / no stored token", "fields kept", "AWSPENDING left",
	"retry after the fix", "orphaned tokens", "SM calls (D/G/P/U)", "Clickwrap mint / API", "time", "verdict",
}

// WriteTable writes the results as a Markdown table, one row per scenario.
func WriteTable(w io.Writer, results []Result) error {
	var b strings.Builder
	row := func(cells ...string) { b.WriteString(markdown.Row(cells...)) }
	b.WriteString(markdown.Header(tableHeader...))
	for _, r := range results {
		sc := r.Scenario
		if r.HarnessErr != nil {
			cells := make([]string, len(tableHeader))
			cells[0], cells[1], cells[2] = sc.ID, sc.Name, "harness failed: "+Shorten(r.HarnessErr.Error())
			row(cells...)
			continue
		}
		errCell := "—"
		if r.Err != "" {
			errCell = "`" + strings.ReplaceAll(r.Err, "`", "'") + "`"
		}
		fields := "yes"
		if !r.FieldsKept {
			fields = "NO: " + r.FieldsNote
		}
		heal := r.Heal.String()
		switch {
		case r.Heal == HealFails && r.HealErr == r.Err:
			heal += " (same error)"
		case r.Heal == HealFails && r.HealErr != "":
			heal += ": `" + strings.ReplaceAll(r.HealErr, "`", "'") + "`"
		}
		verdict := sc.Verdict
		if bad := Check(r); len(bad) > 0 {
			verdict += " — UNEXPECTED: " + strings.Join(bad, "; ")
		}
		outcome := r.Outcome()
		if r.Note != "" {
			outcome += " (" + r.Note + ")"
		}
		row(sc.ID, sc.Name, outcome, errCell, yesNo(r.CurrentValid), window(r), fields, r.Stuck.String(), heal,
			orphans(r), r.Calls.String(), fmt.Sprintf("%d / %d", r.TokenRequests, r.APIRequests),
			roundDuration(r.Duration), verdict)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// orphans renders the orphan count and, when the harness saw their values,
// whether Clickwrap still accepts them.
func orphans(r Result) string {
	s := fmt.Sprint(r.Orphans)
	switch {
	case r.Orphans == 0 || r.KnownOrphans == 0:
	case r.LiveOrphans == r.KnownOrphans:
		s += " (still accepted)"
	case r.LiveOrphans == 0:
		s += " (revoked)"
	default:
		s += fmt.Sprintf(" (%d still accepted)", r.LiveOrphans)
	}
	return s
}

func roundDuration(d time.Duration) string {
	if d < time.Second {
		return d.Round(10 * time.Millisecond).String()
	}
	return d.Round(100 * time.Millisecond).String()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "NO"
}

// window renders how long consumers saw 401s.
func window(r Result) string {
	if !r.CurrentRejectedSeen && !r.NoneAcceptedSeen {
		return "none"
	}
	d := func(seen bool, d time.Duration) string {
		switch {
		case !seen:
			return "0"
		case d < time.Millisecond:
			return "<1ms"
		case d < time.Second:
			return d.Round(time.Millisecond).String()
		}
		return d.Round(10 * time.Millisecond).String()
	}
	return d(r.CurrentRejectedSeen, r.CurrentRejected) + " / " + d(r.NoneAcceptedSeen, r.NoneAccepted)
}

// The generated part of docs/faults.md lies between these markers; the
// prose around it is written by hand and kept.
const (
	BeginMarker = "<!-- faults:generated:begin (go run ./internal/faults/report) -->"
	EndMarker   = "<!-- faults:generated:end -->"
)

// Generated is the generated part of the report: the machine, the table
// and the legend.
func Generated(results []Result, m Machine) (string, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "Run: %s. Each row is a fresh stack: the built bootstrap under the Lambda runtime emulator, "+
		"the Secrets Manager emulator driving it (RotateSecret, then up to %d RetryRotation while the rotation fails), "+
		"the Clickwrap sandbox over TLS.\n\n", m, ServiceRetries)
	if err := WriteTable(&b, results); err != nil {
		return "", err
	}
	b.WriteString("\nColumns: *outcome* counts the rotation runs (\"failed ×3\" = RotateSecret and 2 retries all failed; " +
		"\"cleanly\" = the function returned an error, it was neither killed nor timed out). " +
		"*401 window*: how long, while the runs went on, AWSCURRENT's token was rejected by Clickwrap, and how long " +
		"neither AWSCURRENT's nor AWSPENDING's was (sampled every 5 ms and at every Secrets Manager call). " +
		"*fields kept*: every non-token field of every new version equals the original (same JSON, same order). " +
		"*AWSPENDING left*: on a version that is not AWSCURRENT after the last run. " +
		"*retry after the fix*: the fault is removed and the service retries once more. " +
		"*orphaned tokens*: minted by Clickwrap but stored in no version. " +
		"*SM calls*: the function's DescribeSecret/GetSecretValue/PutSecretValue/UpdateSecretVersionStage calls, " +
		"throttled ones included. *Clickwrap*: requests that reached the token endpoint / the REST API. " +
		"*time*: the runs, without the fix and its retry.\n")
	b.WriteString("\nHow each fault is injected:\n\n")
	for _, r := range results {
		fmt.Fprintf(&b, "- **%s** %s: %s.\n", r.Scenario.ID, r.Scenario.Name, r.Scenario.Fault)
	}
	return b.String(), nil
}

// UpdateDoc replaces the generated part of the document at path (between
// BeginMarker and EndMarker) with generated. A missing file is created with
// just the generated part.
func UpdateDoc(path, generated string) error {
	block := BeginMarker + "\n" + generated + EndMarker + "\n"
	old, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return os.WriteFile(path, []byte("# Fault-injection report\n\n"+block), 0o644)
	}
	if err != nil {
		return err
	}
	s := string(old)
	i, j := strings.Index(s, BeginMarker), strings.Index(s, EndMarker)
	if i < 0 || j < i {
		return fmt.Errorf("%s: no %q ... %q block to replace", path, BeginMarker, EndMarker)
	}
	rest := strings.TrimPrefix(s[j+len(EndMarker):], "\n")
	return os.WriteFile(path, []byte(s[:i]+block+rest), 0o644)
}
