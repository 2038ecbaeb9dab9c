package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/clickwrap-rotator/clickwrap-rotator/internal/operator"
)

// The operator's data, printed for a person. secret is the secret as the
// operator typed it, for rotatorctl's own commands next to the AWS CLI
// fixes.

// writeReport prints a status report: configuration, versions, the tokens
// (fields as present/absent, the token as its fingerprint), and the
// diagnosis with the exact fix.
func writeReport(w io.Writer, r *operator.Report, secret string) {
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
	writeVersions(w, r.Versions, now)

	if r.Current != nil {
		fmt.Fprintln(w)
		writeToken(w, r.Current, now)
	} else if r.Diagnosis.Has(operator.StateEmpty) {
		fmt.Fprintf(w, "\nAWSCURRENT\n  value  none: no version holds AWSCURRENT\n")
	}
	if r.Credentials != nil {
		fmt.Fprintln(w)
		writeCredentials(w, r.Credentials)
	}
	if r.Pending != nil {
		fmt.Fprintln(w)
		writeToken(w, r.Pending, now)
	}
	for _, warn := range r.Warnings {
		fmt.Fprintf(w, "\nWarning: %s\n", warn)
	}
	fmt.Fprintln(w)
	writeDiagnosis(w, r.Diagnosis, secret)
}

// writeVersions prints the labelled versions as a table.
func writeVersions(w io.Writer, versions []operator.VersionInfo, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	defer tw.Flush()
	if len(versions) == 0 {
		fmt.Fprintf(tw, "  none: the secret has no labelled version\n")
		return
	}
	fmt.Fprintf(tw, "  VERSION\tSTAGES\tCREATED\n")
	for _, v := range versions {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", v.VersionID, strings.Join(v.Stages, ","), when(v.Created, now))
	}
}

// writeToken prints one version's value: never a secret, only presence, the
// token's fingerprint, the expiry, the api_url and the Bearer check.
func writeToken(w io.Writer, t *operator.TokenInfo, now time.Time) {
	fmt.Fprintf(w, "%s (version %s)\n", t.Stage, t.VersionID)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	defer tw.Flush()
	switch t.Value {
	case operator.ValueNoValue:
		fmt.Fprintf(tw, "  value\tnone yet (createSecret has not stored it)\n")
		return
	case operator.ValueMalformed, operator.ValueUnreadable:
		fmt.Fprintf(tw, "  value\t%s: %s\n", t.Value, t.Problem)
		return
	}
	fmt.Fprintf(tw, "  client_id\t%s\n", t.ClientID)
	fmt.Fprintf(tw, "  client_secret\t%s\n", t.ClientSecret)
	if t.AccessToken == operator.Present {
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
		case operator.CheckAccepted:
			fmt.Fprintf(tw, "  Bearer check\taccepted by %s\n", c.Endpoint)
		case operator.CheckRejected:
			fmt.Fprintf(tw, "  Bearer check\tREJECTED: %s\n", c.Detail)
		default:
			fmt.Fprintf(tw, "  Bearer check\tcould not check: %s\n", c.Detail)
		}
	}
}

