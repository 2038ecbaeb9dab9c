package clickwrap

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
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

	// authStyles remembers, per token URL, the client authentication the
	// endpoint accepted (oauth2.AuthStyle).
	authStyles sync.Map
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

// Format prints the token with its value redacted, whatever the verb.
func (t Token) Format(f fmt.State, _ rune) {
	io.WriteString(f, "clickwrap.Token"+t.redacted())
}

// LogValue redacts the token in log/slog output.
func (t Token) LogValue() slog.Value { return slog.StringValue(t.redacted()) }

func (t Token) redacted() string {
	return fmt.Sprintf("{access_token:%s token_type:%s expires_at:%v}", presence(t.AccessToken), t.TokenType, t.ExpiresAt)
}

// Mint obtains a new access token for the secret's API application with the
// OAuth 2.0 client-credentials grant, through golang.org/x/oauth2.
//
// Client authentication is detected here rather than by oauth2's
// AuthStyleAutoDetect, which re-sends every failed request with the other
// style at once: on a 429 or a 5xx that doubles the load on an endpoint
// limited to 60 requests a minute per IP, and ignores Retry-After. Here HTTP
// Basic is tried first; only a 400 or 401 answer (the client not accepted)
// moves to body parameters; the style that worked is remembered per token
// URL for the life of the Client.
//
// Whether a new token invalidates earlier ones is not documented by
// Clickwrap; see the README.
func (c *Client) Mint(ctx context.Context, s *Secret) (Token, error) {
	tokenURL := s.TokenEndpoint()
	if err := checkHTTPS(FieldTokenURL, tokenURL); err != nil {
		return Token{}, err
	}
	shown := RedactURL(tokenURL)
	styles := []oauth2.AuthStyle{oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams}
	if known, ok := c.authStyles.Load(tokenURL); ok {
		styles = []oauth2.AuthStyle{known.(oauth2.AuthStyle)}
	}
	var tok *oauth2.Token
	var err error
	for i, style := range styles {
		tok, err = c.mintWith(ctx, s, tokenURL, style)
		if err == nil {
			c.authStyles.Store(tokenURL, style)
			break
		}
		var se *StatusError
		rejected := errors.As(err, &se) && (se.StatusCode == http.StatusBadRequest || se.StatusCode == http.StatusUnauthorized)
		if !rejected || i == len(styles)-1 {
			return Token{}, err
		}
	}
	t := Token{AccessToken: tok.AccessToken, TokenType: tok.TokenType}
	switch {
	case t.TokenType == "":
		t.TokenType = "Bearer"
	case !strings.EqualFold(t.TokenType, "bearer"):
		return Token{}, fmt.Errorf("token endpoint %s issued a token of type %q, not Bearer: the Clickwrap API only takes Bearer tokens", shown, t.TokenType)
	default:
		t.TokenType = "Bearer"
	}
	if !tok.Expiry.IsZero() {
		t.ExpiresAt = tok.Expiry.UTC().Truncate(time.Second)
	}
	return t, nil
}

// mintWith makes the token request with one client authentication style,
// retried under the RetryPolicy.
func (c *Client) mintWith(ctx context.Context, s *Secret, tokenURL string, style oauth2.AuthStyle) (*oauth2.Token, error) {
	cfg := clientcredentials.Config{
		ClientID:     s.ClientID,
		ClientSecret: s.ClientSecret,
		TokenURL:     tokenURL,
		AuthStyle:    style,
	}
	var tok *oauth2.Token
	err := c.Retry.do(ctx, func(ctx context.Context) attemptResult {
		var err error
		tok, err = cfg.Token(context.WithValue(ctx, oauth2.HTTPClient, c.withUserAgent()))
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
			return classifyStatus(se, re.Response.Header)
		}
		return attemptResult{err: se}
	}
	return classifyTransportError("mint", tokenURL, err)
}

// sitesQuery is the cheapest authenticated read the API documents.
const sitesQuery = "/sites?per_page=1&no_count=true&lean=true"

// maxBody bounds how much of a response body is read.
const maxBody = 64 << 10

// Check proves that accessToken works: GET {apiURL}/sites?per_page=1&
// no_count=true&lean=true with Authorization: Bearer. It returns nil on any
// 2xx answer and a [*StatusError] otherwise; 401 and 403 are permanent (see
// [StatusError.Permanent]).
func (c *Client) Check(ctx context.Context, apiURL, accessToken string) error {
	if err := checkHTTPS(FieldAPIURL, apiURL); err != nil {
		return err
	}
	if accessToken == "" {
		return &FieldError{Field: FieldAccessToken, Problem: "is missing or empty"}
	}
	endpoint := RedactURL(strings.TrimRight(apiURL, "/") + "/sites")
	return c.Retry.do(ctx, func(ctx context.Context) attemptResult {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(apiURL, "/")+sitesQuery, nil)
		if err != nil {
			return attemptResult{err: fmt.Errorf("verify: building the request for %s: %w", endpoint, err)}
		}
		req.Header.Set("Authorization", "Bearer "+accessToken)
		req.Header.Set("Accept", "application/json")
		resp, err := c.withUserAgent().Do(req)
		if err != nil {
			return classifyTransportError("verify", endpoint, err)
		}
		// Drain a bounded amount so the connection can be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
		resp.Body.Close()
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			return attemptResult{}
		}
		return classifyStatus(&StatusError{Op: "verify", URL: endpoint, StatusCode: resp.StatusCode}, resp.Header)
	})
}

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

// NewPending is the createSecret half of rotation: it parses the current
// SecretString, mints a new token with its client credentials, and returns
// the new SecretString, which keeps every other field of the current one.
// Nothing is minted when the current secret is malformed.
func (c *Client) NewPending(ctx context.Context, current string) (string, error) {
	s, err := ParseSecret(current)
	if err != nil {
		return "", err
	}
	tok, err := c.Mint(ctx, s)
	if err != nil {
		return "", err
	}
	b, err := s.WithToken(tok).MarshalJSON()
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// Verify is the testSecret half of rotation: it parses a SecretString,
// requires an access_token, and checks it with [Client.Check] against the
// secret's API URL.
func (c *Client) Verify(ctx context.Context, secretString string) error {
	s, err := ParseSecret(secretString)
	if err != nil {
		return err
	}
	if s.AccessToken == "" {
		return &FieldError{Field: FieldAccessToken, Problem: "is missing or empty"}
	}
	return c.Check(ctx, s.APIEndpoint(), s.AccessToken)
}

// MadeFrom reports whether the pending SecretString was made from current:
// every field but access_token, token_type and expires_at alike (key order
// aside). The rotation package uses it to refuse to promote a pending
// version that would undo a change made to AWSCURRENT meanwhile.
func (c *Client) MadeFrom(pending, current string) bool {
	p, err := ParseSecret(pending)
	if err != nil {
		return false
	}
	cur, err := ParseSecret(current)
	if err != nil {
		return false
	}
	return p.sameSource(cur)
}
