// Package clickwraptest provides a local sandbox of the Ironclad Clickwrap
// (PactSafe) REST API for tests, benchmarks and demos, in the style of
// net/http/httptest.
//
// NewServer starts a real HTTPS server (a net/http/httptest.Server) on a
// loopback address with its own, freshly generated certificate authority.
// The sandbox implements:
//
//   - POST /oauth/token: an OAuth 2.0 client-credentials token endpoint
//     (RFC 6749 sections 4.4 and 2.3.1) that mints random bearer tokens for the
//     clients registered with AddClient;
//   - GET /v1.1/sites and GET /v1.1/sites/{id}: a cheap authenticated read
//     that accepts only tokens the sandbox minted and that are neither revoked
//     nor expired (nor too new, with SetActivationDelay);
//   - GET /login: a 200 text/html sign-in page, the target of
//     InterceptLoginRedirect (served always; not counted in Stats).
//
// Switches make the sandbox misbehave on purpose: RateLimitNext answers 429
// with Retry-After, FailNext answers 5xx, SetDelay slows every answer down,
// SetRevokeOnMint makes a new token revoke the client's earlier ones,
// SetExpiresIn makes tokens expire and SetActivationDelay makes new tokens
// rejected by the API for a while after they are minted.
//
// Other switches make the sandbox answer the way real token endpoints, APIs
// and the things in front of them do, beyond RFC 6749:
//
//   - SetAuthStyle(AuthJSONBody) makes the token endpoint take only a JSON
//     request body (415 for a form), as Ironclad's CLM API documents;
//   - SetBasicDecoding(false) compares HTTP Basic credentials without the
//     form-url-decoding RFC 6749 prescribes;
//   - SetTokenAnswer shapes the token endpoint's answers: form-encoded,
//     another Content-Type, a byte-order mark, expires_in as a float or a
//     string, token_type in another case, a rewritten access_token (stray
//     whitespace), errors with HTTP 200;
//   - InterceptNext answers the next requests with what a sign-in proxy, a
//     CDN or a firewall sends instead of the API: a redirect to /login, a
//     200 sign-in page, a 403 challenge page, a 403 HTML page labelled JSON,
//     a 401 proxy sign-in.
//
// Stats counts token requests, minted tokens, API requests, rejected API
// requests, intercepted requests and TLS handshakes.
//
// The behaviour follows what Ironclad documents about the Clickwrap API.
// Points the documentation leaves open are assumptions of this sandbox, each
// switchable where it matters: the exact client-authentication encoding
// (standard RFC 6749 by default: a form-encoded body, both styles, Basic
// credentials form-url-decoded), whether "expires_in" is sent and tokens
// expire (no, by default), whether minting a token revokes earlier ones (no,
// by default), whether new tokens work at once (yes, by default), the token
// format (32 random bytes, base64url), the default per_page (10), the error
// bodies other than the documented 429 one (401/404/5xx bodies use the same
// {"error":{...}} shape; the token endpoint uses RFC 6749 error bodies), and
// the WWW-Authenticate challenges. There is no real per-minute rate limiter:
// 429 answers come only from RateLimitNext.
//
// The sandbox never logs: no request body, header, token or secret is ever
// printed, and the HTTP server's error log is discarded.
//
// All methods of Server are safe for concurrent use.
package clickwraptest

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Endpoint names a part of the sandbox for the fault-injection switches
// RateLimitNext, FailNext, InterceptNext and SetDelay.
type Endpoint int

const (
	// EndpointToken is the token endpoint, POST /oauth/token.
	EndpointToken Endpoint = iota + 1
	// EndpointAPI is the REST API under /v1.1.
	EndpointAPI
	// EndpointAny is both the token endpoint and the REST API.
	EndpointAny
)

// String returns the name of the endpoint.
func (e Endpoint) String() string {
	switch e {
	case EndpointToken:
		return "EndpointToken"
	case EndpointAPI:
		return "EndpointAPI"
	case EndpointAny:
		return "EndpointAny"
	default:
		return fmt.Sprintf("Endpoint(%d)", int(e))
	}
}

// AuthStyle selects which client-authentication methods the token endpoint
// accepts (RFC 6749 section 2.3.1).
type AuthStyle int

