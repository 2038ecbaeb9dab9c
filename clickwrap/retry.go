package clickwrap

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
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

// attemptResult is what one try of a call reports to RetryPolicy.do.
type attemptResult struct {
	err   error
	retry bool
	after time.Duration // server-requested wait; zero means use backoff
}

// classifyStatus decides whether an HTTP answer is worth another try: 429
// and 503 (the server did nothing and says so), and for a check any 5xx. A
// mint is not retried on other 5xx answers: the token may have been issued
// before the failure, and a second would leave the first valid and
// unrecorded; Secrets Manager retries the rotation later.
func classifyStatus(se *StatusError, h http.Header) attemptResult {
	switch {
	case se.StatusCode == http.StatusTooManyRequests:
		se.RetryAfter = parseRetryAfter(h.Get("Retry-After"), time.Now())
		return attemptResult{err: se, retry: true, after: se.RetryAfter}
	case se.Op == "mint" && se.StatusCode >= 500 && se.StatusCode != http.StatusServiceUnavailable:
		return attemptResult{err: se}
	case se.StatusCode >= 500:
		if se.StatusCode == http.StatusServiceUnavailable {
			se.RetryAfter = parseRetryAfter(h.Get("Retry-After"), time.Now())
		}
		return attemptResult{err: se, retry: true, after: se.RetryAfter}
	}
	return attemptResult{err: se}
}

// maxRetryAfterSecs caps a parsed Retry-After (a day): far above what any
// RetryPolicy waits, so the call still gives up, with the right reason.
const maxRetryAfterSecs = 24 * 60 * 60

// parseRetryAfter reads a Retry-After value in seconds or as an HTTP date.
// Zero means absent or unreadable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil {
		if secs < 0 {
			return 0
		}
		// Cap before converting: a huge value would overflow into a
		// negative Duration and mean "retry at once".
		return time.Duration(min(secs, maxRetryAfterSecs)) * time.Second
	} else if errors.Is(err, strconv.ErrRange) && !strings.HasPrefix(v, "-") {
		return maxRetryAfterSecs * time.Second // delay-seconds beyond int
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// errRedirectRefused marks a redirect the client would not follow: final.
var errRedirectRefused = errors.New("redirect refused")

// classifyTransportError sorts a failure below HTTP. Certificate problems
// and refused redirects are final (retrying cannot change them). A mint is
// retried only when the request cannot have reached the token endpoint (the
// connection was never made): minting is not idempotent, and a token issued
// to a request whose answer was lost would be valid and unrecorded. A check
// is retried on any network failure.
func classifyTransportError(op, endpoint string, err error) attemptResult {
	// Report the cause without the *url.Error wrapper, whose text repeats
	// the full URL (query string included).
	cause := err
	var ue *url.Error
	isTransport := errors.As(err, &ue)
	if isTransport {
		cause = ue.Err
	}
	var unknownCA x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	var hostname x509.HostnameError
	var verify *tls.CertificateVerificationError
	if errors.As(err, &unknownCA) || errors.As(err, &invalid) || errors.As(err, &hostname) || errors.As(err, &verify) {
		return attemptResult{err: fmt.Errorf("%s: the TLS certificate of %s is not trusted (%w): for a private CA add it with SSL_CERT_FILE; verification is never skipped", op, endpoint, cause)}
	}
	if errors.Is(err, errRedirectRefused) {
		return attemptResult{err: fmt.Errorf("%s: %s: %w", op, endpoint, cause)}
	}
	if isTransport && strings.HasPrefix(cause.Error(), "failed to parse Location header") {
		// net/http's text quotes the header, query string and all.
		return attemptResult{err: fmt.Errorf("%s: %s answered a redirect whose Location header is not a URL: not followed", op, endpoint)}
	}
	if !isTransport {
		// Not a network failure but an answer that could not be used (a
		// 2xx whose body is not a token response): asking again could mint
		// tokens that are then lost, so it is final.
		return attemptResult{err: fmt.Errorf("%s: unusable answer from %s: %w", op, endpoint, err)}
	}
	var opErr *net.OpError
	neverSent := errors.As(err, &opErr) && opErr.Op == "dial"
	retry := op != "mint" || neverSent
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return attemptResult{err: fmt.Errorf("%s: %s did not answer in time: %w", op, endpoint, cause), retry: retry}
	}
	return attemptResult{err: fmt.Errorf("%s: cannot reach %s: %w", op, endpoint, cause), retry: retry}
}
