package clickwrap_test

// Tests of the Clickwrap boundary as real servers answer it: token answers
// in the shapes real endpoints send, client authentication that varies per
// API application, and a Bearer check that only the API's own answer can
// pass or condemn. Each input is a switch of the sandbox.

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clickwrap-rotator/clickwrap-rotator/clickwrap"
	"github.com/clickwrap-rotator/clickwrap-rotator/clickwrap/clickwraptest"
	"github.com/clickwrap-rotator/clickwrap-rotator/rotation"
)

// TestMintTokenAnswerShapes: every shape of a usable token answer is read
// as the token it carries: the stored token is the one the API accepts, and
// expires_at follows expires_in read as a number of seconds.
func TestMintTokenAnswerShapes(t *testing.T) {
	t.Parallel()
	const hour = time.Hour
	trail := func(s string) func(string) string { return func(t string) string { return t + s } }
	tests := []struct {
		name    string
		answer  clickwraptest.TokenAnswer
		expires time.Duration // 0: no expires_at
	}{
		{name: "default", answer: clickwraptest.TokenAnswer{}},
		{name: "float expires_in", answer: clickwraptest.TokenAnswer{ExpiresIn: "3600.0"}, expires: hour},
		{name: "exponent expires_in", answer: clickwraptest.TokenAnswer{ExpiresIn: "3.6e3"}, expires: hour},
		{name: "fractional expires_in rounds down", answer: clickwraptest.TokenAnswer{ExpiresIn: "3600.9"}, expires: hour},
		{name: "numeric string expires_in", answer: clickwraptest.TokenAnswer{ExpiresIn: `"3600"`}, expires: hour},
		{name: "float string expires_in", answer: clickwraptest.TokenAnswer{ExpiresIn: `" 3600.0 "`}, expires: hour},
		{name: "integer expires_in", answer: clickwraptest.TokenAnswer{ExpiresIn: "3600"}, expires: hour},
		{name: "zero expires_in", answer: clickwraptest.TokenAnswer{ExpiresIn: "0"}},
		{name: "negative expires_in", answer: clickwraptest.TokenAnswer{ExpiresIn: "-60"}},
		{name: "null expires_in", answer: clickwraptest.TokenAnswer{ExpiresIn: "null"}},
		{name: "non-numeric expires_in", answer: clickwraptest.TokenAnswer{ExpiresIn: `"never"`}},
		{name: "JSON labelled text/plain", answer: clickwraptest.TokenAnswer{ContentType: "text/plain; charset=utf-8", ExpiresIn: "3600.0"}, expires: hour},
		{name: "JSON labelled text/html", answer: clickwraptest.TokenAnswer{ContentType: "text/html"}},
		{name: "JSON labelled form", answer: clickwraptest.TokenAnswer{ContentType: "application/x-www-form-urlencoded"}},
		{name: "JSON without a label", answer: clickwraptest.TokenAnswer{ContentType: "application/octet-stream"}},
		{name: "JSON with a byte-order mark", answer: clickwraptest.TokenAnswer{BOM: true, ContentType: "text/plain"}},
		{name: "lower-case token_type", answer: clickwraptest.TokenAnswer{TokenType: "bearer"}},
		{name: "upper-case token_type", answer: clickwraptest.TokenAnswer{TokenType: "BEARER"}},
		{name: "token with a trailing newline", answer: clickwraptest.TokenAnswer{AccessToken: trail("\n")}},
		{name: "token with surrounding blanks", answer: clickwraptest.TokenAnswer{AccessToken: func(t string) string { return " \t" + t + "\r\n " }}},
		{name: "form answer", answer: clickwraptest.TokenAnswer{Form: true, ExpiresIn: "3600"}, expires: hour},
		{name: "form answer, token with %0A", answer: clickwraptest.TokenAnswer{Form: true, TokenType: "bearer", ExpiresIn: "3600", AccessToken: trail("\n")}, expires: hour},
		{name: "form answer labelled text/plain, float expires_in", answer: clickwraptest.TokenAnswer{Form: true, ContentType: "text/plain", ExpiresIn: "3600.0"}, expires: hour},
		{name: "form answer labelled JSON", answer: clickwraptest.TokenAnswer{Form: true, ContentType: "application/json"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, c, s := newSandbox(t)
			srv.SetTokenAnswer(tt.answer)
			before := time.Now()
			tok, err := c.Mint(context.Background(), s)
			if err != nil {
				t.Fatalf("Mint: %v", err)
			}
			if !srv.Valid(tok.AccessToken) {
				t.Fatal("the token Mint returned is not the one the sandbox minted")
			}
			if tok.TokenType != "Bearer" {
				t.Errorf("token type %q, want Bearer", tok.TokenType)
			}
			if err := c.Check(context.Background(), s.APIEndpoint(), tok.AccessToken); err != nil {
				t.Errorf("Check of the minted token: %v", err)
			}
			switch {
			case tt.expires == 0 && !tok.ExpiresAt.IsZero():
				t.Errorf("ExpiresAt = %v, want none", tok.ExpiresAt)
			case tt.expires != 0:
				lo, hi := before.Add(tt.expires-time.Second), time.Now().Add(tt.expires+time.Second)
				if tok.ExpiresAt.Before(lo) || tok.ExpiresAt.After(hi) {
					t.Errorf("ExpiresAt = %v, want within [%v, %v]", tok.ExpiresAt, lo, hi)
				}
			}
			if n := srv.Stats().Minted; n != 1 {
				t.Errorf("sandbox minted %d tokens, want 1", n)
			}
		})
	}
}

