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
	"maps"
	"math"
	"math/big"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
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

// normalizeTokenAnswer rewrites a token endpoint's answer for oauth2's
// parser, whatever its status (an error answer carries the RFC 6749 "error"
// member that oauth2 reads too). A body that is a JSON object (a UTF-8
// byte-order mark and surrounding whitespace aside) is read as JSON whatever
// its Content-Type says; a body of form-encoded parameters with
// access_token or error among them is read as the same members. What goes
// on to oauth2 is a canonical application/json object holding only the
// members it needs (see readTokenAnswer), so no other member, of whatever
// type, can make it fail or reach an error message.
//
// A 2xx answer that holds no token to store is refused with a
// notTokenAnswerError, final: a body of another kind (an HTML page), an
// object without access_token and without an RFC 6749 error code, an object
// with both (RFC 6749 sections 5.1 and 5.2 exclude each other), or a member
// given twice (section 3.1 forbids it; which one to believe is a guess). A
// non-2xx body of another kind is passed on untouched, for oauth2 to
// report its status.
func normalizeTokenAnswer(resp *http.Response) (*http.Response, error) {
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenAnswer))
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	ok2xx := resp.StatusCode >= 200 && resp.StatusCode <= 299
	a, isAnswer := readTokenAnswer(raw)
	switch {
	case !isAnswer && ok2xx:
		return nil, &notTokenAnswerError{status: resp.StatusCode, what: describeBody(raw, resp.Header)}
	case !isAnswer:
		resp.Body = io.NopCloser(bytes.NewReader(raw))
		return resp, nil
	case ok2xx && a.repeated != "":
		return nil, &notTokenAnswerError{status: resp.StatusCode, what: "a token answer that gives " + a.repeated + " more than once"}
	case ok2xx && a.accessToken != "" && a.hasError:
		return nil, &notTokenAnswerError{status: resp.StatusCode, what: "a token answer with both access_token and error"}
	case ok2xx && a.accessToken == "" && a.errorCode == "":
		what := "a JSON object without access_token"
		if a.hasError {
			what = "a JSON error object without an RFC 6749 error code"
		}
		return nil, &notTokenAnswerError{status: resp.StatusCode, what: what}
	}
	body, err := json.Marshal(a.canonical())
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

// tokenAnswer holds the members of a token answer (RFC 6749 sections 5.1
// and 5.2) that the rotator uses, read as real servers send them.
type tokenAnswer struct {
	// accessToken is trimmed of surrounding whitespace (an RFC 6750 token
	// has none, so it can only be a server's stray newline); a JSON number
	// becomes its digits; any other type counts as absent. Whether what
	// remains is a token68 is Mint's to check.
	accessToken string
	// tokenType is trimmed; any case is kept (Mint compares without case);
	// a value that is not a string counts as absent.
	tokenType string
	// expiresIn is in whole seconds; 0 means none (see expiresInSeconds).
	expiresIn int64
	// errorCode is the "error" member when it is a non-empty string.
	// hasError is true for any "error" other than null, false or "".
	errorCode string
	hasError  bool
	// repeated names a member that was given more than once.
	repeated string
}

// canonical is the answer as the JSON object oauth2 parses.
func (a tokenAnswer) canonical() map[string]any {
	m := map[string]any{}
	if a.accessToken != "" {
		m["access_token"] = a.accessToken
	}
	if a.tokenType != "" {
		m["token_type"] = a.tokenType
	}
	if a.expiresIn > 0 {
		m["expires_in"] = a.expiresIn
	}
	if a.errorCode != "" {
		m["error"] = a.errorCode
	}
	return m
}

// tokenMemberNames are the members readTokenAnswer reads. Names are matched
// without case, as encoding/json (and so oauth2) matches them.
var tokenMemberNames = []string{"access_token", "token_type", "expires_in", "error"}