const (
	// AuthBoth accepts HTTP Basic authentication and client_id/client_secret
	// body parameters (but never both in one request). It is the default.
	AuthBoth AuthStyle = iota
	// AuthBasicOnly accepts only HTTP Basic authentication. Credentials in
	// the body count as missing credentials: 401 invalid_client.
	AuthBasicOnly
	// AuthBodyOnly accepts only client_id/client_secret body parameters.
	// Basic credentials count as missing credentials: 401 invalid_client.
	AuthBodyOnly
	// AuthJSONBody accepts only a JSON request body (Content-Type
	// application/json, parameters allowed) holding
	// {"grant_type":"client_credentials","client_id":"..","client_secret":".."},
	// or HTTP Basic credentials plus a JSON body with grant_type, as
	// Ironclad's CLM API documents. Any other or missing Content-Type, a
	// form-encoded body included, gets 415 Unsupported Media Type with
	// Accept: application/json and the RFC 6749 error body
	// {"error":"invalid_request","error_description":".."}. A body that is
	// not one JSON object, repeats grant_type, client_id, client_secret or
	// scope, or has one of them not a string gets 400 invalid_request; other
	// members are ignored. The other styles take only form-encoded bodies:
	// for them a JSON body has no grant_type (400 invalid_request).
	AuthJSONBody
)

// String returns the name of the authentication style.
func (a AuthStyle) String() string {
	switch a {
	case AuthBoth:
		return "AuthBoth"
	case AuthBasicOnly:
		return "AuthBasicOnly"
	case AuthBodyOnly:
		return "AuthBodyOnly"
	case AuthJSONBody:
		return "AuthJSONBody"
	default:
		return fmt.Sprintf("AuthStyle(%d)", int(a))
	}
}

// Stats are the sandbox's counters since NewServer or the last ResetStats.
type Stats struct {
	// TokenRequests counts every request that reached /oauth/token, whatever
	// its outcome (including injected 429, 5xx and intercepted answers).
	TokenRequests int
	// Minted counts access tokens issued.
	Minted int
	// APIRequests counts every request under /v1.1, whatever its outcome
	// (including injected 429, 5xx and intercepted answers).
	APIRequests int
	// APIRejected counts API requests answered 401 by the API itself
	// because the bearer token was missing, unknown, revoked, expired or not
	// yet active (SetActivationDelay). InterceptProxyAuth's 401 does not
	// count.
	APIRejected int
	// Handshakes counts completed TLS handshakes, full or resumed: one per
	// TLS connection that a client accepted. A handshake the client aborts
	// (for example because it does not trust the sandbox CA) is not counted.
	// A connection is counted when it carries its first request, or when it
	// closes if it never carried one.
	Handshakes int
	// Intercepted counts requests to the token endpoint or the API answered
	// by an InterceptNext rule instead of the sandbox's endpoint. They are
	// also counted in TokenRequests or APIRequests.
	Intercepted int
}

// Server is a running Clickwrap API sandbox. Create it with NewServer and
// stop it with Close.
type Server struct {
	// URL is the base URL of the sandbox, of the form https://127.0.0.1:PORT
	// (https://[::1]:PORT when IPv4 loopback is unavailable), with no
	// trailing slash.
	URL string

	pki     *sandboxPKI
	ts      *httptest.Server
	client  *http.Client
	closing chan struct{} // closed when Close starts; aborts delays
	close   sync.Once

	mu   sync.Mutex
	cond *sync.Cond // signalled when active drops to zero; uses mu
	// closed and active let Close wait for handlers. httptest's Close waits
	// for connections, not handlers, and an HTTP/2 handler runs on its own
	// goroutine, which can outlive its connection: the HTTP/2 serve loop
	// (net/http/h2_bundle.go, http2serverConn.serve) returns when the
	// connection closes without waiting for its runHandler goroutines.
	closed    bool // no new handler may start
	active    int  // handlers running
	clients   map[string]string
	tokens    map[string]tokenInfo
	byClient  map[string][]string // live tokens per client ID
	authStyle AuthStyle
	expiresIn time.Duration
	revokeOld bool
	rateLimit [endpointCount]rateLimitRule
	fail      [endpointCount]failRule
	delay     [endpointCount]time.Duration
	intercept [endpointCount]interceptRule
	stats     Stats
	conns     map[net.Conn]bool // open connections already counted in Handshakes

	// tokenAnswer shapes token-endpoint answers (SetTokenAnswer).
	tokenAnswer TokenAnswer
	// basicRaw compares Basic credentials undecoded (SetBasicDecoding(false)).
	basicRaw bool
	// activationDelay is how long a new token is rejected (SetActivationDelay).
	activationDelay time.Duration
}