// TestMintRefusesUnusableAnswers: a 2xx answer that yields no token to
// store is final (not asked again, since asking again is another mint), and
// the error names the field, never the value.
func TestMintRefusesUnusableAnswers(t *testing.T) {
	t.Parallel()
	wrap := func(f func(string) string) clickwraptest.TokenAnswer {
		return clickwraptest.TokenAnswer{AccessToken: f}
	}
	tests := []struct {
		name   string
		answer clickwraptest.TokenAnswer
		want   string
	}{
		{"inner space", wrap(func(t string) string { return t[:8] + " " + t[8:] }), `access_token has characters outside the RFC 6750 token68 set`},
		{"double quote", wrap(func(t string) string { return t + `"` }), `access_token has characters outside`},
		{"comma", wrap(func(t string) string { return t + ",x" }), `access_token has characters outside`},
		{"non-ASCII", wrap(func(t string) string { return t + "é" }), `access_token has characters outside`},
		{"control character", wrap(func(t string) string { return t[:4] + "\x01" + t[4:] }), `access_token has characters outside`},
		{"inner newline", wrap(func(t string) string { return t[:4] + "\n" + t[4:] }), `access_token has characters outside`},
		{"= inside", wrap(func(t string) string { return t[:4] + "=" + t[4:] }), `access_token has characters outside`},
		{"no-break space around", wrap(func(t string) string { return "\u00a0" + t + "\u00a0" }), `access_token has characters outside`},
		{"ideographic space after", wrap(func(t string) string { return t + "\u3000" }), `access_token has characters outside`},
		{"vertical tab after", wrap(func(t string) string { return t + "\v" }), `access_token has characters outside`},
		{"empty token", wrap(func(string) string { return "" }), `a JSON object without access_token`},
		{"blank token", wrap(func(string) string { return " \n" }), `a JSON object without access_token`},
		{"MAC token type", clickwraptest.TokenAnswer{TokenType: "mac"}, `token_type is "mac", not Bearer`},
		{"form answer, inner %20", clickwraptest.TokenAnswer{Form: true, AccessToken: func(t string) string { return t[:4] + " " + t[4:] }}, `access_token has characters outside`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, c, s := newSandbox(t)
			c.Retry.MaxAttempts = 4
			var minted string
			answer := tt.answer
			rewrite := answer.AccessToken
			answer.AccessToken = func(t string) string {
				minted = t
				if rewrite == nil {
					return t
				}
				return rewrite(t)
			}
			srv.SetTokenAnswer(answer)
			tok, err := c.Mint(context.Background(), s)
			if err == nil {
				t.Fatalf("Mint accepted the answer (token present: %v)", tok.AccessToken != "")
			}
			var te *clickwrap.TokenAnswerError
			if !errors.As(err, &te) || !te.Permanent() {
				t.Errorf("err = %v, want a permanent *TokenAnswerError", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
			if n := srv.Stats().TokenRequests; n != 1 {
				t.Errorf("token requests = %d, want 1 (a mint is not repeated after an answer that may have issued a token)", n)
			}
			if minted == "" {
				t.Fatal("the sandbox minted nothing")
			}
			assertNoSecret(t, err.Error(), minted, strings.TrimSpace(minted[:8]))
		})
	}
}

// assertNoSecret fails if text holds the client secret or one of tokens.
func assertNoSecret(t *testing.T, text string, tokens ...string) {
	t.Helper()
	if strings.Contains(text, clientSecret) {
		t.Error("the client secret leaked")
	}
	for _, tok := range tokens {
		if tok != "" && strings.Contains(text, tok) {
			t.Error("a minted token leaked")
		}
	}
}

// pagesInFront are the answers something in front of an endpoint gives
// (pages, and a gateway's own JSON), and what the error must say of each.
var pagesInFront = []struct {
	kind clickwraptest.Intercept
	want string
}{
	{clickwraptest.InterceptSignInPage, "HTTP 200 with an HTML page"},
	{clickwraptest.InterceptChallenge, "HTTP 403 with an HTML page"},
	{clickwraptest.InterceptBlockPage, "HTTP 403 with an HTML page"},
	{clickwraptest.InterceptProxyAuth, "HTTP 401 with an HTML page"},
	{clickwraptest.InterceptGatewayJSON, "HTTP 200 with a JSON object without"},
}

// TestMintPageInsteadOfATokenAnswer: a proxy's page at the token endpoint is
// reported as such, whatever its status, and never as rejected credentials.
func TestMintPageInsteadOfATokenAnswer(t *testing.T) {
	t.Parallel()
	for _, tt := range pagesInFront {
		t.Run(tt.kind.String(), func(t *testing.T) {
			t.Parallel()
			srv, c, s := newSandbox(t)
			srv.InterceptNext(clickwraptest.EndpointToken, 1, tt.kind)
			_, err := c.Mint(context.Background(), s)
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "rejected the client credentials") {
				t.Fatalf("Mint: %v, want an error saying %q", err, tt.want)
			}
			if n := srv.Stats().TokenRequests; n != 1 {
				t.Errorf("token requests = %d, want 1", n)
			}
		})
	}
}