// writeCredentials prints where the AWSCURRENT value keeps its client
// credentials: the applications by client_id (not secrets: see
// operator.CredentialsInfo), never a client_secret.
func writeCredentials(w io.Writer, c *operator.CredentialsInfo) {
	if c.Form == operator.FormInline {
		fmt.Fprintf(w, "Client credentials (inline form, in the token secret)\n")
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "  application\t%s (the one application: every rotation mints with it)\n", c.ClientID)
		tw.Flush()
		writeWrapped(w, "  ", "Warning: "+c.Warning)
		return
	}
	fmt.Fprintf(w, "Client credentials (split form, in a credentials secret)\n")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	defer tw.Flush()
	fmt.Fprintf(tw, "  credentials secret\t%s\n", c.Secret)
	switch c.Value {
	case operator.ValueOK:
		apps := "1 application, " + c.Applications[0]
		if len(c.Applications) > 1 {
			apps = fmt.Sprintf("%d applications, %s", len(c.Applications), strings.Join(c.Applications, " and "))
		}
		fmt.Fprintf(tw, "  value\treadable and well formed: %s\n", apps)
	default:
		fmt.Fprintf(tw, "  value\t%s: see the diagnosis\n", c.Value)
	}
	switch {
	case c.ClientID == "":
		fmt.Fprintf(tw, "  current token\tno client_id recorded yet (each rotation records the application it mints with)\n")
	case c.Value == operator.ValueOK && !slices.Contains(c.Applications, c.ClientID):
		fmt.Fprintf(tw, "  current token\tminted by %s (not in the credentials secret)\n", c.ClientID)
	default:
		fmt.Fprintf(tw, "  current token\tminted by %s\n", c.ClientID)
	}
	switch {
	case c.NextClientID == "":
		fmt.Fprintf(tw, "  next rotation\tunknown: the credentials secret is not usable\n")
	case len(c.Applications) == 1:
		fmt.Fprintf(tw, "  next rotation\tmints with %s (the one application; with two, rotations alternate)\n", c.NextClientID)
	default:
		fmt.Fprintf(tw, "  next rotation\tmints with %s\n", c.NextClientID)
	}
	fmt.Fprintf(tw, "  client_secret\tnot in the token secret: readers of the token cannot mint\n")
}

// writeDiagnosis prints a diagnosis: the state, the message, the exact fix,
// and rotatorctl's own command for it.
func writeDiagnosis(w io.Writer, d operator.Diagnosis, secret string) {
	fmt.Fprintf(w, "Diagnosis: %s\n", d.State)
	writeFinding(w, d.Finding, d, secret)
	for _, f := range d.More {
		fmt.Fprintf(w, "Also: %s\n", f.State)
		writeFinding(w, f, d, secret)
	}
}

func writeFinding(w io.Writer, f operator.Finding, d operator.Diagnosis, secret string) {
	writeWrapped(w, "  ", f.Message)
	if f.Fix == "" {
		return
	}
	if f.State == operator.StateEmpty && d.PendingVersion != "" {
		fmt.Fprintf(w, "  First: %s unstick %s\n", program, secret)
	}
	fmt.Fprintf(w, "  Fix:  %s\n", f.Fix)
	switch f.State {
	case operator.StateStuck:
		fmt.Fprintf(w, "        or: %s unstick %s%s\n", program, secret, stuckAfterFlag(d.StuckAfter))
		fmt.Fprintf(w, "  Then: %s rotate %s --wait\n", program, secret)
	case operator.StateRejected, operator.StateExpired, operator.StateNoCredential:
		fmt.Fprintf(w, "        or: %s rotate %s --wait\n", program, secret)
	case operator.StateEmpty:
		fmt.Fprintf(w, "  Then: %s rotate %s --wait\n", program, secret)
	}
}

// stuckAfterFlag is the --stuck-after unstick needs to reach the verdict a
// diagnosis made with stuckAfter: none for the default, "0s" for the
// "at once" of stuckAfter(0).
func stuckAfterFlag(after time.Duration) string {
	switch {
	case after == 0 || after == operator.DefaultStuckAfter:
		return ""
	case after <= time.Nanosecond:
		return " --stuck-after 0s"
	}
	return " --stuck-after " + after.String()
}

// wrapWidth is the width messages are wrapped to.
const wrapWidth = 96

// writeWrapped writes text as lines of at most wrapWidth columns (a longer
// word gets a line of its own), each with prefix.
func writeWrapped(w io.Writer, prefix, text string) {
	line := prefix
	for _, word := range strings.Fields(text) {
		if len(line) > len(prefix) && len(line)+1+len(word) > wrapWidth {
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
		return fmt.Sprintf("%s (in %s)", s, operator.ShortDuration(d))
	}
	return fmt.Sprintf("%s (%s ago)", s, operator.ShortDuration(now.Sub(t)))
}
