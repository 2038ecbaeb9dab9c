package main

import (
	"bytes"
	"context"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/clickwrap-rotator/clickwrap-rotator/clickwrap"
	"github.com/clickwrap-rotator/clickwrap-rotator/clickwrap/clickwraptest"
	"github.com/clickwrap-rotator/clickwrap-rotator/internal/operator"
	"github.com/clickwrap-rotator/clickwrap-rotator/internal/secretsmanagertest"
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
		{"bad duration", []string{"rotate", "s", "--wait", "--timeout", "soon"}, exitUsage, "", `invalid value "soon"`},
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

// TestStatus runs status --json on the states a secret can be in and checks
// the exit code, the diagnosis and the JSON fields that say why.
func TestStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(w *world)
		args  []string
		code  int
		state rotation.State
		more  []rotation.State
		check func(t *testing.T, w *world, s statusJSON)
	}{
		{
			name: "healthy, verified", setup: (*world).configure, args: []string{"--verify"},
			code: exitOK, state: rotation.StateHealthy,
			check: func(t *testing.T, w *world, s statusJSON) {
				c := s.Current
				if c == nil || c.Check == nil || c.Check.Result != operator.CheckAccepted {
					t.Fatalf("current token not reported accepted: %+v", c)
				}
				if c.Fingerprint != clickwrap.Fingerprint(w.token("AWSCURRENT")) || len(c.Fingerprint) != 8 {
					t.Errorf("fingerprint %q is not the token's", c.Fingerprint)
				}
				if c.ClientID != "present" || c.ClientSecret != "present" || c.AccessToken != "present" || c.Value != "ok" {
					t.Errorf("fields not shown as present: %+v", c)
				}
				if c.APIURL != w.cw.APIURL() || c.TokenType != "Bearer" || !c.ExpiresAt.IsZero() {
					t.Errorf("api_url %q token_type %q expires_at %v", c.APIURL, c.TokenType, c.ExpiresAt)
				}
				if s.Pending != nil || s.Diagnosis.Fix != "" || s.Diagnosis.PendingVersion != "" {
					t.Errorf("a healthy secret has a pending part or a fix: %+v", s.Diagnosis)
				}
			},
		},
		{
			name: "a revoked token looks healthy without --verify", setup: func(w *world) {
				w.configure()
				w.cw.Revoke(w.token("AWSCURRENT"))
			},
			code: exitOK, state: rotation.StateHealthy,
			check: func(t *testing.T, w *world, s statusJSON) {
				if s.Current.Check != nil {
					t.Error("a Bearer check was made without --verify")
				}
				if st := w.cw.Stats(); st.APIRequests != 1 { // the first rotation's testSecret
					t.Errorf("Clickwrap API requests = %d, want none from status", st.APIRequests-1)
				}
			},
		},
		{
			name: "token rejected", setup: func(w *world) {
				w.configure()
				w.cw.Revoke(w.token("AWSCURRENT"))
			},
			args: []string{"--verify"}, code: exitUnhealthy, state: rotation.StateRejected,
			check: func(t *testing.T, w *world, s statusJSON) {
				if s.Current.Check.Result != operator.CheckRejected || !strings.Contains(s.Current.Check.Detail, "HTTP 401") {
					t.Errorf("check = %+v", s.Current.Check)
				}
				if s.Diagnosis.Fix != "aws secretsmanager rotate-secret --secret-id "+w.arn {
					t.Errorf("fix = %q", s.Diagnosis.Fix)
				}
			},
		},
		{
			name: "Clickwrap failing", setup: func(w *world) {
				w.configure()
				w.cw.FailNext(clickwraptest.EndpointAPI, 1000, 503)
			},
			args: []string{"--verify"}, code: exitError, state: rotation.StateCheckFailed,
			check: func(t *testing.T, w *world, s statusJSON) {
				if s.Current.Check.Result != operator.CheckError || !strings.Contains(s.Diagnosis.Message, "503") {
					t.Errorf("check %+v, message %q", s.Current.Check, s.Diagnosis.Message)
				}
			},
		},
		{
			name: "rotation not enabled", setup: func(*world) {},
			code: exitUnhealthy, state: rotation.StateNotEnabled, more: []rotation.State{rotation.StateNoCredential},
			check: func(t *testing.T, w *world, s statusJSON) {
				if s.Rotation.Enabled || !strings.Contains(s.Diagnosis.Fix, "rotate-secret --secret-id "+w.arn+" --rotation-lambda-arn FUNCTION_ARN") {
					t.Errorf("enabled %v, fix %q", s.Rotation.Enabled, s.Diagnosis.Fix)
				}
				if s.Current.AccessToken != "absent" || s.Current.Value != "no-token" {
					t.Errorf("current = %+v", s.Current)
				}
			},
		},
		{
			name: "configured, never rotated", setup: (*world).configuredWithoutToken,
			code: exitUnhealthy, state: rotation.StateNoCredential,
			check: func(t *testing.T, w *world, s statusJSON) {
				if !s.Rotation.Enabled || s.Rotation.Schedule != "rate(30 days)" || s.Rotation.NextRotation.IsZero() {
					t.Errorf("rotation = %+v", s.Rotation)
				}
				if s.Diagnosis.Fix != "aws secretsmanager rotate-secret --secret-id "+w.arn {
					t.Errorf("fix = %q", s.Diagnosis.Fix)
				}
			},
		},
		{
			name: "malformed: no client_secret", setup: func(w *world) {
				w.configure()
				w.put(w.secretJSON(map[string]any{"client_secret": nil}))
			},
			code: exitUnhealthy, state: rotation.StateMalformed,
			check: func(t *testing.T, w *world, s statusJSON) {
				if s.Current.Value != "malformed" || !strings.Contains(s.Current.Problem, `"client_secret"`) || !strings.Contains(s.Diagnosis.Message, `"client_secret" is missing`) {
					t.Errorf("current %+v, message %q", s.Current, s.Diagnosis.Message)
				}
				if !strings.Contains(s.Diagnosis.Fix, "put-secret-value --secret-id "+w.arn) {
					t.Errorf("fix = %q", s.Diagnosis.Fix)
				}
			},
		},
		{
			name: "malformed: not JSON", setup: func(w *world) {
				w.configure()
				w.put("client_id=x")
			},
			code: exitUnhealthy, state: rotation.StateMalformed,
			check: func(t *testing.T, w *world, s statusJSON) {
				if !strings.Contains(s.Diagnosis.Message, "not a JSON object") {
					t.Errorf("message = %q", s.Diagnosis.Message)
				}
			},
		},
		{
			name: "token expires before the next rotation", setup: func(w *world) {
				w.cw.SetExpiresIn(10 * 24 * time.Hour)
				w.configure()
			},
			code: exitUnhealthy, state: rotation.StateExpiresBeforeRotation,
			check: func(t *testing.T, w *world, s statusJSON) {
				if d := time.Until(s.Current.ExpiresAt); d < 9*24*time.Hour || d > 10*24*time.Hour {
					t.Errorf("expires_at = %v", s.Current.ExpiresAt)
				}
				want := "aws secretsmanager rotate-secret --secret-id " + w.arn + ` --rotation-rules '{"ScheduleExpression":"rate(8 days)"}'`
				if s.Diagnosis.Fix != want {
					t.Errorf("fix = %q, want %q", s.Diagnosis.Fix, want)
				}
			},
		},
		{
			name: "token lives shorter than any schedule", setup: func(w *world) {
				w.cw.SetExpiresIn(time.Hour)
				w.configure()
			},
			code: exitUnhealthy, state: rotation.StateExpiresBeforeRotation,
			check: func(t *testing.T, w *world, s statusJSON) {
				if !strings.Contains(s.Diagnosis.Message, "shortest schedule") {
					t.Errorf("message = %q", s.Diagnosis.Message)
				}
			},
		},
		{
			name: "token expired", setup: func(w *world) {
				w.cw.SetExpiresIn(time.Hour)
				w.configure()
				w.setShift(2 * time.Hour)
			},
			code: exitUnhealthy, state: rotation.StateExpired,
		},
		{
			name: "rotation in progress", setup: func(w *world) {
				w.configure()
				w.blockAt(rotation.TestSecret)
			},
			code: exitOK, state: rotation.StateInProgress,
			check: func(t *testing.T, w *world, s statusJSON) {
				if s.Pending == nil || s.Pending.VersionID != s.Diagnosis.PendingVersion || s.Pending.Value != "ok" || s.Diagnosis.PendingSince.IsZero() {
					t.Errorf("pending %+v, diagnosis %+v", s.Pending, s.Diagnosis)
				}
			},
		},
		{
			name: "a failed rotation, checked: stuck", setup: func(w *world) {
				w.configure()
				w.failedRotation()
			},
			args: []string{"--verify"}, code: exitStuck, state: rotation.StateStuck,
			check: func(t *testing.T, w *world, s statusJSON) {
				v := rotation.VersionWithStage(w.stages(), "AWSPENDING")
				if s.Diagnosis.PendingVersion != v || s.Diagnosis.Fix != rotation.RemovePendingCommand(w.arn, v) {
					t.Errorf("pending %q, fix %q", s.Diagnosis.PendingVersion, s.Diagnosis.Fix)
				}
				if s.Pending.Check.Result != operator.CheckRejected || s.Current.Check.Result != operator.CheckAccepted {
					t.Errorf("checks: pending %+v, current %+v", s.Pending.Check, s.Current.Check)
				}
				if !strings.Contains(s.Diagnosis.Message, "can make it pass") {
					t.Errorf("message = %q", s.Diagnosis.Message)
				}
			},
		},
		{
			name: "a failed rotation, unchecked and recent: in progress", setup: func(w *world) {
				w.configure()
				w.failedRotation()
			},
			code: exitOK, state: rotation.StateInProgress,
		},
		{
			name: "createSecret failed an hour ago: stuck", setup: func(w *world) {
				w.configure()
				w.setHook(stopAtCreate)
				w.startRotation()
				w.waitRotations()
				w.setShift(time.Hour)
			},
			code: exitStuck, state: rotation.StateStuck,
			check: func(t *testing.T, w *world, s statusJSON) {
				if s.Pending.Value != "no-value" || !strings.Contains(s.Diagnosis.Message, "createSecret never stored a value") {
					t.Errorf("pending %+v, message %q", s.Pending, s.Diagnosis.Message)
				}
			},
		},
		{
			name: "--stuck-after 0s", setup: func(w *world) {
				w.configure()
				w.setHook(stopAtCreate)
				w.startRotation()
				w.waitRotations()
			},
			args: []string{"--stuck-after", "0s"}, code: exitStuck, state: rotation.StateStuck,
		},
		{
			name: "AWSPENDING on the AWSCURRENT version", setup: func(w *world) {
				w.configure()
				if _, err := w.sm.Client().UpdateSecretVersionStage(context.Background(), &secretsmanager.UpdateSecretVersionStageInput{
					SecretId: aws.String(w.arn), VersionStage: aws.String("AWSPENDING"),
					MoveToVersionId: aws.String(rotation.VersionWithStage(w.stages(), "AWSCURRENT")),
				}); err != nil {
					t.Fatal(err)
				}
			},
			code: exitOK, state: rotation.StateHealthy,
			check: func(t *testing.T, w *world, s statusJSON) {
				if s.Pending != nil || !strings.Contains(s.Diagnosis.Message, "AWSPENDING is also on the AWSCURRENT version") {
					t.Errorf("pending %+v, message %q", s.Pending, s.Diagnosis.Message)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			tt.setup(w)
			s, r := w.status(tt.args...)
			if r.code != tt.code || rotation.State(s.Diagnosis.State) != tt.state {
				t.Fatalf("exit %d state %s, want exit %d state %s\n%s", r.code, s.Diagnosis.State, tt.code, tt.state, r)
			}
			for _, m := range tt.more {
				if !slices.Contains(s.states(), string(m)) {
					t.Errorf("findings %v lack %s", s.states(), m)
				}
			}
			if s.Secret.Name != secretName || s.Secret.ARN != w.arn || s.CheckedAt.IsZero() || len(s.Versions) == 0 {
				t.Errorf("secret %+v, checked_at %v, %d versions", s.Secret, s.CheckedAt, len(s.Versions))
			}
			if s.Diagnosis.Message == "" {
				t.Error("no message")
			}
			if tt.check != nil {
				tt.check(t, w, s)
			}
		})
	}
}

