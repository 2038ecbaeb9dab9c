package clickwraptest_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clickwrap-rotator/clickwrap-rotator/clickwrap/clickwraptest"
)

const (
	formType = "application/x-www-form-urlencoded"
	bom      = "\xEF\xBB\xBF"
)

// postToken sends a token request with the given Content-Type and
// Authorization ("" for none).
func postToken(t testing.TB, s *clickwraptest.Server, contentType, authorization, body string) response {
	t.Helper()
	h := http.Header{}
	if contentType != "" {
		h.Set("Content-Type", contentType)
	}
	if authorization != "" {
		h.Set("Authorization", authorization)
	}
	return do(t, s.Client(), http.MethodPost, s.TokenURL(), h, body)
}

// basicGrant is a form token request authenticated with RFC 6749 Basic
// credentials of the test client.
func basicGrant(t testing.TB, s *clickwraptest.Server) response {
	t.Helper()
	return postToken(t, s, formType, basic(testClientID, testClientSecret), "grant_type=client_credentials")
}

// summary describes a response without its body, which may hold a token.
func summary(r response) string {
	return fmt.Sprintf("%d, Content-Type %q, %d-byte body", r.status, r.header.Get("Content-Type"), len(r.body))
}

// errorCode returns the "error" member of an RFC 6749 error body, JSON or
// form-encoded, after an optional byte-order mark.
func errorCode(t testing.TB, body []byte, form bool) string {
	t.Helper()
	body = bytes.TrimPrefix(body, []byte(bom))
	if form {
		v, err := url.ParseQuery(string(body))
		if err != nil {
			t.Fatalf("error body is not form-encoded: %v", err)
		}
		return v.Get("error")
	}
	var e struct {
		Error            string `json:"error"`
		ErrorDescription string `json:"error_description"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body is not JSON: %v: %q", err, body)
	}
	if e.ErrorDescription == "" {
		t.Errorf("error body %q has no error_description", body)
	}
	return e.Error
}

// isMintedToken reports whether tok looks like a sandbox token: base64url of
// 32 bytes.
func isMintedToken(tok string) bool {
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	return err == nil && len(raw) == 32
}

func TestTokenAnswer(t *testing.T) {
	t.Parallel()
	addNewline := func(tok string) string { return tok + "\n" }
	addDot := func(tok string) string { return tok + "." }
	tests := []struct {
		name            string
		answer          clickwraptest.TokenAnswer
		expiresIn       time.Duration
		wantContentType string
		wantForm        bool
		wantBOM         bool
		wantExpiresIn   string // raw JSON text (JSON answer) or value (form answer); "" for absent
		wantTokenType   string
		wantSuffix      string // what the rewrite appends to the minted token
	}{
		{name: "default", wantContentType: "application/json", wantTokenType: "Bearer"},
		{name: "default with SetExpiresIn", expiresIn: 90 * time.Second,
			wantContentType: "application/json", wantExpiresIn: "90", wantTokenType: "Bearer"},
		{name: "form", answer: clickwraptest.TokenAnswer{Form: true},
			wantContentType: formType, wantForm: true, wantTokenType: "Bearer"},
		{name: "form with SetExpiresIn and newline token", expiresIn: time.Hour,
			answer:          clickwraptest.TokenAnswer{Form: true, AccessToken: addNewline},
			wantContentType: formType, wantForm: true, wantExpiresIn: "3600", wantTokenType: "Bearer", wantSuffix: "\n"},
		{name: "form labelled text/plain", answer: clickwraptest.TokenAnswer{Form: true, ContentType: "text/plain; charset=utf-8", ExpiresIn: "3600.0"},
			wantContentType: "text/plain; charset=utf-8", wantForm: true, wantExpiresIn: "3600.0", wantTokenType: "Bearer"},
		{name: "JSON labelled text/plain", answer: clickwraptest.TokenAnswer{ContentType: "text/plain; charset=utf-8"},
			wantContentType: "text/plain; charset=utf-8", wantTokenType: "Bearer"},
		{name: "BOM", answer: clickwraptest.TokenAnswer{BOM: true},
			wantContentType: "application/json", wantBOM: true, wantTokenType: "Bearer"},
		{name: "BOM on form", answer: clickwraptest.TokenAnswer{BOM: true, Form: true},
			wantContentType: formType, wantForm: true, wantBOM: true, wantTokenType: "Bearer"},
		{name: "expires_in float", answer: clickwraptest.TokenAnswer{ExpiresIn: "3600.0"},
			wantContentType: "application/json", wantExpiresIn: "3600.0", wantTokenType: "Bearer"},
		{name: "expires_in string", answer: clickwraptest.TokenAnswer{ExpiresIn: `"3600"`},
			wantContentType: "application/json", wantExpiresIn: `"3600"`, wantTokenType: "Bearer"},
		{name: "expires_in exponent overrides SetExpiresIn", expiresIn: time.Minute,
			answer:          clickwraptest.TokenAnswer{ExpiresIn: "3.6e3"},
			wantContentType: "application/json", wantExpiresIn: "3.6e3", wantTokenType: "Bearer"},
		{name: "token_type lower case", answer: clickwraptest.TokenAnswer{TokenType: "bearer"},
			wantContentType: "application/json", wantTokenType: "bearer"},
		{name: "token_type upper case", answer: clickwraptest.TokenAnswer{TokenType: "BEARER"},
			wantContentType: "application/json", wantTokenType: "BEARER"},
		{name: "JSON newline token", answer: clickwraptest.TokenAnswer{AccessToken: addNewline},
			wantContentType: "application/json", wantTokenType: "Bearer", wantSuffix: "\n"},
		{name: "JSON rewritten token", answer: clickwraptest.TokenAnswer{AccessToken: addDot},
			wantContentType: "application/json", wantTokenType: "Bearer", wantSuffix: "."},
		{name: "everything at once", expiresIn: time.Hour,
			answer: clickwraptest.TokenAnswer{ContentType: "text/html", BOM: true, ExpiresIn: `"3600"`,
				TokenType: "bearer", AccessToken: addDot, ErrorsWith200: true},
			wantContentType: "text/html", wantBOM: true, wantExpiresIn: `"3600"`, wantTokenType: "bearer", wantSuffix: "."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t)
			s.SetExpiresIn(tt.expiresIn)
			s.SetTokenAnswer(tt.answer)

			r := basicGrant(t, s)
			if r.status != http.StatusOK {
				t.Fatalf("token answer: %s, want 200", summary(r))
			}
			if got := r.header.Get("Content-Type"); got != tt.wantContentType {
				t.Errorf("Content-Type = %q, want %q", got, tt.wantContentType)
			}
			if got := r.header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", got)
			}
			body, hadBOM := bytes.CutPrefix(r.body, []byte(bom))
			if hadBOM != tt.wantBOM {
				t.Errorf("body starts with a BOM: %v, want %v", hadBOM, tt.wantBOM)
			}

			var (
				access, tokenType, expiresIn string
				hasExpiresIn                 bool
				nfields                      int
			)
			if tt.wantForm {
				v, err := url.ParseQuery(string(body))
				if err != nil {
					t.Fatalf("form answer does not parse: %v", err)
				}
				for k, vs := range v {
					if len(vs) != 1 {
						t.Errorf("%s appears %d times", k, len(vs))
					}
				}
				access, tokenType = v.Get("access_token"), v.Get("token_type")
				expiresIn, hasExpiresIn = v.Get("expires_in"), v.Has("expires_in")
				nfields = len(v)
				if tt.wantSuffix == "\n" && !bytes.Contains(body, []byte("%0A")) {
					t.Error(`the form answer does not URL-encode "\n" as %0A`)
				}
			} else {
				var fields map[string]json.RawMessage
				if err := json.Unmarshal(body, &fields); err != nil {
					t.Fatalf("JSON answer does not parse: %v", err)
				}
				if err := json.Unmarshal(fields["access_token"], &access); err != nil {
					t.Errorf("access_token is not a JSON string: %v", err)
				}
				if err := json.Unmarshal(fields["token_type"], &tokenType); err != nil {
					t.Errorf("token_type is not a JSON string: %v", err)
				}
				raw, ok := fields["expires_in"]
				expiresIn, hasExpiresIn = string(raw), ok
				nfields = len(fields)
			}
			if tokenType != tt.wantTokenType {
				t.Errorf("token_type = %q, want %q", tokenType, tt.wantTokenType)
			}
			if hasExpiresIn != (tt.wantExpiresIn != "") || expiresIn != tt.wantExpiresIn {
				t.Errorf("expires_in = %q (present %v), want %q", expiresIn, hasExpiresIn, tt.wantExpiresIn)
			}
			wantFields := 2 // access_token, token_type
			if tt.wantExpiresIn != "" {
				wantFields++
			}
			if nfields != wantFields {
				t.Errorf("answer has %d fields, want %d", nfields, wantFields)
			}
			minted, ok := strings.CutSuffix(access, tt.wantSuffix)
			if !ok || !isMintedToken(minted) {
				t.Fatalf("access_token is not a minted token followed by %q", tt.wantSuffix)
			}

			before := s.Stats()
			if r := getSites(t, s, minted); r.status != http.StatusOK {
				t.Errorf("API with the minted token: %s, want 200", summary(r))
			}
			// A token with a line break cannot go into a header at all.
			sendRewritten := tt.wantSuffix != "" && !strings.ContainsAny(tt.wantSuffix, "\r\n")
			if sendRewritten {
				r := getSites(t, s, access)
				if r.status != http.StatusUnauthorized {
					t.Errorf("API with the rewritten token: %s, want 401", summary(r))
				} else {
					assertJSON(t, r.body, unauthorizedBody)
				}
				if s.Valid(access) {
					t.Error("the rewritten token is Valid")
				}
			}
			wantRejected := 0
			if sendRewritten {
				wantRejected = 1
			}
			if got := s.Stats().APIRejected - before.APIRejected; got != wantRejected {
				t.Errorf("APIRejected grew by %d, want %d", got, wantRejected)
			}
		})
	}
}

// TestTokenAnswerDefaultBytes checks that the zero TokenAnswer writes the
// same bytes as before TokenAnswer existed.
func TestTokenAnswerDefaultBytes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		expiresIn time.Duration
		tail      string
	}{
		{"no expiry", 0, `","token_type":"Bearer"}`},
		{"expiry", 1500 * time.Millisecond, `","token_type":"Bearer","expires_in":2}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t)
			s.SetExpiresIn(tt.expiresIn)
			r := basicGrant(t, s)
			if r.status != http.StatusOK {
				t.Fatalf("token answer: %s", summary(r))
			}
			tok, ok := strings.CutPrefix(string(r.body), `{"access_token":"`)
			if ok {
				tok, ok = strings.CutSuffix(tok, tt.tail)
			}
			if !ok || !isMintedToken(tok) {
				t.Errorf(`body is not {"access_token":"<token>%s`, tt.tail)
			}
		})
	}
}

func TestTokenAnswerErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name            string
		answer          clickwraptest.TokenAnswer
		style           clickwraptest.AuthStyle
		method          string
		contentType     string
		authorization   string
		body            string
		wantStatus      int
		wantContentType string
		wantError       string
		wantChallenge   bool
	}{
		{name: "default invalid_client", method: "POST", contentType: formType,
			authorization: basic(testClientID, "wrong"), body: "grant_type=client_credentials",
			wantStatus: 401, wantContentType: "application/json", wantError: "invalid_client", wantChallenge: true},
		{name: "invalid_client with 200", answer: clickwraptest.TokenAnswer{ErrorsWith200: true},
			method: "POST", contentType: formType, authorization: basic(testClientID, "wrong"), body: "grant_type=client_credentials",
			wantStatus: 200, wantContentType: "application/json", wantError: "invalid_client", wantChallenge: true},
		{name: "invalid_request with 200", answer: clickwraptest.TokenAnswer{ErrorsWith200: true},
			method: "POST", contentType: formType, authorization: basic(testClientID, testClientSecret), body: "scope=x",
			wantStatus: 200, wantContentType: "application/json", wantError: "invalid_request"},
		{name: "unsupported_grant_type with 200", answer: clickwraptest.TokenAnswer{ErrorsWith200: true},
			method: "POST", contentType: formType, authorization: basic(testClientID, testClientSecret), body: "grant_type=password",
			wantStatus: 200, wantContentType: "application/json", wantError: "unsupported_grant_type"},
		{name: "GET with 200", answer: clickwraptest.TokenAnswer{ErrorsWith200: true},
			method: "GET", wantStatus: 200, wantContentType: "application/json", wantError: "invalid_request"},
		{name: "415 with 200", answer: clickwraptest.TokenAnswer{ErrorsWith200: true}, style: clickwraptest.AuthJSONBody,
			method: "POST", contentType: formType, authorization: basic(testClientID, testClientSecret), body: "grant_type=client_credentials",
			wantStatus: 200, wantContentType: "application/json", wantError: "invalid_request"},
		{name: "form error with 200", answer: clickwraptest.TokenAnswer{ErrorsWith200: true, Form: true},
			method: "POST", contentType: formType, authorization: basic(testClientID, "wrong"), body: "grant_type=client_credentials",
			wantStatus: 200, wantContentType: formType, wantError: "invalid_client", wantChallenge: true},
		{name: "form error", answer: clickwraptest.TokenAnswer{Form: true},
			method: "POST", contentType: formType, body: "grant_type=client_credentials",
			wantStatus: 401, wantContentType: formType, wantError: "invalid_client", wantChallenge: true},
		{name: "error labelled text/plain with BOM", answer: clickwraptest.TokenAnswer{ContentType: "text/plain", BOM: true},
			method: "POST", contentType: formType, authorization: basic(testClientID, "wrong"), body: "grant_type=client_credentials",
			wantStatus: 401, wantContentType: "text/plain", wantError: "invalid_client", wantChallenge: true},
		{name: "success-only fields leave errors alone",
			answer: clickwraptest.TokenAnswer{TokenType: "bearer", ExpiresIn: "1.5", AccessToken: func(string) string { return "x" }},
			method: "POST", contentType: formType, authorization: basic(testClientID, "wrong"), body: "grant_type=client_credentials",
			wantStatus: 401, wantContentType: "application/json", wantError: "invalid_client", wantChallenge: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t)
			s.SetAuthStyle(tt.style)
			s.SetTokenAnswer(tt.answer)
			h := http.Header{}
			if tt.contentType != "" {
				h.Set("Content-Type", tt.contentType)
			}
			if tt.authorization != "" {
				h.Set("Authorization", tt.authorization)
			}
			r := do(t, s.Client(), tt.method, s.TokenURL(), h, tt.body)
			if r.status != tt.wantStatus {
				t.Fatalf("answer: %s, want status %d", summary(r), tt.wantStatus)
			}
			if got := r.header.Get("Content-Type"); got != tt.wantContentType {
				t.Errorf("Content-Type = %q, want %q", got, tt.wantContentType)
			}
			if got := errorCode(t, r.body, tt.answer.Form); got != tt.wantError {
				t.Errorf("error = %q, want %q", got, tt.wantError)
			}
			if bytes.HasPrefix(r.body, []byte(bom)) != tt.answer.BOM {
				t.Errorf("BOM present = %v, want %v", !tt.answer.BOM, tt.answer.BOM)
			}
			if got := r.header.Get("WWW-Authenticate"); (got == `Basic realm="clickwrap"`) != tt.wantChallenge {
				t.Errorf("WWW-Authenticate = %q, want present=%v", got, tt.wantChallenge)
			}
			if st := s.Stats(); st.Minted != 0 {
				t.Errorf("Minted = %d, want 0", st.Minted)
			}
		})
	}
}

