package clickwraptest_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/clickwrap-rotator/clickwrap-rotator/clickwrap/clickwraptest"
)

// Credentials with characters that RFC 6749 section 2.3.1 form-url-encoding
// changes, to check that Basic credentials are decoded the same way.
const (
	testClientID     = "sandbox client:1"
	testClientSecret = "s3cr+t/with:odd&chars=%20 ü"
)

const (
	unauthorizedBody = `{"error":{"message":"The requester is unauthorized.","status":401,"name":"UnauthorizedError"}}`
	rateLimitedBody  = `{"error":{"message":"Request limit has been reached for the current rate limit period.","status":429,"name":"RateLimitExceededError","code":429}}`
	sitesBody        = `{"count":1,"has_more":false,"page":1,"per_page":10,"total_count":1,"data":[{"id":1,"name":"Sandbox Site"}]}`
)

// newServer starts a sandbox with the test client registered and closes it
// when the test ends.
func newServer(t testing.TB) *clickwraptest.Server {
	t.Helper()
	s := clickwraptest.NewServer()
	t.Cleanup(s.Close)
	s.AddClient(testClientID, testClientSecret)
	return s
}

// oauthConfig returns a client-credentials configuration for the sandbox.
func oauthConfig(s *clickwraptest.Server, id, secret string, style oauth2.AuthStyle) *clientcredentials.Config {
	return &clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: s.TokenURL(), AuthStyle: style}
}

// oauthContext makes golang.org/x/oauth2 use the sandbox's client.
func oauthContext(t testing.TB, s *clickwraptest.Server) context.Context {
	return context.WithValue(t.Context(), oauth2.HTTPClient, s.Client())
}

// mint obtains a token from the sandbox as a real OAuth 2.0 client would.
func mint(t testing.TB, s *clickwraptest.Server) *oauth2.Token {
	t.Helper()
	tok, err := oauthConfig(s, testClientID, testClientSecret, oauth2.AuthStyleAutoDetect).Token(oauthContext(t, s))
	if err != nil {
		t.Fatalf("mint: %v", err)
	}
	return tok
}

type response struct {
	status int
	header http.Header
	body   []byte
	proto  string
	tls    *tls.ConnectionState
}

// do sends a request and reads the whole response.
func do(t testing.TB, c *http.Client, method, rawURL string, header http.Header, body string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, rawURL, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, rawURL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, rawURL, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b, proto: resp.Proto, tls: resp.TLS}
}

// getSites calls GET /v1.1/sites with the given bearer token ("" for none).
func getSites(t testing.TB, s *clickwraptest.Server, token string) response {
	t.Helper()
	h := http.Header{}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	return do(t, s.Client(), http.MethodGet, s.APIURL()+"/sites", h, "")
}

// assertJSON checks that got is the JSON document want (ignoring layout and
// key order).
func assertJSON(t testing.TB, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("response body is not JSON: %v: %q", err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad expectation %q: %v", want, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("body = %s, want %s", got, want)
	}
}

// basic returns an Authorization header value for RFC 6749 Basic client
// authentication (form-url-encoded, then base64).
func basic(id, secret string) string {
	raw := url.QueryEscape(id) + ":" + url.QueryEscape(secret)
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(raw))
}

func TestMintAuthStyles(t *testing.T) {
	t.Parallel()
	clientStyles := []struct {
		name  string
		style oauth2.AuthStyle
	}{
		{"InHeader", oauth2.AuthStyleInHeader},
		{"InParams", oauth2.AuthStyleInParams},
		{"AutoDetect", oauth2.AuthStyleAutoDetect},
	}
	tests := []struct {
		server       clickwraptest.AuthStyle
		client       oauth2.AuthStyle
		wantOK       bool
		wantRequests int
	}{
		{clickwraptest.AuthBoth, oauth2.AuthStyleInHeader, true, 1},
		{clickwraptest.AuthBoth, oauth2.AuthStyleInParams, true, 1},
		{clickwraptest.AuthBoth, oauth2.AuthStyleAutoDetect, true, 1},
		{clickwraptest.AuthBasicOnly, oauth2.AuthStyleInHeader, true, 1},
		{clickwraptest.AuthBasicOnly, oauth2.AuthStyleInParams, false, 1},
		{clickwraptest.AuthBasicOnly, oauth2.AuthStyleAutoDetect, true, 1},
		{clickwraptest.AuthBodyOnly, oauth2.AuthStyleInHeader, false, 1},
		{clickwraptest.AuthBodyOnly, oauth2.AuthStyleInParams, true, 1},
		{clickwraptest.AuthBodyOnly, oauth2.AuthStyleAutoDetect, true, 2}, // Basic first, then body
	}
	for _, tt := range tests {
		clientName := ""
		for _, cs := range clientStyles {
			if cs.style == tt.client {
				clientName = cs.name
			}
		}
		t.Run(tt.server.String()+"/"+clientName, func(t *testing.T) {
			t.Parallel()
			s := newServer(t)
			s.SetAuthStyle(tt.server)
			tok, err := oauthConfig(s, testClientID, testClientSecret, tt.client).Token(oauthContext(t, s))
			st := s.Stats()
			if st.TokenRequests != tt.wantRequests {
				t.Errorf("TokenRequests = %d, want %d", st.TokenRequests, tt.wantRequests)
			}
			if !tt.wantOK {
				var re *oauth2.RetrieveError
				if !errors.As(err, &re) {
					t.Fatalf("Token error = %v, want *oauth2.RetrieveError", err)
				}
				if re.ErrorCode != "invalid_client" || re.Response.StatusCode != http.StatusUnauthorized {
					t.Errorf("got %d %q, want 401 invalid_client", re.Response.StatusCode, re.ErrorCode)
				}
				if st.Minted != 0 {
					t.Errorf("Minted = %d, want 0", st.Minted)
				}
				return
			}
			if err != nil {
				t.Fatalf("Token: %v", err)
			}
			if tok.TokenType != "Bearer" || tok.AccessToken == "" {
				t.Errorf("token type %q, empty token %v", tok.TokenType, tok.AccessToken == "")
			}
			if !tok.Expiry.IsZero() {
				t.Errorf("Expiry = %v, want none (tokens do not expire by default)", tok.Expiry)
			}
			if !s.Valid(tok.AccessToken) {
				t.Error("minted token is not Valid")
			}
			if st.Minted != 1 {
				t.Errorf("Minted = %d, want 1", st.Minted)
			}
		})
	}
}