// TestStatusJSONConfiguration checks the configuration and version fields
// of status --json against what Secrets Manager holds, with the flags
// before the secret.
func TestStatusJSONConfiguration(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	first := rotation.VersionWithStage(w.stages(), "AWSCURRENT")
	w.configure()
	r := w.expect(exitOK, nil, "status", "--json", "--verify", w.arn) // by ARN, flags first
	s, _ := w.status()
	if !strings.HasPrefix(r.stdout, "{") {
		t.Fatalf("not JSON:\n%s", r.stdout)
	}
	ro := s.Rotation
	if !ro.Enabled || ro.LambdaARN != lambdaARN || ro.Schedule != "rate(30 days)" || ro.Window != "3h" {
		t.Errorf("rotation = %+v", ro)
	}
	if d := ro.NextRotation.Sub(ro.LastRotated); d != 30*24*time.Hour || time.Since(ro.LastRotated) > time.Minute {
		t.Errorf("last %v, next %v", ro.LastRotated, ro.NextRotation)
	}
	current := rotation.VersionWithStage(w.stages(), "AWSCURRENT")
	if len(s.Versions) != 2 || s.Versions[0].VersionID != current || !slices.Equal(s.Versions[0].Stages, []string{"AWSCURRENT"}) ||
		s.Versions[1].VersionID != first || !slices.Equal(s.Versions[1].Stages, []string{"AWSPREVIOUS"}) {
		t.Errorf("versions = %+v", s.Versions)
	}
	for _, v := range s.Versions {
		if v.Created.IsZero() || time.Since(v.Created) > time.Minute {
			t.Errorf("version %s created %v", v.VersionID, v.Created)
		}
	}
	if s.Current.VersionID != current || s.Current.Stage != "AWSCURRENT" || s.Diagnosis.CurrentVersion != current {
		t.Errorf("current %+v", s.Current)
	}
}