// TestTokenAnswerLeavesInjectedFaultsAlone checks that TokenAnswer does not
// shape the 429 and 5xx answers of RateLimitNext and FailNext.
func TestTokenAnswerLeavesInjectedFaultsAlone(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		inject     func(*clickwraptest.Server)
		wantStatus int
	}{
		{"RateLimitNext", func(s *clickwraptest.Server) { s.RateLimitNext(clickwraptest.EndpointToken, 1, time.Second) }, 429},
		{"FailNext", func(s *clickwraptest.Server) { s.FailNext(clickwraptest.EndpointToken, 1, 503) }, 503},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t)
			s.SetTokenAnswer(clickwraptest.TokenAnswer{Form: true, BOM: true, ContentType: "text/plain", ErrorsWith200: true})
			tt.inject(s)
			r := basicGrant(t, s)
			if r.status != tt.wantStatus {
				t.Fatalf("answer: %s, want %d", summary(r), tt.wantStatus)
			}
			if got := r.header.Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", got)
			}
			var body struct {
				Error struct {
					Status int `json:"status"`
				} `json:"error"`
			}
			if err := json.Unmarshal(r.body, &body); err != nil || body.Error.Status != tt.wantStatus {
				t.Errorf("body %q is not the API's JSON error (%v)", r.body, err)
			}
		})
	}
}