func TestInvalidClient(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		id, secret string
		style      oauth2.AuthStyle
	}{
		{"wrong secret in header", testClientID, "wrong", oauth2.AuthStyleInHeader},
		{"wrong secret in params", testClientID, "wrong", oauth2.AuthStyleInParams},
		{"wrong secret autodetect", testClientID, "wrong", oauth2.AuthStyleAutoDetect},
		{"unknown client", "nobody", testClientSecret, oauth2.AuthStyleInHeader},
		{"secret of another client", "other", testClientSecret, oauth2.AuthStyleInParams},
		{"empty secret", testClientID, "", oauth2.AuthStyleInParams},
		{"secret not decoded twice", testClientID, url.QueryEscape(testClientSecret), oauth2.AuthStyleInHeader},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t)
			s.AddClient("other", "other-secret")
			_, err := oauthConfig(s, tt.id, tt.secret, tt.style).Token(oauthContext(t, s))
			var re *oauth2.RetrieveError
			if !errors.As(err, &re) {
				t.Fatalf("Token error = %v, want *oauth2.RetrieveError", err)
			}
			if re.ErrorCode != "invalid_client" {
				t.Errorf("ErrorCode = %q, want invalid_client", re.ErrorCode)
			}
			if re.ErrorDescription != "Client authentication failed." {
				t.Errorf("ErrorDescription = %q", re.ErrorDescription)
			}
			if re.Response.StatusCode != http.StatusUnauthorized {
				t.Errorf("status = %d, want 401", re.Response.StatusCode)
			}
			if got := re.Response.Header.Get("WWW-Authenticate"); got != `Basic realm="clickwrap"` {
				t.Errorf("WWW-Authenticate = %q", got)
			}
			if st := s.Stats(); st.Minted != 0 {
				t.Errorf("Minted = %d, want 0", st.Minted)
			}
		})
	}
}

func TestTokenEndpointRequests(t *testing.T) {
	t.Parallel()
	const form = "application/x-www-form-urlencoded"
	goodBody := "grant_type=client_credentials&client_id=" + url.QueryEscape(testClientID) +
		"&client_secret=" + url.QueryEscape(testClientSecret)
	tests := []struct {
		name          string
		style         clickwraptest.AuthStyle
		method        string
		contentType   string
		authorization string
		query         string
		body          string
		wantStatus    int
		wantError     string // "" for success
		wantChallenge bool
	}{
		{name: "basic", method: "POST", contentType: form, authorization: basic(testClientID, testClientSecret),
			body: "grant_type=client_credentials", wantStatus: 200},
		{name: "body", method: "POST", contentType: form, body: goodBody, wantStatus: 200},
		{name: "basic with scope", method: "POST", contentType: form, authorization: basic(testClientID, testClientSecret),
			body: "grant_type=client_credentials&scope=read", wantStatus: 200},
		{name: "basic scheme lower case", method: "POST", contentType: form,
			authorization: "basic " + strings.TrimPrefix(basic(testClientID, testClientSecret), "Basic "),
			body:          "grant_type=client_credentials", wantStatus: 200},
		{name: "GET", method: "GET", authorization: basic(testClientID, testClientSecret),
			wantStatus: 405, wantError: "invalid_request"},
		{name: "missing grant_type", method: "POST", contentType: form, authorization: basic(testClientID, testClientSecret),
			body: "scope=read", wantStatus: 400, wantError: "invalid_request"},
		{name: "empty body", method: "POST", contentType: form, authorization: basic(testClientID, testClientSecret),
			wantStatus: 400, wantError: "invalid_request"},
		{name: "password grant", method: "POST", contentType: form, authorization: basic(testClientID, testClientSecret),
			body: "grant_type=password&username=u&password=p", wantStatus: 400, wantError: "unsupported_grant_type"},
		{name: "refresh grant", method: "POST", contentType: form, body: "grant_type=refresh_token&refresh_token=x",
			wantStatus: 400, wantError: "unsupported_grant_type"},
		{name: "both methods", method: "POST", contentType: form, authorization: basic(testClientID, testClientSecret),
			body: goodBody, wantStatus: 400, wantError: "invalid_request"},
		{name: "both methods, only client_id in body", method: "POST", contentType: form,
			authorization: basic(testClientID, testClientSecret),
			body:          "grant_type=client_credentials&client_id=" + url.QueryEscape(testClientID),
			wantStatus:    400, wantError: "invalid_request"},
		{name: "repeated grant_type", method: "POST", contentType: form, authorization: basic(testClientID, testClientSecret),
			body: "grant_type=client_credentials&grant_type=client_credentials", wantStatus: 400, wantError: "invalid_request"},
		{name: "JSON body", method: "POST", contentType: "application/json", authorization: basic(testClientID, testClientSecret),
			body: `{"grant_type":"client_credentials"}`, wantStatus: 400, wantError: "invalid_request"},
		{name: "no credentials", method: "POST", contentType: form, body: "grant_type=client_credentials",
			wantStatus: 401, wantError: "invalid_client", wantChallenge: true},
		{name: "credentials in query", method: "POST", contentType: form, body: "grant_type=client_credentials",
			query:      "?client_id=" + url.QueryEscape(testClientID) + "&client_secret=" + url.QueryEscape(testClientSecret),
			wantStatus: 401, wantError: "invalid_client", wantChallenge: true},
		{name: "bearer instead of basic", method: "POST", contentType: form, authorization: "Bearer abc",
			body: "grant_type=client_credentials", wantStatus: 401, wantError: "invalid_client", wantChallenge: true},
		{name: "basic not form-encoded", method: "POST", contentType: form,
			authorization: "Basic " + base64.StdEncoding.EncodeToString([]byte(testClientID+":"+testClientSecret)),
			body:          "grant_type=client_credentials", wantStatus: 401, wantError: "invalid_client", wantChallenge: true},
		{name: "body only: basic refused", style: clickwraptest.AuthBodyOnly, method: "POST", contentType: form,
			authorization: basic(testClientID, testClientSecret), body: "grant_type=client_credentials",
			wantStatus: 401, wantError: "invalid_client", wantChallenge: true},
		{name: "body only: no credentials, no challenge", style: clickwraptest.AuthBodyOnly, method: "POST",
			contentType: form, body: "grant_type=client_credentials", wantStatus: 401, wantError: "invalid_client"},
		{name: "body only: body accepted", style: clickwraptest.AuthBodyOnly, method: "POST", contentType: form,
			body: goodBody, wantStatus: 200},
		{name: "basic only: body refused", style: clickwraptest.AuthBasicOnly, method: "POST", contentType: form,
			body: goodBody, wantStatus: 401, wantError: "invalid_client", wantChallenge: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t)
			s.SetAuthStyle(tt.style)
			h := http.Header{}
			if tt.contentType != "" {
				h.Set("Content-Type", tt.contentType)
			}
			if tt.authorization != "" {
				h.Set("Authorization", tt.authorization)
			}
			r := do(t, s.Client(), tt.method, s.TokenURL()+tt.query, h, tt.body)
			if r.status != tt.wantStatus {
				t.Fatalf("status = %d, want %d (body %s)", r.status, tt.wantStatus, r.body)
			}
			if got := r.header.Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type = %q", got)
			}
			if got := r.header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control = %q", got)
			}
			if got := r.header.Get("WWW-Authenticate"); (got != "") != tt.wantChallenge {
				t.Errorf("WWW-Authenticate = %q, want present=%v", got, tt.wantChallenge)
			} else if tt.wantChallenge && got != `Basic realm="clickwrap"` {
				t.Errorf("WWW-Authenticate = %q", got)
			}
			if tt.method != "POST" {
				if got := r.header.Get("Allow"); got != "POST" {
					t.Errorf("Allow = %q, want POST", got)
				}
			}
			if tt.wantError != "" {
				var e struct {
					Error string `json:"error"`
				}
				if err := json.Unmarshal(r.body, &e); err != nil || e.Error != tt.wantError {
					t.Errorf("body %s: error = %q (%v), want %q", r.body, e.Error, err, tt.wantError)
				}
				if st := s.Stats(); st.Minted != 0 {
					t.Errorf("Minted = %d, want 0", st.Minted)
				}
				return
			}
			var fields map[string]any
			if err := json.Unmarshal(r.body, &fields); err != nil {
				t.Fatal(err)
			}
			if len(fields) != 2 || fields["token_type"] != "Bearer" {
				t.Errorf("token response has fields %v, want exactly access_token and token_type=Bearer", keys(fields))
			}
			tok, _ := fields["access_token"].(string)
			raw, err := base64.RawURLEncoding.DecodeString(tok)
			if err != nil || len(raw) < 32 {
				t.Errorf("access_token is not base64url of >= 32 bytes (len %d, err %v)", len(raw), err)
			}
			if !s.Valid(tok) {
				t.Error("token not Valid")
			}
		})
	}
}