// TestMintClientAuthentication: minting works whichever client
// authentication the endpoint takes; the style that worked is a hint per
// (token URL, client_id), tried first next time and never final.
func TestMintClientAuthentication(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		style         clickwraptest.AuthStyle
		firstRequests int // Basic, then body parameters, then a JSON body
	}{
		{"Basic or body", clickwraptest.AuthBoth, 1},
		{"Basic only", clickwraptest.AuthBasicOnly, 1},
		{"body parameters only", clickwraptest.AuthBodyOnly, 2},
		{"JSON body only", clickwraptest.AuthJSONBody, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, c, s := newSandbox(t)
			srv.SetAuthStyle(tt.style)
			tok, err := c.Mint(context.Background(), s)
			if err != nil {
				t.Fatalf("first Mint: %v", err)
			}
			if !srv.Valid(tok.AccessToken) || tok.TokenType != "Bearer" || !tok.ExpiresAt.IsZero() {
				t.Errorf("minted token: %v", tok)
			}
			if n := srv.Stats().TokenRequests; n != tt.firstRequests {
				t.Errorf("first mint: %d token requests, want %d", n, tt.firstRequests)
			}
			srv.ResetStats()
			if _, err := c.Mint(context.Background(), s); err != nil {
				t.Fatalf("second Mint: %v", err)
			}
			if n := srv.Stats().TokenRequests; n != 1 {
				t.Errorf("second mint: %d token requests, want 1 (the hint first)", n)
			}
		})
	}
}

// TestMintTwoApplicationsOneEndpoint is a real report: two API
// applications on one token URL, one warm container; the second's secret
// holds "+", "/" and "=", and the endpoint compares HTTP Basic credentials
// without URL-decoding them. The first application's style must not decide
// the second's.
func TestMintTwoApplicationsOneEndpoint(t *testing.T) {
	t.Parallel()
	srv, c, first := newSandbox(t)
	srv.SetBasicDecoding(false)
	const secondID, secondSecret = "app-2", "abc+def/ghi="
	srv.AddClient(secondID, secondSecret)
	second, err := clickwrap.ParseSecret(`{"client_id":"` + secondID + `","client_secret":"` + secondSecret +
		`","token_url":"` + srv.TokenURL() + `","api_url":"` + srv.APIURL() + `"}`)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name     string
		secret   *clickwrap.Secret
		requests int
	}{
		{"first application: HTTP Basic works", first, 1},
		{"second application: Basic refused, body parameters work", second, 2},
		{"first application again: its own hint", first, 1},
		{"second application again: its own hint", second, 1},
	}
	for _, st := range steps {
		srv.ResetStats()
		tok, err := c.Mint(context.Background(), st.secret)
		if err != nil {
			t.Fatalf("%s: Mint: %v", st.name, err)
		}
		if !srv.Valid(tok.AccessToken) {
			t.Errorf("%s: token not valid", st.name)
		}
		if n := srv.Stats().TokenRequests; n != st.requests {
			t.Errorf("%s: %d token requests, want %d", st.name, n, st.requests)
		}
	}
}

