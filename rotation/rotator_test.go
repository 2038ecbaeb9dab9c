package rotation_test

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clickwrap-rotator/clickwrap-rotator/clickwrap/clickwraptest"
	"github.com/clickwrap-rotator/clickwrap-rotator/rotation"
)

func TestRotationEndToEndInProcess(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	firstID, _ := w.current()

	w.sm.ResetCalls()
	w.cw.ResetStats()
	v1, err := w.rotate()
	if err != nil {
		t.Fatalf("first rotation: %v", err)
	}
	if want := map[string][]string{firstID: {"AWSPREVIOUS"}, v1: {"AWSCURRENT"}}; !stagesEqual(w.sm.Stages(w.arn), want) {
		t.Fatalf("stages after the first rotation: %v, want %v", w.sm.Stages(w.arn), want)
	}
	id, cur := w.current()
	tok1, _ := cur["access_token"].(string)
	if id != v1 || !w.cw.Valid(tok1) || cur["token_type"] != "Bearer" {
		t.Fatalf("AWSCURRENT does not hold a token the sandbox accepts (token_type %v)", cur["token_type"])
	}
	if _, ok := cur["expires_at"]; ok {
		t.Error("expires_at written although the token endpoint sent no expires_in")
	}
	if cur["team"] != "payments" || cur["client_secret"] != clientSecret || cur["api_url"] != w.cw.APIURL() {
		t.Errorf("fields not carried over: team=%v api_url=%v", cur["team"], cur["api_url"])
	}
	if lim, _ := json.Marshal(cur["limits"]); string(lim) != `{"rps":5,"tags":["a",1.5,null]}` {
		t.Errorf("nested field changed: %s", lim)
	}

	// The deterministic cost of one rotation (rotation/doc.go, the README).
	wantCalls := map[string]int{"RotateSecret": 1, "DescribeSecret": 4, "GetSecretValue": 3, "PutSecretValue": 1, "UpdateSecretVersionStage": 1}
	if got := w.sm.Calls(); !maps.Equal(got, wantCalls) {
		t.Errorf("Secrets Manager calls = %v, want %v", got, wantCalls)
	}
	if st := w.cw.Stats(); st.TokenRequests != 1 || st.Minted != 1 || st.APIRequests != 1 {
		t.Errorf("Clickwrap requests = %+v, want 1 mint and 1 verify", st)
	}

	// A second rotation after the first.
	w.cw.SetExpiresIn(time.Hour)
	v2, err := w.rotate()
	if err != nil {
		t.Fatalf("second rotation: %v", err)
	}
	// The first version has no label left: DescribeSecret no longer lists it.
	if want := map[string][]string{v1: {"AWSPREVIOUS"}, v2: {"AWSCURRENT"}}; !stagesEqual(w.sm.Stages(w.arn), want) {
		t.Fatalf("stages after the second rotation: %v, want %v", w.sm.Stages(w.arn), want)
	}
	_, cur = w.current()
	tok2, _ := cur["access_token"].(string)
	if tok2 == tok1 || !w.cw.Valid(tok2) {
		t.Error("second rotation did not store a new valid token")
	}
	exp, err := time.Parse(time.RFC3339, cur["expires_at"].(string))
	if err != nil || time.Until(exp) < 50*time.Minute || time.Until(exp) > 61*time.Minute {
		t.Errorf("expires_at = %v (%v), want about an hour from now", cur["expires_at"], err)
	}
	w.assertNoLeak()
}

// TestEveryStepTwice runs each step twice in a row, as retries do: the
// second run must succeed and change nothing.
func TestEveryStepTwice(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.sm.SetInvoker(func(ctx context.Context, ev rotation.Event) error {
		if err := w.handle(ctx, ev); err != nil {
			return err
		}
		return w.handle(ctx, ev)
	})
	firstID, _ := w.current()
	v, err := w.rotate()
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string][]string{firstID: {"AWSPREVIOUS"}, v: {"AWSCURRENT"}}; !stagesEqual(w.sm.Stages(w.arn), want) {
		t.Fatalf("stages: %v", w.sm.Stages(w.arn))
	}
	if st := w.cw.Stats(); st.Minted != 1 {
		t.Errorf("minted %d tokens, want 1: a repeated createSecret must not mint again", st.Minted)
	}
	if n := w.sm.Calls()["UpdateSecretVersionStage"]; n != 1 {
		t.Errorf("UpdateSecretVersionStage called %d times, want 1", n)
	}
	w.assertNoLeak()
}