// noRedirects returns a copy of the sandbox client that does not follow
// redirects.
func noRedirects(s *clickwraptest.Server) *http.Client {
	c := *s.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

func TestInterceptNext(t *testing.T) {
	t.Parallel()
	const html = "text/html; charset=utf-8"
	tests := []struct {
		kind            clickwraptest.Intercept
		wantStatus      int
		wantContentType string
		wantHeader      [2]string // name, value; "" name for none
		wantInBody      string
	}{
		{clickwraptest.InterceptLoginRedirect, 302, html, [2]string{"Location", "/login?next=%2Fv1.1%2Fsites"}, "<html"},
		{clickwraptest.InterceptSignInPage, 200, html, [2]string{}, "Sign in"},
		{clickwraptest.InterceptChallenge, 403, html, [2]string{"Cf-Mitigated", "challenge"}, "Just a moment..."},
		{clickwraptest.InterceptBlockPage, 403, "application/json", [2]string{}, "<html"},
		{clickwraptest.InterceptProxyAuth, 401, "text/html", [2]string{"WWW-Authenticate", `Basic realm="proxy"`}, "<html"},
		{clickwraptest.InterceptGatewayJSON, 200, "application/json", [2]string{}, `{"message":"ok"`},
	}
	for _, tt := range tests {
		for _, credentials := range []bool{true, false} {
			t.Run(fmt.Sprintf("%v/credentials=%v", tt.kind, credentials), func(t *testing.T) {
				t.Parallel()
				s := newServer(t)
				token := ""
				if credentials {
					token = mint(t, s).AccessToken
				}
				s.InterceptNext(clickwraptest.EndpointAPI, 1, tt.kind)
				before := s.Stats()

				h := http.Header{}
				if token != "" {
					h.Set("Authorization", "Bearer "+token)
				}
				r := do(t, noRedirects(s), http.MethodGet, s.APIURL()+"/sites", h, "")
				if r.status != tt.wantStatus {
					t.Fatalf("status = %d, want %d", r.status, tt.wantStatus)
				}
				if got := r.header.Get("Content-Type"); got != tt.wantContentType {
					t.Errorf("Content-Type = %q, want %q", got, tt.wantContentType)
				}
				if name := tt.wantHeader[0]; name != "" {
					if got := r.header.Get(name); got != tt.wantHeader[1] {
						t.Errorf("%s = %q, want %q", name, got, tt.wantHeader[1])
					}
				}
				for _, special := range []string{"Cf-Mitigated", "WWW-Authenticate", "Location", "Retry-After"} {
					if special != tt.wantHeader[0] && r.header.Get(special) != "" {
						t.Errorf("unexpected header %s: %q", special, r.header.Get(special))
					}
				}
				if !strings.Contains(string(r.body), tt.wantInBody) {
					t.Errorf("body %q does not contain %q", r.body, tt.wantInBody)
				}
				// A page, or for the gateway a JSON object that is not the
				// API's (no "data").
				if gateway := tt.kind == clickwraptest.InterceptGatewayJSON; json.Valid(r.body) != gateway || strings.Contains(string(r.body), `"data"`) {
					t.Errorf("body %q: want an HTML page, or a gateway's JSON object without data", r.body)
				}

				after := s.Stats()
				if after.APIRejected != before.APIRejected {
					t.Errorf("APIRejected grew by %d: the request reached the API", after.APIRejected-before.APIRejected)
				}
				if after.APIRequests != before.APIRequests+1 || after.Intercepted != before.Intercepted+1 {
					t.Errorf("APIRequests +%d, Intercepted +%d; want +1 each",
						after.APIRequests-before.APIRequests, after.Intercepted-before.Intercepted)
				}

				// The rule is used up: the API answers again.
				want := http.StatusOK
				if !credentials {
					want = http.StatusUnauthorized
				}
				if r := getSites(t, s, token); r.status != want {
					t.Errorf("next request: %s, want %d", summary(r), want)
				}
			})
		}
	}
}

func TestInterceptTokenEndpoint(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		endpoint   clickwraptest.Endpoint
		kind       clickwraptest.Intercept
		wantStatus int
		wantHeader [2]string
	}{
		{"challenge", clickwraptest.EndpointToken, clickwraptest.InterceptChallenge, 403, [2]string{"Cf-Mitigated", "challenge"}},
		{"login redirect", clickwraptest.EndpointToken, clickwraptest.InterceptLoginRedirect, 302, [2]string{"Location", "/login?next=%2Foauth%2Ftoken"}},
		{"sign-in page via EndpointAny", clickwraptest.EndpointAny, clickwraptest.InterceptSignInPage, 200, [2]string{"Content-Type", "text/html; charset=utf-8"}},
		{"block page", clickwraptest.EndpointToken, clickwraptest.InterceptBlockPage, 403, [2]string{"Content-Type", "application/json"}},
		{"proxy auth", clickwraptest.EndpointToken, clickwraptest.InterceptProxyAuth, 401, [2]string{"WWW-Authenticate", `Basic realm="proxy"`}},
		{"gateway JSON", clickwraptest.EndpointToken, clickwraptest.InterceptGatewayJSON, 200, [2]string{"Content-Type", "application/json"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t)
			s.InterceptNext(tt.endpoint, 1, tt.kind)
			h := http.Header{"Content-Type": {formType}, "Authorization": {basic(testClientID, testClientSecret)}}
			r := do(t, noRedirects(s), http.MethodPost, s.TokenURL(), h, "grant_type=client_credentials")
			if r.status != tt.wantStatus {
				t.Fatalf("status = %d, want %d", r.status, tt.wantStatus)
			}
			if got := r.header.Get(tt.wantHeader[0]); got != tt.wantHeader[1] {
				t.Errorf("%s = %q, want %q", tt.wantHeader[0], got, tt.wantHeader[1])
			}
			if got := r.header.Get("Cache-Control"); got != "" {
				t.Errorf("Cache-Control = %q: the token endpoint answered", got)
			}
			st := s.Stats()
			if st.Minted != 0 || st.TokenRequests != 1 || st.Intercepted != 1 {
				t.Errorf("Stats = %+v, want 1 token request, 1 intercepted, none minted", st)
			}
			if r := basicGrant(t, s); r.status != http.StatusOK {
				t.Errorf("next token request: %s, want 200", summary(r))
			}
		})
	}
}