func keys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

func TestTokensAreUnique(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	seen := map[string]bool{}
	for range 20 {
		tok := mint(t, s).AccessToken
		if seen[tok] {
			t.Fatal("the sandbox minted the same token twice")
		}
		seen[tok] = true
	}
}

func TestAPI(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	token := mint(t, s).AccessToken
	bearer := http.Header{"Authorization": {"Bearer " + token}}
	tests := []struct {
		name       string
		method     string
		path       string // relative to URL
		header     http.Header
		wantStatus int
		wantBody   string // JSON; "" to skip
		rejected   bool   // counted in APIRejected
	}{
		{"sites", "GET", "/v1.1/sites", bearer, 200, sitesBody, false},
		{"per_page", "GET", "/v1.1/sites?per_page=5", bearer, 200,
			`{"count":1,"has_more":false,"page":1,"per_page":5,"total_count":1,"data":[{"id":1,"name":"Sandbox Site"}]}`, false},
		{"page 2", "GET", "/v1.1/sites?page=2&per_page=1", bearer, 200,
			`{"count":0,"has_more":false,"page":2,"per_page":1,"total_count":1,"data":[]}`, false},
		{"no_count", "GET", "/v1.1/sites?no_count=true", bearer, 200,
			`{"count":1,"has_more":false,"page":1,"per_page":10,"data":[{"id":1,"name":"Sandbox Site"}]}`, false},
		{"lean and ignored parameters", "GET", "/v1.1/sites?lean=true&no_count=false&fields=id,name&sort=name&filter=x&expand=y",
			bearer, 200, sitesBody, false},
		{"per_page zero", "GET", "/v1.1/sites?per_page=0", bearer, 400, "", false},
		{"page not a number", "GET", "/v1.1/sites?page=abc", bearer, 400, "", false},
		{"lean not a bool", "GET", "/v1.1/sites?lean=maybe", bearer, 400, "", false},
		{"HEAD", "HEAD", "/v1.1/sites", bearer, 200, "", false},
		{"site 1", "GET", "/v1.1/sites/1", bearer, 200, `{"data":{"id":1,"name":"Sandbox Site"}}`, false},
		{"site 2", "GET", "/v1.1/sites/2", bearer, 404, "", false},
		{"site abc", "GET", "/v1.1/sites/abc", bearer, 404, "", false},
		{"sites trailing slash", "GET", "/v1.1/sites/", bearer, 404, "", false},
		{"unknown API path", "GET", "/v1.1/contracts", bearer, 404, "", false},
		{"API root", "GET", "/v1.1", bearer, 404, "", false},
		{"outside the API", "GET", "/v2/sites", nil, 404, "", false},
		{"root", "GET", "/", nil, 404, "", false},
		{"POST sites", "POST", "/v1.1/sites", bearer, 405, "", false},
		{"lower-case scheme", "GET", "/v1.1/sites", http.Header{"Authorization": {"bearer " + token}}, 200, sitesBody, false},
		{"no Authorization", "GET", "/v1.1/sites", nil, 401, unauthorizedBody, true},
		{"unknown token", "GET", "/v1.1/sites", http.Header{"Authorization": {"Bearer not-a-token"}}, 401, unauthorizedBody, true},
		{"empty token", "GET", "/v1.1/sites", http.Header{"Authorization": {"Bearer "}}, 401, unauthorizedBody, true},
		{"Basic credentials", "GET", "/v1.1/sites", http.Header{"Authorization": {basic(testClientID, testClientSecret)}}, 401, unauthorizedBody, true},
		{"token in query", "GET", "/v1.1/sites?access_token=" + token, nil, 401, unauthorizedBody, true},
		{"unauthorized before 404", "GET", "/v1.1/contracts", nil, 401, unauthorizedBody, true},
		{"unauthorized before 405", "DELETE", "/v1.1/sites", nil, 401, unauthorizedBody, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Not parallel: APIRejected is checked per request.
			before := s.Stats()
			r := do(t, s.Client(), tt.method, s.URL+tt.path, tt.header, "")
			if r.status != tt.wantStatus {
				t.Fatalf("status = %d, want %d (body %s)", r.status, tt.wantStatus, r.body)
			}
			if tt.method != "HEAD" {
				if got := r.header.Get("Content-Type"); got != "application/json" {
					t.Errorf("Content-Type = %q", got)
				}
				if tt.wantBody != "" {
					assertJSON(t, r.body, tt.wantBody)
				}
			}
			if tt.wantStatus == 401 {
				if got := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, `Bearer realm="clickwrap"`) {
					t.Errorf("WWW-Authenticate = %q", got)
				}
			}
			after := s.Stats()
			wantRejected := before.APIRejected
			if tt.rejected {
				wantRejected++
			}
			if after.APIRejected != wantRejected {
				t.Errorf("APIRejected = %d, want %d", after.APIRejected, wantRejected)
			}
			wantAPI := before.APIRequests
			if strings.HasPrefix(tt.path, "/v1.1") {
				wantAPI++
			}
			if after.APIRequests != wantAPI {
				t.Errorf("APIRequests = %d, want %d", after.APIRequests, wantAPI)
			}
		})
	}
}