// TestConcurrentCreateSecret runs two createSecret invocations for one
// version at once: one stored value wins and both succeed.
func TestConcurrentCreateSecret(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.sm.SetInvoker(func(ctx context.Context, ev rotation.Event) error {
		if ev.Step != string(rotation.CreateSecret) {
			return w.handle(ctx, ev)
		}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i := range errs {
			wg.Go(func() { errs[i] = w.handle(ctx, ev) })
		}
		wg.Wait()
		return errors.Join(errs...)
	})
	v, err := w.rotate()
	if err != nil {
		t.Fatal(err)
	}
	_, cur := w.current()
	if stored, _ := w.sm.Value(w.arn, v); !strings.Contains(stored, cur["access_token"].(string)) || !w.cw.Valid(cur["access_token"].(string)) {
		t.Error("the promoted token is not the stored pending one")
	}
	if st := w.cw.Stats(); st.Minted > 2 {
		t.Errorf("minted %d tokens for two invocations", st.Minted)
	}
	w.assertNoLeak()
}

func TestCreateSecretLosesTheRace(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	winner := w.secretJSON(map[string]any{"access_token": "winner-token", "token_type": "Bearer"})
	rot := w.container(racingPut{SecretsManager: w.sm.Client(), winner: winner}, nil)
	var createErr error
	w.sm.SetInvoker(func(ctx context.Context, ev rotation.Event) error {
		if ev.Step == string(rotation.CreateSecret) {
			createErr = rot.Handle(ctx, ev)
			return errors.New("stop after createSecret")
		}
		return nil
	})
	v, _ := w.rotate()
	if createErr != nil {
		t.Fatalf("createSecret after losing the race: %v", createErr)
	}
	if got, _ := w.sm.Value(w.arn, v); got != winner {
		t.Error("the winner's pending value was replaced")
	}
	if !strings.Contains(w.logs.String(), "discarded") {
		t.Error("the discarded credential was not logged")
	}
}