// TestInterceptLoginRedirectFollowed checks what a client that follows
// redirects sees: the 200 HTML sign-in page at /login.
func TestInterceptLoginRedirectFollowed(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	token := mint(t, s).AccessToken
	s.InterceptNext(clickwraptest.EndpointAPI, 1, clickwraptest.InterceptLoginRedirect)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, s.APIURL()+"/sites?per_page=1", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Errorf("followed redirect: %d %q, want 200 text/html", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if got, want := resp.Request.URL.String(), s.URL+"/login?next=%2Fv1.1%2Fsites"; got != want {
		t.Errorf("final URL = %s, want %s", got, want)
	}
	if st := s.Stats(); st.APIRequests != 1 || st.Intercepted != 1 || st.APIRejected != 0 {
		t.Errorf("Stats = %+v", st)
	}
}

func TestLoginPage(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		status      int
		contentType string
		inBody      string
	}{
		http.MethodGet:  {200, "text/html; charset=utf-8", "<form"},
		http.MethodHead: {200, "text/html; charset=utf-8", ""},
		http.MethodPost: {405, "text/plain; charset=utf-8", ""},
	}
	for method, want := range tests {
		t.Run(method, func(t *testing.T) {
			t.Parallel()
			s := newServer(t)
			r := do(t, s.Client(), method, s.URL+"/login?next=%2Fv1.1%2Fsites", nil, "")
			if r.status != want.status {
				t.Fatalf("status = %d, want %d", r.status, want.status)
			}
			if got := r.header.Get("Content-Type"); got != want.contentType {
				t.Errorf("Content-Type = %q, want %q", got, want.contentType)
			}
			if !strings.Contains(string(r.body), want.inBody) {
				t.Errorf("body %q does not contain %q", r.body, want.inBody)
			}
			if st := s.Stats(); st.TokenRequests != 0 || st.APIRequests != 0 || st.Intercepted != 0 {
				t.Errorf("Stats = %+v: /login is counted", st)
			}
		})
	}
}

func TestInterceptRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(*clickwraptest.Server)
		// requests: "api" or "token"; want: the status of each answer
		requests        []string
		want            []int
		wantIntercepted int
	}{
		{"before RateLimitNext and FailNext", func(s *clickwraptest.Server) {
			s.FailNext(clickwraptest.EndpointAPI, 1, 500)
			s.RateLimitNext(clickwraptest.EndpointAPI, 1, time.Second)
			s.InterceptNext(clickwraptest.EndpointAPI, 1, clickwraptest.InterceptChallenge)
		}, []string{"api", "api", "api", "api"}, []int{403, 429, 500, 200}, 1},
		{"specific before EndpointAny", func(s *clickwraptest.Server) {
			s.InterceptNext(clickwraptest.EndpointAny, 2, clickwraptest.InterceptProxyAuth)
			s.InterceptNext(clickwraptest.EndpointAPI, 1, clickwraptest.InterceptSignInPage)
		}, []string{"api", "api", "token", "api", "token"}, []int{200, 401, 401, 200, 200}, 3},
		{"n counts down", func(s *clickwraptest.Server) {
			s.InterceptNext(clickwraptest.EndpointToken, 2, clickwraptest.InterceptBlockPage)
		}, []string{"api", "token", "token", "token"}, []int{200, 403, 403, 200}, 2},
		{"n <= 0 cancels", func(s *clickwraptest.Server) {
			s.InterceptNext(clickwraptest.EndpointAPI, 3, clickwraptest.InterceptBlockPage)
			s.InterceptNext(clickwraptest.EndpointAPI, -1, clickwraptest.InterceptBlockPage)
		}, []string{"api"}, []int{200}, 0},
		{"replaced", func(s *clickwraptest.Server) {
			s.InterceptNext(clickwraptest.EndpointAPI, 3, clickwraptest.InterceptBlockPage)
			s.InterceptNext(clickwraptest.EndpointAPI, 1, clickwraptest.InterceptLoginRedirect)
		}, []string{"api", "api"}, []int{302, 200}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t)
			token := mint(t, s).AccessToken
			s.ResetStats()
			tt.setup(s)
			c := noRedirects(s)
			for i, kind := range tt.requests {
				var r response
				if kind == "token" {
					h := http.Header{"Content-Type": {formType}, "Authorization": {basic(testClientID, testClientSecret)}}
					r = do(t, c, http.MethodPost, s.TokenURL(), h, "grant_type=client_credentials")
				} else {
					r = do(t, c, http.MethodGet, s.APIURL()+"/sites", http.Header{"Authorization": {"Bearer " + token}}, "")
				}
				if r.status != tt.want[i] {
					t.Errorf("request %d (%s): status = %d, want %d", i, kind, r.status, tt.want[i])
				}
			}
			if st := s.Stats(); st.Intercepted != tt.wantIntercepted || st.APIRejected != 0 {
				t.Errorf("Intercepted = %d, APIRejected = %d; want %d, 0", st.Intercepted, st.APIRejected, tt.wantIntercepted)
			}
		})
	}
}