// TestMintHintIsNotAVerdict: an endpoint that stops taking the remembered
// style is still served, with one more request.
func TestMintHintIsNotAVerdict(t *testing.T) {
	t.Parallel()
	srv, c, s := newSandbox(t)
	srv.SetAuthStyle(clickwraptest.AuthBasicOnly)
	if _, err := c.Mint(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	srv.SetAuthStyle(clickwraptest.AuthBodyOnly)
	srv.ResetStats()
	if _, err := c.Mint(context.Background(), s); err != nil {
		t.Fatalf("Mint after the endpoint changed style: %v", err)
	}
	if n := srv.Stats().TokenRequests; n != 2 {
		t.Errorf("%d token requests, want 2", n)
	}
}

// TestMintWrongSecretTriesEachStyleOnce: wrong credentials are refused in
// every style, each tried once, and the error says so without the secret.
func TestMintWrongSecretTriesEachStyleOnce(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ans  clickwraptest.TokenAnswer
	}{
		{"401 invalid_client", clickwraptest.TokenAnswer{}},
		{"invalid_client with HTTP 200", clickwraptest.TokenAnswer{ErrorsWith200: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, c, s := newSandbox(t)
			srv.SetTokenAnswer(tt.ans)
			srv.AddClient(clientID, "another-secret")
			_, err := c.Mint(context.Background(), s)
			if err == nil {
				t.Fatal("Mint succeeded with a wrong secret")
			}
			for _, want := range []string{"rejected the client credentials", "invalid_client", "HTTP Basic, then body parameters, then a JSON body"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			if n := srv.Stats().TokenRequests; n != 3 {
				t.Errorf("%d token requests, want 3", n)
			}
			assertNoSecret(t, err.Error())
		})
	}
}

// TestCheckOnlyTheAPIsAnswerCounts: a token is proven only by the API's own
// success answer and condemned only by its own refusal; a page from
// anything in front of it does neither.
func TestCheckOnlyTheAPIsAnswerCounts(t *testing.T) {
	t.Parallel()
	tests := append(slices.Clone(pagesInFront), pagesInFront[0])
	tests[len(tests)-1].kind, tests[len(tests)-1].want = clickwraptest.InterceptLoginRedirect, "HTTP 302 with a redirect to https://"
	for _, tt := range tests {
		t.Run(tt.kind.String(), func(t *testing.T) {
			t.Parallel()
			srv, c, s := newSandbox(t)
			c.Retry.MaxAttempts = 4
			tok, err := c.Mint(context.Background(), s)
			if err != nil {
				t.Fatal(err)
			}
			srv.InterceptNext(clickwraptest.EndpointAPI, 1, tt.kind)
			srv.ResetStats()
			err = c.Check(context.Background(), s.APIEndpoint(), tok.AccessToken)
			var se *clickwrap.StatusError
			if !errors.As(err, &se) || se.NotAPI == "" || se.Permanent() {
				t.Fatalf("Check: %v, want a StatusError with NotAPI set that is not permanent", err)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "neither proven nor refused") {
				t.Errorf("error %q does not say %q and that the token was neither proven nor refused", err, tt.want)
			}
			if strings.Contains(err.Error(), "next=") {
				t.Error("the error shows the redirect's query")
			}
			if st := srv.Stats(); st.APIRequests != 1 {
				t.Errorf("%d API requests, want 1 (no redirect followed, no retry)", st.APIRequests)
			}
			if err := c.Check(context.Background(), s.APIEndpoint(), tok.AccessToken); err != nil {
				t.Errorf("Check once the interception is over: %v", err)
			}
			assertNoSecret(t, err.Error(), tok.AccessToken)
		})
	}
}

// TestCheckAnswers covers the kinds of answer with hand-written servers:
// which prove, which condemn, which do neither.
func TestCheckAnswers(t *testing.T) {
	t.Parallel()
	type answer struct {
		status int
		ctype  string
		header map[string]string
		body   string
	}
	const (
		proven = iota
		condemned
		neither
		other
	)
	tests := []struct {
		name    string
		answer  answer
		outcome int
		want    string
	}{
		{"200 JSON object", answer{200, "application/json", nil, `{"data":[]}`}, proven, ""},
		{"200 JSON object labelled text/plain", answer{200, "text/plain", nil, `{"data":[]}`}, proven, ""},
		{"200 JSON object with a byte-order mark", answer{200, "application/json", nil, "\xef\xbb\xbf {\"data\":[]}\n"}, proven, ""},
		{"204 no body", answer{204, "", nil, ""}, neither, "an empty body"},
		{"200 empty body", answer{200, "application/json", nil, ""}, neither, "an empty body"},
		{"200 JSON array", answer{200, "application/json", nil, `[]`}, neither, "a JSON array"},
		{"200 JSON string", answer{200, "application/json", nil, `"ok"`}, neither, "a bare JSON value"},
		{"200 JSON error object", answer{200, "application/json", nil, `{"error":{"message":"unauthorized"}}`}, neither, "a JSON error object"},
		{"200 HTML labelled JSON", answer{200, "application/json", nil, `<html><body>Sign in</body></html>`}, neither, "an HTML page"},
		{"200 XHTML", answer{200, "application/xhtml+xml", nil, `<?xml version="1.0"?><html/>`}, neither, "an HTML page"},
		{"200 plain text", answer{200, "text/plain", nil, `OK`}, neither, "a text/plain body that is not JSON"},
		{"200 truncated JSON", answer{200, "application/json", nil, `{"data":[`}, neither, "not JSON"},
		{"301 redirect", answer{301, "", map[string]string{"Location": "/v1.1/sites/"}, ""}, neither, "HTTP 301 with a redirect"},
		{"303 redirect to another host", answer{303, "", map[string]string{"Location": "https://sso.example.com/login?next=/v1.1&key=k"}, ""}, neither, "a redirect to https://sso.example.com/login"},
		{"307 redirect", answer{307, "", map[string]string{"Location": "/elsewhere"}, ""}, neither, "HTTP 307 with a redirect"},
		{"308 redirect", answer{308, "", map[string]string{"Location": "/elsewhere"}, ""}, neither, "HTTP 308 with a redirect"},
		{"401 JSON", answer{401, "application/json", nil, `{"error":{"message":"The requester is unauthorized.","status":401}}`}, condemned, "rejected the token"},
		{"401 empty body", answer{401, "", nil, ""}, condemned, "rejected the token"},
		{"401 plain text", answer{401, "text/plain", nil, "Unauthorized"}, condemned, "rejected the token"},
		{"403 JSON labelled text/html", answer{403, "text/html", nil, `{"error":{"message":"Forbidden"}}`}, condemned, "rejected the token"},
		{"403 HTML", answer{403, "text/html", nil, "<!DOCTYPE html><title>Access denied</title>"}, neither, "an HTML page"},
		{"403 HTML without a label", answer{403, "", nil, "\n  <html><body>Blocked</body></html>"}, neither, "an HTML page"},
		{"403 HTML labelled JSON", answer{403, "application/json; charset=utf-8", nil, "<html><body>Request blocked</body></html>"}, neither, "an HTML page"},
		{"401 HTML from a proxy", answer{401, "text/html", map[string]string{"WWW-Authenticate": `Basic realm="corp"`}, "<html>Sign in</html>"}, neither, "an HTML page"},
		{"403 CDN challenge, JSON body", answer{403, "application/json", map[string]string{"Cf-Mitigated": "challenge"}, `{}`}, neither, `HTTP 403 with a JSON object, marked by a CDN (cf-mitigated: "challenge")`},
		{"502 HTML page", answer{502, "text/html", nil, "<html><body>Bad gateway</body></html>"}, neither, "HTTP 502 with an HTML page"},
		{"403 empty body", answer{403, "", nil, ""}, condemned, "rejected the token"},
		{"403 with a Bearer challenge", answer{403, "text/plain", map[string]string{"WWW-Authenticate": `Bearer error="insufficient_scope"`}, "Forbidden"}, condemned, "rejected the token"},
		{"403 CDN plain text", answer{403, "text/plain; charset=UTF-8", map[string]string{"Server": "cloudflare"}, "error code: 1020"}, neither, "not the API's error object"},
		{"403 CDN JSON", answer{403, "application/json", map[string]string{"Server": "cloudflare"}, `{"title":"Error 1020: Access denied","status":403,"error_code":1020}`}, neither, "not the API's error object"},
		{"403 gateway JSON", answer{403, "application/json", map[string]string{"X-Amzn-Errortype": "ForbiddenException"}, `{"message":"Forbidden"}`}, neither, "not the API's error object"},
		{"403 malformed HTML label", answer{403, "text/html charset=utf-8", nil, "Access denied"}, neither, "an HTML page"},
		{"401 from a proxy asking for Basic", answer{401, "", map[string]string{"WWW-Authenticate": `Basic realm="corp-proxy"`}, ""}, neither, "another scheme than Bearer"},
		{"401 with a Bearer challenge", answer{401, "", map[string]string{"WWW-Authenticate": `Bearer realm="clickwrap", error="invalid_token"`}, ""}, condemned, "rejected the token"},
		{"200 marked cf-mitigated", answer{200, "application/json", map[string]string{"Cf-Mitigated": "challenge"}, `{}`}, neither, "marked by a CDN"},
		{"200 errors array", answer{200, "application/json", nil, `{"errors":[{"message":"denied"}]}`}, neither, "a JSON error object"},
		{"200 success false", answer{200, "application/json", nil, `{"success":false,"data":[]}`}, neither, "a JSON error object"},
		{"200 empty errors", answer{200, "application/json", nil, `{"errors":[],"data":[]}`}, proven, ""},
		{"200 empty object", answer{200, "application/json", nil, `{}`}, neither, `without the API's "data" member`},
		{"200 gateway JSON", answer{200, "application/json", map[string]string{"Server": "awselb/2.0"}, `{"message":"ok","status":"healthy"}`}, neither, `without the API's "data" member`},
		{"200 data null", answer{200, "application/json", nil, `{"data":null}`}, neither, `without the API's "data" member`},
		{"200 data a string", answer{200, "application/json", nil, `{"data":"ok"}`}, neither, `without the API's "data" member`},
		{"200 data a number", answer{200, "application/json", nil, `{"data":1}`}, neither, `without the API's "data" member`},
		{"200 collection", answer{200, "application/json", nil, `{"count":1,"has_more":false,"page":1,"per_page":1,"total_count":1,"data":[{"id":7,"name":"Main"}]}`}, proven, ""},
		{"200 data an object", answer{200, "application/json", nil, `{"data":{"id":7}}`}, proven, ""},
		{"200 Data in another case", answer{200, "application/json", nil, `{"Data":[]}`}, proven, ""},
		{"200 Error in another case", answer{200, "application/json", nil, `{"Error":{"message":"denied"},"data":[]}`}, neither, "a JSON error object"},
		{"200 ERROR string", answer{200, "application/json", nil, `{"ERROR":"unauthorized","data":[]}`}, neither, "a JSON error object"},
		{"200 Errors in another case", answer{200, "application/json", nil, `{"Errors":[{"message":"denied"}],"data":[]}`}, neither, "a JSON error object"},
		{"200 Success false", answer{200, "application/json", nil, `{"Success":false,"data":[]}`}, neither, "a JSON error object"},
		{"200 success the string false", answer{200, "application/json", nil, `{"success":"false","data":[]}`}, neither, "a JSON error object"},
		{"200 error given twice", answer{200, "application/json", nil, `{"error":"x","error":null,"data":[]}`}, neither, `giving "error" twice`},
		{"200 data given twice", answer{200, "application/json", nil, `{"data":null,"data":[]}`}, neither, `giving "data" twice`},
		{"200 data twice in two cases", answer{200, "application/json", nil, `{"data":[],"Data":[]}`}, neither, `giving "data" twice`},
		{"200 empty errors with spaces", answer{200, "application/json", nil, `{"errors":[ ],"data":[]}`}, proven, ""},
		{"200 empty error object", answer{200, "application/json", nil, `{"error":{},"data":[]}`}, neither, "a JSON error object"},
		{"200 error object with spaces", answer{200, "application/json", nil, `{"error": { },"data":[]}`}, neither, "a JSON error object"},
		{"200 empty errors object", answer{200, "application/json", nil, "{\"errors\":{\n},\"data\":[]}"}, proven, ""},
		{"200 success true", answer{200, "application/json", nil, `{"success":true,"data":[]}`}, proven, ""},
		{"200 body over 1 MiB", answer{200, "application/json", nil, `{"data":[]}` + strings.Repeat(" ", 1<<20) + "<html>"}, neither, "a body larger than"},
		{"200 error false", answer{200, "application/json", nil, `{"error":false,"data":[]}`}, proven, ""},
		{"404 HTML", answer{404, "text/html", nil, "<pre>Cannot GET /v1.1/sites</pre>"}, other, "api_url in the secret is wrong"},
		{"404 JSON", answer{404, "application/json", nil, `{"error":{"message":"Not found."}}`}, other, "api_url in the secret is wrong"},
		{"400 JSON", answer{400, "application/json", nil, `{"error":{}}`}, other, "HTTP 400"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/v1.1/sites" {
					w.Header().Set("Content-Type", "text/html")
					_, _ = w.Write([]byte("<html>elsewhere</html>"))
					return
				}
				for k, v := range tt.answer.header {
					w.Header().Set(k, v)
				}
				if tt.answer.ctype != "" {
					w.Header().Set("Content-Type", tt.answer.ctype)
				}
				w.WriteHeader(tt.answer.status)
				_, _ = w.Write([]byte(tt.answer.body))
			}))
			defer ts.Close()
			hc := clickwrap.NewHTTPClient()
			hc.Transport.(*http.Transport).TLSClientConfig.RootCAs = ts.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
			c := clickwrap.NewClient(hc)
			c.Retry.MaxAttempts = 1
			err := c.Check(context.Background(), ts.URL+"/v1.1", "a-token.with~token68+chars/==")
			var se *clickwrap.StatusError
			isSE := errors.As(err, &se)
			switch tt.outcome {
			case proven:
				if err != nil {
					t.Fatalf("Check: %v, want nil", err)
				}
				return
			case condemned:
				if !isSE || !se.Permanent() {
					t.Fatalf("Check: %v, want a permanent StatusError", err)
				}
			case neither:
				if !isSE || se.Permanent() || se.NotAPI == "" {
					t.Fatalf("Check: %v, want a StatusError with NotAPI, not permanent", err)
				}
			case other:
				if !isSE || se.Permanent() || se.NotAPI != "" {
					t.Fatalf("Check: %v, want a StatusError from the API, not permanent", err)
				}
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "key=k") || strings.Contains(err.Error(), "next=") {
				t.Error("the error shows a redirect's query")
			}
		})
	}
}

