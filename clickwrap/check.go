package clickwrap

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// The Bearer check is the cheapest authenticated read the API documents:
// GET {api_url}/sites with one lean, uncounted row.
const (
	checkPath = "sites"
	// maxProofBody bounds how much of the check's answer is read; a
	// one-row lean page is far smaller, and a 2xx body longer than this
	// proves nothing (whatever its first bytes).
	maxProofBody = 1 << 20
)

// checkQuery is the query of the Bearer check.
var checkQuery = url.Values{"per_page": {"1"}, "no_count": {"true"}, "lean": {"true"}}

// CheckURL returns the URL of the Bearer check for the REST API base
// apiURL: the path "sites" joined to apiURL's path as a URL path
// (url.JoinPath), apiURL's own query kept as written (less any per_page,
// no_count or lean) and the check's parameters appended, the fragment
// dropped. https://host/v1.1?tenant=1 gives
// https://host/v1.1/sites?tenant=1&lean=true&no_count=true&per_page=1.
// It returns a [*FieldError] naming api_url for a URL that is not https://.
func CheckURL(apiURL string) (string, error) {
	if err := checkHTTPS(FieldAPIURL, apiURL); err != nil {
		return "", err
	}
	u, err := url.Parse(apiURL)
	if err != nil {
		return "", &FieldError{Field: FieldAPIURL, Problem: "is not a URL"}
	}
	u = u.JoinPath(checkPath)
	// The query is kept as written (a ";" or an odd escape in a proxy's
	// key must survive), less the parameters the check sets itself.
	var kept []string
	for _, part := range strings.Split(u.RawQuery, "&") {
		key, _, _ := strings.Cut(part, "=")
		if k, err := url.QueryUnescape(key); err == nil {
			key = k
		}
		if _, ours := checkQuery[key]; part != "" && !ours {
			kept = append(kept, part)
		}
	}
	u.RawQuery = strings.Join(append(kept, checkQuery.Encode()), "&")
	u.Fragment, u.RawFragment = "", ""
	return u.String(), nil
}

// IsToken68 reports whether s is a non-empty RFC 7235 token68, the only
// form RFC 6750 allows for a Bearer credential: letters, digits and
// - . _ ~ + /, then any number of "=".
func IsToken68(s string) bool {
	i := 0
	for ; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/') {
			break
		}
	}
	if i == 0 {
		return false
	}
	for ; i < len(s); i++ {
		if s[i] != '=' {
			return false
		}
	}
	return true
}

