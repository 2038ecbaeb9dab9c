package main

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clickwrap-rotator/clickwrap-rotator/clickwrap"
	"github.com/clickwrap-rotator/clickwrap-rotator/clickwrap/clickwraptest"
	"github.com/clickwrap-rotator/clickwrap-rotator/internal/localrun"
	"github.com/clickwrap-rotator/clickwrap-rotator/internal/operator"
	"github.com/clickwrap-rotator/clickwrap-rotator/rotation"
)

// TestStatus runs status --json on the states a secret can be in and checks
// the exit code, the diagnosis and the JSON fields that say why.
func TestStatus(t *testing.T) {
	t.Parallel()
	t.Run("healthy, verified", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		w.configure()
		s := w.expectStatus(exitOK, operator.StateHealthy, "--verify")
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
	})
	t.Run("a revoked token looks healthy without --verify", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		w.configure()
		w.cw.Revoke(w.token("AWSCURRENT"))
		s := w.expectStatus(exitOK, operator.StateHealthy)
		if s.Current.Check != nil {
			t.Error("a Bearer check was made without --verify")
		}
		if st := w.cw.Stats(); st.APIRequests != 1 { // the first rotation's testSecret
			t.Errorf("Clickwrap API requests = %d, want none from status", st.APIRequests-1)
		}
	})
	t.Run("token rejected", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		w.configure()
		w.cw.Revoke(w.token("AWSCURRENT"))
		s := w.expectStatus(exitUnhealthy, operator.StateRejected, "--verify")
		if s.Current.Check.Result != operator.CheckRejected || !strings.Contains(s.Current.Check.Detail, "HTTP 401") {
			t.Errorf("check = %+v", s.Current.Check)
		}
		if s.Diagnosis.Fix != "aws secretsmanager rotate-secret --secret-id "+w.arn {
			t.Errorf("fix = %q", s.Diagnosis.Fix)
		}
	})
	t.Run("Clickwrap failing", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		w.configure()
		w.cw.FailNext(clickwraptest.EndpointAPI, 1000, 503)
		s := w.expectStatus(exitError, operator.StateCheckFailed, "--verify")
		if s.Current.Check.Result != operator.CheckError || !strings.Contains(s.Diagnosis.Message, "503") {
			t.Errorf("check %+v, message %q", s.Current.Check, s.Diagnosis.Message)
		}
	})
	t.Run("rotation not enabled", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		s := w.expectStatus(exitUnhealthy, operator.StateNotEnabled)
		if !slices.Contains(s.states(), string(operator.StateNoCredential)) {
			t.Errorf("findings %v lack %s", s.states(), operator.StateNoCredential)
		}
		if s.Rotation.Enabled || !strings.Contains(s.Diagnosis.Fix, "rotate-secret --secret-id "+w.arn+" --rotation-lambda-arn FUNCTION_ARN") {
			t.Errorf("enabled %v, fix %q", s.Rotation.Enabled, s.Diagnosis.Fix)
		}
		if s.Current.AccessToken != "absent" || s.Current.Value != "no-token" {
			t.Errorf("current = %+v", s.Current)
		}
	})
	t.Run("the stack's secret: the fixes go through sam deploy", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		w.cw.SetExpiresIn(10 * 24 * time.Hour)
		const name = "clickwrap/stack-token"
		arn := w.stackSecret(name, "clickwrap-rotator")
		status := func(state operator.State) statusJSON {
			t.Helper()
			s, r := w.statusOf(name)
			if r.code != exitUnhealthy || operator.State(s.Diagnosis.State) != state {
				t.Fatalf("exit %d, state %s, want exit %d, state %s\n%s", r.code, s.Diagnosis.State, exitUnhealthy, state, r)
			}
			return s
		}

		s := status(operator.StateNotEnabled)
		want := "set EnableRotation=true in samconfig.toml's parameter_overrides, then run: sam deploy --stack-name clickwrap-rotator"
		if s.Diagnosis.Fix != want || !strings.Contains(s.Diagnosis.Message, "CloudFormation stack clickwrap-rotator") {
			t.Errorf("fix %q, want %q; message %q", s.Diagnosis.Fix, want, s.Diagnosis.Message)
		}
		if r := w.run(nil, "status", name); !strings.Contains(r.stdout, "  Fix:  "+want+"\n") || strings.Contains(r.stdout, "--rotation-lambda-arn") {
			t.Errorf("text output lacks the stack fix, or has the CLI one:\n%s", r)
		}

		// The stack turns rotation on (rate(30 days), its 3h window); the
		// token lives 10 days.
		w.enableRotation(arn)
		s = status(operator.StateExpiresBeforeRotation)
		want = `set RotationScheduleExpression=\"rate(8 days)\" in samconfig.toml's parameter_overrides, then run: sam deploy --stack-name clickwrap-rotator`
		if s.Diagnosis.Fix != want {
			t.Errorf("fix %q, want %q", s.Diagnosis.Fix, want)
		}
	})
	t.Run("configured, never rotated", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		w.configuredWithoutToken()
		s := w.expectStatus(exitUnhealthy, operator.StateNoCredential)
		if !s.Rotation.Enabled || s.Rotation.Schedule != "rate(30 days)" || s.Rotation.NextRotation.IsZero() {
			t.Errorf("rotation = %+v", s.Rotation)
		}
		if s.Diagnosis.Fix != "aws secretsmanager rotate-secret --secret-id "+w.arn {
			t.Errorf("fix = %q", s.Diagnosis.Fix)
		}
	})
	t.Run("malformed: no client_secret", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		w.configure()
		w.put(w.secretJSON(map[string]any{"client_secret": nil}))
		s := w.expectStatus(exitUnhealthy, operator.StateMalformed)
		if s.Current.Value != "malformed" || !strings.Contains(s.Current.Problem, `"client_secret"`) || !strings.Contains(s.Diagnosis.Message, `"client_secret" is missing`) {
			t.Errorf("current %+v, message %q", s.Current, s.Diagnosis.Message)
		}
		if !strings.Contains(s.Diagnosis.Fix, "put-secret-value --secret-id "+w.arn) {
			t.Errorf("fix = %q", s.Diagnosis.Fix)
		}
	})
	t.Run("malformed: not JSON", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		w.configure()
		w.put("client_id=x")
		s := w.expectStatus(exitUnhealthy, operator.StateMalformed)
		if !strings.Contains(s.Diagnosis.Message, "not a JSON object") {
			t.Errorf("message = %q", s.Diagnosis.Message)
		}
	})
	t.Run("token expires before the next rotation", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		w.cw.SetExpiresIn(10 * 24 * time.Hour)
		w.configure()
		s := w.expectStatus(exitUnhealthy, operator.StateExpiresBeforeRotation)
		if d := time.Until(s.Current.ExpiresAt); d < 9*24*time.Hour || d > 10*24*time.Hour {
			t.Errorf("expires_at = %v", s.Current.ExpiresAt)
		}
		want := "aws secretsmanager rotate-secret --secret-id " + w.arn + ` --rotation-rules '{"ScheduleExpression":"rate(8 days)"}'`
		if s.Diagnosis.Fix != want {
			t.Errorf("fix = %q, want %q", s.Diagnosis.Fix, want)
		}
	})
	t.Run("token lives shorter than any schedule", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		w.cw.SetExpiresIn(time.Hour)
		w.configure()
		s := w.expectStatus(exitUnhealthy, operator.StateExpiresBeforeRotation)
		if !strings.Contains(s.Diagnosis.Message, "shortest schedule") {
			t.Errorf("message = %q", s.Diagnosis.Message)
		}
	})
	t.Run("token expired", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		w.cw.SetExpiresIn(time.Hour)
		w.configure()
		w.setShift(2 * time.Hour)
		w.expectStatus(exitUnhealthy, operator.StateExpired)
	})
	t.Run("rotation in progress", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		w.configure()
		w.blockAt(rotation.TestSecret)
		s := w.expectStatus(exitOK, operator.StateInProgress)
		if s.Pending == nil || s.Pending.VersionID != s.Diagnosis.PendingVersion || s.Pending.Value != "ok" || s.Diagnosis.PendingSince.IsZero() {
			t.Errorf("pending %+v, diagnosis %+v", s.Pending, s.Diagnosis)
		}
	})
	t.Run("a failed rotation, checked: stuck", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		w.configure()
		w.failedRotation()
		s := w.expectStatus(exitStuck, operator.StateStuck, "--verify")
		v := operator.VersionWithStage(w.stages(), "AWSPENDING")
		if s.Diagnosis.PendingVersion != v || s.Diagnosis.Fix != rotation.RemovePendingCommand(w.arn, v) {
			t.Errorf("pending %q, fix %q", s.Diagnosis.PendingVersion, s.Diagnosis.Fix)
		}
		if s.Pending.Check.Result != operator.CheckRejected || s.Current.Check.Result != operator.CheckAccepted {
			t.Errorf("checks: pending %+v, current %+v", s.Pending.Check, s.Current.Check)
		}
		if !strings.Contains(s.Diagnosis.Message, "can make it pass") {
			t.Errorf("message = %q", s.Diagnosis.Message)
		}
	})
	t.Run("a failed rotation, unchecked and recent: in progress", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		w.configure()
		w.failedRotation()
		w.expectStatus(exitOK, operator.StateInProgress)
	})
	t.Run("createSecret failed an hour ago: stuck", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		w.configure()
		w.failedCreate()
		w.setShift(time.Hour)
		s := w.expectStatus(exitStuck, operator.StateStuck)
		if s.Pending.Value != "no-value" || !strings.Contains(s.Diagnosis.Message, "createSecret never stored a value") {
			t.Errorf("pending %+v, message %q", s.Pending, s.Diagnosis.Message)
		}
	})
	t.Run("--stuck-after 0s", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		w.configure()
		w.failedCreate()
		w.expectStatus(exitStuck, operator.StateStuck, "--stuck-after", "0s")
		// The suggested unstick reaches the same verdict: it is given the
		// same --stuck-after, which it would otherwise refuse without.
		for _, tc := range []struct{ flag, want string }{
			{"0s", "or: rotatorctl unstick " + secretName + " --stuck-after 0s\n"},
			{"1ms", "or: rotatorctl unstick " + secretName + " --stuck-after 1ms\n"},
		} {
			if r := w.expect(exitStuck, nil, "status", secretName, "--stuck-after", tc.flag); !strings.Contains(r.stdout, tc.want) {
				t.Errorf("status --stuck-after %s does not suggest %q:\n%s", tc.flag, tc.want, r)
			}
		}
	})
	t.Run("AWSPENDING on the AWSCURRENT version", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		w.configure()
		w.pendingOnCurrent()
		s := w.expectStatus(exitOK, operator.StateHealthy)
		if s.Pending != nil || !strings.Contains(s.Diagnosis.Message, "AWSPENDING is also on the AWSCURRENT version") {
			t.Errorf("pending %+v, message %q", s.Pending, s.Diagnosis.Message)
		}
	})
}

