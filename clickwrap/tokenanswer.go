package clickwrap

// This file sits between golang.org/x/oauth2 and the token endpoint. oauth2
// builds the client-credentials request and parses the answer; real token
// endpoints answer in shapes its parser does not take (expires_in as 3600.0
// or "3600", JSON labelled text/plain, a token with a trailing newline), and
// some want the request as a JSON body. Rather than fork oauth2, the
// tokenTransport below rewrites the request body for the JSON style and
// rewrites a usable answer into the canonical RFC 6749 JSON that oauth2
// parses, before oauth2 sees it.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// maxTokenAnswer bounds how much of a token endpoint's answer is read: the
// same 1 MiB golang.org/x/oauth2 reads.
const maxTokenAnswer = 1 << 20

// tokenTransport is the RoundTripper of token requests.
type tokenTransport struct {
	base http.RoundTripper
	// jsonBody sends the request's form parameters as a JSON object
	// instead (the JSON client authentication).
	jsonBody bool
}

func (t *tokenTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.jsonBody {
		r, err := formToJSON(req)
		if err != nil {
			return nil, err
		}
		req = r
	}
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	return normalizeTokenAnswer(resp)
}

// formToJSON returns a copy of req whose form-encoded body (as oauth2 builds
// it: grant_type, and with body client authentication client_id and
// client_secret) is sent as a JSON object of the same string members.
func formToJSON(req *http.Request) (*http.Request, error) {
	var form []byte
	if req.Body != nil {
		b, err := io.ReadAll(io.LimitReader(req.Body, maxTokenAnswer))
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		form = b
	}
	vals, err := url.ParseQuery(string(form))
	if err != nil {
		return nil, fmt.Errorf("encoding the token request as JSON: %w", err)
	}
	obj := make(map[string]string, len(vals))
	for k := range vals {
		obj[k] = vals.Get(k)
	}
	body, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	r := req.Clone(req.Context())
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	r.ContentLength = int64(len(body))
	r.Header.Set("Content-Type", "application/json")
	return r, nil
}

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

// normalizeTokenAnswer rewrites a token endpoint's answer for oauth2's
// parser, whatever its status (error answers carry the RFC 6749 "error"
// member that oauth2 reads too):
//
//   - a UTF-8 byte-order mark and surrounding whitespace are dropped;
//   - a body that is a JSON object is parsed as JSON whatever its
//     Content-Type says; a body of form-encoded parameters (with
//     access_token or error among them) becomes the same JSON object;
//   - see normalizeMembers for the members.
//
// The answer goes on as application/json. A 2xx body that is neither is
// refused with a notTokenAnswerError; a non-2xx one is passed on untouched,
// for oauth2 to report its status.
func normalizeTokenAnswer(resp *http.Response) (*http.Response, error) {
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenAnswer))
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	ok2xx := resp.StatusCode >= 200 && resp.StatusCode <= 299
	members, isObject := tokenMembers(raw)
	if !isObject {
		if ok2xx {
			return nil, &notTokenAnswerError{status: resp.StatusCode, what: describeBody(raw, resp.Header)}
		}
		resp.Body = io.NopCloser(bytes.NewReader(raw))
		return resp, nil
	}
	normalizeMembers(members)
	if ok2xx && !hasToken(members) && !hasMember(members, "error") {
		return nil, &notTokenAnswerError{status: resp.StatusCode, what: "a JSON object without access_token"}
	}
	body, err := json.Marshal(members)
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header = resp.Header.Clone()
	resp.Header.Set("Content-Type", "application/json")
	resp.Header.Del("Content-Length")
	return resp, nil
}

// tokenMembers reads a token answer's body as a JSON object, or as
// form-encoded parameters that include access_token or error. It reports
// false for anything else.
func tokenMembers(raw []byte) (map[string]json.RawMessage, bool) {
	body := trimBody(raw)
	if len(body) > 0 && body[0] == '{' {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(body, &m); err == nil && m != nil {
			return m, true
		}
		return nil, false
	}
	vals, err := url.ParseQuery(string(body))
	if err != nil || (!vals.Has("access_token") && !vals.Has("error")) {
		return nil, false
	}
	m := make(map[string]json.RawMessage, len(vals))
	for k := range vals {
		b, err := json.Marshal(vals.Get(k))
		if err != nil {
			return nil, false
		}
		m[k] = b
	}
	return m, true
}

// trimBody drops a UTF-8 byte-order mark and surrounding whitespace.
func trimBody(b []byte) []byte {
	return bytes.TrimSpace(bytes.TrimPrefix(bytes.TrimSpace(b), []byte("\xef\xbb\xbf")))
}