// TestCheckURL: the check's URL is joined to api_url as a URL.
func TestCheckURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, apiURL, want string
	}{
		{"default", clickwrap.DefaultAPIURL, "https://api.pactsafe.com/v1.1/sites?lean=true&no_count=true&per_page=1"},
		{"trailing slash", "https://h/v1.1/", "https://h/v1.1/sites?lean=true&no_count=true&per_page=1"},
		{"no path", "https://h", "https://h/sites?lean=true&no_count=true&per_page=1"},
		{"query kept and merged", "https://h/v1.1?tenant=1", "https://h/v1.1/sites?tenant=1&lean=true&no_count=true&per_page=1"},
		{"query with a slash", "https://h/v1.1/?tenant=a%2Fb", "https://h/v1.1/sites?tenant=a%2Fb&lean=true&no_count=true&per_page=1"},
		{"query with a semicolon", "https://h/v1.1?tenant=a;b", "https://h/v1.1/sites?tenant=a;b&lean=true&no_count=true&per_page=1"},
		{"query with a bad escape", "https://h/v1.1?k=%zz&tenant=1", "https://h/v1.1/sites?k=%zz&tenant=1&lean=true&no_count=true&per_page=1"},
		{"bare flag", "https://h/v1.1?flag", "https://h/v1.1/sites?flag&lean=true&no_count=true&per_page=1"},
		{"empty path with a query", "https://h?tenant=1", "https://h/sites?tenant=1&lean=true&no_count=true&per_page=1"},
		{"the check's parameters win", "https://h/v1.1?per_page=50&tenant=1&LEAN=x&lean=false", "https://h/v1.1/sites?tenant=1&LEAN=x&lean=true&no_count=true&per_page=1"},
		{"fragment dropped", "https://h/v1.1#x", "https://h/v1.1/sites?lean=true&no_count=true&per_page=1"},
		{"port and deeper path", "https://h:8443/proxy/v1.1", "https://h:8443/proxy/v1.1/sites?lean=true&no_count=true&per_page=1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := clickwrap.CheckURL(tt.apiURL)
			if err != nil || got != tt.want {
				t.Errorf("CheckURL(%q) = %q, %v; want %q", tt.apiURL, got, err, tt.want)
			}
		})
	}
	if _, err := clickwrap.CheckURL("http://h/v1.1"); err == nil || !strings.Contains(err.Error(), "api_url") {
		t.Errorf("CheckURL(http://...) = %v, want an error naming api_url", err)
	}
}