// TestStatusText checks the text report: the token as its fingerprint, the
// fix and rotatorctl's own command for it.
func TestStatusText(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.configure()
	r := w.expect(exitOK, nil, "status", secretName)
	for _, want := range []string{"Rotation       enabled, function " + lambdaARN, "Schedule       rate(30 days), window 3h",
		"fingerprint " + clickwrap.Fingerprint(w.token("AWSCURRENT")), "client_secret  present", "Diagnosis: healthy"} {
		if !r.has(want) {
			t.Errorf("report lacks %q:\n%s", want, r.stdout)
		}
	}

	v := w.failedRotation()
	r = w.expect(exitOK, nil, "status", secretName)
	if !r.has("Diagnosis: rotation-in-progress") || !r.has("rotatorctl status clickwrap/api-token --verify") {
		t.Errorf("in progress without the hint to verify:\n%s", r.stdout)
	}
	r = w.expect(exitStuck, nil, "status", secretName, "--verify")
	for _, want := range []string{"Diagnosis: stuck", "Fix:  " + rotation.RemovePendingCommand(w.arn, v),
		"or: rotatorctl unstick clickwrap/api-token", "Then: rotatorctl rotate clickwrap/api-token --wait", "REJECTED"} {
		if !r.has(want) {
			t.Errorf("report lacks %q:\n%s", want, r.stdout)
		}
	}
}

