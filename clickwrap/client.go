package clickwrap

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// Client mints and checks Clickwrap access tokens. The zero value is not
// usable: build one with [NewClient]. A Client is safe for concurrent use and
// is meant to live as long as the process, so that its connections (and their
// TLS sessions) are reused across Lambda invocations.
type Client struct {
	// HTTP carries every request. Its transport decides which certificates
	// are trusted; certificates are always verified.
	HTTP *http.Client
	// Retry bounds the retries of 429, 5xx and network failures.
	Retry RetryPolicy
	// UserAgent is sent with every request.
	UserAgent string
	// Secrets reads the credentials secret (one GetSecretValue of its
	// AWSCURRENT per [Client.NewPending]). It is needed only for token
	// secrets in the split form, which name a credentials_secret (see
	// [Secret]); without it NewPending refuses them and mints nothing.
	// cmd/rotator sets it to its Secrets Manager client, whose role must
	// then be allowed secretsmanager:GetSecretValue on the credentials
	// secret (and kms:Decrypt on its key, when it is a customer-managed one).
	Secrets SecretReader

	// authHints remembers, per authKey, the clientAuth the token endpoint
	// last accepted.
	authHints sync.Map
}

// NewClient returns a Client over hc, or over [NewHTTPClient] when hc is nil,
// with [DefaultRetryPolicy].
func NewClient(hc *http.Client) *Client {
	if hc == nil {
		hc = NewHTTPClient()
	}
	return &Client{HTTP: hc, Retry: DefaultRetryPolicy, UserAgent: "clickwrap-rotator"}
}

// NewHTTPClient returns the HTTP client Clickwrap is called with: TLS 1.2 or
// newer against the system roots (SSL_CERT_FILE and SSL_CERT_DIR add a private
// CA, as Go supports on Linux), bounded dial, handshake and header waits, and
// redirects followed only to https:// URLs. There is deliberately no way to
// skip certificate verification.
func NewHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	t.TLSHandshakeTimeout = 10 * time.Second
	t.ResponseHeaderTimeout = 20 * time.Second
	t.MaxIdleConnsPerHost = 4
	return &http.Client{Transport: t, CheckRedirect: httpsRedirectsOnly}
}

// httpsRedirectsOnly follows a redirect only to https:// on the same host: a
// redirect elsewhere could carry the client secret (a 307 replays the token
// request's body) or a Bearer token to a host that is not Clickwrap.
func httpsRedirectsOnly(req *http.Request, via []*http.Request) error {
	if req.URL.Scheme != "https" {
		return fmt.Errorf("%w: refusing redirect to a non-https URL (host %s): Clickwrap is reached over HTTPS only", errRedirectRefused, req.URL.Host)
	}
	if req.URL.Host != via[0].URL.Host {
		return fmt.Errorf("%w: refusing redirect from host %s to host %s: credentials are sent to the configured host only", errRedirectRefused, via[0].URL.Host, req.URL.Host)
	}
	if len(via) >= 3 {
		return fmt.Errorf("%w: stopped after 3 redirects", errRedirectRefused)
	}
	return nil
}

// Token is an access token as the token endpoint issued it. It redacts itself
// when formatted, so that it cannot reach a log line by accident.
type Token struct {
	AccessToken string
	// TokenType is "Bearer" (what the endpoint said, or Bearer when it said
	// nothing).
	TokenType string
	// ExpiresAt is zero when the endpoint returned no expires_in.
	ExpiresAt time.Time
}

