package main

import (
	"bytes"
	"context"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/clickwrap-rotator/clickwrap-rotator/clickwrap"
	"github.com/clickwrap-rotator/clickwrap-rotator/internal/operator"
	"github.com/clickwrap-rotator/clickwrap-rotator/rotation"
)

// TestUsage: help goes to stdout with exit 0, usage errors to stderr with
// exit 2, and neither needs AWS.
func TestUsage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		args           []string
		code           int
		stdout, stderr string
	}{
		{"no arguments", nil, exitUsage, "", "no command given"},
		{"--help", []string{"--help"}, exitOK, "Exit codes:", ""},
		{"-h", []string{"-h"}, exitOK, "rotatorctl unstick SECRET", ""},
		{"help", []string{"help"}, exitOK, "AWS_ENDPOINT_URL_SECRETS_MANAGER", ""},
		{"help status", []string{"help", "status"}, exitOK, "expires-before-rotation", ""},
		{"help of an unknown command", []string{"help", "frobnicate"}, exitUsage, "", `unknown command "frobnicate"`},
		{"unknown command", []string{"frobnicate", "s"}, exitUsage, "", `unknown command "frobnicate"`},
		{"status --help", []string{"status", "--help"}, exitOK, "--verify", ""},
		{"rotate -h", []string{"rotate", "-h"}, exitOK, "--timeout duration", ""},
		{"verify --help", []string{"verify", "s", "--help"}, exitOK, "--stage label", ""},
		{"unstick --help", []string{"unstick", "--help"}, exitOK, "--yes", ""},
		{"no secret", []string{"status"}, exitUsage, "", "no SECRET given"},
		{"two secrets", []string{"status", "a", "b"}, exitUsage, "", "one SECRET expected, got 2"},
		{"empty secret", []string{"verify", " "}, exitUsage, "", "SECRET is empty"},
		{"unknown flag", []string{"status", "s", "--bogus"}, exitUsage, "", "flag provided but not defined: -bogus"},
		{"bad duration", []string{"rotate", "s", "--wait", "--timeout", "soon"}, exitUsage, "", `invalid value "soon" for flag -timeout: a duration is a number with a unit, e.g. 15m, 90s or 1h30m`},
		{"duration without a unit", []string{"status", "s", "--stuck-after", "15"}, exitUsage, "", `invalid value "15" for flag -stuck-after: a duration is a number with a unit, e.g. 15m`},
		{"--timeout without --wait", []string{"rotate", "s", "--timeout", "1m"}, exitUsage, "", "--timeout needs --wait"},
		{"negative --stuck-after", []string{"unstick", "s", "--stuck-after", "-1m"}, exitUsage, "", "--stuck-after must not be negative"},
		{"empty --stage", []string{"verify", "s", "--stage", ""}, exitUsage, "", "--stage must not be empty"},
		{"after --", []string{"status", "--", "a", "--json"}, exitUsage, "", "one SECRET expected, got 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var out, errOut bytes.Buffer
			d := deps{
				operator: func(context.Context) (*operator.Operator, error) {
					t.Error("AWS was needed for a usage error or help")
					return nil, io.EOF
				},
				terminal: func(io.Writer) bool { return false },
			}
			code := run(context.Background(), tt.args, nil, &out, &errOut, d)
			if code != tt.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, out.String(), errOut.String())
			}
			if tt.stdout != "" && !strings.Contains(out.String(), tt.stdout) {
				t.Errorf("stdout lacks %q:\n%s", tt.stdout, out.String())
			}
			if tt.stderr != "" && !strings.Contains(errOut.String(), tt.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tt.stderr, errOut.String())
			}
			if tt.code == exitUsage && out.Len() != 0 {
				t.Errorf("a usage error wrote to stdout: %s", out.String())
			}
			if tt.code == exitOK && !strings.Contains(out.String(), "Exit codes:") {
				t.Error("the help does not document the exit codes")
			}
		})
	}
}

