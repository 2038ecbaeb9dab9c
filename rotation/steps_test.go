package rotation_test

import (
	"context"
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/clickwrap-rotator/clickwrap-rotator/clickwrap/clickwraptest"
	"github.com/clickwrap-rotator/clickwrap-rotator/rotation"
)

// TestStalePendingAbandonedInTestSecret: a rotation fails in testSecret for
// a reason that is not permanent (api_url is wrong: HTTP 404), so AWSPENDING
// stays for the service's retry; the owner fixes the field with
// put-secret-value. The retry must not test the stale pending copy again
// (404 again, and the secret stuck): testSecret abandons it before verifying
// anything, and the next rotation starts from the fixed value.
func TestStalePendingAbandonedInTestSecret(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		matcher  bool // the CredentialService is a SourceMatcher
		fresh    bool // the retry runs in another container
		want     string
		retryGet int // GetSecretValue calls of the retry: createSecret 2, testSecret the rest
	}{
		{"same container, values compared", true, false, "fields differ from AWSCURRENT", 4},
		{"another container, values compared", true, true, "fields differ from AWSCURRENT", 4},
		{"same container, no SourceMatcher", false, false, "AWSCURRENT moved from version", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			svc := newService(w)
			cs := svc.credentials(tt.matcher)
			w.useRotator(nil, cs)
			wrongURL := w.cw.URL + "/v2" // Clickwrap answers 404 there
			w.putCurrent(w.secretJSON(map[string]any{"api_url": wrongURL}))

			stale, err := w.rotate()
			if err == nil || !strings.Contains(err.Error(), "404") || strings.Contains(err.Error(), "can never pass") {
				t.Fatalf("rotation with a wrong api_url: %v, want a 404 left for the retry", err)
			}
			fixed := w.putCurrent(w.secretJSON(nil))

			if tt.fresh {
				w.useRotator(nil, cs)
			}
			before := w.sm.Calls()
			_, verifiesBefore := svc.counts()
			_ = w.sm.RetryRotation(context.Background(), w.arn)
			last := w.p.LastRotation()
			if last.Err == nil {
				t.Fatal("the retry over a replaced AWSCURRENT succeeded")
			}
			msg := last.Err.Error()
			for _, want := range []string{"testSecret", stale, tt.want, "AWSCURRENT changed after this version was made (a put-secret-value?)",
				"abandoned", "the next rotation starts from the new value"} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not mention %q", msg, want)
				}
			}
			if _, v := svc.counts(); v != verifiesBefore {
				t.Errorf("the stale version was verified %d times", v-verifiesBefore)
			}
			wantCalls := map[string]int{"DescribeSecret": 3, "GetSecretValue": tt.retryGet, "UpdateSecretVersionStage": 1}
			if got := callsDelta(before, w.sm.Calls()); !maps.Equal(got, wantCalls) {
				t.Errorf("calls of the retry = %v, want %v", got, wantCalls)
			}
			if st := w.sm.Stages(w.arn); !stagesEqual(map[string][]string{fixed: st[fixed]}, map[string][]string{fixed: {"AWSCURRENT"}}) || len(st[stale]) != 0 {
				t.Fatalf("stages after the retry: %v", st)
			}

			v, err := w.rotate()
			if err != nil {
				t.Fatalf("the next rotation: %v", err)
			}
			if id, cur := w.current(); id != v || cur["api_url"] != w.cw.APIURL() {
				t.Errorf("the next rotation did not start from the fixed value (api_url %v)", cur["api_url"])
			}
			w.assertNoLeak()
		})
	}
}