func TestAPIWithOAuth2Client(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	ctx := oauthContext(t, s)
	c := oauthConfig(s, testClientID, testClientSecret, oauth2.AuthStyleAutoDetect).Client(ctx)
	resp, err := c.Get(s.APIURL() + "/sites")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status = %d", resp.StatusCode)
	}
	assertJSON(t, body, sitesBody)
}

func TestRevoke(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	tok := mint(t, s).AccessToken
	if r := getSites(t, s, tok); r.status != 200 {
		t.Fatalf("status = %d before Revoke", r.status)
	}
	s.Revoke(tok)
	s.Revoke(tok)            // twice is fine
	s.Revoke("never-minted") // unknown is fine
	if s.Valid(tok) {
		t.Error("revoked token is Valid")
	}
	if r := getSites(t, s, tok); r.status != 401 {
		t.Errorf("status = %d after Revoke, want 401", r.status)
	} else {
		assertJSON(t, r.body, unauthorizedBody)
	}
	if s.Valid("") || s.Valid("never-minted") {
		t.Error("Valid of an unknown token")
	}
}

func TestExpiry(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		expiresIn     time.Duration
		wantExpiresIn float64 // 0: no expires_in field
		waitExpiry    bool
	}{
		{"never", 0, 0, false},
		{"negative means never", -time.Second, 0, false},
		{"whole seconds", 90 * time.Second, 90, false},
		{"rounded up", 1500 * time.Millisecond, 2, false},
		{"short, expires", 800 * time.Millisecond, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t)
			s.SetExpiresIn(tt.expiresIn)

			h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Authorization": {basic(testClientID, testClientSecret)}}
			r := do(t, s.Client(), "POST", s.TokenURL(), h, "grant_type=client_credentials")
			var fields map[string]any
			if err := json.Unmarshal(r.body, &fields); err != nil || r.status != 200 {
				t.Fatalf("status %d, body %s, err %v", r.status, r.body, err)
			}
			got, present := fields["expires_in"]
			if tt.wantExpiresIn == 0 && present {
				t.Errorf("expires_in = %v, want absent", got)
			}
			if tt.wantExpiresIn != 0 && got != tt.wantExpiresIn {
				t.Errorf("expires_in = %v, want %v", got, tt.wantExpiresIn)
			}

			tok := mint(t, s)
			if (tt.wantExpiresIn == 0) != tok.Expiry.IsZero() {
				t.Errorf("oauth2 Expiry = %v, want zero=%v", tok.Expiry, tt.wantExpiresIn == 0)
			}
			if r := getSites(t, s, tok.AccessToken); r.status != 200 {
				t.Fatalf("fresh token: status = %d", r.status)
			}
			if !tt.waitExpiry {
				return
			}
			deadline := time.Now().Add(5 * time.Second)
			for s.Valid(tok.AccessToken) {
				if time.Now().After(deadline) {
					t.Fatal("token still Valid 5s after it should have expired")
				}
				time.Sleep(20 * time.Millisecond)
			}
			if r := getSites(t, s, tok.AccessToken); r.status != 401 {
				t.Errorf("expired token: status = %d, want 401", r.status)
			}
			// A new token works again.
			if r := getSites(t, s, mint(t, s).AccessToken); r.status != 200 {
				t.Errorf("new token: status = %d", r.status)
			}
		})
	}
}