// Check proves that accessToken works: GET [CheckURL](apiURL) with
// Authorization: Bearer, over HTTPS, with no redirect followed.
//
// Only the API's own success answer proves a token: a 2xx from the
// api_url host, not redirected, whose body is a JSON object in the API's
// documented shape (a "data" array or object) that is not an error object. Only the API's own refusal condemns one: a 401 or 403 that
// is not plainly someone else's. The answers, and what they return:
//
//   - 2xx with a JSON object holding "data": nil.
//   - the API's refusal, a [*StatusError] that is Permanent: a 401 that is
//     not a page, with a Bearer challenge or none (RFC 6750 section 3); a
//     403 with the API's {"error":...} object, an empty body or a Bearer
//     challenge.
//   - an answer that is not the API's (a redirect, such as a sign-in
//     gateway's 302; an HTML page with any status, such as a CDN challenge
//     or a firewall's block page; any answer marked cf-mitigated; a 403 in
//     a CDN's or gateway's own shape; a 401 that challenges only for
//     another scheme; a 2xx whose body is not a JSON object, says it
//     failed, or has no "data", such as a gateway's {"message":"ok"}):
//     a [*StatusError] with NotAPI set, neither retried here nor permanent:
//     the token is neither proven nor refused.
//   - 404: a [*StatusError] that names api_url (the base is wrong).
//   - 429 and 5xx: retried under the RetryPolicy, then a [*StatusError].
//
// A token that is empty gives [ErrNoAccessToken]; one that is not a
// token68 (see [IsToken68]) gives a permanent [*FieldError] naming
// access_token without sending anything, since no Bearer header can carry
// it.
func (c *Client) Check(ctx context.Context, apiURL, accessToken string) error {
	target, err := CheckURL(apiURL)
	if err != nil {
		return err
	}
	if accessToken == "" {
		return ErrNoAccessToken
	}
	if !IsToken68(accessToken) {
		return &FieldError{Field: FieldAccessToken, Problem: "has characters outside the RFC 6750 token68 set (letters, digits, - . _ ~ + / and trailing =), so it cannot be sent as a Bearer token: this value can never pass"}
	}
	endpoint := RedactURL(target)
	// The transport alone, not the http.Client: a client follows (or, told
	// not to, still parses) redirects; the check takes any 3xx as it is.
	rt := c.withUserAgent().Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	return c.Retry.do(ctx, func(ctx context.Context) attemptResult {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
		if err != nil {
			return attemptResult{err: fmt.Errorf("verify: building the request for %s: %w", endpoint, err)}
		}
		req.Header.Set("Authorization", "Bearer "+accessToken)
		req.Header.Set("Accept", "application/json")
		resp, err := rt.RoundTrip(req)
		if err != nil {
			return classifyTransportError("verify", endpoint, &url.Error{Op: "Get", URL: endpoint, Err: err})
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxProofBody+1))
		resp.Body.Close()
		if err != nil {
			return classifyTransportError("verify", endpoint, &url.Error{Op: "Get", URL: endpoint, Err: err})
		}
		return classifyCheckAnswer(endpoint, resp, body)
	})
}

// classifyCheckAnswer sorts the check's answer; see [Client.Check].
func classifyCheckAnswer(endpoint string, resp *http.Response, body []byte) attemptResult {
	se := &StatusError{Op: "verify", URL: endpoint, StatusCode: resp.StatusCode}
	code := resp.StatusCode
	cdn := resp.Header.Get("Cf-Mitigated")
	switch {
	case cdn != "":
		// A CDN's challenge or block, whatever its status and body.
		se.NotAPI = fmt.Sprintf("%s, marked by a CDN (cf-mitigated: %.20q)", describeBody(body, resp.Header), cdn)
	case code >= 200 && code <= 299 && len(body) > maxProofBody:
		se.NotAPI = fmt.Sprintf("a body larger than %d bytes (a one-row page is far smaller)", maxProofBody)
	case code >= 200 && code <= 299:
		what, ok := isAPIObject(body, resp.Header)
		if ok {
			return attemptResult{}
		}
		se.NotAPI = what
	case code >= 300 && code <= 399:
		se.NotAPI = "a redirect"
		if loc, err := resp.Location(); err == nil {
			se.NotAPI += " to " + RedactURL(loc.String())
		} else if resp.Header.Get("Location") != "" {
			se.NotAPI += " whose Location is not a URL"
		}
	case code == http.StatusNotFound:
		// Whoever answered, nothing is at that path: api_url is wrong.
	case isHTML(body, resp.Header):
		// A page from something in front of the API: whatever its status,
		// it says nothing about the token.
		se.NotAPI = describeBody(body, resp.Header)
	case code == http.StatusUnauthorized && !bearerChallengeOrNone(resp.Header):
		se.NotAPI = "a challenge for another scheme than Bearer (a proxy's sign-in?)"
	case code == http.StatusForbidden && !isAPIRefusal(body, resp.Header):
		se.NotAPI = describeBody(body, resp.Header) + " that is not the API's error object (a CDN's or firewall's block?)"
	}
	if se.NotAPI != "" && code < 500 && code != http.StatusTooManyRequests {
		return attemptResult{err: se}
	}
	// The API's own answer, or a 429 or 5xx from anyone: retried as such.
	return classifyStatus(se, resp.Header)
}