// TestConfigurationTest: the service's configuration test copies AWSCURRENT
// into a pending version and runs testSecret alone. A first secret holds no
// token yet: that is not a broken rotation. Everywhere else a value with no
// credential can never pass, and is never promoted.
func TestConfigurationTest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		matcher     bool
		firstRotate bool   // rotate once first, so that AWSCURRENT holds a token
		wantOutcome string // testSecret succeeds with this outcome
		calls       map[string]int
		verifies    int
	}{
		{"first secret, values compared", true, false, "configuration test: the secret is readable and well formed and holds no credential yet",
			map[string]int{"DescribeSecret": 1, "GetSecretValue": 2}, 1},
		{"first secret, no SourceMatcher", false, false, "configuration test: the secret is readable and well formed and holds no credential yet",
			map[string]int{"DescribeSecret": 1, "GetSecretValue": 2}, 1},
		{"secret with a token, values compared", true, true, "pending credential verified",
			map[string]int{"DescribeSecret": 1, "GetSecretValue": 2}, 1},
		{"secret with a token, no SourceMatcher", false, true, "pending credential verified",
			map[string]int{"DescribeSecret": 1, "GetSecretValue": 1}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			svc := newService(w)
			w.useRotator(nil, svc.credentials(tt.matcher))
			if tt.firstRotate {
				if _, err := w.rotate(); err != nil {
					t.Fatal(err)
				}
			}
			firstID, _ := w.current()
			current, _ := w.sm.Value(w.arn, firstID)
			ev := w.configTest(current)
			_, verifiesBefore := svc.counts()
			before := w.sm.Calls()
			if err := w.handle(context.Background(), ev); err != nil {
				t.Fatalf("configuration test: %v", err)
			}
			if got := w.outcome(rotation.TestSecret, ev.ClientRequestToken); !strings.Contains(got, tt.wantOutcome) {
				t.Errorf("outcome %q, want %q", got, tt.wantOutcome)
			}
			if got := callsDelta(before, w.sm.Calls()); !maps.Equal(got, tt.calls) {
				t.Errorf("calls = %v, want %v", got, tt.calls)
			}
			if _, v := svc.counts(); v-verifiesBefore != tt.verifies {
				t.Errorf("verifies = %d, want %d", v-verifiesBefore, tt.verifies)
			}
			if tt.firstRotate {
				return
			}
			// Not counted as verified: a finishSecret for that version
			// verifies again, and a value with no credential is never
			// promoted.
			ev.Step = string(rotation.FinishSecret)
			err := w.handle(context.Background(), ev)
			if err == nil || !errors.Is(err, rotation.ErrNoCredential) || !strings.Contains(err.Error(), "not promoting an unverified version") {
				t.Fatalf("finishSecret of the configuration test's version: %v", err)
			}
			if id, _ := w.current(); id != firstID {
				t.Error("a version with no credential was promoted")
			}
			w.assertNoLeak()
		})
	}
}

// TestConfigurationTestRejectedCredential: the configuration test of a
// secret whose AWSCURRENT token Clickwrap rejects fails, saying that readers
// of the secret fail now and that a rotation replaces the token. The copy
// can never pass, so AWSPENDING is removed from it, as from any such
// version: a copy left labelled (the service keeping it, or one labelled by
// hand) would block the very rotation that fixes this, which then mints a
// working token. A copy gets no PropagationGrace once it is known to be one.
func TestConfigurationTestRejectedCredential(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		matcher bool
	}{
		// AWSCURRENT's value is read by the source check, before Verify, or
		// read because Verify refused the credential for good: without a
		// SourceMatcher the copy is told only then, after the
		// PropagationGrace's tries.
		{"values compared", true},
		{"no SourceMatcher", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			svc := newService(w)
			w.useRotator(nil, svc.credentials(tt.matcher))
			if _, err := w.rotate(); err != nil {
				t.Fatal(err)
			}
			firstID, _ := w.current()
			w.revoke(firstID)
			current, _ := w.sm.Value(w.arn, firstID)
			ev := w.configTest(current)
			before := w.sm.Calls()
			start := time.Now()
			err := w.handle(context.Background(), ev)
			if err == nil {
				t.Fatal("the configuration test of a rejected token passed")
			}
			for _, want := range []string{"configuration test", "AWSCURRENT's credential is rejected", "HTTP 401", "rotate now",
				"rotate-secret --secret-id " + w.arn} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			want := map[string]int{"DescribeSecret": 1, "GetSecretValue": 2, "UpdateSecretVersionStage": 1}
			if got := callsDelta(before, w.sm.Calls()); !maps.Equal(got, want) {
				t.Errorf("calls = %v, want %v", got, want)
			}
			if st := w.sm.Stages(w.arn)[ev.ClientRequestToken]; len(st) != 0 {
				t.Errorf("the copy keeps the stages %v, want none", st)
			}
			if took := time.Since(start); tt.matcher && took > 2*time.Second {
				t.Errorf("took %v: a copy of AWSCURRENT was retried within the grace", took)
			}
			// Not stuck: the rotation the error asks for replaces the token.
			if _, err := w.rotate(); err != nil {
				t.Fatalf("the rotation after the failed configuration test: %v", err)
			}
			if _, cur := w.current(); !w.cw.Valid(cur["access_token"].(string)) {
				t.Error("AWSCURRENT does not hold a working token after the rotation")
			}
			w.assertNoLeak()
		})
	}
}