func TestAuthJSONBody(t *testing.T) {
	t.Parallel()
	const jsonType = "application/json"
	goodJSON := `{"grant_type":"client_credentials","client_id":` + quote(testClientID) + `,"client_secret":` + quote(testClientSecret) + `}`
	goodForm := "grant_type=client_credentials&client_id=" + url.QueryEscape(testClientID) + "&client_secret=" + url.QueryEscape(testClientSecret)
	basicAuth := basic(testClientID, testClientSecret)
	tests := []struct {
		name          string
		style         clickwraptest.AuthStyle
		contentType   string
		authorization string
		body          string
		wantStatus    int
		wantError     string // "" for success
		wantChallenge bool
	}{
		{name: "JSON body", style: clickwraptest.AuthJSONBody, contentType: jsonType, body: goodJSON, wantStatus: 200},
		{name: "JSON body with charset", style: clickwraptest.AuthJSONBody, contentType: "application/json; charset=utf-8",
			body: goodJSON, wantStatus: 200},
		{name: "JSON body with scope and other members", style: clickwraptest.AuthJSONBody, contentType: jsonType,
			body: `{"scope":"read","audience":["x"],"grant_type":"client_credentials","client_id":` + quote(testClientID) +
				`,"client_secret":` + quote(testClientSecret) + `,"extra":{"a":1}}`, wantStatus: 200},
		{name: "Basic plus JSON grant_type", style: clickwraptest.AuthJSONBody, contentType: jsonType,
			authorization: basicAuth, body: `{"grant_type":"client_credentials"}`, wantStatus: 200},
		{name: "form body", style: clickwraptest.AuthJSONBody, contentType: formType, body: goodForm,
			wantStatus: 415, wantError: "invalid_request"},
		{name: "form body with Basic", style: clickwraptest.AuthJSONBody, contentType: formType, authorization: basicAuth,
			body: "grant_type=client_credentials", wantStatus: 415, wantError: "invalid_request"},
		{name: "no Content-Type", style: clickwraptest.AuthJSONBody, body: goodJSON, wantStatus: 415, wantError: "invalid_request"},
		{name: "JSON labelled text/plain", style: clickwraptest.AuthJSONBody, contentType: "text/plain", body: goodJSON,
			wantStatus: 415, wantError: "invalid_request"},
		{name: "missing grant_type", style: clickwraptest.AuthJSONBody, contentType: jsonType, authorization: basicAuth,
			body: `{}`, wantStatus: 400, wantError: "invalid_request"},
		{name: "password grant", style: clickwraptest.AuthJSONBody, contentType: jsonType, authorization: basicAuth,
			body: `{"grant_type":"password"}`, wantStatus: 400, wantError: "unsupported_grant_type"},
		{name: "repeated client_id", style: clickwraptest.AuthJSONBody, contentType: jsonType,
			body:       `{"grant_type":"client_credentials","client_id":"a","client_id":` + quote(testClientID) + `,"client_secret":` + quote(testClientSecret) + `}`,
			wantStatus: 400, wantError: "invalid_request"},
		{name: "secret not a string", style: clickwraptest.AuthJSONBody, contentType: jsonType,
			body:       `{"grant_type":"client_credentials","client_id":` + quote(testClientID) + `,"client_secret":12}`,
			wantStatus: 400, wantError: "invalid_request"},
		{name: "null secret", style: clickwraptest.AuthJSONBody, contentType: jsonType,
			body:       `{"grant_type":"client_credentials","client_id":` + quote(testClientID) + `,"client_secret":null}`,
			wantStatus: 400, wantError: "invalid_request"},
		{name: "array", style: clickwraptest.AuthJSONBody, contentType: jsonType, authorization: basicAuth,
			body: `[{"grant_type":"client_credentials"}]`, wantStatus: 400, wantError: "invalid_request"},
		{name: "trailing data", style: clickwraptest.AuthJSONBody, contentType: jsonType, authorization: basicAuth,
			body: `{"grant_type":"client_credentials"} {}`, wantStatus: 400, wantError: "invalid_request"},
		{name: "truncated", style: clickwraptest.AuthJSONBody, contentType: jsonType, authorization: basicAuth,
			body: `{"grant_type":"client_credentials"`, wantStatus: 400, wantError: "invalid_request"},
		{name: "empty body", style: clickwraptest.AuthJSONBody, contentType: jsonType, authorization: basicAuth,
			wantStatus: 400, wantError: "invalid_request"},
		{name: "Basic and body credentials", style: clickwraptest.AuthJSONBody, contentType: jsonType, authorization: basicAuth,
			body: goodJSON, wantStatus: 400, wantError: "invalid_request"},
		{name: "wrong secret in body", style: clickwraptest.AuthJSONBody, contentType: jsonType,
			body:       `{"grant_type":"client_credentials","client_id":` + quote(testClientID) + `,"client_secret":"wrong"}`,
			wantStatus: 401, wantError: "invalid_client", wantChallenge: true},
		{name: "wrong secret in Basic", style: clickwraptest.AuthJSONBody, contentType: jsonType,
			authorization: basic(testClientID, "wrong"), body: `{"grant_type":"client_credentials"}`,
			wantStatus: 401, wantError: "invalid_client", wantChallenge: true},
		{name: "no credentials", style: clickwraptest.AuthJSONBody, contentType: jsonType,
			body: `{"grant_type":"client_credentials"}`, wantStatus: 401, wantError: "invalid_client", wantChallenge: true},
		{name: "empty client_id", style: clickwraptest.AuthJSONBody, contentType: jsonType,
			body:       `{"grant_type":"client_credentials","client_id":"","client_secret":""}`,
			wantStatus: 401, wantError: "invalid_client", wantChallenge: true},
		{name: "AuthBoth refuses JSON", style: clickwraptest.AuthBoth, contentType: jsonType, body: goodJSON,
			wantStatus: 400, wantError: "invalid_request"},
		{name: "AuthBasicOnly refuses JSON", style: clickwraptest.AuthBasicOnly, contentType: jsonType, authorization: basicAuth,
			body: `{"grant_type":"client_credentials"}`, wantStatus: 400, wantError: "invalid_request"},
		{name: "AuthBodyOnly refuses JSON", style: clickwraptest.AuthBodyOnly, contentType: jsonType, body: goodJSON,
			wantStatus: 400, wantError: "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t)
			s.SetAuthStyle(tt.style)
			r := postToken(t, s, tt.contentType, tt.authorization, tt.body)
			if r.status != tt.wantStatus {
				t.Fatalf("answer: %s, want status %d", summary(r), tt.wantStatus)
			}
			if got := r.header.Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type = %q", got)
			}
			if got := r.header.Get("Accept"); (got == "application/json") != (tt.wantStatus == 415) {
				t.Errorf("Accept = %q with status %d", got, tt.wantStatus)
			}
			if got := r.header.Get("WWW-Authenticate"); (got == `Basic realm="clickwrap"`) != tt.wantChallenge {
				t.Errorf("WWW-Authenticate = %q, want present=%v", got, tt.wantChallenge)
			}
			if tt.wantError != "" {
				if got := errorCode(t, r.body, false); got != tt.wantError {
					t.Errorf("error = %q, want %q", got, tt.wantError)
				}
				if st := s.Stats(); st.Minted != 0 {
					t.Errorf("Minted = %d, want 0", st.Minted)
				}
				return
			}
			var answer struct {
				AccessToken string `json:"access_token"`
				TokenType   string `json:"token_type"`
			}
			if err := json.Unmarshal(r.body, &answer); err != nil || answer.TokenType != "Bearer" {
				t.Fatalf("token answer does not parse (%v) or token_type is %q", err, answer.TokenType)
			}
			if r := getSites(t, s, answer.AccessToken); r.status != http.StatusOK {
				t.Errorf("API with the minted token: %s, want 200", summary(r))
			}
		})
	}
}