// TestRejectedPendingIsAbandoned: a pending token that Clickwrap rejects
// never reaches AWSCURRENT; the version can never pass, so AWSPENDING is
// removed from it, the error says so, the service's retry of that rotation
// fails fast, and the next rotation succeeds with no hand work.
func TestRejectedPendingIsAbandoned(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	firstID, first := w.current()
	w.revokePendingBeforeTest()
	v, err := w.rotate()
	if err == nil {
		t.Fatal("rotation with a rejected token succeeded")
	}
	for _, want := range []string{"testSecret", v, "HTTP 401", "can never pass", "AWSPENDING was removed", "next rotation starts afresh"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if want := map[string][]string{firstID: {"AWSCURRENT"}}; !stagesEqual(w.sm.Stages(w.arn), want) {
		t.Fatalf("stages after a rejected testSecret: %v, want only the old AWSCURRENT", w.sm.Stages(w.arn))
	}
	if id, cur := w.current(); id != firstID || !reflect.DeepEqual(cur, first) {
		t.Error("AWSCURRENT changed")
	}

	// The service retries the failed rotation with the same token: it fails
	// at the checks, changing nothing and minting nothing.
	w.sm.SetInvoker(w.handle)
	minted := w.cw.Stats().Minted
	if err := w.sm.RetryRotation(context.Background(), w.arn); err == nil {
		if last := w.p.LastRotation(); last.Err == nil || !strings.Contains(last.Err.Error(), "no stage for rotation") {
			t.Errorf("retry of the abandoned rotation: %v", last.Err)
		}
	}
	if w.cw.Stats().Minted != minted {
		t.Error("the retry of an abandoned rotation minted a token")
	}

	v2, err := w.rotate()
	if err != nil {
		t.Fatalf("the next rotation: %v", err)
	}
	if id, _ := w.current(); id != v2 {
		t.Error("the next rotation was not promoted")
	}
	w.assertNoLeak()
}

// TestAbandonFallsBackToTheCommand: when AWSPENDING cannot be removed, the
// error gives the exact command, and RotateSecret reports the stuck state
// until it is run.
func TestAbandonFallsBackToTheCommand(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	firstID, _ := w.current()
	w.revokePendingBeforeTest()
	w.sm.FailNext("UpdateSecretVersionStage", 10, "InternalServiceError")
	v, err := w.rotate()
	if err == nil {
		t.Fatal("rotation with a rejected token succeeded")
	}
	cmd := "aws secretsmanager update-secret-version-stage --secret-id " + w.arn + " --version-stage AWSPENDING --remove-from-version-id " + v
	for _, want := range []string{"can never pass", "removing AWSPENDING from it failed", cmd} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if want := map[string][]string{firstID: {"AWSCURRENT"}, v: {"AWSPENDING"}}; !stagesEqual(w.sm.Stages(w.arn), want) {
		t.Fatalf("stages: %v", w.sm.Stages(w.arn))
	}
	w.sm.FailNext("UpdateSecretVersionStage", 0, "InternalServiceError")
	if _, err := w.rotate(); !isInvalidRequest(err) {
		t.Fatalf("RotateSecret while stuck: %v, want InvalidRequestException", err)
	}
	w.removePending(v)
	w.sm.SetInvoker(w.handle)
	if _, err := w.rotate(); err != nil {
		t.Fatalf("rotation after running the command: %v", err)
	}
}

// TestConcurrentFinishSecret: two containers finishing one rotation both
// succeed, and AWSCURRENT moves once.
func TestConcurrentFinishSecret(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	firstID, _ := w.current()
	other := w.container(nil, nil)
	w.sm.SetInvoker(func(ctx context.Context, ev rotation.Event) error {
		if ev.Step != string(rotation.FinishSecret) {
			if err := other.Handle(ctx, ev); err != nil { // the other container verifies too
				return err
			}
			return w.handle(ctx, ev)
		}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		wg.Go(func() { errs[0] = w.handle(ctx, ev) })
		wg.Go(func() { errs[1] = other.Handle(ctx, ev) })
		wg.Wait()
		return errors.Join(errs...)
	})
	v, err := w.rotate()
	if err != nil {
		t.Fatalf("concurrent finishSecret: %v", err)
	}
	if want := map[string][]string{firstID: {"AWSPREVIOUS"}, v: {"AWSCURRENT"}}; !stagesEqual(w.sm.Stages(w.arn), want) {
		t.Fatalf("stages: %v", w.sm.Stages(w.arn))
	}
}

// TestTransientTestSecretFailureIsRetried: 5xx on every try fails the
// rotation without touching AWSCURRENT; the service's retry then succeeds
// without minting again.
func TestTransientTestSecretFailureIsRetried(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	firstID, _ := w.current()
	w.cw.FailNext(clickwraptest.EndpointAPI, 100, 503)
	v, err := w.rotate()
	if err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("rotation error = %v, want one naming HTTP 503", err)
	}
	if strings.Contains(err.Error(), "can never pass") {
		t.Error("a 503 was reported as permanent")
	}
	if id, _ := w.current(); id != firstID {
		t.Fatal("AWSCURRENT moved after a failed testSecret")
	}
	w.cw.FailNext(clickwraptest.EndpointAPI, 0, 503)
	if err := w.sm.RetryRotation(context.Background(), w.arn); err != nil {
		t.Fatalf("retried rotation: %v", err)
	}
	if id, _ := w.current(); id != v {
		t.Error("retried rotation did not promote the pending version")
	}
	if st := w.cw.Stats(); st.Minted != 1 {
		t.Errorf("minted %d tokens, want 1 across the retry", st.Minted)
	}
	w.assertNoLeak()
}