// endpointCount sizes the per-endpoint arrays, indexed by Endpoint.
const endpointCount = int(EndpointAny) + 1

type tokenInfo struct {
	clientID string
	expires  time.Time // zero: never expires
	active   time.Time // zero: active at once; else rejected before this
}

// expiredAt reports whether the token has expired at now.
func (i tokenInfo) expiredAt(now time.Time) bool {
	return !i.expires.IsZero() && !now.Before(i.expires)
}

// liveAt reports whether the API accepts the token at now: active and not
// expired.
func (i tokenInfo) liveAt(now time.Time) bool {
	return !i.expiredAt(now) && !now.Before(i.active)
}

type rateLimitRule struct {
	n          int
	retryAfter time.Duration
}

type failRule struct {
	n      int
	status int
}

// NewServer generates a CA and a serving certificate, starts the sandbox on
// a loopback port and returns it. It panics if it cannot start, as
// httptest.NewServer does. The caller must Close the Server.
//
// A new Server has no clients (see AddClient), accepts both client
// authentication styles (form-url-decoding Basic credentials), answers in
// RFC 6749 JSON, mints tokens that are live at once and never expire, keeps
// earlier tokens valid when it mints new ones and intercepts nothing.
func NewServer() *Server {
	pki, err := newSandboxPKI()
	if err != nil {
		panic("clickwraptest: " + err.Error())
	}
	s := &Server{
		pki:      pki,
		closing:  make(chan struct{}),
		clients:  make(map[string]string),
		tokens:   make(map[string]tokenInfo),
		byClient: make(map[string][]string),
		conns:    make(map[net.Conn]bool),
	}
	s.cond = sync.NewCond(&s.mu)

	// NewUnstartedServer listens on 127.0.0.1:0 and falls back to [::1]:0
	// when IPv4 loopback is unavailable (newLocalListener in
	// net/http/httptest/server.go), as the sandbox always has.
	s.ts = httptest.NewUnstartedServer(http.HandlerFunc(s.serveHTTP))
	s.ts.Config.ReadHeaderTimeout = 30 * time.Second
	s.ts.Config.IdleTimeout = 2 * time.Minute
	s.ts.Config.MaxHeaderBytes = 64 << 10
	// httptest wraps this hook with its own connection tracking and calls it
	// after its bookkeeping (wrap in net/http/httptest/server.go).
	s.ts.Config.ConnState = s.connState
	s.ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	// StartTLS clones this config and keeps its certificates (it adds
	// httptest's own only when Certificates is empty) and its NextProtos (it
	// sets "http/1.1" alone only when NextProtos is nil). The list is the one
	// http.Server.ServeTLS advertised: HTTP/2 first, then HTTP/1.1. Serve
	// configures HTTP/2 itself because ts.Config.TLSConfig is nil.
	s.ts.TLS = &tls.Config{
		Certificates: []tls.Certificate{pki.leaf},
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"h2", "http/1.1"},
	}
	s.ts.StartTLS()
	s.URL = s.ts.URL // "https://" + the listener's address

	// The sandbox's own client, not ts.Client(): that one trusts the leaf
	// certificate rather than the CA, and does not attempt HTTP/2.
	s.client = s.newClient()
	return s
}