// TestSecretNotFound: every command says so and exits 4.
func TestSecretNotFound(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	for _, args := range [][]string{{"status"}, {"status", "--json"}, {"rotate", "--wait"}, {"verify"}, {"unstick", "--yes"}} {
		r := w.expect(exitError, nil, append([]string{args[0], "no/such/secret"}, args[1:]...)...)
		if !strings.Contains(r.stderr, `secret "no/such/secret" not found`) || r.stdout != "" {
			t.Errorf("%v: %s", args, r)
		}
	}
}

// TestStuckRotationLifecycle is the story the tool exists for: a rotation
// fails half way because Clickwrap rejects the new token; rotate --wait says
// so with the diagnosis; rotating again is refused; unstick asks, and removes
// AWSPENDING with one call; the next rotation succeeds.
func TestStuckRotationLifecycle(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.configure()
	current := operator.VersionWithStage(w.stages(), "AWSCURRENT")
	w.setHook(w.revokeBeforeTest)
	w.refuseAbandon()

	r := w.expect(exitStuck, nil, "rotate", secretName, "--wait", "--interval", "20ms", "--timeout", "20s")
	w.sm.FailNext("UpdateSecretVersionStage", 0, "")
	stuck := operator.VersionWithStage(w.stages(), "AWSPENDING")
	for _, want := range []string{"Rotation of clickwrap/api-token started: version " + stuck + " is AWSPENDING.",
		"Rotation failed after", "Clickwrap rejects the pending token", "testSecret can never pass",
		"Diagnosis: stuck", "Fix:  " + rotation.RemovePendingCommand(w.arn, stuck)} {
		if !r.has(want) {
			t.Errorf("rotate --wait output lacks %q:\n%s", want, r)
		}
	}
	if got := operator.VersionWithStage(w.stages(), "AWSCURRENT"); got != current {
		t.Fatal("AWSCURRENT moved")
	}
	// The function's own error names the same fix.
	if err := w.p.LastRotation().Err; err == nil || !strings.Contains(err.Error(), "`"+rotation.RemovePendingCommand(w.arn, stuck)+"`") {
		t.Errorf("the function's error does not name the fix rotatorctl gives: %v", err)
	}
	w.setHook(nil)

	s, _ := w.status("--verify")
	if s.Diagnosis.State != string(operator.StateStuck) {
		t.Fatalf("status after the failure: %s", s.Diagnosis.State)
	}

	w.sm.ResetCalls()
	r = w.expect(exitStuck, nil, "rotate", secretName, "--wait")
	if n := w.calls()["RotateSecret"]; n != 0 || !r.has("Not rotating") {
		t.Errorf("rotate while stuck called RotateSecret %d times:\n%s", n, r)
	}

	w.expect(exitRefused, strings.NewReader("n\n"), "unstick", secretName)
	w.expect(exitRefused, strings.NewReader(""), "unstick", secretName)
	if n := w.calls()["UpdateSecretVersionStage"]; n != 0 {
		t.Fatalf("a refused unstick changed stages (%d calls)", n)
	}
	r = w.expect(exitOK, strings.NewReader("y\n"), "unstick", secretName)
	if n := w.calls()["UpdateSecretVersionStage"]; n != 1 {
		t.Errorf("unstick made %d UpdateSecretVersionStage calls, want 1", n)
	}
	if !strings.Contains(r.stderr, "Remove AWSPENDING from version "+stuck+"? [y/N]") ||
		!r.has(rotation.RemovePendingCommand(w.arn, stuck)) ||
		!r.has("Removed AWSPENDING from version "+stuck) {
		t.Errorf("unstick output:\n%s", r)
	}
	if want := (map[string][]string{current: {"AWSCURRENT"}}); !slices.Equal(w.stages()[current], want[current]) || w.stages()[stuck] != nil {
		t.Errorf("stages after unstick: %v", w.stages())
	}

	r = w.expect(exitOK, nil, "rotate", secretName, "--wait", "--interval", "20ms")
	next := operator.VersionWithStage(w.stages(), "AWSCURRENT")
	if next == current || next == stuck || !r.has("Rotation finished") ||
		!r.has("fingerprint "+clickwrap.Fingerprint(w.token("AWSCURRENT"))) {
		t.Errorf("the rotation after unstick:\n%s", r)
	}
	w.expect(exitOK, nil, "status", secretName, "--verify")
	w.expect(exitOK, nil, "verify", secretName)
}