func TestRevokeOnMint(t *testing.T) {
	t.Parallel()
	for _, revoke := range []bool{false, true} {
		t.Run(fmt.Sprint("revoke=", revoke), func(t *testing.T) {
			t.Parallel()
			s := newServer(t)
			s.AddClient("other", "other-secret")
			s.SetRevokeOnMint(revoke)
			other, err := oauthConfig(s, "other", "other-secret", oauth2.AuthStyleInHeader).Token(oauthContext(t, s))
			if err != nil {
				t.Fatal(err)
			}
			first := mint(t, s).AccessToken
			second := mint(t, s).AccessToken
			third := mint(t, s).AccessToken

			for _, c := range []struct {
				name  string
				token string
				want  bool
			}{
				{"first", first, !revoke},
				{"second", second, !revoke},
				{"third (newest)", third, true},
				{"other client's", other.AccessToken, true},
			} {
				if got := s.Valid(c.token); got != c.want {
					t.Errorf("%s token: Valid = %v, want %v", c.name, got, c.want)
				}
				wantStatus := 401
				if c.want {
					wantStatus = 200
				}
				if r := getSites(t, s, c.token); r.status != wantStatus {
					t.Errorf("%s token: status = %d, want %d", c.name, r.status, wantStatus)
				}
			}
		})
	}
}

func TestRateLimitNext(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		endpoint       clickwraptest.Endpoint
		n              int
		retryAfter     time.Duration
		wantRetryAfter string
		// sequence of requests ("token" or "api") and whether each is limited
		requests []string
		limited  []bool
	}{
		{"token", clickwraptest.EndpointToken, 2, 1500 * time.Millisecond, "2",
			[]string{"api", "token", "token", "token"}, []bool{false, true, true, false}},
		{"api", clickwraptest.EndpointAPI, 1, 30 * time.Second, "30",
			[]string{"token", "api", "api"}, []bool{false, true, false}},
		{"any", clickwraptest.EndpointAny, 2, time.Millisecond, "1",
			[]string{"token", "api", "api", "token"}, []bool{true, true, false, false}},
		{"zero", clickwraptest.EndpointAPI, 1, 0, "0",
			[]string{"api", "api"}, []bool{true, false}},
		{"cancelled", clickwraptest.EndpointAPI, 0, time.Second, "",
			[]string{"api"}, []bool{false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t)
			if tt.n == 0 {
				s.RateLimitNext(tt.endpoint, 3, tt.retryAfter)
			}
			s.RateLimitNext(tt.endpoint, tt.n, tt.retryAfter)
			for i, kind := range tt.requests {
				// No credentials at all: the limiter runs before
				// authentication, so a limited request is 429, not 401.
				var r response
				if kind == "token" {
					r = do(t, s.Client(), "POST", s.TokenURL(),
						http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, "grant_type=client_credentials")
				} else {
					r = getSites(t, s, "")
				}
				if !tt.limited[i] {
					if r.status != 401 {
						t.Errorf("request %d (%s): status = %d, want 401", i, kind, r.status)
					}
					continue
				}
				if r.status != http.StatusTooManyRequests {
					t.Fatalf("request %d (%s): status = %d, want 429", i, kind, r.status)
				}
				if got := r.header.Get("Retry-After"); got != tt.wantRetryAfter {
					t.Errorf("request %d: Retry-After = %q, want %q", i, got, tt.wantRetryAfter)
				}
				if got := r.header.Get("Content-Type"); got != "application/json" {
					t.Errorf("Content-Type = %q", got)
				}
				assertJSON(t, r.body, rateLimitedBody)
			}
			st := s.Stats()
			if st.APIRejected != countRejected(tt.requests, tt.limited) {
				t.Errorf("APIRejected = %d, want %d (429 is not a rejection)", st.APIRejected, countRejected(tt.requests, tt.limited))
			}
		})
	}
}

func countRejected(requests []string, limited []bool) int {
	n := 0
	for i, kind := range requests {
		if kind == "api" && !limited[i] {
			n++
		}
	}
	return n
}

func TestRateLimitWithOAuth2(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	s.RateLimitNext(clickwraptest.EndpointToken, 1, 5*time.Second)
	_, err := oauthConfig(s, testClientID, testClientSecret, oauth2.AuthStyleInHeader).Token(oauthContext(t, s))
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.Response.StatusCode != 429 {
		t.Fatalf("err = %v, want a RetrieveError with status 429", err)
	}
	if got := re.Response.Header.Get("Retry-After"); got != "5" {
		t.Errorf("Retry-After = %q", got)
	}
	if _, err := oauthConfig(s, testClientID, testClientSecret, oauth2.AuthStyleInHeader).Token(oauthContext(t, s)); err != nil {
		t.Errorf("second attempt: %v", err)
	}
}

func TestFailNext(t *testing.T) {
	t.Parallel()
	tests := []struct {
		endpoint clickwraptest.Endpoint
		n        int
		status   int
		wantName string
	}{
		{clickwraptest.EndpointToken, 1, 500, "InternalServerError"},
		{clickwraptest.EndpointAPI, 2, 503, "ServiceUnavailableError"},
		{clickwraptest.EndpointAny, 2, 502, "BadGatewayError"},
		{clickwraptest.EndpointAPI, 1, 504, "GatewayTimeoutError"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.endpoint, "/", tt.status), func(t *testing.T) {
			t.Parallel()
			s := newServer(t)
			tok := mint(t, s).AccessToken
			s.FailNext(tt.endpoint, tt.n, tt.status)
			for i := range tt.n + 1 {
				fails := i < tt.n
				var r response
				if tt.endpoint == clickwraptest.EndpointToken || (tt.endpoint == clickwraptest.EndpointAny && i == 0) {
					h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Authorization": {basic(testClientID, testClientSecret)}}
					r = do(t, s.Client(), "POST", s.TokenURL(), h, "grant_type=client_credentials")
				} else {
					r = getSites(t, s, tok)
				}
				if !fails {
					if r.status != 200 {
						t.Errorf("request %d: status = %d, want 200", i, r.status)
					}
					continue
				}
				if r.status != tt.status {
					t.Fatalf("request %d: status = %d, want %d", i, r.status, tt.status)
				}
				var body struct {
					Error struct {
						Status int    `json:"status"`
						Name   string `json:"name"`
					} `json:"error"`
				}
				if err := json.Unmarshal(r.body, &body); err != nil || body.Error.Status != tt.status || body.Error.Name != tt.wantName {
					t.Errorf("body %s, want status %d name %s", r.body, tt.status, tt.wantName)
				}
			}
		})
	}
}