// TestConfigurationTestRetried: a configuration test whose check fails for
// a passing reason is retried by the service; the retry in the same
// container still knows the version for a copy of AWSCURRENT (no
// PropagationGrace, a configuration test's outcome), though the source
// check costs nothing the second time.
func TestConfigurationTestRetried(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	if _, err := w.rotate(); err != nil {
		t.Fatal(err)
	}
	firstID, _ := w.current()
	current, _ := w.sm.Value(w.arn, firstID)
	ev := w.configTest(current)
	w.cw.FailNext(clickwraptest.EndpointAPI, 100, 503)
	if err := w.handle(context.Background(), ev); err == nil || !strings.Contains(err.Error(), "configuration test: verifying AWSCURRENT's credential") {
		t.Fatalf("first attempt: %v, want the check's 503", err)
	}
	w.cw.FailNext(clickwraptest.EndpointAPI, 0, 503)
	before := w.sm.Calls()
	if err := w.handle(context.Background(), ev); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if got := w.outcome(rotation.TestSecret, ev.ClientRequestToken); !strings.Contains(got, "configuration test: pending credential verified (a copy of AWSCURRENT's)") {
		t.Errorf("retry outcome %q, want the configuration test's", got)
	}
	// The pending value alone: the source check and the copy are known.
	if got, want := callsDelta(before, w.sm.Calls()), map[string]int{"DescribeSecret": 1, "GetSecretValue": 1}; !maps.Equal(got, want) {
		t.Errorf("retry calls = %v, want %v", got, want)
	}
}

// TestPendingWithNoCredentialIsAbandoned: a pending version made by
// createSecret that holds no credential (a broken CredentialService) is not
// a configuration test: testSecret abandons it at once, with no
// PropagationGrace, and AWSCURRENT stays.
func TestPendingWithNoCredentialIsAbandoned(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		matcher bool
		// elsewhere runs testSecret in another container, which did not
		// mint the version.
		elsewhere bool
		gets      int // GetSecretValue calls of testSecret
	}{
		// The pending value alone: the container minted the version, so it
		// is no configuration test (the source check costs nothing here).
		{"values compared", true, false, 1},
		{"no SourceMatcher", false, false, 1},
		// The pending value, then AWSCURRENT's: compared by the source
		// check, or read to rule out the configuration test.
		{"values compared, another container", true, true, 2},
		{"no SourceMatcher, another container", false, true, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			svc := newService(w)
			svc.noToken = true
			w.useRotator(nil, svc.credentials(tt.matcher))
			firstID, _ := w.current()
			var testCalls map[string]int
			other := w.container(nil, svc.credentials(tt.matcher))
			w.sm.SetInvoker(func(ctx context.Context, ev rotation.Event) error {
				if ev.Step != string(rotation.TestSecret) {
					return w.handle(ctx, ev)
				}
				before := w.sm.Calls()
				var err error
				if tt.elsewhere {
					err = other.Handle(ctx, ev)
				} else {
					err = w.handle(ctx, ev)
				}
				testCalls = callsDelta(before, w.sm.Calls())
				return err
			})
			start := time.Now()
			v, err := w.rotate()
			if err == nil || !errors.Is(err, rotation.ErrNoCredential) {
				t.Fatalf("rotation error = %v, want one wrapping ErrNoCredential", err)
			}
			for _, want := range []string{"testSecret", v, "can never pass", "AWSPENDING was removed"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("took %v: a value with no credential was retried within the grace", took)
			}
			if _, v := svc.counts(); v != 1 {
				t.Errorf("verifies = %d, want 1", v)
			}
			want := map[string]int{"DescribeSecret": 1, "GetSecretValue": tt.gets, "UpdateSecretVersionStage": 1}
			if !maps.Equal(testCalls, want) {
				t.Errorf("testSecret calls = %v, want %v", testCalls, want)
			}
			if id, _ := w.current(); id != firstID || len(w.sm.Stages(w.arn)[v]) != 0 {
				t.Errorf("stages: %v", w.sm.Stages(w.arn))
			}
		})
	}
}