func TestRateLimitedThenSuccess(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.cw.RateLimitNext(clickwraptest.EndpointAPI, 1, time.Second)
	start := time.Now()
	if _, err := w.rotate(); err != nil {
		t.Fatal(err)
	}
	if time.Since(start) < time.Second {
		t.Error("Retry-After was not honoured")
	}
	if st := w.cw.Stats(); st.APIRequests != 2 {
		t.Errorf("API requests = %d, want 2 (429, then success)", st.APIRequests)
	}
}

// TestDeadlineMidCall: a token endpoint slower than the invocation's time
// makes createSecret return an error, promptly, and store nothing.
func TestDeadlineMidCall(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.cw.SetDelay(clickwraptest.EndpointToken, time.Minute)
	var stepErr error
	var took time.Duration
	w.sm.SetInvoker(func(ctx context.Context, ev rotation.Event) error {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		start := time.Now()
		stepErr = w.handle(ctx, ev)
		took = time.Since(start)
		return stepErr
	})
	v, _ := w.rotate()
	if stepErr == nil || !errors.Is(stepErr, context.DeadlineExceeded) {
		t.Fatalf("createSecret error = %v, want a deadline error", stepErr)
	}
	if took > 2*time.Second {
		t.Errorf("createSecret returned after %v, past the invocation deadline", took)
	}
	if _, ok := w.sm.Value(w.arn, v); ok {
		t.Error("a pending value was stored")
	}
	if n := w.sm.Calls()["PutSecretValue"]; n != 0 {
		t.Errorf("PutSecretValue called %d times", n)
	}
}

// TestFinishSecretVerifiesWhatItDidNotTest: a finishSecret that reaches a
// container which did not run testSecret verifies first, and refuses to
// promote a token Clickwrap rejects.
func TestFinishSecretVerifiesWhatItDidNotTest(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	firstID, _ := w.current()
	other := w.container(nil, nil)
	var finishErr error
	w.sm.SetInvoker(func(ctx context.Context, ev rotation.Event) error {
		switch ev.Step {
		case string(rotation.TestSecret):
			return nil // skipped: pretend it ran elsewhere
		case string(rotation.FinishSecret):
			w.revoke(ev.ClientRequestToken)
			finishErr = other.Handle(ctx, ev)
			return finishErr
		}
		return w.handle(ctx, ev)
	})
	_, _ = w.rotate()
	if finishErr == nil || !strings.Contains(finishErr.Error(), "not promoting an unverified version") {
		t.Fatalf("finishSecret error = %v", finishErr)
	}
	if id, _ := w.current(); id != firstID {
		t.Error("an unverified version was promoted")
	}
}

