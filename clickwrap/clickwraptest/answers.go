package clickwraptest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// loginPath is the sign-in page that InterceptLoginRedirect redirects to.
const loginPath = "/login"

// utf8BOM is the UTF-8 encoding of U+FEFF, the byte-order mark.
const utf8BOM = "\xEF\xBB\xBF"

// TokenAnswer shapes the token endpoint's successful (and error) answers, to
// imitate real token endpoints that stray from RFC 6749. The zero value is
// the default: JSON, application/json, token_type "Bearer", expires_in an
// integer when SetExpiresIn is set.
//
// Form, ContentType and BOM shape every answer of the token endpoint's own
// logic, successes and RFC 6749 errors (400, 401, 405, 415) alike;
// ExpiresIn, TokenType and AccessToken shape only successes; ErrorsWith200
// only errors. Answers that do not come from the token endpoint itself are
// never shaped: RateLimitNext's 429, FailNext's 5xx and InterceptNext's
// pages. Headers other than Content-Type (Cache-Control: no-store,
// WWW-Authenticate, Allow) are the same whatever the shape.
type TokenAnswer struct {
	// Form writes the answer application/x-www-form-urlencoded
	// (access_token=..&expires_in=..&token_type=.., or
	// error=..&error_description=.. for an error) instead of JSON. Values
	// are encoded with url.Values.Encode, so keys come in sorted order and
	// "\n" becomes %0A.
	Form bool
	// ContentType overrides the Content-Type header. "" means
	// application/json, or application/x-www-form-urlencoded when Form is
	// set. Example: "text/plain; charset=utf-8". It changes only the label,
	// never the body.
	ContentType string
	// BOM prefixes the body with a UTF-8 byte-order mark (EF BB BF).
	BOM bool
	// ExpiresIn, when not "", is written as expires_in verbatim, even when
	// SetExpiresIn is not set: raw JSON text in a JSON answer (3600.0,
	// "3600" with the quotes, 3.6e3; it is not validated, so invalid JSON
	// makes an invalid body), the value in a form answer. It does not change
	// the token's real lifetime (SetExpiresIn does; with SetExpiresIn(0) the
	// token never expires). "" means an integer number of seconds when
	// SetExpiresIn is set and no expires_in otherwise.
	ExpiresIn string
	// TokenType, when not "", replaces "Bearer" as token_type (e.g.
	// "bearer", "BEARER").
	TokenType string
	// AccessToken, when not nil, rewrites the access_token as written (e.g.
	// func(t string) string { return t + "\n" }); the sandbox keeps
	// accepting only the token it minted. It is called with the minted
	// token, without the Server's lock held, possibly from several
	// goroutines at once.
	AccessToken func(minted string) string
	// ErrorsWith200 answers token-endpoint errors (invalid_client etc.) with
	// HTTP 200 instead of their 4xx status, with the same RFC 6749 error
	// body and headers, as some servers do.
	ErrorsWith200 bool
}

// SetTokenAnswer sets the shape of the token endpoint's answers from now on.
// The default is the zero TokenAnswer (RFC 6749 JSON).
func (s *Server) SetTokenAnswer(a TokenAnswer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokenAnswer = a
}

// SetBasicDecoding sets whether the token endpoint form-url-decodes HTTP
// Basic client credentials before it compares them, as RFC 6749 section
// 2.3.1 prescribes. The default is true. With false, the user and password
// are compared as sent, as several real servers do: a client secret such as
// "abc+def/ghi=" sent the RFC way (url.QueryEscape'd, as golang.org/x/oauth2
// does) is then rejected with 401 invalid_client, while the raw secret in
// Basic and body parameters (which are always form-decoded) still work.
func (s *Server) SetBasicDecoding(decode bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.basicRaw = !decode
}

// SetActivationDelay makes a newly minted token rejected by the API (401,
// the API's JSON UnauthorizedError, counted in APIRejected) until d has
// passed since it was minted, as services whose new credentials take a
// moment to propagate do. d <= 0 (the default) makes tokens live at once.
// Applies to tokens minted after the call. Valid reports false for a token
// that is not live yet. A token whose lifetime (SetExpiresIn) is shorter
// than d is never accepted.
func (s *Server) SetActivationDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.activationDelay = max(d, 0)
}

