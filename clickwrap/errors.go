package clickwrap

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// StatusError is an HTTP answer from Clickwrap, or from something in front
// of it, that was not a success. It names the operation, the endpoint
// (never a query string: see [RedactURL]) and the status, and never carries
// a response body.
type StatusError struct {
	// Op is "mint" (the token endpoint) or "verify" (the Bearer check).
	Op         string
	URL        string
	StatusCode int
	// Code is the OAuth 2.0 "error" parameter of a token endpoint answer,
	// such as invalid_client; empty otherwise.
	Code string
	// RetryAfter is the server's Retry-After on a 429 or 503, zero otherwise.
	RetryAfter time.Duration
	// NotAPI is set when the answer is plainly not the endpoint's own: it
	// says what it was instead ("an HTML page (...)", "a redirect to
	// https://sso.example.com/login", "a JSON error object"). Such an
	// answer neither proves nor condemns a token.
	NotAPI string
}

func (e *StatusError) Error() string {
	code := ""
	if e.Code != "" {
		code = ", " + e.Code
	}
	switch {
	case e.NotAPI != "" && e.Op == "verify":
		return fmt.Sprintf("the check at %s got HTTP %d with %s, not the Clickwrap API's own answer: the token was neither proven nor refused, "+
			"so the pending version stays for Secrets Manager's retry. If this persists, look at what sits between the function and the API "+
			"(a proxy, firewall, CDN or sign-in gateway) and at api_url", e.URL, e.StatusCode, e.NotAPI)
	case e.NotAPI != "":
		return fmt.Sprintf("token endpoint %s answered HTTP %d with %s, not a token endpoint's own answer: "+
			"look at what sits in front of it (a proxy, firewall or CDN) and at token_url", e.URL, e.StatusCode, e.NotAPI)
	case e.Op == "mint" && (e.Code == "invalid_client" || e.Code == "unauthorized_client" || e.StatusCode == http.StatusUnauthorized):
		return fmt.Sprintf("token endpoint %s rejected the client credentials (HTTP %d%s): check client_id and client_secret in the secret", e.URL, e.StatusCode, code)
	case e.Op == "verify" && e.Permanent():
		return fmt.Sprintf("Clickwrap rejected the token at %s (HTTP %d)", e.URL, e.StatusCode)
	case e.StatusCode == http.StatusTooManyRequests:
		return fmt.Sprintf("Clickwrap rate limit reached at %s (HTTP 429, Retry-After %s)", e.URL, e.RetryAfter)
	case e.Op == "verify" && e.StatusCode == http.StatusNotFound:
		return fmt.Sprintf("Clickwrap answered HTTP 404 at %s: the API has no such endpoint, so api_url in the secret is wrong: "+
			"it must be the REST API base, %s by default; fix it with put-secret-value", e.URL, DefaultAPIURL)
	case e.Op == "mint" && e.StatusCode == http.StatusNotFound:
		return fmt.Sprintf("token endpoint %s answered HTTP 404: token_url in the secret is wrong: it must be the OAuth token endpoint, %s by default", e.URL, DefaultTokenURL)
	case e.Op == "mint":
		return fmt.Sprintf("token endpoint %s answered HTTP %d%s", e.URL, e.StatusCode, code)
	default:
		return fmt.Sprintf("Clickwrap answered HTTP %d at %s", e.StatusCode, e.URL)
	}
}

// Permanent reports whether asking again with the same token can never
// succeed: a 401 or 403 from the Bearer check that is the API's own answer
// (NotAPI empty). A rotation uses this to abandon the pending version rather
// than retry it.
func (e *StatusError) Permanent() bool {
	return e.Op == "verify" && e.NotAPI == "" && (e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden)
}

// TokenAnswerError is a token endpoint's 2xx answer that yields no token
// to store: a body that is not a token answer (an HTML page, a JSON object
// without access_token), or a token that cannot be used (not a token68, or
// not a Bearer token). It names the field at fault, never its value. It is
// permanent: asking again is a new mint, not a retry, so it is left to
// Secrets Manager's next attempt at the rotation.
type TokenAnswerError struct {
	// URL is the token endpoint, redacted.
	URL string
	// Status is the HTTP status, when the body was the problem.
	Status int
	// Field is the member at fault (access_token, token_type), or empty.
	Field string
	// Problem says what is wrong.
	Problem string
}

func (e *TokenAnswerError) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("token endpoint %s issued a token whose %s %s", e.URL, e.Field, e.Problem)
	}
	return fmt.Sprintf("token endpoint %s answered HTTP %d with %s, not a token answer: nothing was stored; "+
		"if this persists, check token_url and what sits in front of it (a proxy, firewall or sign-in gateway)", e.URL, e.Status, e.Problem)
}

// Permanent reports true: see [TokenAnswerError].
func (e *TokenAnswerError) Permanent() bool { return true }

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

// RedactURL returns raw with only its scheme, host and path: what an error,
// a log line or a report may show of an endpoint (a query string or user
// info could hold a proxy's key).
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(unparseable URL)"
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}