// Mint obtains a new access token for the secret's API application with the
// OAuth 2.0 client-credentials grant, through golang.org/x/oauth2.
//
// Client authentication is found here rather than by oauth2's
// AuthStyleAutoDetect, which re-sends every failed request with the other
// style at once: on a 429 or a 5xx that doubles the load on an endpoint
// limited to 60 requests a minute per IP, and ignores Retry-After. Here the
// styles are tried in order, HTTP Basic, then body parameters, then a JSON
// body (what Ironclad's CLM API documents), and only a refusal of the
// request (HTTP 400, 401 or 415, or an RFC 6749 error answered with 2xx)
// moves on to the next: none of those issued a token. The style that
// worked is remembered per (token URL, client_id) for the life of the
// Client, as a hint that is tried first next time, never as a verdict: if
// it is refused, the others are tried once more each.
//
// The answer is read as real endpoints send it (see normalizeTokenAnswer):
// JSON whatever its Content-Type, or form-encoded; expires_in as any
// number; the token trimmed of surrounding whitespace. A token with any
// other character outside the RFC 6750 token68 set cannot be sent as a
// Bearer credential, so Mint refuses it (a [*TokenAnswerError], permanent)
// and returns nothing to store.
//
// Whether a new token invalidates earlier ones is not documented by
// Clickwrap; see docs/how-it-works.md, "What is assumed about Clickwrap".
func (c *Client) Mint(ctx context.Context, s *Secret) (Token, error) {
	tokenURL := s.TokenEndpoint()
	if err := checkHTTPS(FieldTokenURL, tokenURL); err != nil {
		return Token{}, err
	}
	shown := RedactURL(tokenURL)
	key := authKey{tokenURL: tokenURL, clientID: s.ClientID}
	order := clientAuths
	if hint, ok := c.authHints.Load(key); ok {
		order = hintFirst(hint.(clientAuth))
	}
	var tok *oauth2.Token
	var err, report error
	var refused []string
	for _, style := range order {
		tok, err = c.mintWith(ctx, s, tokenURL, style)
		if err == nil {
			c.authHints.Store(key, style)
			break
		}
		if !refusedRequest(err) {
			return Token{}, err
		}
		refused = append(refused, style.String())
		if report == nil || (!rejectedCredentials(report) && rejectedCredentials(err)) {
			report = err
		}
	}
	if err != nil {
		// Report the refusal that says the most: one of the credentials
		// themselves, else the first (an endpoint that takes no JSON body
		// answers the last try with a 400 about the body).
		return Token{}, fmt.Errorf("%w (refused with %s)", report, strings.Join(refused, ", then "))
	}
	t := Token{AccessToken: tok.AccessToken, TokenType: tok.TokenType}
	if !IsToken68(t.AccessToken) {
		return Token{}, &TokenAnswerError{URL: shown, Field: FieldAccessToken,
			Problem: "has characters outside the RFC 6750 token68 set (letters, digits, - . _ ~ + / and trailing =), so it cannot be sent as a Bearer token; it was not stored"}
	}
	switch {
	case t.TokenType == "":
		t.TokenType = "Bearer"
	case !strings.EqualFold(t.TokenType, "bearer"):
		return Token{}, &TokenAnswerError{URL: shown, Field: FieldTokenType,
			Problem: fmt.Sprintf("is %.20q, not Bearer: the Clickwrap API only takes Bearer tokens; the token was not stored", t.TokenType)}
	default:
		t.TokenType = "Bearer"
	}
	if !tok.Expiry.IsZero() {
		t.ExpiresAt = tok.Expiry.UTC().Truncate(time.Second)
	}
	return t, nil
}

// clientAuth is a way to authenticate the client at the token endpoint
// (RFC 6749 section 2.3.1, and the JSON variant).
type clientAuth int

const (
	// authBasic sends client_id and client_secret, form-url-encoded, as
	// HTTP Basic credentials (RFC 6749 section 2.3.1).
	authBasic clientAuth = iota
	// authForm sends them as form body parameters.
	authForm
	// authJSON sends grant_type, client_id and client_secret as a JSON
	// object body.
	authJSON
)

// clientAuths is the order Mint tries the styles in when it has no hint.
var clientAuths = []clientAuth{authBasic, authForm, authJSON}

func (a clientAuth) String() string {
	switch a {
	case authBasic:
		return "HTTP Basic"
	case authForm:
		return "body parameters"
	default:
		return "a JSON body"
	}
}

// hintFirst is clientAuths with hint moved to the front.
func hintFirst(hint clientAuth) []clientAuth {
	order := []clientAuth{hint}
	for _, a := range clientAuths {
		if a != hint {
			order = append(order, a)
		}
	}
	return order
}