// Intercept is an answer that something in front of the API (a CDN, a web
// application firewall, a sign-in proxy) sends instead of the API. See
// InterceptNext.
type Intercept int

const (
	// InterceptLoginRedirect answers 302 Found, Location:
	// /login?next=<request path, url.QueryEscape'd> (relative to the
	// sandbox URL), with a short text/html; charset=utf-8 body. The sandbox
	// serves GET /login as a 200 text/html; charset=utf-8 sign-in page
	// (always, not only while intercepting), so a client that follows
	// redirects ends on a 200 HTML page.
	InterceptLoginRedirect Intercept = iota + 1
	// InterceptSignInPage answers 200 OK, text/html; charset=utf-8, with a
	// sign-in/portal HTML page (the page GET /login serves).
	InterceptSignInPage
	// InterceptChallenge answers 403 Forbidden, text/html; charset=utf-8,
	// with the header cf-mitigated: challenge and an HTML "Just a moment..."
	// challenge page, as a CDN's bot challenge does.
	InterceptChallenge
	// InterceptBlockPage answers 403 Forbidden with an HTML firewall block
	// page whose Content-Type says application/json, and no special header
	// (a mislabelled WAF page).
	InterceptBlockPage
	// InterceptProxyAuth answers 401 Unauthorized, Content-Type text/html,
	// WWW-Authenticate: Basic realm="proxy", with an HTML page from a proxy
	// asking for its own sign-in.
	InterceptProxyAuth
	// InterceptGatewayJSON answers 200 OK, application/json, with a
	// gateway's own JSON object ({"message":"ok","status":"healthy"}), as an
	// API gateway's default route, a load balancer's fixed response or a
	// mock integration answers any path: JSON, a 2xx, and not the API.
	InterceptGatewayJSON
)

// String returns the name of the intercept, e.g. "InterceptChallenge", or
// "Intercept(N)" for an unknown value.
func (k Intercept) String() string {
	switch k {
	case InterceptLoginRedirect:
		return "InterceptLoginRedirect"
	case InterceptSignInPage:
		return "InterceptSignInPage"
	case InterceptChallenge:
		return "InterceptChallenge"
	case InterceptBlockPage:
		return "InterceptBlockPage"
	case InterceptProxyAuth:
		return "InterceptProxyAuth"
	case InterceptGatewayJSON:
		return "InterceptGatewayJSON"
	default:
		return fmt.Sprintf("Intercept(%d)", int(k))
	}
}

