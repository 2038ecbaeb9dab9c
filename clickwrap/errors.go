package clickwrap

import (
	"fmt"
	"net/http"
	"time"

	"github.com/clickwrap-rotator/clickwrap-rotator/rotation"
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

// ErrNoAccessToken is what [Client.Check] and [Client.Verify] return for a
// secret that holds no access_token yet: a first secret, before its first
// rotation mints one. It wraps rotation.ErrNoCredential (so the rotation's
// configuration test of such a secret is not reported as a broken rotation)
// and is permanent for the value that holds it.
var ErrNoAccessToken error = noAccessTokenError{}

type noAccessTokenError struct{}

func (noAccessTokenError) Error() string {
	return `secret field "access_token" is absent or empty: the secret holds no token yet; the first rotation mints one`
}

func (noAccessTokenError) Unwrap() error { return rotation.ErrNoCredential }

func (noAccessTokenError) Permanent() bool { return true }

// notTokenAnswerError is a 2xx answer from the token endpoint whose body is
// neither JSON nor form-encoded parameters (an HTML sign-in page, say): no
// token can be read from it. It never carries the body.
type notTokenAnswerError struct {
	status int
	what   string
}

func (e *notTokenAnswerError) Error() string {
	return fmt.Sprintf("answered HTTP %d with %s, not a token answer", e.status, e.what)
}

// FieldError says which field of the secret is wrong and how. It never
// carries the field's value.
type FieldError struct {
	Field   string
	Problem string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("secret field %q %s", e.Field, e.Problem)
}

// Permanent reports true: a secret version is immutable, so a malformed one
// stays malformed however often it is read.
func (e *FieldError) Permanent() bool { return true }

// ErrNotObject is returned by [ParseSecret] for a SecretString that is not a
// single JSON object. It too is permanent for the version that holds it.
var ErrNotObject error = notObjectError{}

type notObjectError struct{}

func (notObjectError) Error() string {
	return `secret value is not a JSON object: store {"client_id": "...", "client_secret": "..."} as the SecretString (key/value in the console)`
}

func (notObjectError) Permanent() bool { return true }

// CredentialsReason is why a credentials secret cannot be used
// ([CredentialsError.Reason]).
type CredentialsReason int

// The reasons a credentials secret cannot be used.
const (
	// CredentialsMalformed: it was read, but holds no SecretString or one
	// that is not a usable [Credentials].
	CredentialsMalformed CredentialsReason = iota
	// CredentialsNotFound: Secrets Manager has no such secret, or it has no
	// AWSCURRENT version (ResourceNotFoundException).
	CredentialsNotFound
	// CredentialsUndecryptable: its KMS key cannot decrypt it for the
	// caller (DecryptionFailure, or a KMS error code).
	CredentialsUndecryptable
	// CredentialsAccessDenied: the caller's AWS credentials may not read it
	// (AccessDeniedException).
	CredentialsAccessDenied
	// CredentialsReadFailed: the read failed for a reason that may pass
	// (throttling, an HTTP 5xx, the network), or there was no reader.
	CredentialsReadFailed
)

// String returns the reason's Go name, or "CredentialsReason(N)".
func (r CredentialsReason) String() string {
	switch r {
	case CredentialsMalformed:
		return "CredentialsMalformed"
	case CredentialsNotFound:
		return "CredentialsNotFound"
	case CredentialsUndecryptable:
		return "CredentialsUndecryptable"
	case CredentialsAccessDenied:
		return "CredentialsAccessDenied"
	case CredentialsReadFailed:
		return "CredentialsReadFailed"
	}
	return fmt.Sprintf("CredentialsReason(%d)", int(r))
}

// CredentialsError says what is wrong with the credentials secret of a token
// secret in the split form (see [Secret] and [Credentials]): it cannot be
// read, or its value is not a usable [Credentials]. It names the secret and
// the member at fault, never a value, and says what to do. Nothing is
// minted when it is returned.
//
// It is not permanent: the credentials secret can be fixed (or the rotation
// role's permissions granted) without touching the token secret, and the
// next attempt reads it again.
type CredentialsError struct {
	// Secret is the credentials secret's ARN or name, as the token secret's
	// credentials_secret gives it; empty from [ParseCredentials], which
	// leaves it to the caller.
	Secret string
	// Field is the credentials secret's member at fault, such as
	// "applications" or "applications[1].client_secret"; empty when the
	// secret as a whole is at fault (it cannot be read, or is not a JSON
	// object).
	Field string
	// Reason is why the secret cannot be used: [CredentialsMalformed] (the
	// zero value, and what [ParseCredentials] gives) or why it could not be
	// read.
	Reason CredentialsReason
	// Problem says what is wrong and what to do.
	Problem string
	// Err is the Secrets Manager error when the secret could not be read,
	// else nil. Its text holds no secret value.
	Err error
}

func (e *CredentialsError) Error() string {
	name := "credentials secret"
	if e.Secret != "" {
		name += " " + e.Secret
	}
	msg := name + " " + e.Problem
	if e.Field != "" {
		msg = fmt.Sprintf("%s: field %q %s", name, e.Field, e.Problem)
	}
	if e.Err != nil {
		msg += " (" + e.Err.Error() + ")"
	}
	return msg
}

// Unwrap returns Err, so that errors.As finds Secrets Manager's typed
// error (*types.ResourceNotFoundException, say).
func (e *CredentialsError) Unwrap() error { return e.Err }