// TestBadInputChangesNothing: every kind of bad input is refused with an
// error that names what is wrong, and leaves the secret as it was.
func TestBadInputChangesNothing(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(w *world) rotation.Event // returns the event to send
		want  []string
	}{
		{"unknown step", func(w *world) rotation.Event { return w.pendingEvent("deleteSecret") }, []string{`unknown "Step"`, "deleteSecret"}},
		{"empty step", func(w *world) rotation.Event { return w.pendingEvent("") }, []string{`no "Step"`, "RotateSecret"}},
		{"no SecretId", func(w *world) rotation.Event {
			ev := w.pendingEvent("createSecret")
			ev.SecretID = ""
			return ev
		}, []string{`no "SecretId"`}},
		{"no ClientRequestToken", func(w *world) rotation.Event {
			ev := w.pendingEvent("createSecret")
			ev.ClientRequestToken = ""
			return ev
		}, []string{`no "ClientRequestToken"`}},
		{"console test event", func(w *world) rotation.Event {
			ev := w.pendingEvent("createSecret")
			ev.ClientRequestToken = "made-up-by-hand"
			return ev
		}, []string{"no stage for rotation", "RotateSecret", "test event"}},
		{"version not pending", func(w *world) rotation.Event {
			previous, _ := w.current()
			if _, err := w.rotate(); err != nil {
				w.t.Fatal(err)
			}
			return rotation.Event{Step: "createSecret", SecretID: w.arn, ClientRequestToken: previous}
		}, []string{"not AWSPENDING", "AWSPREVIOUS", "RotateSecret"}},
		{"rotation not enabled", func(w *world) rotation.Event {
			return rotation.Event{Step: "createSecret", SecretID: w.sm.CreateSecret("not-rotated", w.secretJSON(nil)), ClientRequestToken: "v"}
		}, []string{"not enabled for rotation"}},
		{"secret not a JSON object", func(w *world) rotation.Event { return w.pendingWithCurrent(`["client_id"]`) }, []string{"not a JSON object"}},
		{"missing client_secret", func(w *world) rotation.Event {
			return w.pendingWithCurrent(w.secretJSON(map[string]any{"client_secret": nil}))
		}, []string{`"client_secret"`, "missing"}},
		{"http token_url", func(w *world) rotation.Event {
			return w.pendingWithCurrent(w.secretJSON(map[string]any{"token_url": "http://127.0.0.1:1/oauth/token"}))
		}, []string{`"token_url"`, "https://"}},
		{"bad client credentials", func(w *world) rotation.Event {
			return w.pendingWithCurrent(w.secretJSON(map[string]any{"client_secret": "wrong-secret-value"}))
		}, []string{"invalid_client", "check client_id and client_secret"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			ev := tt.setup(w)
			secretID := ev.SecretID
			if secretID == "" {
				secretID = w.arn
			}
			before := w.sm.Stages(secretID)
			w.sm.ResetCalls()
			w.cw.ResetStats()
			err := w.handle(context.Background(), ev)
			if err == nil {
				t.Fatal("bad input accepted")
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
			if after := w.sm.Stages(secretID); !stagesEqual(after, before) {
				t.Errorf("stages changed: %v -> %v", before, after)
			}
			if _, ok := w.sm.Value(secretID, ev.ClientRequestToken); ok && ev.ClientRequestToken != "" {
				if _, had := before[ev.ClientRequestToken]; !had {
					t.Error("a version was written")
				}
			}
			calls := w.sm.Calls()
			if calls["PutSecretValue"]+calls["UpdateSecretVersionStage"] != 0 {
				t.Errorf("write calls made: %v", calls)
			}
			if st := w.cw.Stats(); st.Minted != 0 {
				t.Errorf("minted %d tokens", st.Minted)
			}
			w.assertNoLeak()
		})
	}
}

// TestStepLogLines: one JSON line per step outcome with the secret, step,
// version and duration.
func TestStepLogLines(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	v, err := w.rotate()
	if err != nil {
		t.Fatal(err)
	}
	var steps []string
	for line := range strings.Lines(w.logs.String()) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %v", err)
		}
		if rec["msg"] != "rotation step finished" {
			continue
		}
		if rec["secret"] != w.arn || rec["version"] != v || rec["duration_ms"] == nil || rec["outcome"] == nil {
			t.Errorf("log line lacks a field: %v", rec)
		}
		steps = append(steps, rec["step"].(string))
	}
	if want := []string{"createSecret", "setSecret", "testSecret", "finishSecret"}; !slices.Equal(steps, want) {
		t.Errorf("logged steps %v, want %v", steps, want)
	}
}