// InterceptNext makes the next n requests to e answered by kind instead of
// the API, before RateLimitNext/FailNext rules and before authentication
// (SetDelay still delays them). EndpointAny applies to both; a rule for the
// specific endpoint is used before the EndpointAny one. n <= 0 cancels the
// rule for e. An intercepted request counts in Stats.Intercepted and, as
// every request, in TokenRequests or APIRequests, never in Minted or
// APIRejected. Only the token endpoint and paths under /v1.1 are
// intercepted, not /login. Panics on an unknown Endpoint or Intercept (kind
// is checked even when n <= 0).
func (s *Server) InterceptNext(e Endpoint, n int, kind Intercept) {
	checkEndpoint("InterceptNext", e)
	switch kind {
	case InterceptLoginRedirect, InterceptSignInPage, InterceptChallenge, InterceptBlockPage, InterceptProxyAuth, InterceptGatewayJSON:
	default:
		panic("clickwraptest: InterceptNext: unknown " + kind.String())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.intercept[e] = interceptRule{n: max(n, 0), kind: kind}
}

type interceptRule struct {
	n    int
	kind Intercept
}

// injectIntercept consumes a pending InterceptNext rule for e, if any, and
// writes its answer. It reports whether it answered.
func (s *Server) injectIntercept(w http.ResponseWriter, r *http.Request, e Endpoint) bool {
	s.mu.Lock()
	var kind Intercept
	switch {
	case s.intercept[e].n > 0:
		s.intercept[e].n--
		kind = s.intercept[e].kind
	case s.intercept[EndpointAny].n > 0:
		s.intercept[EndpointAny].n--
		kind = s.intercept[EndpointAny].kind
	}
	if kind != 0 {
		s.stats.Intercepted++
	}
	s.mu.Unlock()
	if kind == 0 {
		return false
	}

	const htmlUTF8 = "text/html; charset=utf-8"
	switch kind {
	case InterceptLoginRedirect:
		loc := loginPath + "?next=" + url.QueryEscape(r.URL.Path)
		w.Header().Set("Location", loc)
		writeBody(w, http.StatusFound, htmlUTF8, foundPage)
	case InterceptSignInPage:
		writeBody(w, http.StatusOK, htmlUTF8, signInPage)
	case InterceptChallenge:
		w.Header().Set("cf-mitigated", "challenge")
		writeBody(w, http.StatusForbidden, htmlUTF8, challengePage)
	case InterceptBlockPage:
		writeBody(w, http.StatusForbidden, "application/json", blockPage)
	case InterceptProxyAuth:
		w.Header().Set("WWW-Authenticate", `Basic realm="proxy"`)
		writeBody(w, http.StatusUnauthorized, "text/html", proxyAuthPage)
	case InterceptGatewayJSON:
		writeBody(w, http.StatusOK, "application/json", gatewayJSON)
	}
	return true
}

// serveLogin answers /login: the sign-in page for GET and HEAD, 405
// otherwise.
func serveLogin(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeBody(w, http.StatusMethodNotAllowed, "text/plain; charset=utf-8", "Method not allowed.\n")
		return
	}
	writeBody(w, http.StatusOK, "text/html; charset=utf-8", signInPage)
}

// writeBody writes body with the given status and Content-Type.
func writeBody(w http.ResponseWriter, status int, contentType, body string) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

const foundPage = `<!DOCTYPE html>
<html><head><title>Found</title></head>
<body><p>Redirecting to the <a href="/login">sign-in page</a>.</p></body></html>
`

const signInPage = `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Sign in</title></head>
<body>
<h1>Sign in to continue</h1>
<form method="post" action="/login">
<label>Email <input type="email" name="email" autocomplete="username"></label>
<label>Password <input type="password" name="password" autocomplete="current-password"></label>
<button type="submit">Sign in</button>
</form>
</body>
</html>
`

const challengePage = `<!DOCTYPE html>
<html lang="en-US">
<head><meta charset="UTF-8"><title>Just a moment...</title></head>
<body>
<noscript>Enable JavaScript and cookies to continue</noscript>
<h1>Just a moment...</h1>
<p>Checking if the site connection is secure.</p>
</body>
</html>
`

// blockPage is a web application firewall's block page; proxyAuthPage a
// proxy's request to sign in to it.
var (
	blockPage = simplePage("Access Denied", "Access Denied",
		"The request was blocked by the web application firewall.", "Reference: 0.sandbox.0")
	proxyAuthPage = simplePage("Authentication required", "Authentication required",
		"Sign in to the proxy to access this resource.")
	gatewayJSON = `{"message":"ok","status":"healthy"}` + "\n"
)

// simplePage is a plain HTML page with a title, a heading and paragraphs.
func simplePage(title, heading string, paragraphs ...string) string {
	var b strings.Builder
	b.WriteString("<!DOCTYPE html>\n<html>\n<head><title>" + title + "</title></head>\n<body>\n<h1>" + heading + "</h1>\n")
	for _, p := range paragraphs {
		b.WriteString("<p>" + p + "</p>\n")
	}
	b.WriteString("</body>\n</html>\n")
	return b.String()
}

// tokenParams are the parameters of a token request, from a form or a JSON
// body.
type tokenParams struct {
	grantType    string
	clientID     string
	clientSecret string
	bodyCreds    bool // client_id or client_secret present in the body
}