// TestEndpointsWithAQuery: api_url and token_url with a query string (a
// tenant, a proxy's key) still reach the right paths.
func TestEndpointsWithAQuery(t *testing.T) {
	t.Parallel()
	srv, c, _ := newSandbox(t)
	s, err := clickwrap.ParseSecret(`{"client_id":"` + clientID + `","client_secret":"` + clientSecret +
		`","token_url":"` + srv.TokenURL() + `?tenant=1","api_url":"` + srv.APIURL() + `?tenant=1"}`)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := c.Mint(context.Background(), s)
	if err != nil {
		t.Fatalf("Mint with a query in token_url: %v", err)
	}
	if err := c.Check(context.Background(), s.APIEndpoint(), tok.AccessToken); err != nil {
		t.Fatalf("Check with a query in api_url: %v", err)
	}
}

// TestCheckWrongAPIURL: a 404 at the API base names api_url, and is not a
// verdict on the token.
func TestCheckWrongAPIURL(t *testing.T) {
	t.Parallel()
	srv, c, s := newSandbox(t)
	tok, err := c.Mint(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	err = c.Check(context.Background(), srv.URL+"/v1", tok.AccessToken)
	var se *clickwrap.StatusError
	if !errors.As(err, &se) || se.Permanent() || !strings.Contains(err.Error(), "api_url in the secret is wrong") {
		t.Fatalf("Check at /v1: %v, want a non-permanent error naming api_url", err)
	}
}

// TestCheckTokenThatCannotBeSent: a stored token that is not a token68 is a
// permanent fault of that value, found before anything is sent.
func TestCheckTokenThatCannotBeSent(t *testing.T) {
	t.Parallel()
	for _, tok := range []string{"abc\n", "abc def", "abc\r\nX-Injected: 1", "tök", "=abc", "a=b"} {
		srv, c, s := newSandbox(t)
		err := c.Check(context.Background(), s.APIEndpoint(), tok)
		var fe *clickwrap.FieldError
		if !errors.As(err, &fe) || fe.Field != clickwrap.FieldAccessToken || !fe.Permanent() {
			t.Errorf("Check(%q) = %v, want a permanent FieldError naming access_token", tok, err)
		}
		if strings.Contains(err.Error(), "cannot reach") {
			t.Errorf("Check(%q) says %q", tok, err)
		}
		if n := srv.Stats().APIRequests; n != 0 {
			t.Errorf("Check(%q) sent %d requests", tok, n)
		}
	}
}

// TestVerifySecretWithoutToken: a first secret's configuration test gets
// the named error that the rotation package recognises.
func TestVerifySecretWithoutToken(t *testing.T) {
	t.Parallel()
	srv, c, _ := newSandbox(t)
	err := c.Verify(context.Background(), `{"client_id":"id","client_secret":"s","api_url":"`+srv.APIURL()+`"}`)
	if !errors.Is(err, clickwrap.ErrNoAccessToken) || !errors.Is(err, rotation.ErrNoCredential) {
		t.Fatalf("Verify = %v, want ErrNoAccessToken wrapping rotation.ErrNoCredential", err)
	}
	if n := srv.Stats().APIRequests; n != 0 {
		t.Errorf("%d API requests, want 0", n)
	}
}

// TestIsToken68 pins the RFC 7235 token68 grammar.
func TestIsToken68(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want bool
	}{
		{"abc", true}, {"A-Z_a.z~0+9/", true}, {"abc==", true}, {"abc=", true},
		{"", false}, {"=", false}, {"==abc", false}, {"a=b", false}, {"a b", false}, {"a\n", false},
		{"a\t", false}, {`a"`, false}, {"a,b", false}, {"a;b", false}, {"ä", false}, {"a\x00", false},
	}
	for _, tt := range tests {
		if got := clickwrap.IsToken68(tt.in); got != tt.want {
			t.Errorf("IsToken68(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// tokenEndpoint starts a TLS token endpoint that answers with handle, and a
// client for it (one try per request) and a secret naming it, with a query
// in token_url that must never reach an error.
func tokenEndpoint(t *testing.T, handle http.HandlerFunc) (*clickwrap.Client, *clickwrap.Secret, *atomic.Int32) {
	t.Helper()
	hits := new(atomic.Int32)
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		handle(w, r)
	}))
	t.Cleanup(ts.Close)
	hc := clickwrap.NewHTTPClient()
	hc.Transport.(*http.Transport).TLSClientConfig.RootCAs = ts.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	c := clickwrap.NewClient(hc)
	c.Retry.MaxAttempts = 4
	s, err := clickwrap.ParseSecret(`{"client_id":"id","client_secret":"` + clientSecret + `","token_url":"` + ts.URL +
		`/oauth/token?proxy_key=hidden-q-1","api_url":"` + ts.URL + `/v1.1?proxy_key=hidden-q-1"}`)
	if err != nil {
		t.Fatal(err)
	}
	return c, s, hits
}

// TestMintAmbiguousAnswers: a 2xx that holds a token but also says more
// than one thing is refused, final: the token may have been issued, so no
// other client authentication is tried.
func TestMintAmbiguousAnswers(t *testing.T) {
	t.Parallel()
	const tok = "tok-ambiguous-4f1e"
	tests := []struct {
		name, body, want string
	}{
		{"token and error", `{"access_token":"` + tok + `","token_type":"Bearer","error":"invalid_client"}`, "both access_token and error"},
		{"token and Error", `{"access_token":"` + tok + `","Error":"invalid_client"}`, "both access_token and error"},
		{"token given twice", `{"access_token":"` + tok + `","access_token":"other-token"}`, "gives access_token more than once"},
		{"expires_in given twice", `{"access_token":"` + tok + `","expires_in":60,"Expires_In":3600}`, "gives expires_in more than once"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, s, hits := tokenEndpoint(t, func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(tt.body))
			})
			_, err := c.Mint(context.Background(), s)
			var te *clickwrap.TokenAnswerError
			if !errors.As(err, &te) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Mint: %v, want a TokenAnswerError saying %q", err, tt.want)
			}
			if n := hits.Load(); n != 1 {
				t.Errorf("%d token requests, want 1", n)
			}
			assertNoSecret(t, err.Error(), tok, "hidden-q-1")
		})
	}
}