func TestFaultPrecedence(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	s.FailNext(clickwraptest.EndpointAPI, 1, 500)
	s.RateLimitNext(clickwraptest.EndpointAPI, 1, time.Second)
	for i, want := range []int{429, 500, 401} {
		if r := getSites(t, s, ""); r.status != want {
			t.Errorf("request %d: status = %d, want %d", i, r.status, want)
		}
	}
}

func TestSwitchesPanicOnBadArguments(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	tests := []struct {
		name string
		f    func()
	}{
		{"FailNext 404", func() { s.FailNext(clickwraptest.EndpointAPI, 1, 404) }},
		{"FailNext 600", func() { s.FailNext(clickwraptest.EndpointAPI, 1, 600) }},
		{"FailNext zero Endpoint", func() { s.FailNext(0, 1, 500) }},
		{"RateLimitNext bad Endpoint", func() { s.RateLimitNext(42, 1, time.Second) }},
		{"SetDelay bad Endpoint", func() { s.SetDelay(-1, time.Second) }},
		{"SetAuthStyle bad style", func() { s.SetAuthStyle(7) }},
		{"SetAuthStyle past AuthJSONBody", func() { s.SetAuthStyle(clickwraptest.AuthJSONBody + 1) }},
		{"InterceptNext zero Endpoint", func() { s.InterceptNext(0, 1, clickwraptest.InterceptChallenge) }},
		{"InterceptNext bad Endpoint", func() { s.InterceptNext(9, 1, clickwraptest.InterceptChallenge) }},
		{"InterceptNext zero Intercept", func() { s.InterceptNext(clickwraptest.EndpointAPI, 1, 0) }},
		{"InterceptNext bad Intercept", func() { s.InterceptNext(clickwraptest.EndpointAPI, 1, 42) }},
		{"InterceptNext cancel with bad Intercept", func() { s.InterceptNext(clickwraptest.EndpointAPI, 0, 42) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			tt.f()
		})
	}
}

func TestSetDelay(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		endpoint   clickwraptest.Endpoint
		delayToken bool
		delayAPI   bool
	}{
		{"token", clickwraptest.EndpointToken, true, false},
		{"api", clickwraptest.EndpointAPI, false, true},
		{"any", clickwraptest.EndpointAny, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t)
			tok := mint(t, s).AccessToken
			s.SetDelay(tt.endpoint, time.Minute)

			call := func(ctx context.Context, kind string) (int, error) {
				var req *http.Request
				if kind == "token" {
					req, _ = http.NewRequestWithContext(ctx, "POST", s.TokenURL(), strings.NewReader("grant_type=client_credentials"))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					req.Header.Set("Authorization", basic(testClientID, testClientSecret))
				} else {
					req, _ = http.NewRequestWithContext(ctx, "GET", s.APIURL()+"/sites", nil)
					req.Header.Set("Authorization", "Bearer "+tok)
				}
				resp, err := s.Client().Do(req)
				if err != nil {
					return 0, err
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				return resp.StatusCode, nil
			}

			for _, kind := range []string{"token", "api"} {
				delayed := (kind == "token" && tt.delayToken) || (kind == "api" && tt.delayAPI)
				ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
				start := time.Now()
				status, err := call(ctx, kind)
				cancel()
				elapsed := time.Since(start)
				if delayed {
					if !errors.Is(err, context.DeadlineExceeded) {
						t.Errorf("%s: err = %v (status %d), want context.DeadlineExceeded", kind, err, status)
					}
					if elapsed > 10*time.Second {
						t.Errorf("%s: took %v", kind, elapsed)
					}
				} else if err != nil || status != 200 {
					t.Errorf("%s: status %d, err %v; want an undelayed 200", kind, status, err)
				}
			}

			// A short delay delays but answers.
			s.SetDelay(tt.endpoint, 150*time.Millisecond)
			kind := "api"
			if !tt.delayAPI {
				kind = "token"
			}
			start := time.Now()
			if status, err := call(t.Context(), kind); err != nil || status != 200 {
				t.Errorf("short delay: status %d, err %v", status, err)
			}
			if elapsed := time.Since(start); elapsed < 150*time.Millisecond {
				t.Errorf("short delay: answered after %v, want >= 150ms", elapsed)
			}

			// No delay.
			s.SetDelay(clickwraptest.EndpointAny, 0)
			start = time.Now()
			if status, err := call(t.Context(), kind); err != nil || status != 200 {
				t.Errorf("no delay: status %d, err %v", status, err)
			}
			if elapsed := time.Since(start); elapsed > 5*time.Second {
				t.Errorf("no delay: took %v", elapsed)
			}
		})
	}
}

func TestUntrustedClientFails(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	other := clickwraptest.NewServer()
	defer other.Close()
	otherPool := x509.NewCertPool()
	otherPool.AppendCertsFromPEM(other.CACertPEM())

	tests := []struct {
		name  string
		roots *x509.CertPool // nil: the system roots
	}{
		{"system roots", nil},
		{"empty pool", x509.NewCertPool()},
		{"another sandbox's CA", otherPool},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &http.Client{Transport: &http.Transport{
				TLSClientConfig: &tls.Config{RootCAs: tt.roots},
			}}
			defer c.CloseIdleConnections()
			req, _ := http.NewRequestWithContext(t.Context(), "GET", s.APIURL()+"/sites", nil)
			resp, err := c.Do(req)
			if err == nil {
				resp.Body.Close()
				t.Fatal("a client that does not trust the sandbox CA connected")
			}
			var verr *tls.CertificateVerificationError
			if !errors.As(err, &verr) {
				t.Fatalf("err = %v, want a *tls.CertificateVerificationError", err)
			}
			var uerr x509.UnknownAuthorityError
			if !errors.As(err, &uerr) {
				t.Errorf("err = %v, want an x509.UnknownAuthorityError", err)
			}
		})
	}
	if st := s.Stats(); st.Handshakes != 0 || st.APIRequests != 0 {
		t.Errorf("Stats = %+v, want no handshakes or requests from untrusting clients", st)
	}
}