// Close shuts the sandbox down: it stops accepting connections, closes every
// open connection, aborts pending delays and waits for running handlers to
// return. It also closes the idle connections of the client returned by
// Client. Close may be called more than once.
func (s *Server) Close() {
	s.close.Do(func() {
		close(s.closing)
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()

		// httptest's Close force-closes only idle and new connections and
		// waits for the others, so a handler blocked on a client that stalls
		// mid-body would hold it up (and after 5 seconds httptest reports
		// that on the standard logger). Close every connection first,
		// active ones included, as the sandbox always has.
		_ = s.ts.Config.Close()
		// Closes the listener and waits (wg.Wait) for Serve to return and
		// for every connection to reach StateClosed, our hook included.
		s.ts.Close()

		s.mu.Lock()
		for s.active > 0 {
			s.cond.Wait()
		}
		s.mu.Unlock()

		if t, ok := s.client.Transport.(*http.Transport); ok {
			t.CloseIdleConnections()
		}
	})
}

// TokenURL returns the URL of the token endpoint, URL + "/oauth/token".
func (s *Server) TokenURL() string { return s.URL + "/oauth/token" }

// APIURL returns the base URL of the REST API, URL + "/v1.1".
func (s *Server) APIURL() string { return s.URL + "/v1.1" }

// CACertPEM returns the PEM-encoded certificate of the sandbox's own CA, the
// only certificate a client needs to trust to talk to the sandbox. The
// caller may modify the returned slice.
func (s *Server) CACertPEM() []byte {
	return append([]byte(nil), s.pki.caPEM...)
}

// WriteCAFile writes the PEM-encoded CA certificate (see CACertPEM) to a new
// file in dir and returns its path, for example to hand to another process
// in SSL_CERT_FILE. The file name is unique, so several sandboxes may share
// dir; the caller removes the file (t.TempDir does this automatically).
func (s *Server) WriteCAFile(dir string) (string, error) {
	f, err := os.CreateTemp(dir, "clickwrap-sandbox-ca-*.pem")
	if err != nil {
		return "", fmt.Errorf("clickwraptest: write CA file: %w", err)
	}
	path := f.Name()
	_, err = f.Write(s.pki.caPEM)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		// A CA certificate is public; let a process running as another user
		// (for example in a container) read it.
		err = os.Chmod(path, 0o644)
	}
	if err != nil {
		_ = os.Remove(path)
		return "", fmt.Errorf("clickwraptest: write CA file: %w", err)
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	return path, nil
}

// Client returns an HTTP client for the sandbox. It trusts only the sandbox
// CA and verifies certificates (it never skips verification), keeps
// connections alive and negotiates HTTP/2 when it can. Every call returns
// the same client; Close closes its idle connections.
func (s *Server) Client() *http.Client { return s.client }

func (s *Server) newClient() *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.pki.caPEM)
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                 nil, // the sandbox is on loopback: never use a proxy
			DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSClientConfig:       &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          100,
			MaxIdleConnsPerHost:   100,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ExpectContinueTimeout: time.Second,
		},
	}
}

// AddClient registers an API application with the given client ID and
// secret, or replaces the secret of an existing one. Tokens already minted
// for the client stay valid.
func (s *Server) AddClient(clientID, clientSecret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clients[clientID] = clientSecret
}