// authKey is what a client-authentication hint is remembered by: two API
// applications on one token endpoint may need different styles (a secret
// with "+" or "/" fails HTTP Basic at an endpoint that does not URL-decode
// it).
type authKey struct{ tokenURL, clientID string }

// refusedRequest reports whether a mint error is the token endpoint
// refusing the request as made (HTTP 400 or 415 from anyone, the
// endpoint's own 401, or an RFC 6749 error code answered with a 2xx), so
// that no token was issued and another client authentication may be tried.
func refusedRequest(err error) bool {
	var se *StatusError
	if !errors.As(err, &se) || se.Op != "mint" {
		return false
	}
	switch se.StatusCode {
	case http.StatusBadRequest, http.StatusUnsupportedMediaType:
		// Whoever answered (a framework's HTML error page for a body type
		// it does not take, say), no token was issued.
		return true
	case http.StatusUnauthorized:
		// A proxy's sign-in page is not the endpoint refusing this style.
		return se.NotAPI == ""
	default:
		return se.StatusCode >= 200 && se.StatusCode <= 299 && se.Code != ""
	}
}

// rejectedCredentials reports whether a mint error says the client
// credentials themselves were rejected (RFC 6749 invalid_client or
// unauthorized_client, or HTTP 401).
func rejectedCredentials(err error) bool {
	var se *StatusError
	return errors.As(err, &se) && (se.Code == "invalid_client" || se.Code == "unauthorized_client" || se.StatusCode == http.StatusUnauthorized)
}

// mintWith makes the token request with one client authentication style,
// retried under the RetryPolicy.
func (c *Client) mintWith(ctx context.Context, s *Secret, tokenURL string, style clientAuth) (*oauth2.Token, error) {
	cfg := clientcredentials.Config{
		ClientID:     s.ClientID,
		ClientSecret: s.ClientSecret,
		TokenURL:     tokenURL,
		AuthStyle:    oauth2.AuthStyleInParams,
	}
	if style == authBasic {
		cfg.AuthStyle = oauth2.AuthStyleInHeader
	}
	hc := *c.withUserAgent()
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	hc.Transport = &tokenTransport{base: base, jsonBody: style == authJSON}
	var tok *oauth2.Token
	err := c.Retry.do(ctx, func(ctx context.Context) attemptResult {
		var err error
		tok, err = cfg.Token(context.WithValue(ctx, oauth2.HTTPClient, &hc))
		if err == nil {
			return attemptResult{}
		}
		return classifyMintError(RedactURL(tokenURL), err)
	})
	return tok, err
}

func classifyMintError(tokenURL string, err error) attemptResult {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		se := &StatusError{Op: "mint", URL: tokenURL, Code: re.ErrorCode}
		if re.Response != nil {
			se.StatusCode = re.Response.StatusCode
			if isHTML(re.Body, re.Response.Header) {
				se.NotAPI = describeBody(re.Body, re.Response.Header)
				se.Code = ""
			}
			return classifyStatus(se, re.Response.Header)
		}
		return attemptResult{err: se}
	}
	var na *notTokenAnswerError
	if errors.As(err, &na) {
		// A 2xx that holds no token: asking again could mint tokens that
		// are then lost, so it is final.
		return attemptResult{err: &TokenAnswerError{URL: tokenURL, Status: na.status, Problem: na.what}}
	}
	return classifyTransportError("mint", tokenURL, err)
}

// Check and its helpers are in check.go.

// withUserAgent returns c.HTTP with a transport that sets the User-Agent.
func (c *Client) withUserAgent() *http.Client {
	if c.UserAgent == "" {
		return c.HTTP
	}
	hc := *c.HTTP
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	hc.Transport = userAgentTransport{base: base, ua: c.UserAgent}
	return &hc
}

type userAgentTransport struct {
	base http.RoundTripper
	ua   string
}

func (t userAgentTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.Header.Set("User-Agent", t.ua)
	return t.base.RoundTrip(r)
}