// quote returns s as a JSON string literal.
func quote(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func TestBasicDecoding(t *testing.T) {
	t.Parallel()
	const id, secret = "client", "abc+def/ghi="
	rawBasic := "Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+secret))
	tests := []struct {
		name          string
		decode        bool
		style         clickwraptest.AuthStyle
		contentType   string
		authorization string
		body          string
		wantStatus    int
	}{
		{"decode: escaped Basic", true, clickwraptest.AuthBoth, formType, basic(id, secret), "grant_type=client_credentials", 200},
		{"decode: raw Basic", true, clickwraptest.AuthBoth, formType, rawBasic, "grant_type=client_credentials", 401},
		{"decode: body", true, clickwraptest.AuthBoth, formType, "",
			"grant_type=client_credentials&client_id=client&client_secret=" + url.QueryEscape(secret), 200},
		{"raw: escaped Basic", false, clickwraptest.AuthBoth, formType, basic(id, secret), "grant_type=client_credentials", 401},
		{"raw: raw Basic", false, clickwraptest.AuthBoth, formType, rawBasic, "grant_type=client_credentials", 200},
		{"raw: body", false, clickwraptest.AuthBoth, formType, "",
			"grant_type=client_credentials&client_id=client&client_secret=" + url.QueryEscape(secret), 200},
		{"raw: escaped Basic, Basic only", false, clickwraptest.AuthBasicOnly, formType, basic(id, secret), "grant_type=client_credentials", 401},
		{"raw: raw Basic, Basic only", false, clickwraptest.AuthBasicOnly, formType, rawBasic, "grant_type=client_credentials", 200},
		{"raw: escaped Basic, JSON", false, clickwraptest.AuthJSONBody, "application/json", basic(id, secret), `{"grant_type":"client_credentials"}`, 401},
		{"raw: raw Basic, JSON", false, clickwraptest.AuthJSONBody, "application/json", rawBasic, `{"grant_type":"client_credentials"}`, 200},
		{"raw: JSON body", false, clickwraptest.AuthJSONBody, "application/json", "",
			`{"grant_type":"client_credentials","client_id":"client","client_secret":"abc+def/ghi="}`, 200},
		{"decode: raw Basic, JSON", true, clickwraptest.AuthJSONBody, "application/json", rawBasic, `{"grant_type":"client_credentials"}`, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := clickwraptest.NewServer()
			t.Cleanup(s.Close)
			s.AddClient(id, secret)
			s.SetAuthStyle(tt.style)
			s.SetBasicDecoding(tt.decode)
			r := postToken(t, s, tt.contentType, tt.authorization, tt.body)
			if r.status != tt.wantStatus {
				t.Fatalf("answer: %s, want status %d", summary(r), tt.wantStatus)
			}
			if tt.wantStatus == http.StatusUnauthorized {
				if got := errorCode(t, r.body, false); got != "invalid_client" {
					t.Errorf("error = %q, want invalid_client", got)
				}
				if got := r.header.Get("WWW-Authenticate"); got != `Basic realm="clickwrap"` {
					t.Errorf("WWW-Authenticate = %q", got)
				}
			}
			wantMinted := 0
			if tt.wantStatus == http.StatusOK {
				wantMinted = 1
			}
			if got := s.Stats().Minted; got != wantMinted {
				t.Errorf("Minted = %d, want %d", got, wantMinted)
			}
		})
	}
}