// TestReadAfterWriteLag: PutSecretValue succeeded in this container, and a
// later read of the pending version is stale. The container never mints for
// that version again: one mint in all, one PutSecretValue.
func TestReadAfterWriteLag(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		lagAfterPut int
		fail503     bool // Clickwrap answers 503 to the first testSecret
		staleRetry  int  // stale reads armed by hand before the retry
		firstErr    string
		retries     int // the service's retries until the rotation succeeds
	}{
		{"stale read in testSecret", 1, false, 0, "stored (or read) its value moments ago", 1},
		{"stale reads into the retry's createSecret", 2, false, 0, "stored (or read) its value moments ago", 1},
		{"503 in testSecret, then a stale read in the retry", 0, true, 1, "503", 1},
		{"stale reads through the retry's testSecret", 3, false, 0, "stored (or read) its value moments ago", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			lag := &laggingReads{SecretsManager: w.sm.Client(), lagAfterPut: tt.lagAfterPut}
			svc := newService(w)
			w.useRotator(lag, matching{svc})
			if tt.fail503 {
				w.cw.FailNext(clickwraptest.EndpointAPI, 100, 503)
			}
			v, err := w.rotate()
			if err == nil || !strings.Contains(err.Error(), "testSecret") || !strings.Contains(err.Error(), tt.firstErr) {
				t.Fatalf("first run: %v, want a testSecret error mentioning %q", err, tt.firstErr)
			}
			w.cw.FailNext(clickwraptest.EndpointAPI, 0, 503)
			if tt.staleRetry > 0 {
				lag.staleNext(v, tt.staleRetry)
			}
			for i := range tt.retries {
				err = w.sm.RetryRotation(context.Background(), w.arn)
				if i < tt.retries-1 && err == nil {
					t.Fatalf("retry %d succeeded, want a failure", i+1)
				}
			}
			if err != nil {
				t.Fatalf("last retry: %v", err)
			}
			if id, _ := w.current(); id != v {
				t.Error("the pending version was not promoted")
			}
			if mints, _ := svc.counts(); mints != 1 || w.cw.Stats().Minted != 1 {
				t.Errorf("minted %d (sandbox %d), want 1", mints, w.cw.Stats().Minted)
			}
			if n := w.sm.Calls()["PutSecretValue"]; n != 1 {
				t.Errorf("PutSecretValue called %d times, want 1", n)
			}
			if lag.stale == 0 {
				t.Error("no stale read was served")
			}
			if strings.Contains(w.logs.String(), "discarded") {
				t.Error("a second credential was minted and discarded")
			}
			w.assertNoLeak()
		})
	}
}