// normalizeMembers puts the members oauth2 reads in the shape it takes:
//
//   - access_token: surrounding whitespace trimmed (an RFC 6750 token has
//     none, so it can only be a server's stray newline); a JSON number
//     becomes its digits. What remains is checked against token68 by Mint.
//   - token_type: surrounding whitespace trimmed; any case is kept (Mint
//     compares without case).
//   - expires_in: any JSON number (3600, 3600.0, 3.6e3) or a string
//     holding one ("3600") is a number of seconds, rounded down to whole
//     seconds (at least 1) and capped at 2^31-1 as oauth2 caps it. A value
//     that is not a finite positive number (null, "", "never", 0, -1) is
//     dropped: the token is then stored without expires_at, as when the
//     endpoint sends none.
func normalizeMembers(m map[string]json.RawMessage) {
	if v, ok := m["access_token"]; ok {
		if s, isString := jsonString(v); isString {
			m["access_token"] = mustJSON(strings.TrimSpace(s))
		} else if n, isNumber := jsonNumber(v); isNumber {
			m["access_token"] = mustJSON(n.String())
		}
	}
	if v, ok := m["token_type"]; ok {
		if s, isString := jsonString(v); isString {
			m["token_type"] = mustJSON(strings.TrimSpace(s))
		} else {
			delete(m, "token_type")
		}
	}
	if v, ok := m["expires_in"]; ok {
		if secs, ok := expiresInSeconds(v); ok {
			m["expires_in"] = mustJSON(secs)
		} else {
			delete(m, "expires_in")
		}
	}
}

// expiresInSeconds reads an expires_in member: a JSON number, or a JSON
// string holding a decimal number.
func expiresInSeconds(v json.RawMessage) (int64, bool) {
	text := string(bytes.TrimSpace(v))
	if s, isString := jsonString(v); isString {
		text = strings.TrimSpace(s)
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f <= 0 {
		return 0, false
	}
	return int64(min(max(math.Floor(f), 1), math.MaxInt32)), true
}

// hasToken reports whether m has a non-empty string access_token.
func hasToken(m map[string]json.RawMessage) bool {
	s, ok := jsonString(m["access_token"])
	return ok && s != ""
}

// hasMember reports whether m has the member name with a value other than
// null.
func hasMember(m map[string]json.RawMessage, name string) bool {
	v, ok := m[name]
	return ok && string(bytes.TrimSpace(v)) != "null"
}

func jsonString(v json.RawMessage) (string, bool) {
	var s string
	err := json.Unmarshal(v, &s)
	return s, err == nil
}

func jsonNumber(v json.RawMessage) (json.Number, bool) {
	var n json.Number
	trimmed := bytes.TrimSpace(v)
	if len(trimmed) == 0 || trimmed[0] == '"' {
		return "", false
	}
	err := json.Unmarshal(trimmed, &n)
	return n, err == nil
}

func mustJSON(v any) json.RawMessage {
	b, _ := json.Marshal(v) // strings and integers always marshal
	return b
}

// describeBody says what kind of body an answer has, for an error message,
// without quoting any of it: "an HTML page", "an empty body", "a JSON
// array", "a text/plain body".
func describeBody(raw []byte, h http.Header) string {
	body := trimBody(raw)
	media, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
	switch {
	case isHTML(body, h):
		return "an HTML page (a proxy's, firewall's, CDN's or sign-in page?)"
	case len(body) == 0:
		return "an empty body"
	case json.Valid(body):
		switch body[0] {
		case '{':
			return "a JSON object"
		case '[':
			return "a JSON array"
		default:
			return "a bare JSON value"
		}
	case media != "":
		return "a " + media + " body that is not JSON"
	default:
		return "a body that is not JSON"
	}
}

// isHTML reports whether an answer is plainly a web page rather than an
// API's answer: a body that is not JSON and either starts with markup
// ("<!DOCTYPE html>", "<html>", "<?xml") or is labelled text/html or
// application/xhtml+xml. The body decides over the label: JSON (or an empty
// body) labelled text/html is not a page, and a page labelled
// application/json is one.
func isHTML(body []byte, h http.Header) bool {
	body = trimBody(body)
	if len(body) == 0 || json.Valid(body) {
		return false
	}
	if len(body) > 0 && body[0] == '<' {
		return true
	}
	media, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
	return media == "text/html" || media == "application/xhtml+xml"
}