// readTokenAnswer reads a token answer's body as a JSON object, or as
// form-encoded parameters that include access_token or error (the values
// it can read, even if another parameter is badly escaped). It reports
// false for anything else.
func readTokenAnswer(raw []byte) (tokenAnswer, bool) {
	body := trimBody(raw)
	var members []member
	if len(body) > 0 && body[0] == '{' {
		var ok bool
		if members, ok = jsonMembers(body); !ok {
			return tokenAnswer{}, false
		}
	} else {
		vals, _ := url.ParseQuery(string(body)) // keeps what it could read
		for _, k := range slices.Sorted(maps.Keys(vals)) {
			for _, v := range vals[k] {
				members = append(members, member{k, mustJSON(v)})
			}
		}
		if !slices.ContainsFunc(members, func(m member) bool {
			return strings.EqualFold(m.name, "access_token") || strings.EqualFold(m.name, "error")
		}) {
			return tokenAnswer{}, false
		}
	}
	var a tokenAnswer
	for _, name := range tokenMemberNames {
		var vals []json.RawMessage
		for _, m := range members {
			if strings.EqualFold(m.name, name) {
				vals = append(vals, m.value)
			}
		}
		if len(vals) == 0 {
			continue
		}
		if len(vals) > 1 && a.repeated == "" {
			a.repeated = name
		}
		v := vals[len(vals)-1]
		switch name {
		case "access_token":
			if s, ok := jsonString(v); ok {
				a.accessToken = trimHTTPSpace(s)
			} else if n, ok := jsonNumber(v); ok {
				a.accessToken = n.String()
			}
		case "token_type":
			if s, ok := jsonString(v); ok {
				a.tokenType = trimHTTPSpace(s)
			}
		case "expires_in":
			a.expiresIn, _ = expiresInSeconds(v)
		case "error":
			s, isString := jsonString(v)
			trimmed := string(bytes.TrimSpace(v))
			a.hasError = !(isString && s == "") && trimmed != "null" && trimmed != "false"
			if isString {
				a.errorCode = s
			}
		}
	}
	return a, true
}

// member is one name and value of a token answer, in the answer's order.
type member struct {
	name  string
	value json.RawMessage
}

// jsonMembers reads the members of the JSON object body in order, keeping
// every value of a repeated name. It reports false if body is not exactly
// one JSON object.
func jsonMembers(body []byte) ([]member, bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, false
	}
	var ms []member
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, false
		}
		key, _ := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, false
		}
		ms = append(ms, member{key, v})
	}
	if _, err := dec.Token(); err != nil {
		return nil, false
	}
	_, err := dec.Token()
	return ms, err == io.EOF
}

// article is "an" before a word that starts with a vowel letter, else "a".
func article(word string) string {
	if word != "" && strings.ContainsRune("aeiouAEIOU", rune(word[0])) {
		return "an"
	}
	return "a"
}

// trimHTTPSpace trims the whitespace of RFC 8259 and RFC 9110 (space, tab,
// CR, LF), and nothing else: any other character around a token, a
// no-break space say, is left for the token68 check to refuse.
func trimHTTPSpace(s string) string { return strings.Trim(s, " \t\r\n") }

// trimBody drops a UTF-8 byte-order mark and surrounding whitespace.
func trimBody(b []byte) []byte {
	return bytes.TrimSpace(bytes.TrimPrefix(bytes.TrimSpace(b), []byte("\xef\xbb\xbf")))
}

// decimal is the number syntax expires_in is read in: JSON's, with a
// leading "+", a trailing or leading "." allowed; not Go's literals ("3_600",
// "0x1p12").
var decimal = regexp.MustCompile(`^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$`)

// expiresInSeconds reads an expires_in member: any JSON number (3600,
// 3600.0, 3.6e3) or a string holding one ("3600", " 3600.0 ") is a number
// of seconds, rounded down to whole seconds, at least 1 and at most
// 2^31-1 (as oauth2 caps it), however many digits or how large an
// exponent it has. A value that is not a positive number (null, "",
// "never", 0, -1, true) gives false: the token is then stored without
// expires_at, as when the endpoint sends none.
func expiresInSeconds(v json.RawMessage) (int64, bool) {
	text := string(bytes.TrimSpace(v))
	if s, isString := jsonString(v); isString {
		text = strings.TrimSpace(s)
	}
	if !decimal.MatchString(text) {
		return 0, false
	}
	f, ok := new(big.Float).SetString(strings.TrimPrefix(text, "+"))
	if !ok || f.Sign() <= 0 {
		return 0, false
	}
	if f.Cmp(big.NewFloat(math.MaxInt32)) >= 0 {
		return math.MaxInt32, true
	}
	secs, _ := f.Int64() // truncates toward zero: rounds down
	return max(secs, 1), true
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
	media := mediaType(h)
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
		return article(media) + " " + media + " body that is not JSON"
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
	media := mediaType(h)
	return media == "text/html" || media == "application/xhtml+xml"
}

// mediaType is the answer's media type, lower case; a malformed label
// ("text/html charset=utf-8") gives what precedes its first blank or ";".
func mediaType(h http.Header) string {
	ct := h.Get("Content-Type")
	if media, _, err := mime.ParseMediaType(ct); err == nil {
		return media
	}
	media, _, _ := strings.Cut(strings.TrimSpace(ct), ";")
	media, _, _ = strings.Cut(media, " ")
	return strings.ToLower(media)
}