// TestPropagationGrace: a new credential that the service refuses at first
// (not live yet) is tried again within PropagationGrace; an old version's
// refusal stands at once.
func TestPropagationGrace(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name            string
		refuse          int                                                   // Verify refuses the first refuse calls
		sm              func(rotation.SecretsManager) rotation.SecretsManager // nil: the emulator as is
		grace           time.Duration                                         // 0: New's default
		timeout         time.Duration                                         // the invocation's time; 0: the emulator's
		finishElsewhere bool                                                  // testSecret runs nowhere; another container finishes
		testElsewhere   bool                                                  // the steps after createSecret run in another container, which did not mint
		wantErr         []string                                              // nil: the rotation succeeds
		verifies        int
		abandoned       bool
	}{
		{name: "young version, refused twice, then live", refuse: 2, verifies: 3},
		{
			// A retried rotation mints into a version RotateSecret made long
			// ago: the credential is new, and the container knows it.
			name: "old version, credential minted here just now", refuse: 2, verifies: 3,
			sm: func(sm rotation.SecretsManager) rotation.SecretsManager {
				return agedVersions{SecretsManager: sm, age: time.Hour}
			},
		},
		{
			name: "CreatedDate in the future: the grace still ends", refuse: 1000, testElsewhere: true,
			grace: 600 * time.Millisecond,
			sm: func(sm rotation.SecretsManager) rotation.SecretsManager {
				return agedVersions{SecretsManager: sm, age: -time.Hour}
			},
			wantErr: []string{"can never pass", "AWSPENDING was removed"}, verifies: -1, abandoned: true,
		},
		{name: "young version, finishSecret in another container verifies with the grace", refuse: 1, finishElsewhere: true, verifies: 2},
		{
			name: "old version: refused at once", refuse: 1, testElsewhere: true,
			sm: func(sm rotation.SecretsManager) rotation.SecretsManager {
				return agedVersions{SecretsManager: sm, age: time.Hour}
			},
			wantErr: []string{"can never pass", "AWSPENDING was removed"}, verifies: 1, abandoned: true,
		},
		{
			name: "no CreatedDate: counts as old", refuse: 1, testElsewhere: true,
			sm: func(sm rotation.SecretsManager) rotation.SecretsManager {
				return agedVersions{SecretsManager: sm, drop: true}
			},
			wantErr: []string{"can never pass", "AWSPENDING was removed"}, verifies: 1, abandoned: true,
		},
		{
			name: "PropagationGrace small", refuse: 1, grace: time.Nanosecond,
			wantErr: []string{"can never pass", "AWSPENDING was removed"}, verifies: 1, abandoned: true,
		},
		{
			name: "still refused at the end of the grace", refuse: 1000, grace: 600 * time.Millisecond,
			wantErr: []string{"can never pass", "AWSPENDING was removed", "PropagationGrace"}, verifies: -1, abandoned: true,
		},
		{
			name: "no time left within the grace", refuse: 1000, timeout: 2500 * time.Millisecond,
			wantErr: []string{"may not be live yet", "Nothing was abandoned", "let Secrets Manager retry"}, verifies: -1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			var sm rotation.SecretsManager = w.sm.Client()
			if tt.sm != nil {
				sm = tt.sm(sm)
			}
			svc := newService(w)
			svc.refuseFirst = tt.refuse
			rot := w.useRotator(sm, matching{svc})
			if tt.grace != 0 {
				rot.PropagationGrace = tt.grace
			}
			firstID, _ := w.current()
			var took time.Duration
			w.sm.SetInvoker(func(ctx context.Context, ev rotation.Event) error {
				if tt.timeout > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tt.timeout)
					defer cancel()
				}
				if tt.testElsewhere && ev.Step != string(rotation.CreateSecret) {
					other := w.container(sm, matching{svc})
					return other.Handle(ctx, ev)
				}
				if tt.finishElsewhere {
					switch ev.Step {
					case string(rotation.TestSecret):
						return nil
					case string(rotation.FinishSecret):
						other := w.container(sm, matching{svc})
						return other.Handle(ctx, ev)
					}
				}
				start := time.Now()
				defer func() { took = time.Since(start) }()
				return w.handle(ctx, ev)
			})
			v, err := w.rotate()
			mints, verifies := svc.counts()
			if mints != 1 {
				t.Errorf("mints = %d, want 1", mints)
			}
			if tt.verifies >= 0 && verifies != tt.verifies {
				t.Errorf("verifies = %d, want %d", verifies, tt.verifies)
			}
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("rotation: %v", err)
				}
				if id, _ := w.current(); id != v {
					t.Error("the pending version was not promoted")
				}
				return
			}
			if err == nil {
				t.Fatal("rotation succeeded")
			}
			for _, want := range append([]string{"testSecret", v}, tt.wantErr...) {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
			if id, _ := w.current(); id != firstID {
				t.Error("AWSCURRENT moved")
			}
			pending := len(w.sm.Stages(w.arn)[v]) != 0
			if pending == tt.abandoned {
				t.Errorf("AWSPENDING kept: %v, want %v (stages %v)", pending, !tt.abandoned, w.sm.Stages(w.arn))
			}
			if tt.timeout > 0 && took > tt.timeout {
				t.Errorf("testSecret returned after %v, past the invocation's %v", took, tt.timeout)
			}
			w.assertNoLeak()
		})
	}
}

// TestFinishSecretInAnotherContainerCalls: a finishSecret that reaches a
// container which did not verify the version reads the pending value once,
// reuses it for the source check, and verifies once.
func TestFinishSecretInAnotherContainerCalls(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	svc := newService(w)
	w.useRotator(nil, matching{svc})
	other := w.container(nil, matching{svc})
	var finishCalls map[string]int
	w.sm.SetInvoker(func(ctx context.Context, ev rotation.Event) error {
		if ev.Step != string(rotation.FinishSecret) {
			return w.handle(ctx, ev)
		}
		before := w.sm.Calls()
		err := other.Handle(ctx, ev)
		finishCalls = callsDelta(before, w.sm.Calls())
		return err
	})
	v, err := w.rotate()
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := w.current(); id != v {
		t.Fatal("not promoted")
	}
	if want := map[string]int{"DescribeSecret": 1, "GetSecretValue": 2, "UpdateSecretVersionStage": 1}; !maps.Equal(finishCalls, want) {
		t.Errorf("finishSecret calls = %v, want %v", finishCalls, want)
	}
	if mints, verifies := svc.counts(); mints != 1 || verifies != 2 {
		t.Errorf("mints, verifies = %d, %d; want 1, 2", mints, verifies)
	}
}