// formParams reads the form-encoded body of a token request. On failure it
// returns a 400 invalid_request description.
func formParams(r *http.Request) (p tokenParams, errDesc string) {
	// Only the form-encoded body counts: RFC 6749 forbids credentials in
	// the request URI, and a body of another content type is ignored (so
	// grant_type is then missing).
	if err := r.ParseForm(); err != nil {
		return p, "The request body could not be parsed."
	}
	form := r.PostForm
	for _, k := range []string{"grant_type", "client_id", "client_secret", "scope"} {
		if len(form[k]) > 1 {
			return p, "The " + k + " parameter is repeated."
		}
	}
	return tokenParams{
		grantType:    form.Get("grant_type"),
		clientID:     form.Get("client_id"),
		clientSecret: form.Get("client_secret"),
		bodyCreds:    form.Has("client_id") || form.Has("client_secret"),
	}, ""
}

// jsonParams reads the JSON body of a token request (AuthJSONBody). It
// returns status 415 when the Content-Type is not application/json and 400
// when the body is not one JSON object, repeats a known parameter or has a
// known parameter that is not a string; status 0 on success. Unknown
// members are ignored.
func jsonParams(r *http.Request) (p tokenParams, status int, errDesc string) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return p, http.StatusUnsupportedMediaType, "The token endpoint accepts only an application/json request body."
	}
	bad := func(desc string) (tokenParams, int, string) {
		return tokenParams{}, http.StatusBadRequest, desc
	}
	const notObject = "The request body is not a JSON object."
	dec := json.NewDecoder(r.Body)
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return bad(notObject)
	}
	seen := make(map[string]bool)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return bad(notObject)
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return bad(notObject)
		}
		var dst *string
		switch key {
		case "grant_type":
			dst = &p.grantType
		case "client_id":
			dst = &p.clientID
		case "client_secret":
			dst = &p.clientSecret
		case "scope":
			dst = new(string)
		default:
			continue
		}
		if seen[key] {
			return bad("The " + key + " parameter is repeated.")
		}
		seen[key] = true
		raw = bytes.TrimSpace(raw)
		if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, dst) != nil {
			return bad("The " + key + " parameter is not a string.")
		}
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return bad(notObject)
	}
	if _, err := dec.Token(); err != io.EOF {
		return bad(notObject)
	}
	p.bodyCreds = seen["client_id"] || seen["client_secret"]
	return p, 0, ""
}

// answerField is one member of a token-endpoint answer.
type answerField struct {
	key, value string
	raw        bool // value is JSON text, written verbatim in a JSON answer
}

// writeTokenAnswer writes a token-endpoint answer shaped by a.
func writeTokenAnswer(w http.ResponseWriter, a TokenAnswer, status int, fields []answerField) {
	var body bytes.Buffer
	if a.BOM {
		body.WriteString(utf8BOM)
	}
	contentType := "application/json"
	if a.Form {
		contentType = "application/x-www-form-urlencoded"
		v := url.Values{}
		for _, f := range fields {
			v.Set(f.key, f.value)
		}
		body.WriteString(v.Encode())
	} else {
		body.WriteByte('{')
		for i, f := range fields {
			if i > 0 {
				body.WriteByte(',')
			}
			body.Write(jsonString(f.key))
			body.WriteByte(':')
			if f.raw {
				body.WriteString(f.value)
			} else {
				body.Write(jsonString(f.value))
			}
		}
		body.WriteByte('}')
	}
	if a.ContentType != "" {
		contentType = a.ContentType
	}
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(body.Len()))
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(body.Bytes())
}

// writeTokenError writes an RFC 6749 section 5.2 error answer shaped by a.
func writeTokenError(w http.ResponseWriter, a TokenAnswer, status int, code, description string) {
	if a.ErrorsWith200 {
		status = http.StatusOK
	}
	writeTokenAnswer(w, a, status, []answerField{
		{key: "error", value: code},
		{key: "error_description", value: description},
	})
}

// jsonString returns s as a JSON string literal.
func jsonString(s string) []byte {
	b, _ := json.Marshal(s) // a string always marshals
	return b
}