// TestVerify: exit 0 only when Clickwrap accepts the token of the stage.
func TestVerify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		setup  func(w *world)
		args   []string
		code   int
		stdout string
	}{
		{"accepted", (*world).configure, nil, exitOK, "accepted by Clickwrap"},
		{"rejected", func(w *world) { w.configure(); w.cw.Revoke(w.token("AWSCURRENT")) }, nil, exitUnhealthy, "REJECTED: Clickwrap rejected the token"},
		{"Clickwrap failing", func(w *world) { w.configure(); w.cw.FailNext(clickwraptest.EndpointAPI, 1000, 502) }, nil, exitError, "could not check: Clickwrap answered HTTP 502"},
		{"no token yet", func(*world) {}, nil, exitUnhealthy, "no access_token yet"},
		{"malformed", func(w *world) { w.put(w.secretJSON(map[string]any{"api_url": "http://plain.example"})) }, nil, exitUnhealthy, `"api_url" must be an https:// URL`},
		{"AWSPREVIOUS with a token", func(w *world) {
			w.configure()
			if _, err := w.rotateNow(); err != nil {
				t.Fatal(err)
			}
		}, []string{"--stage", "AWSPREVIOUS"}, exitOK, "AWSPREVIOUS of clickwrap/api-token"},
		{"no AWSPENDING", (*world).configure, []string{"--stage", "AWSPENDING"}, exitUnhealthy, "no version of the secret has the stage AWSPENDING"},
		{"AWSPENDING rejected", func(w *world) { w.configure(); w.failedRotation() }, []string{"--stage", "AWSPENDING"}, exitUnhealthy, "This rotation can never pass: rotatorctl unstick"},
		{"AWSPENDING without a value", func(w *world) {
			w.configure()
			w.setHook(stopAtCreate)
			w.startRotation()
			w.waitRotations()
		}, []string{"--stage", "AWSPENDING"}, exitUnhealthy, "has no value yet"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			tt.setup(w)
			r := w.expect(tt.code, nil, append([]string{"verify", secretName}, tt.args...)...)
			if !r.has(tt.stdout) {
				t.Errorf("output lacks %q:\n%s", tt.stdout, r)
			}
		})
	}
}