// TestEditDuringFailedRotationIsKept: a rotation fails after storing its
// pending version; meanwhile someone puts a new AWSCURRENT (say, a changed
// field). The service's retry must not promote the stale pending version
// over that edit: it abandons it, and the next rotation carries the edit.
// Both the warm container (which remembers what it made the version from)
// and another container (which compares the values) are tried.
func TestEditDuringFailedRotationIsKept(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		retryInFresh bool
		edit         map[string]any
		want         string // "" means the retry must succeed
	}{
		{"retry in the same container", false, map[string]any{"team": "billing"}, "fields differ from AWSCURRENT"},
		{"retry in another container", true, map[string]any{"team": "billing"}, "fields differ from AWSCURRENT"},
		// A re-put of the same fields undoes nothing: the rotation goes on.
		{"same fields put again", false, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			w.cw.FailNext(clickwraptest.EndpointAPI, 1000, 503)
			stale, err := w.rotate()
			if err == nil {
				t.Fatal("rotation with Clickwrap down succeeded")
			}
			editVersion := w.putCurrent(w.secretJSON(tt.edit))
			w.cw.FailNext(clickwraptest.EndpointAPI, 0, 503)
			if tt.retryInFresh {
				fresh := w.container(nil, nil)
				w.sm.SetInvoker(fresh.Handle)
			}
			_ = w.sm.RetryRotation(context.Background(), w.arn)
			last := w.p.LastRotation()
			if tt.want == "" {
				if last.Err != nil {
					t.Fatalf("retry after the same fields were put again: %v", last.Err)
				}
				if id, _ := w.current(); id != stale {
					t.Fatal("the retry did not promote the pending version")
				}
				return
			}
			if last.Err == nil || !strings.Contains(last.Err.Error(), tt.want) {
				t.Fatalf("retry over an edited AWSCURRENT: %v, want an error containing %q", last.Err, tt.want)
			}
			if id, cur := w.current(); id != editVersion || cur["team"] != "billing" {
				t.Fatalf("AWSCURRENT is version %s with team %v: the edit was undone", id, cur["team"])
			}
			if stages := w.sm.Stages(w.arn)[stale]; slices.Contains(stages, "AWSPENDING") {
				t.Errorf("the stale version keeps AWSPENDING: %v", stages)
			}
			w.sm.SetInvoker(w.handle)
			if _, err := w.rotate(); err != nil {
				t.Fatalf("the next rotation: %v", err)
			}
			if _, cur := w.current(); cur["team"] != "billing" || !w.cw.Valid(cur["access_token"].(string)) {
				t.Error("the next rotation lost the edit or its token")
			}
		})
	}
}

// TestUnstoredCredentialIsReused: when PutSecretValue fails on every SDK
// attempt, the credential just minted is not lost: the service's retry in
// the same container stores it instead of minting another, also when the
// owner re-put the same value meanwhile (a new AWSCURRENT version with the
// same fields). A real edit meanwhile discards it: the retry mints from the
// edited value, so the edit is not undone.
func TestUnstoredCredentialIsReused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		edit    func(cur map[string]any) // nil: AWSCURRENT left alone
		minted  int
		wantLog string
	}{
		{name: "AWSCURRENT unchanged", minted: 1},
		{name: "the same value re-put", edit: func(map[string]any) {}, minted: 1},
		{name: "a field edited", edit: func(cur map[string]any) { cur["team"] = "billing" }, minted: 2, wantLog: "discarded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			w.sm.FailNext("PutSecretValue", 3, "ThrottlingException") // the SDK's 3 attempts
			v, err := w.rotate()
			if err == nil || !strings.Contains(err.Error(), "kept in memory for the retry") {
				t.Fatalf("rotation with PutSecretValue throttled: %v", err)
			}
			_, before := w.current()
			if tt.edit != nil {
				tt.edit(before)
				b, err := json.Marshal(before)
				if err != nil {
					t.Fatal(err)
				}
				w.putCurrent(string(b))
			}
			if err := w.sm.RetryRotation(context.Background(), w.arn); err != nil {
				t.Fatal(err)
			}
			if last := w.p.LastRotation(); last.Err != nil {
				t.Fatalf("the service's retry: %v", last.Err)
			}
			id, cur := w.current()
			if id != v || !w.cw.Valid(cur["access_token"].(string)) || cur["team"] != before["team"] {
				t.Fatal("the retry did not promote a working token with AWSCURRENT's fields")
			}
			if n := w.cw.Stats().Minted; n != tt.minted {
				t.Errorf("minted %d tokens, want %d", n, tt.minted)
			}
			if tt.wantLog != "" && !strings.Contains(w.logs.String(), tt.wantLog) {
				t.Errorf("the log does not say %q", tt.wantLog)
			}
			w.assertNoLeak()
		})
	}
}
