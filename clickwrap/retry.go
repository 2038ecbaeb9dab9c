package clickwrap

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"
)

// RetryPolicy bounds how a call to Clickwrap is retried after a 429, a 5xx
// or a network failure. Every wait also has to fit before the context's
// deadline: when it would not, the call gives up at once with the last error,
// so that a Lambda invocation returns a clear error instead of being killed.
type RetryPolicy struct {
	// MaxAttempts is the total number of tries (1 means no retry).
	MaxAttempts int
	// BaseDelay is the first backoff; it doubles on each retry, with jitter.
	BaseDelay time.Duration
	// MaxDelay caps one backoff wait.
	MaxDelay time.Duration
	// MaxRetryAfter is the longest Retry-After honoured; a longer one ends
	// the call (Secrets Manager retries the whole rotation later).
	MaxRetryAfter time.Duration
	// AttemptTimeout bounds one try, so that a silent server cannot use up
	// the whole budget. Zero means only the context bounds it.
	AttemptTimeout time.Duration
}

// DefaultRetryPolicy: 4 tries, backoff from 250 ms to 4 s, Retry-After up to
// 30 s, 10 s per try. The worst case without server-requested waits is about
// 4 x 10 s + 7 s; the Lambda timeout in template.yaml covers it.
var DefaultRetryPolicy = RetryPolicy{
	MaxAttempts:    4,
	BaseDelay:      250 * time.Millisecond,
	MaxDelay:       4 * time.Second,
	MaxRetryAfter:  30 * time.Second,
	AttemptTimeout: 10 * time.Second,
}

func (p RetryPolicy) do(ctx context.Context, try func(context.Context) attemptResult) error {
	maxAttempts := max(p.MaxAttempts, 1)
	for attempt := 1; ; attempt++ {
		actx, cancel := ctx, context.CancelFunc(func() {})
		if p.AttemptTimeout > 0 {
			actx, cancel = context.WithTimeout(ctx, p.AttemptTimeout)
		}
		r := try(actx)
		cancel()
		if r.err == nil {
			return nil
		}
		if ctx.Err() != nil || !r.retry {
			return r.err
		}
		if attempt >= maxAttempts {
			return fmt.Errorf("%w (gave up after %d tries)", r.err, attempt)
		}
		wait := r.after
		if wait == 0 {
			wait = p.backoff(attempt)
		}
		if p.MaxRetryAfter > 0 && wait > p.MaxRetryAfter {
			return fmt.Errorf("%w (not waiting %s: longer than the %s this client waits)", r.err, wait, p.MaxRetryAfter)
		}
		if dl, ok := ctx.Deadline(); ok {
			if left := time.Until(dl); left < wait {
				return fmt.Errorf("%w (not retrying: the next try is due in %s but only %s remain before the deadline)", r.err, wait.Round(time.Millisecond), left.Round(time.Millisecond))
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (deadline reached while waiting to retry: %w)", r.err, context.Cause(ctx))
		case <-t.C:
		}
	}
}

// backoff returns the wait before retry number attempt: exponential from
// BaseDelay, capped at MaxDelay, with "equal jitter" (half fixed, half random)
// so that many rotators do not retry in step.
func (p RetryPolicy) backoff(attempt int) time.Duration {
	d := p.BaseDelay << (attempt - 1)
	if d <= 0 || (p.MaxDelay > 0 && d > p.MaxDelay) {
		d = p.MaxDelay
	}
	if d <= 0 {
		return 0
	}
	half := d / 2
	return half + rand.N(half+1)
}