// rotateNow runs one ordinary rotation to completion.
func (w *world) rotateNow() (string, error) {
	v := w.startRotation()
	w.waitRotations()
	rs := w.sm.Rotations(w.arn)
	return v, rs[len(rs)-1].Err
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
	current := rotation.VersionWithStage(w.stages(), "AWSCURRENT")
	w.setHook(w.revokeBeforeTest)
	w.refuseAbandon()

	r := w.expect(exitStuck, nil, "rotate", secretName, "--wait", "--interval", "20ms", "--timeout", "20s")
	w.sm.FailNext("UpdateSecretVersionStage", 0, "")
	stuck := rotation.VersionWithStage(w.stages(), "AWSPENDING")
	for _, want := range []string{"Rotation of clickwrap/api-token started: version " + stuck + " is AWSPENDING.",
		"Rotation failed after", "Clickwrap rejects the pending token", "testSecret can never pass",
		"Diagnosis: stuck", "Fix:  " + rotation.RemovePendingCommand(w.arn, stuck)} {
		if !r.has(want) {
			t.Errorf("rotate --wait output lacks %q:\n%s", want, r)
		}
	}
	if got := rotation.VersionWithStage(w.stages(), "AWSCURRENT"); got != current {
		t.Fatal("AWSCURRENT moved")
	}
	// The function's own error names the same fix.
	rs := w.sm.Rotations(w.arn)
	if err := rs[len(rs)-1].Err; err == nil || !strings.Contains(err.Error(), "`"+rotation.RemovePendingCommand(w.arn, stuck)+"`") {
		t.Errorf("the function's error does not name the fix rotatorctl gives: %v", err)
	}
	w.setHook(nil)

	s, _ := w.status("--verify")
	if s.Diagnosis.State != string(rotation.StateStuck) {
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
	next := rotation.VersionWithStage(w.stages(), "AWSCURRENT")
	if next == current || next == stuck || !r.has("Rotation finished") ||
		!r.has("fingerprint "+clickwrap.Fingerprint(w.token("AWSCURRENT"))) {
		t.Errorf("the rotation after unstick:\n%s", r)
	}
	w.expect(exitOK, nil, "status", secretName, "--verify")
	w.expect(exitOK, nil, "verify", secretName)
}

// TestRotateWaitRejectedToken: a rotation whose new token Clickwrap rejects
// fails, and rotate --wait says how it ended. A rotation function that
// removes AWSPENDING from such a version itself leaves nothing stuck; one
// that does not leaves it stuck, and unstick clears it. Either way the next
// rotation succeeds.
func TestRotateWaitRejectedToken(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.configure()
	w.setHook(w.revokeBeforeTest)
	r := w.expect(exitStuck, nil, "rotate", secretName, "--wait", "--interval", "20ms", "--timeout", "20s")
	w.setHook(nil)
	switch {
	case r.has("its version was abandoned"):
		if !r.has("nothing is stuck") {
			t.Errorf("output:\n%s", r)
		}
		w.expect(exitOK, nil, "status", secretName, "--verify")
	case r.has("testSecret can never pass"):
		w.expect(exitStuck, nil, "status", secretName, "--verify")
		w.expect(exitOK, nil, "unstick", secretName, "--yes")
	default:
		t.Fatalf("rotate --wait does not say how the rotation ended:\n%s", r)
	}
	w.expect(exitOK, nil, "rotate", secretName, "--wait", "--interval", "20ms")
}

// TestRotateWaitBadCredentials: createSecret cannot mint with a wrong
// client_secret, so the pending version never gets a value; the wait says it
// is slow and names the likely causes, gives up at the timeout, and says how
// to abandon the rotation at once.
func TestRotateWaitBadCredentials(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.configure()
	w.cw.AddClient(clientID, "a-rotated-client-secret") // the API key was regenerated at Clickwrap
	r := w.expect(exitStuck, nil, "rotate", secretName, "--wait", "--interval", "20ms", "--timeout", "1s")
	for _, want := range []string{"still has no value after", "wrong client_id or client_secret", "Gave up waiting after",
		"not finished after 1s", "Diagnosis: rotation-in-progress", "createSecret has not stored its value yet",
		"abandon it now: rotatorctl unstick clickwrap/api-token --stuck-after 0s"} {
		if !r.has(want) {
			t.Errorf("output lacks %q:\n%s", want, r)
		}
	}
	if !strings.Contains(w.logs.String(), "invalid_client") {
		t.Error("the function did not fail on the credentials")
	}
	// What the hint says works; then, with the credentials right again, a
	// rotation succeeds.
	w.expect(exitRefused, nil, "unstick", secretName, "--yes")
	w.expect(exitOK, nil, "unstick", secretName, "--yes", "--stuck-after", "0s")
	w.cw.AddClient(clientID, clientSecret)
	w.expect(exitOK, nil, "rotate", secretName, "--wait", "--interval", "20ms")
}

// TestRotateWaitTimeout: a rotation that keeps failing on a passing Clickwrap
// outage is reported when the timeout comes, with the diagnosis status gives
// (in progress: nothing proves it cannot pass); Secrets Manager's own retry
// then finishes it.
func TestRotateWaitTimeout(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.configure()
	w.cw.FailNext(clickwraptest.EndpointAPI, 100000, 503)
	r := w.expect(exitStuck, nil, "rotate", secretName, "--wait", "--interval", "50ms", "--timeout", "1s")
	for _, want := range []string{"Gave up waiting after", "not finished after 1s", "still AWSPENDING", "rotation-in-progress",
		"Bearer check could not check: Clickwrap answered HTTP 503", "--stuck-after 0s"} {
		if !r.has(want) {
			t.Errorf("output lacks %q:\n%s", want, r)
		}
	}
	w.waitRotations()
	w.cw.FailNext(clickwraptest.EndpointAPI, 0, 503)
	if err := w.sm.RetryRotation(context.Background(), w.arn); err != nil {
		t.Fatalf("the service's retry: %v", err)
	}
	w.expect(exitOK, nil, "status", secretName, "--verify")
}

// TestRotateRefusals: rotate changes nothing when rotation cannot work.
func TestRotateRefusals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		setup  func(w *world)
		code   int
		stdout string
	}{
		{"rotation not enabled", func(*world) {}, exitUnhealthy, "Rotation is not enabled"},
		{"malformed", func(w *world) {
			w.configure()
			w.put(w.secretJSON(map[string]any{"client_id": ""}))
		}, exitUnhealthy, `"client_id" is missing or empty`},
		{"stuck", func(w *world) { w.configure(); w.failedRotation() }, exitStuck, "or: rotatorctl unstick clickwrap/api-token"},
		{"in progress", func(w *world) { w.configure(); w.blockAt(rotation.SetSecret) }, exitRefused, "A rotation is in progress"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			tt.setup(w)
			before := w.stages()
			w.sm.ResetCalls()
			r := w.expect(tt.code, nil, "rotate", secretName, "--wait")
			if !r.has(tt.stdout) || !r.has("nothing was changed") {
				t.Errorf("output lacks %q:\n%s", tt.stdout, r)
			}
			calls := w.calls()
			if calls["RotateSecret"]+calls["UpdateSecretVersionStage"]+calls["PutSecretValue"] != 0 {
				t.Errorf("calls: %v", calls)
			}
			if after := w.stages(); len(after) != len(before) {
				t.Errorf("stages changed: %v -> %v", before, after)
			}
		})
	}
}