// SetAuthStyle sets which client-authentication methods the token endpoint
// accepts. The default is AuthBoth. It panics on an unknown style.
func (s *Server) SetAuthStyle(style AuthStyle) {
	switch style {
	case AuthBoth, AuthBasicOnly, AuthBodyOnly, AuthJSONBody:
	default:
		panic("clickwraptest: SetAuthStyle: unknown " + style.String())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.authStyle = style
}

// SetExpiresIn sets the lifetime of tokens minted from now on. With d > 0 the
// token response carries "expires_in" (d in whole seconds, rounded up) and
// the token is rejected once d has passed. With d <= 0 (the default) the
// response has no "expires_in" and tokens never expire. Tokens minted
// earlier keep the lifetime they were minted with.
func (s *Server) SetExpiresIn(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expiresIn = max(d, 0)
}

// SetRevokeOnMint sets whether minting a token revokes every earlier token
// of the same client ("regenerating a token invalidates the previous one").
// The default is false: earlier tokens stay valid.
func (s *Server) SetRevokeOnMint(revoke bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revokeOld = revoke
}

// RateLimitNext makes the next n requests to e answer 429 Too Many Requests
// with a Retry-After header of retryAfter in whole seconds (rounded up) and
// the documented RateLimitExceededError body. The rule applies before
// authentication, so even requests without credentials are limited. With
// EndpointAny the next n requests to either endpoint are limited; a rule for
// the specific endpoint is used before the EndpointAny one. n <= 0 cancels
// the pending rule for e. It panics on an unknown Endpoint.
func (s *Server) RateLimitNext(e Endpoint, n int, retryAfter time.Duration) {
	checkEndpoint("RateLimitNext", e)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rateLimit[e] = rateLimitRule{n: max(n, 0), retryAfter: max(retryAfter, 0)}
}

// FailNext makes the next n requests to e answer the given 5xx status with a
// JSON error body, before authentication. With EndpointAny the next n
// requests to either endpoint fail; a rule for the specific endpoint is used
// before the EndpointAny one. A pending RateLimitNext rule takes precedence.
// n <= 0 cancels the pending rule for e. It panics on an unknown Endpoint or
// a status outside 500-599.
func (s *Server) FailNext(e Endpoint, n int, status int) {
	checkEndpoint("FailNext", e)
	if status < 500 || status > 599 {
		panic(fmt.Sprintf("clickwraptest: FailNext: status %d is not a 5xx status", status))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail[e] = failRule{n: max(n, 0), status: status}
}

// SetDelay makes every answer on e wait d before it is produced, whatever the
// answer (including injected 429 and 5xx answers). EndpointAny sets the delay
// of both endpoints. If the request's context ends (the client gives up)
// or the Server closes during the delay, the handler returns at once without
// answering. d <= 0 removes the delay.
func (s *Server) SetDelay(e Endpoint, d time.Duration) {
	checkEndpoint("SetDelay", e)
	d = max(d, 0)
	s.mu.Lock()
	defer s.mu.Unlock()
	if e == EndpointAny {
		s.delay[EndpointToken] = d
		s.delay[EndpointAPI] = d
		return
	}
	s.delay[e] = d
}

func checkEndpoint(method string, e Endpoint) {
	switch e {
	case EndpointToken, EndpointAPI, EndpointAny:
	default:
		panic("clickwraptest: " + method + ": unknown " + e.String())
	}
}

// Revoke revokes token: the API rejects it from now on. Revoking an unknown
// or already revoked token does nothing.
func (s *Server) Revoke(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	info, ok := s.tokens[token]
	if !ok {
		return
	}
	delete(s.tokens, token)
	live := s.byClient[info.clientID]
	for i, t := range live {
		if t == token {
			live = append(live[:i], live[i+1:]...)
			break
		}
	}
	if len(live) == 0 {
		delete(s.byClient, info.clientID)
	} else {
		s.byClient[info.clientID] = live
	}
}

// Valid reports whether token was minted by this sandbox and is neither
// revoked nor expired, and already active (see SetActivationDelay): whether
// the API would accept it now.
func (s *Server) Valid(token string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.validLocked(token, time.Now())
}

func (s *Server) validLocked(token string, now time.Time) bool {
	info, ok := s.tokens[token]
	return ok && info.liveAt(now)
}

// Stats returns the counters since NewServer or the last ResetStats.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// ResetStats sets every counter to zero. Connections already counted in
// Handshakes are not counted again.
func (s *Server) ResetStats() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats = Stats{}
}

// connState is the http.Server ConnState hook. It counts each TLS connection
// whose handshake completed, once: when it carries its first request, or
// when it closes without one.
func (s *Server) connState(c net.Conn, state http.ConnState) {
	if state != http.StateActive && state != http.StateIdle &&
		state != http.StateClosed && state != http.StateHijacked {
		return
	}
	tc, ok := c.(*tls.Conn)
	if !ok {
		return
	}
	// The hook runs on the connection's own goroutine after the handshake
	// (or its failure), so ConnectionState does not wait for a handshake.
	complete := tc.ConnectionState().HandshakeComplete
	s.mu.Lock()
	defer s.mu.Unlock()
	if complete && !s.conns[c] {
		s.conns[c] = true
		s.stats.Handshakes++
	}
	if state == http.StateClosed || state == http.StateHijacked {
		delete(s.conns, c)
	}
}