// trustingClient returns a new client that trusts the sandbox CA.
func trustingClient(t testing.TB, s *clickwraptest.Server, h2 bool, sessions tls.ClientSessionCache) *http.Client {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(s.CACertPEM()) {
		t.Fatal("CACertPEM holds no certificate")
	}
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: pool, ClientSessionCache: sessions},
		ForceAttemptHTTP2: h2,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func TestHandshakes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		client    func(testing.TB, *clickwraptest.Server) *http.Client
		wantProto string
	}{
		{"HTTP/1.1 keep-alive", func(t testing.TB, s *clickwraptest.Server) *http.Client { return trustingClient(t, s, false, nil) }, "HTTP/1.1"},
		{"HTTP/2", func(t testing.TB, s *clickwraptest.Server) *http.Client { return trustingClient(t, s, true, nil) }, "HTTP/2.0"},
		{"Server.Client", func(_ testing.TB, s *clickwraptest.Server) *http.Client { return s.Client() }, "HTTP/2.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t)
			c := tt.client(t, s)
			token := ""
			for i := range 5 {
				h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Authorization": {basic(testClientID, testClientSecret)}}
				if i == 0 {
					r := do(t, c, "POST", s.TokenURL(), h, "grant_type=client_credentials")
					var tr struct {
						AccessToken string `json:"access_token"`
					}
					if err := json.Unmarshal(r.body, &tr); err != nil || r.status != 200 {
						t.Fatalf("mint: %d %v", r.status, err)
					}
					token = tr.AccessToken
					continue
				}
				r := do(t, c, "GET", s.APIURL()+"/sites", http.Header{"Authorization": {"Bearer " + token}}, "")
				if r.status != 200 {
					t.Fatalf("status = %d", r.status)
				}
				if r.proto != tt.wantProto {
					t.Errorf("Proto = %q, want %q", r.proto, tt.wantProto)
				}
			}
			if st := s.Stats(); st.Handshakes != 1 {
				t.Errorf("Handshakes = %d after 5 requests on one keep-alive client, want 1", st.Handshakes)
			}
			// A second client needs its own connection.
			if r := do(t, trustingClient(t, s, false, nil), "GET", s.APIURL()+"/sites", nil, ""); r.status != 401 {
				t.Errorf("second client: status = %d", r.status)
			}
			if st := s.Stats(); st.Handshakes != 2 {
				t.Errorf("Handshakes = %d after a second client, want 2", st.Handshakes)
			}
		})
	}
}

func TestHandshakesCountResumption(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	c := trustingClient(t, s, false, tls.NewLRUClientSessionCache(8))
	var resumed bool
	for i := range 3 {
		r := do(t, c, "GET", s.APIURL()+"/sites", nil, "")
		if r.tls == nil {
			t.Fatal("no TLS state")
		}
		resumed = resumed || r.tls.DidResume
		c.CloseIdleConnections()
		if st := s.Stats(); st.Handshakes != i+1 {
			t.Errorf("after request %d on a new connection: Handshakes = %d, want %d", i, st.Handshakes, i+1)
		}
	}
	if !resumed {
		t.Error("no connection resumed a TLS session")
	}
}

func TestCertificates(t *testing.T) {
	t.Parallel()
	s := newServer(t)

	block, rest := pem.Decode(s.CACertPEM())
	if block == nil || block.Type != "CERTIFICATE" || len(strings.TrimSpace(string(rest))) != 0 {
		t.Fatalf("CACertPEM is not exactly one PEM certificate")
	}
	ca, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if !ca.IsCA || !ca.BasicConstraintsValid || ca.KeyUsage&x509.KeyUsageCertSign == 0 {
		t.Errorf("CA: IsCA %v, BasicConstraintsValid %v, KeyUsage %v", ca.IsCA, ca.BasicConstraintsValid, ca.KeyUsage)
	}
	if k, ok := ca.PublicKey.(*ecdsa.PublicKey); !ok || k.Curve != elliptic.P256() {
		t.Errorf("CA key is %T, want ECDSA P-256", ca.PublicKey)
	}

	// CACertPEM returns a copy.
	p := s.CACertPEM()
	p[0] = 'X'
	if s.CACertPEM()[0] != '-' {
		t.Error("CACertPEM returns the server's own slice")
	}

	r := do(t, s.Client(), "GET", s.URL+"/", nil, "")
	if len(r.tls.PeerCertificates) != 1 {
		t.Errorf("server sent %d certificates, want only the leaf", len(r.tls.PeerCertificates))
	}
	leaf := r.tls.PeerCertificates[0]
	if leaf.IsCA {
		t.Error("leaf is a CA")
	}
	if err := leaf.CheckSignatureFrom(ca); err != nil {
		t.Errorf("leaf not signed by the CA: %v", err)
	}
	if k, ok := leaf.PublicKey.(*ecdsa.PublicKey); !ok || k.Curve != elliptic.P256() {
		t.Errorf("leaf key is %T, want ECDSA P-256", leaf.PublicKey)
	}
	for _, host := range []string{"127.0.0.1", "::1", "localhost"} {
		if err := leaf.VerifyHostname(host); err != nil {
			t.Errorf("leaf does not cover %s: %v", host, err)
		}
	}
	if !strings.HasPrefix(s.URL, "https://") || strings.HasSuffix(s.URL, "/") {
		t.Errorf("URL = %q", s.URL)
	}
	if s.TokenURL() != s.URL+"/oauth/token" || s.APIURL() != s.URL+"/v1.1" {
		t.Errorf("TokenURL %q, APIURL %q", s.TokenURL(), s.APIURL())
	}

	// The certificate also verifies when the sandbox is addressed as localhost.
	u, _ := url.Parse(s.URL)
	if u.Hostname() == "127.0.0.1" {
		if r := do(t, s.Client(), "GET", "https://"+net.JoinHostPort("localhost", u.Port())+"/v1.1/sites", nil, ""); r.status != 401 {
			t.Errorf("via localhost: status = %d", r.status)
		}
	}
}