// TestRotate: without --wait it starts the rotation and returns; with
// --wait the progress is plain lines, or one redrawn line in a terminal.
func TestRotate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		args     []string
		terminal bool
		want     []string
		notWant  []string
	}{
		{"no wait", nil, false, []string{"Secrets Manager runs it now. Follow it with: rotatorctl status clickwrap/api-token"}, []string{"Rotation finished"}},
		{"plain progress", []string{"--wait", "--interval", "20ms"}, false,
			[]string{"s  started: version", "s  created: createSecret stored the new value", "Rotation finished in"}, []string{"\r"}},
		{"terminal progress", []string{"--wait", "--interval", "20ms"}, true,
			[]string{"\r\x1b[K| ", "created: createSecret stored", "\r\x1b[KRotation finished in"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			w.configure()
			before := rotation.VersionWithStage(w.stages(), "AWSCURRENT")
			w.setTerminal(tt.terminal)
			// Slow steps, so that the wait sees every phase.
			w.setHook(func(_ context.Context, ev rotation.Event) error {
				switch ev.Step {
				case string(rotation.CreateSecret), string(rotation.TestSecret):
					time.Sleep(200 * time.Millisecond)
				}
				return nil
			})
			r := w.expect(exitOK, nil, append([]string{"rotate", secretName}, tt.args...)...)
			w.waitRotations()
			after := rotation.VersionWithStage(w.stages(), "AWSCURRENT")
			if after == before || !r.has("version "+after+" is AWSPENDING") {
				t.Errorf("the version started is not the one promoted:\n%s", r)
			}
			for _, want := range tt.want {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("output lacks %q:\n%q", want, r.stdout)
				}
			}
			for _, no := range tt.notWant {
				if strings.Contains(r.stdout, no) {
					t.Errorf("output has %q:\n%q", no, r.stdout)
				}
			}
		})
	}
}