// TestStatusJSONConfiguration checks the configuration and version fields
// of status --json against what Secrets Manager holds, with the flags
// before the secret.
func TestStatusJSONConfiguration(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	first := operator.VersionWithStage(w.stages(), "AWSCURRENT")
	w.configure()
	r := w.expect(exitOK, nil, "status", "--json", "--verify", w.arn) // by ARN, flags first
	s, _ := w.status()
	if !strings.HasPrefix(r.stdout, "{") {
		t.Fatalf("not JSON:\n%s", r.stdout)
	}
	ro := s.Rotation
	if !ro.Enabled || ro.LambdaARN != localrun.LambdaARN || ro.Schedule != "rate(30 days)" || ro.Window != "3h" {
		t.Errorf("rotation = %+v", ro)
	}
	if d := ro.NextRotation.Sub(ro.LastRotated); d != 30*24*time.Hour || time.Since(ro.LastRotated) > time.Minute {
		t.Errorf("last %v, next %v", ro.LastRotated, ro.NextRotation)
	}
	current := operator.VersionWithStage(w.stages(), "AWSCURRENT")
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

// TestStatusText checks the text report: each token as its fingerprint,
// URLs without their query, both Bearer checks, the fix and rotatorctl's own
// command for it. (internal/operator's TestReportShowsNoSecret checks the
// report's data; the world checks every line printed for the secrets.)
func TestStatusText(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.put(w.secretJSON(map[string]any{"api_url": w.cw.APIURL() + "?debug=1"}))
	w.configure()
	r := w.expect(exitOK, nil, "status", secretName)
	for _, want := range []string{"Rotation       enabled, function " + localrun.LambdaARN, "Schedule       rate(30 days), window 3h",
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
	for _, want := range []string{"Bearer check   REJECTED", "Bearer check   accepted", "api_url        " + w.cw.APIURL() + "\n",
		"fingerprint " + clickwrap.Fingerprint(w.token("AWSCURRENT")), "fingerprint " + clickwrap.Fingerprint(w.token("AWSPENDING"))} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("report lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "debug=1") {
		t.Errorf("a URL is shown with its query:\n%s", r.stdout)
	}
}