func TestWriteCAFile(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	dir := t.TempDir()
	p1, err := s.WriteCAFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := s.WriteCAFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	if p1 == p2 {
		t.Error("two WriteCAFile calls returned the same path")
	}
	got, err := os.ReadFile(p1)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(s.CACertPEM()) {
		t.Error("file content differs from CACertPEM")
	}
	if _, err := s.WriteCAFile(dir + "/does/not/exist"); err == nil {
		t.Error("WriteCAFile into a missing directory succeeded")
	}
}

// TestSSLCertFile checks that a separate process trusts the sandbox through
// SSL_CERT_FILE, as the end-to-end test does. It re-runs this test binary as
// the child (see TestSSLCertFileChild).
func TestSSLCertFile(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	other := clickwraptest.NewServer()
	defer other.Close()
	dir := t.TempDir()
	goodCA, err := s.WriteCAFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	wrongCA, err := other.WriteCAFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	emptyDir := t.TempDir()

	tests := []struct {
		name   string
		caFile string
		want   string
	}{
		{"sandbox CA", goodCA, "CHILD_STATUS=401"},
		{"another CA", wrongCA, "CHILD_ERROR=certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestSSLCertFileChild$", "-test.v")
			cmd.Env = append(os.Environ(),
				"CLICKWRAPTEST_CHILD_URL="+s.APIURL()+"/sites",
				"SSL_CERT_FILE="+tt.caFile,
				"SSL_CERT_DIR="+emptyDir,
			)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("child: %v\n%s", err, out)
			}
			if !strings.Contains(string(out), tt.want) {
				t.Errorf("child output lacks %q:\n%s", tt.want, out)
			}
		})
	}
}

// TestSSLCertFileChild is the child process of TestSSLCertFile: it uses the
// default HTTP client, which trusts only what SSL_CERT_FILE names.
func TestSSLCertFileChild(t *testing.T) {
	target := os.Getenv("CLICKWRAPTEST_CHILD_URL")
	if target == "" {
		t.Skip("only run as the child process of TestSSLCertFile")
	}
	resp, err := http.Get(target)
	if err != nil {
		var verr *tls.CertificateVerificationError
		if errors.As(err, &verr) {
			fmt.Println("CHILD_ERROR=certificate")
		} else {
			fmt.Println("CHILD_ERROR=other:", err)
		}
		return
	}
	resp.Body.Close()
	fmt.Printf("CHILD_STATUS=%d\n", resp.StatusCode)
}

func TestStats(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	s.SetAuthStyle(clickwraptest.AuthBodyOnly)

	// AutoDetect: one refused Basic attempt, then one body attempt.
	tok := mint(t, s).AccessToken
	for range 3 {
		if r := getSites(t, s, tok); r.status != 200 {
			t.Fatalf("status = %d", r.status)
		}
	}
	getSites(t, s, "")
	getSites(t, s, "bogus")
	do(t, s.Client(), "GET", s.URL+"/elsewhere", nil, "") // counted nowhere

	want := clickwraptest.Stats{TokenRequests: 2, Minted: 1, APIRequests: 5, APIRejected: 2, Handshakes: 1}
	if got := s.Stats(); got != want {
		t.Errorf("Stats = %+v, want %+v", got, want)
	}

	s.ResetStats()
	if got := s.Stats(); got != (clickwraptest.Stats{}) {
		t.Errorf("after ResetStats: %+v", got)
	}
	getSites(t, s, tok)
	want = clickwraptest.Stats{APIRequests: 1}
	if got := s.Stats(); got != want {
		t.Errorf("after ResetStats and one request on the same connection: %+v, want %+v", got, want)
	}
}

func TestClose(t *testing.T) {
	t.Parallel()
	s := clickwraptest.NewServer()
	s.AddClient(testClientID, testClientSecret)
	tok := mint(t, s).AccessToken
	c := trustingClient(t, s, false, nil)
	if r := getSites(t, s, tok); r.status != 200 {
		t.Fatalf("status = %d", r.status)
	}
	s.Close()
	s.Close() // idempotent
	req, _ := http.NewRequestWithContext(t.Context(), "GET", s.APIURL()+"/sites", nil)
	if resp, err := c.Do(req); err == nil {
		resp.Body.Close()
		t.Error("request after Close succeeded")
	}
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	const workers = 16
	const reads = 10
	var wg sync.WaitGroup
	errs := make(chan error, workers*(reads+2))
	for w := range workers {
		id, secret := fmt.Sprintf("client-%d", w), fmt.Sprintf("secret-%d", w)
		s.AddClient(id, secret)
		wg.Go(func() {
			style := []oauth2.AuthStyle{oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams, oauth2.AuthStyleAutoDetect}[w%3]
			tok, err := oauthConfig(s, id, secret, style).Token(oauthContext(t, s))
			if err != nil {
				errs <- err
				return
			}
			for range reads {
				req, _ := http.NewRequestWithContext(t.Context(), "GET", s.APIURL()+"/sites", nil)
				req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
				resp, err := s.Client().Do(req)
				if err != nil {
					errs <- err
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					errs <- fmt.Errorf("status %d", resp.StatusCode)
				}
				_ = s.Stats()
				s.SetDelay(clickwraptest.EndpointAny, 0)
			}
			s.Revoke(tok.AccessToken)
			if s.Valid(tok.AccessToken) {
				errs <- errors.New("revoked token still valid")
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	st := s.Stats()
	if st.Minted != workers || st.APIRequests != workers*reads || st.APIRejected != 0 {
		t.Errorf("Stats = %+v", st)
	}
}

func BenchmarkMintAndRead(b *testing.B) {
	s := newServer(b)
	ctx := oauthContext(b, s)
	cfg := oauthConfig(s, testClientID, testClientSecret, oauth2.AuthStyleInHeader)
	for b.Loop() {
		tok, err := cfg.Token(ctx)
		if err != nil {
			b.Fatal(err)
		}
		req, _ := http.NewRequestWithContext(ctx, "GET", s.APIURL()+"/sites", nil)
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		resp, err := s.Client().Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}