// TestRotateAbandoned: the rotation loses AWSPENDING before finishing
// (someone removed it): the wait ends at once as failed.
func TestRotateAbandoned(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.configure()
	w.setHook(func(ctx context.Context, ev rotation.Event) error {
		if ev.Step == string(rotation.TestSecret) {
			_, err := w.sm.Client().UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
				SecretId: aws.String(w.arn), VersionStage: aws.String("AWSPENDING"), RemoveFromVersionId: aws.String(ev.ClientRequestToken),
			})
			return err
		}
		return nil
	})
	r := w.expect(exitStuck, nil, "rotate", secretName, "--wait", "--interval", "20ms", "--timeout", "20s")
	if !r.has("lost AWSPENDING without becoming AWSCURRENT") {
		t.Errorf("output:\n%s", r)
	}
}

// TestRotateInterrupted: Ctrl-C while waiting exits 130 and leaves the
// rotation to Secrets Manager.
func TestRotateInterrupted(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.configure()
	release := make(chan struct{})
	t.Cleanup(func() { close(release); w.waitRotations() })
	w.setHook(func(ctx context.Context, ev rotation.Event) error {
		if ev.Step == string(rotation.TestSecret) {
			select {
			case <-release:
			case <-ctx.Done():
			}
		}
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	time.AfterFunc(300*time.Millisecond, cancel)
	r := w.runCtx(ctx, nil, "rotate", secretName, "--wait", "--interval", "20ms")
	if r.code != exitInterrupted || !strings.Contains(r.stderr, "interrupted; the rotation goes on in Secrets Manager") {
		t.Errorf("rotate --wait interrupted:\n%s", r)
	}
	if v := rotation.VersionWithStage(w.stages(), "AWSPENDING"); v == "" || !r.has("version "+v+" is AWSPENDING") {
		t.Errorf("the rotation is not left running: %v", w.stages())
	}
}

// TestUnstickRefuses: unstick changes nothing unless a rotation is stuck
// and the change is confirmed.
func TestUnstickRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		setup  func(w *world)
		stdin  io.Reader
		args   []string
		stdout string
	}{
		{"nothing pending", (*world).configure, nil, []string{"--yes"}, "Nothing is stuck: no version has AWSPENDING."},
		{"AWSPENDING on AWSCURRENT", func(w *world) {
			w.configure()
			if _, err := w.sm.Client().UpdateSecretVersionStage(context.Background(), &secretsmanager.UpdateSecretVersionStageInput{
				SecretId: aws.String(w.arn), VersionStage: aws.String("AWSPENDING"),
				MoveToVersionId: aws.String(rotation.VersionWithStage(w.stages(), "AWSCURRENT")),
			}); err != nil {
				t.Fatal(err)
			}
		}, nil, []string{"--yes"}, "AWSPENDING is on the AWSCURRENT version"},
		{"in progress", func(w *world) { w.configure(); w.blockAt(rotation.CreateSecret) }, nil, []string{"--yes"}, "--stuck-after 0s"},
		{"recent, unproven failure", func(w *world) {
			w.configure()
			w.setHook(stopAtCreate)
			w.startRotation()
			w.waitRotations()
		}, nil, []string{"--yes"}, "A rotation is in progress"},
		{"no stdin", func(w *world) { w.configure(); w.failedRotation() }, nil, nil, "there is no stdin to ask on; pass --yes"},
		{"stdin at its end", func(w *world) { w.configure(); w.failedRotation() }, strings.NewReader(""), nil, "stdin ended without an answer"},
		{"answered no", func(w *world) { w.configure(); w.failedRotation() }, strings.NewReader("no\n"), nil, "Not confirmed. Nothing was changed."},
		{"answered something else", func(w *world) { w.configure(); w.failedRotation() }, strings.NewReader("sure\n"), nil, "Not confirmed."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			tt.setup(w)
			before := w.stages()
			w.sm.ResetCalls()
			r := w.expect(exitRefused, tt.stdin, append([]string{"unstick", secretName}, tt.args...)...)
			if !r.has(tt.stdout) {
				t.Errorf("output lacks %q:\n%s", tt.stdout, r)
			}
			if n := w.calls()["UpdateSecretVersionStage"]; n != 0 {
				t.Errorf("UpdateSecretVersionStage called %d times", n)
			}
			after := w.stages()
			for id, st := range before {
				if !slices.Equal(after[id], st) {
					t.Errorf("stages changed: %v -> %v", before, after)
				}
			}
		})
	}
}