// TestMintOddMembersDoNotMatter: members the rotator does not use, of any
// type, do not make a usable answer unusable.
func TestMintOddMembersDoNotMatter(t *testing.T) {
	t.Parallel()
	const tok = "tok-odd-members-77"
	for _, extra := range []string{`"error":false`, `"refresh_token":0`, `"error_description":{}`, `"Expires_In":3600.0`, `"scope":["a","b"]`} {
		c, s, _ := tokenEndpoint(t, func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte(`{"access_token":"` + tok + `",` + extra + `}`))
		})
		got, err := c.Mint(context.Background(), s)
		if err != nil || got.AccessToken != tok {
			t.Errorf("with %s: Mint = %v (token right: %v)", extra, err, got.AccessToken == tok)
		}
	}
}

// TestMintFallsBackAfterAnHTMLRefusal: an endpoint that takes only a JSON
// body and answers form bodies with a framework's HTML 415 or 400 page
// still gets its JSON body: a 400 or 415, from whoever, issued no token.
func TestMintFallsBackAfterAnHTMLRefusal(t *testing.T) {
	t.Parallel()
	for _, status := range []int{http.StatusUnsupportedMediaType, http.StatusBadRequest} {
		c, s, hits := tokenEndpoint(t, func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Content-Type") != "application/json" {
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(status)
				_, _ = w.Write([]byte("<html><body><h1>Unsupported Media Type</h1></body></html>"))
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"access_token":"json-body-token","token_type":"Bearer"}`))
		})
		tok, err := c.Mint(context.Background(), s)
		if err != nil || tok.AccessToken != "json-body-token" {
			t.Fatalf("HTML %d: Mint = %v", status, err)
		}
		if n := hits.Load(); n != 3 {
			t.Errorf("HTML %d: %d token requests, want 3 (Basic, body parameters, JSON body)", status, n)
		}
	}
}

// TestMalformedLocation: a redirect whose Location is not a URL is neither
// followed nor quoted: its query string could hold a session key.
func TestMalformedLocation(t *testing.T) {
	t.Parallel()
	c, s, _ := tokenEndpoint(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Location", "/sso/%zz/login?session=hidden-q-1")
		w.WriteHeader(http.StatusFound)
	})
	_, mintErr := c.Mint(context.Background(), s)
	if mintErr == nil || !strings.Contains(mintErr.Error(), "Location header is not a URL") {
		t.Errorf("Mint: %v, want the redirect reported", mintErr)
	}
	checkErr := c.Check(context.Background(), s.APIEndpoint(), "a-token")
	var se *clickwrap.StatusError
	if !errors.As(checkErr, &se) || se.Permanent() || !strings.Contains(checkErr.Error(), "a redirect whose Location is not a URL") {
		t.Errorf("Check: %v, want a redirect that is not the API's answer", checkErr)
	}
	for _, err := range []error{mintErr, checkErr} {
		if err != nil && strings.Contains(err.Error(), "hidden-q-1") {
			t.Errorf("an error shows the query: %v", err)
		}
	}
}
