package rotation

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// The backoff between tries of a credential that may not be live yet (see
// Rotator.PropagationGrace).
const (
	graceFirstWait = 250 * time.Millisecond
	graceMaxWait   = 2 * time.Second
	// graceReserve is the time kept before the invocation's deadline after
	// a wait, for the next Verify and the abandon that may follow it.
	graceReserve = time.Second
)

// verifyResult is what verifyWithGrace found.
type verifyResult struct {
	err   error // Verify's last error, or a *notLiveYetError; nil: verified
	tries int   // Verify calls made
}

// verifyWithGrace calls Verify on value and, while the credential (new at
// created, taken as now if it is later; zero when unknown or not new) is
// younger than PropagationGrace
// and Verify's failure is permanent (and not ErrNoCredential), calls it
// again after a backoff.
//
// Cases:
//   - Verify passes: nil error;
//   - Verify fails with a transient error, or with ErrNoCredential: that
//     error, at once;
//   - Verify fails permanently and the version is not young (created is
//     zero, or older than the grace, or the grace is off): that error, at
//     once;
//   - Verify fails permanently while the version is young: tried again,
//     the last try at the end of the grace at the latest; if it still
//     fails, that error (the failure stands);
//   - the context's deadline (less graceReserve) or cancellation comes
//     before the next try is due: a *notLiveYetError, which is not
//     permanent, so nothing is abandoned.
func (r *Rotator) verifyWithGrace(ctx context.Context, value string, created time.Time) verifyResult {
	if now := r.now(); created.After(now) {
		created = now // a clock ahead of ours must not stretch the grace
	}
	for tries := 1; ; tries++ {
		err := r.credentials.Verify(ctx, value)
		if err == nil || errors.Is(err, ErrNoCredential) || !IsPermanent(err) {
			return verifyResult{err: err, tries: tries}
		}
		if created.IsZero() || r.PropagationGrace <= 0 {
			return verifyResult{err: err, tries: tries}
		}
		age := max(r.now().Sub(created), 0)
		left := r.PropagationGrace - age
		if left <= 0 {
			return verifyResult{err: err, tries: tries}
		}
		wait := min(r.jitter(graceBackoff(tries)), left)
		young := &notLiveYetError{cause: err, age: age, grace: r.PropagationGrace, tries: tries}
		if dl, ok := ctx.Deadline(); ok && dl.Sub(r.now()) < wait+graceReserve {
			return verifyResult{err: young, tries: tries}
		}
		if r.sleep(ctx, wait) != nil {
			return verifyResult{err: young, tries: tries}
		}
	}
}

// graceBackoff is the wait after the tries-th failed try: 250 ms, doubling,
// at most graceMaxWait.
func graceBackoff(tries int) time.Duration {
	d := graceFirstWait
	for i := 1; i < tries && d < graceMaxWait; i++ {
		d *= 2
	}
	return min(d, graceMaxWait)
}

// equalJitter returns a duration between d/2 and d, at random, so that
// containers retrying at once spread out.
func equalJitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

// sleepCtx waits for d, or returns ctx's error if it is done first.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// notLiveYetError is a permanent Verify failure of a version still within
// PropagationGrace, when the invocation had no time left to try again. It
// is deliberately not permanent (and does not unwrap to the cause, whose
// Permanent method would say otherwise): the version is left for Secrets
// Manager's retry, by which time it is past the grace and one Verify
// decides.
type notLiveYetError struct {
	cause error
	age   time.Duration
	grace time.Duration
	tries int
}

func (e *notLiveYetError) Error() string {
	return fmt.Sprintf("the service refused the new credential on %d %s (%v), but the version was created only %v ago, "+
		"within the %v PropagationGrace, so the credential may not be live yet, and this invocation has no time left to try again. "+
		"Nothing was abandoned: let Secrets Manager retry the rotation; if the credential is still refused then, the version is abandoned",
		e.tries, plural(e.tries, "try", "tries"), e.cause, e.age.Round(100*time.Millisecond), e.grace)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