// TestUnstick: every way of confirming removes AWSPENDING from the stuck
// version only, with one call.
func TestUnstick(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(w *world)
		stdin io.Reader
		args  []string
	}{
		{"--yes", func(w *world) { w.failedRotation() }, nil, []string{"--yes"}},
		{"y", func(w *world) { w.failedRotation() }, strings.NewReader("y\n"), nil},
		{"YES without a newline", func(w *world) { w.failedRotation() }, strings.NewReader("YES"), nil},
		{"createSecret failed an hour ago", func(w *world) {
			w.setHook(stopAtCreate)
			w.startRotation()
			w.waitRotations()
			w.setHook(nil)
			w.setShift(time.Hour)
		}, nil, []string{"--yes"}},
		{"--stuck-after 0s", func(w *world) {
			w.setHook(stopAtCreate)
			w.startRotation()
			w.waitRotations()
			w.setHook(nil)
		}, nil, []string{"--yes", "--stuck-after", "0s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			w.configure()
			current := rotation.VersionWithStage(w.stages(), "AWSCURRENT")
			previous := rotation.VersionWithStage(w.stages(), "AWSPREVIOUS")
			tt.setup(w)
			stuck := rotation.VersionWithStage(w.stages(), "AWSPENDING")
			w.sm.ResetCalls()
			r := w.expect(exitOK, tt.stdin, append([]string{"unstick", secretName}, tt.args...)...)
			if n := w.calls()["UpdateSecretVersionStage"]; n != 1 {
				t.Errorf("UpdateSecretVersionStage called %d times, want 1", n)
			}
			want := map[string][]string{current: {"AWSCURRENT"}, previous: {"AWSPREVIOUS"}}
			if got := w.stages(); len(got) != 2 || !slices.Equal(got[current], want[current]) || !slices.Equal(got[previous], want[previous]) {
				t.Errorf("stages after unstick: %v", got)
			}
			if !r.has("Removed AWSPENDING from version "+stuck+". The stages now:") || r.has(stuck+"  AWSPENDING") {
				t.Errorf("output:\n%s", r)
			}
			w.setShift(0)
			w.expect(exitOK, nil, "rotate", secretName, "--wait", "--interval", "20ms")
		})
	}
}

// TestUnstickReportsTheChangeWhenTheRereadFails: once AWSPENDING is
// removed, a failing read of the stages afterwards must not turn success
// into an error exit (a script would retry into "nothing is stuck").
func TestUnstickReportsTheChangeWhenTheRereadFails(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.configure()
	stuck := w.failedRotation()
	remove := w.sm.OnCall("UpdateSecretVersionStage", func(secretsmanagertest.Call) error {
		w.sm.FailNext("DescribeSecret", 5, "AccessDeniedException") // the read after the change
		return nil
	})
	defer remove()
	r := w.run(nil, "unstick", secretName, "--yes")
	if r.code != exitOK || !strings.Contains(r.stdout, "Removed AWSPENDING from version "+stuck) || !strings.Contains(r.stderr, "warning") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if slices.Contains(w.stages()[stuck], "AWSPENDING") {
		t.Error("AWSPENDING is still on the stuck version")
	}
}