// mintToken mints a token with a raw form request and returns it.
func mintToken(t testing.TB, s *clickwraptest.Server) string {
	t.Helper()
	r := basicGrant(t, s)
	var answer struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(r.body, &answer); r.status != http.StatusOK || err != nil {
		t.Fatalf("mint: %s (%v)", summary(r), err)
	}
	return answer.AccessToken
}

func TestActivationDelay(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		delay    time.Duration
		wantWait bool
	}{
		{"none", 0, false},
		{"negative is none", -time.Second, false},
		{"delay", 300 * time.Millisecond, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t)
			s.SetActivationDelay(tt.delay)
			start := time.Now()
			first := mintToken(t, s)
			second := mintToken(t, s)  // minting does not drop a token that is not live yet
			secondMinted := time.Now() // the sandbox minted it before this
			if !tt.wantWait {
				for _, tok := range []string{first, second} {
					if r := getSites(t, s, tok); r.status != http.StatusOK {
						t.Errorf("new token: %s, want 200", summary(r))
					}
				}
				if st := s.Stats(); st.APIRejected != 0 {
					t.Errorf("APIRejected = %d, want 0", st.APIRejected)
				}
				return
			}

			r := getSites(t, s, first)
			if elapsed := time.Since(start); elapsed >= tt.delay {
				t.Skipf("machine too slow: the first API call came %v after minting", elapsed)
			}
			if r.status != http.StatusUnauthorized {
				t.Fatalf("too-new token: %s, want 401", summary(r))
			}
			assertJSON(t, r.body, unauthorizedBody)
			if got := r.header.Get("WWW-Authenticate"); got != `Bearer realm="clickwrap", error="invalid_token"` {
				t.Errorf("WWW-Authenticate = %q", got)
			}
			if s.Valid(first) {
				t.Error("a token that is not live yet is Valid")
			}
			if st := s.Stats(); st.APIRejected != 1 {
				t.Errorf("APIRejected = %d, want 1", st.APIRejected)
			}

			deadline := time.Now().Add(10 * time.Second)
			for {
				r := getSites(t, s, first)
				if r.status == http.StatusOK {
					break
				}
				if r.status != http.StatusUnauthorized || time.Now().After(deadline) {
					t.Fatalf("token not accepted %v after minting: %s", time.Since(start), summary(r))
				}
				time.Sleep(20 * time.Millisecond)
			}
			if elapsed := time.Since(start); elapsed < tt.delay {
				t.Errorf("token accepted %v after minting, before the %v delay", elapsed, tt.delay)
			}
			// The second token went live a moment after the first (it was
			// minted later): wait out its own delay, not the first's.
			time.Sleep(time.Until(secondMinted.Add(tt.delay)))
			if !s.Valid(second) {
				t.Error("the second token is not Valid after the delay")
			}
			if r := getSites(t, s, second); r.status != http.StatusOK {
				t.Errorf("second token: %s, want 200", summary(r))
			}
		})
	}
}

// TestActivationDelayAppliesToNewTokens checks that SetActivationDelay does
// not affect tokens minted before the call.
func TestActivationDelayAppliesToNewTokens(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	old := mintToken(t, s)
	s.SetActivationDelay(time.Hour)
	fresh := mintToken(t, s)
	tests := []struct {
		name       string
		token      string
		wantStatus int
	}{
		{"minted before", old, http.StatusOK},
		{"minted after", fresh, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Not parallel: the two share a Server.
			if r := getSites(t, s, tt.token); r.status != tt.wantStatus {
				t.Errorf("%s, want %d", summary(r), tt.wantStatus)
			}
		})
	}
	s.SetActivationDelay(0)
	if r := getSites(t, s, fresh); r.status != http.StatusUnauthorized {
		t.Errorf("SetActivationDelay(0) changed an earlier token: %s", summary(r))
	}
}

func TestStringers(t *testing.T) {
	t.Parallel()
	for v, want := range map[fmt.Stringer]string{
		clickwraptest.InterceptLoginRedirect: "InterceptLoginRedirect",
		clickwraptest.InterceptSignInPage:    "InterceptSignInPage",
		clickwraptest.InterceptChallenge:     "InterceptChallenge",
		clickwraptest.InterceptBlockPage:     "InterceptBlockPage",
		clickwraptest.InterceptProxyAuth:     "InterceptProxyAuth",
		clickwraptest.InterceptGatewayJSON:   "InterceptGatewayJSON",
		clickwraptest.Intercept(0):           "Intercept(0)",
		clickwraptest.AuthJSONBody:           "AuthJSONBody",
		clickwraptest.AuthJSONBody + 1:       "AuthStyle(4)",
	} {
		if got := v.String(); got != want {
			t.Errorf("%T(%d).String() = %q, want %q", v, v, got, want)
		}
	}
}

// TestNewSwitchesConcurrently flips the new switches while requests run, for
// the race detector.
func TestNewSwitchesConcurrently(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 10 {
				switch (w + i) % 4 {
				case 0:
					s.SetTokenAnswer(clickwraptest.TokenAnswer{Form: i%2 == 0, AccessToken: func(t string) string { return t }})
				case 1:
					s.InterceptNext(clickwraptest.EndpointAny, 1, clickwraptest.InterceptChallenge)
				case 2:
					s.SetBasicDecoding(i%2 == 0)
				case 3:
					s.SetActivationDelay(time.Duration(i%2) * time.Millisecond)
				}
				basicGrant(t, s)
				getSites(t, s, "")
				_ = s.Stats()
			}
		})
	}
	wg.Wait()
	if st := s.Stats(); st.TokenRequests != 40 || st.APIRequests != 40 {
		t.Errorf("Stats = %+v", st)
	}
}
