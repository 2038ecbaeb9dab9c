package rotation

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"
)

// refusing is a CredentialService whose Verify answers errs in turn, then
// nil.
type refusing struct {
	errs  []error
	calls int
}

func (f *refusing) NewPending(context.Context, string) (string, error) { return "", nil }

func (f *refusing) Verify(context.Context, string) error {
	f.calls++
	if f.calls <= len(f.errs) {
		return f.errs[f.calls-1]
	}
	return nil
}

type permanentErr struct{}

func (permanentErr) Error() string   { return "refused (HTTP 401)" }
func (permanentErr) Permanent() bool { return true }

type noCredentialErr struct{}

func (noCredentialErr) Error() string   { return "no access_token" }
func (noCredentialErr) Permanent() bool { return true }
func (noCredentialErr) Unwrap() error   { return ErrNoCredential }

// fakeClock is the Rotator's clock in these tests: sleeping moves it on at
// once, and every wait is recorded.
type fakeClock struct {
	t     time.Time
	waits []time.Duration
}

func (c *fakeClock) now() time.Time { return c.t }

func (c *fakeClock) sleep(_ context.Context, d time.Duration) error {
	c.waits = append(c.waits, d)
	c.t = c.t.Add(d)
	return nil
}

func repeat(err error, n int) []error {
	out := make([]error, n)
	for i := range out {
		out[i] = err
	}
	return out
}

const ms = time.Millisecond

func TestVerifyWithGrace(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		errs     []error       // Verify's answers, then nil
		age      time.Duration // of the version when the step starts; -1: CreatedDate unknown
		grace    time.Duration
		deadline time.Duration // from the start; 0: none
		tries    int
		waits    []time.Duration
		want     string // "ok", "permanent", "young", "no credential", "transient"
	}{
		{"passes at once", nil, 0, 5 * time.Second, 0, 1, nil, "ok"},
		{"refused twice within the grace, then live", repeat(permanentErr{}, 2), 0, 5 * time.Second, 0, 3, []time.Duration{250 * ms, 500 * ms}, "ok"},
		{"refused past the grace: the last try at its end", repeat(permanentErr{}, 100), 0, 5 * time.Second, 0, 6,
			[]time.Duration{250 * ms, 500 * ms, time.Second, 2 * time.Second, 1250 * ms}, "permanent"},
		{"backoff capped at 2s", repeat(permanentErr{}, 100), 0, 10 * time.Second, 0, 9,
			[]time.Duration{250 * ms, 500 * ms, time.Second, 2 * time.Second, 2 * time.Second, 2 * time.Second, 2 * time.Second, 250 * ms}, "permanent"},
		{"version older than the grace: one try", repeat(permanentErr{}, 100), 6 * time.Second, 5 * time.Second, 0, 1, nil, "permanent"},
		{"version near the end of the grace", repeat(permanentErr{}, 100), 4900 * ms, 5 * time.Second, 0, 2, []time.Duration{100 * ms}, "permanent"},
		{"CreatedDate unknown: one try", repeat(permanentErr{}, 100), -1, 5 * time.Second, 0, 1, nil, "permanent"},
		{"grace off", repeat(permanentErr{}, 100), 0, 0, 0, 1, nil, "permanent"},
		{"clock skew: created in the future", repeat(permanentErr{}, 1), -2 * time.Second, 5 * time.Second, 0, 2, []time.Duration{250 * ms}, "ok"},
		{"deadline first: stops without waiting past it", repeat(permanentErr{}, 100), 0, 5 * time.Second, 2 * time.Second, 3,
			[]time.Duration{250 * ms, 500 * ms}, "young"},
		{"deadline too close for any wait", repeat(permanentErr{}, 100), 0, 5 * time.Second, time.Second, 1, nil, "young"},
		{"no credential: no grace", []error{noCredentialErr{}}, 0, 5 * time.Second, 0, 1, nil, "no credential"},
		{"transient: no grace", []error{errors.New("HTTP 503")}, 0, 5 * time.Second, 0, 1, nil, "transient"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cs := &refusing{errs: tt.errs}
			r := New(nil, cs, slog.New(slog.NewTextHandler(io.Discard, nil)))
			start := time.Now()
			clock := &fakeClock{t: start}
			r.now, r.sleep, r.jitter = clock.now, clock.sleep, func(d time.Duration) time.Duration { return d }
			r.PropagationGrace = tt.grace
			created := start.Add(-tt.age)
			if tt.age == -1 {
				created = time.Time{}
			}
			ctx := context.Background()
			if tt.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithDeadline(ctx, start.Add(tt.deadline))
				defer cancel()
			}
			res := r.verifyWithGrace(ctx, "value", created)
			if res.tries != tt.tries || cs.calls != tt.tries {
				t.Errorf("tries = %d (Verify called %d times), want %d", res.tries, cs.calls, tt.tries)
			}
			if !slices.Equal(clock.waits, tt.waits) {
				t.Errorf("waits = %v, want %v", clock.waits, tt.waits)
			}
			var young *notLiveYetError
			got := "transient"
			switch {
			case res.err == nil:
				got = "ok"
			case errors.As(res.err, &young):
				got = "young"
				if IsPermanent(res.err) {
					t.Error("a refusal within the grace counts as permanent")
				}
			case errors.Is(res.err, ErrNoCredential):
				got = "no credential"
			case IsPermanent(res.err):
				got = "permanent"
			}
			if got != tt.want {
				t.Errorf("outcome %s (%v), want %s", got, res.err, tt.want)
			}
			if tt.deadline > 0 && clock.t.After(start.Add(tt.deadline-graceReserve)) {
				t.Errorf("waited until %v after the start, past the deadline less the reserve", clock.t.Sub(start))
			}
		})
	}
}

func TestGraceBackoff(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		tries int
		want  time.Duration
	}{{1, 250 * ms}, {2, 500 * ms}, {3, time.Second}, {4, 2 * time.Second}, {5, 2 * time.Second}, {60, 2 * time.Second}} {
		t.Run(fmt.Sprint(tt.tries), func(t *testing.T) {
			if got := graceBackoff(tt.tries); got != tt.want {
				t.Errorf("graceBackoff(%d) = %v, want %v", tt.tries, got, tt.want)
			}
			for range 200 {
				if j := equalJitter(tt.want); j < tt.want/2 || j > tt.want {
					t.Fatalf("equalJitter(%v) = %v, outside [d/2, d]", tt.want, j)
				}
			}
		})
	}
}

// TestNotLiveYetMessage: the error of a refusal within the grace says what
// happened and what to do, and is not permanent although its cause is.
func TestNotLiveYetMessage(t *testing.T) {
	t.Parallel()
	err := fmt.Errorf("verifying the pending credential: %w", &notLiveYetError{cause: permanentErr{}, age: 1200 * ms, grace: 5 * time.Second, tries: 2})
	if IsPermanent(err) {
		t.Error("permanent")
	}
	want := "verifying the pending credential: the service refused the new credential on 2 tries (refused (HTTP 401)), but the version was created only 1.2s ago, " +
		"within the 5s PropagationGrace, so the credential may not be live yet, and this invocation has no time left to try again. " +
		"Nothing was abandoned: let Secrets Manager retry the rotation; if the credential is still refused then, the version is abandoned"
	if err.Error() != want {
		t.Errorf("message:\n%s\nwant\n%s", err, want)
	}
}