// bearerChallengeOrNone reports whether a 401's WWW-Authenticate offers a
// Bearer challenge, or there is none: the API refusing a Bearer token
// (RFC 6750 section 3). A 401 that offers only other schemes (Basic
// realm="corp-proxy") is someone else asking for its own sign-in.
func bearerChallengeOrNone(h http.Header) bool {
	challenges := h.Values("WWW-Authenticate")
	if len(challenges) == 0 {
		return true
	}
	for _, c := range challenges {
		if strings.Contains(strings.ToLower(c), "bearer") {
			return true
		}
	}
	return false
}

// isAPIRefusal reports whether a 403 is the API's own: an empty body, a
// JSON object with an "error" member (the error shape the Clickwrap API
// documents, {"error":{"message":...,"status":...,"name":...}}), or a
// Bearer challenge (RFC 6750 insufficient_scope). CDNs and firewalls answer
// 403 in their own shapes: Cloudflare's {"title":"Error 1020: Access
// denied","error_code":1020,...} when asked for JSON, its plain "error code:
// 1020", an API gateway's {"message":"Forbidden"}.
func isAPIRefusal(body []byte, h http.Header) bool {
	b := trimBody(body)
	if len(b) == 0 {
		return true
	}
	for _, c := range h.Values("WWW-Authenticate") {
		if strings.Contains(strings.ToLower(c), "bearer") {
			return true
		}
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(b, &m) != nil {
		return false
	}
	_, ok := m["error"]
	return ok
}

// isAPIObject reports whether a 2xx body is the API's own success answer: a
// JSON object (a UTF-8 byte-order mark and surrounding whitespace aside)
// that does not say it failed (no "error" other than null, false or "", no
// non-empty "errors", no "success" false or "false") and that holds the API's "data"
// member as an array or an object: the documented shape of its answers
// (GET /v1.1/sites answers {"count":...,"data":[...]}, a single resource
// {"data":{...}}); a gateway's or mock's own 2xx JSON ({"message":"ok"},
// {}) has none. Member names are matched in any case, as in token answers,
// and one of these four given twice (in any case) is ambiguous: not the
// API's answer. Otherwise it says what the body is.
func isAPIObject(body []byte, h http.Header) (string, bool) {
	b := trimBody(body)
	if len(b) == 0 || b[0] != '{' || !json.Valid(b) {
		return describeBody(body, h), false
	}
	ms, ok := jsonMembers(b)
	if !ok {
		return "a body that is not a JSON object", false
	}
	got := map[string]json.RawMessage{}
	for _, m := range ms {
		name := strings.ToLower(m.name)
		switch name {
		case "data", "error", "errors", "success":
		default:
			continue
		}
		if _, twice := got[name]; twice {
			return fmt.Sprintf("a JSON object giving %q twice", name), false
		}
		got[name] = m.value
	}
	errorSaysNothing := slices.Contains([]string{"", "null", "false", `""`}, string(got["error"]))
	if !errorSaysNothing || !isEmptyJSON(got["errors"]) || slices.Contains([]string{"false", `"false"`}, strings.ToLower(string(got["success"]))) {
		return "a JSON error object", false
	}
	if d := got["data"]; len(d) == 0 || (d[0] != '[' && d[0] != '{') {
		return `a JSON object without the API's "data" member (the list GET /sites answers)`, false
	}
	return "", true
}

// isEmptyJSON reports whether an "errors" value lists nothing: absent,
// null, or an empty array or object (whatever its spacing). An "error"
// member is stricter: anything but null, false or "" (an empty object
// included) says the request failed.
func isEmptyJSON(v json.RawMessage) bool {
	if len(v) == 0 || string(v) == "null" {
		return true
	}
	switch v[0] {
	case '[':
		var a []json.RawMessage
		return json.Unmarshal(v, &a) == nil && len(a) == 0
	case '{':
		var o map[string]json.RawMessage
		return json.Unmarshal(v, &o) == nil && len(o) == 0
	}
	return false
}
