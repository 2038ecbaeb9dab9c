package clickwrap

import (
	"encoding/json"
	"math"
	"net/http"
	"strings"
	"testing"
)

// TestExpiresInSeconds: every JSON number, and a string holding one, is a
// number of seconds; anything else is no expiry at all.
func TestExpiresInSeconds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		raw  string
		want int64 // 0: dropped
	}{
		{"integer", `3600`, 3600},
		{"float", `3600.0`, 3600},
		{"fraction rounds down", `3600.9`, 3600},
		{"exponent", `3.6e3`, 3600},
		{"upper-case exponent with sign", `36E+2`, 3600},
		{"negative exponent", `360000e-2`, 3600},
		{"below a second", `0.4`, 1},
		{"string", `"3600"`, 3600},
		{"string with blanks", `" 3600 "`, 3600},
		{"float string", `"3600.0"`, 3600},
		{"exponent string", `"3.6e3"`, 3600},
		{"huge", `1e300`, math.MaxInt32},
		{"beyond float64", `1e400`, math.MaxInt32},
		{"beyond float64 in a string", `"1e400"`, math.MaxInt32},
		{"400 nines", `"` + strings.Repeat("9", 400) + `"`, math.MaxInt32},
		{"below float64", `1e-400`, 1},
		{"plus sign in a string", `"+3600"`, 3600},
		{"trailing point in a string", `"3600."`, 3600},
		{"beyond int64", `99999999999999999999999`, math.MaxInt32},
		{"zero", `0`, 0},
		{"negative zero", `-0.0`, 0},
		{"negative", `-3600`, 0},
		{"null", `null`, 0},
		{"empty string", `""`, 0},
		{"words", `"one hour"`, 0},
		{"NaN string", `"NaN"`, 0},
		{"Inf string", `"Inf"`, 0},
		{"hex string", `"0x10"`, 0},
		{"Go digit separators", `"3_600"`, 0},
		{"Go hex float", `"0x1p12"`, 0},
		{"Infinity string", `"Infinity"`, 0},
		{"boolean", `true`, 0},
		{"object", `{"seconds":3600}`, 0},
		{"array", `[3600]`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := expiresInSeconds(json.RawMessage(tt.raw))
			if tt.want == 0 {
				if ok {
					t.Errorf("expiresInSeconds(%s) = %d, want dropped", tt.raw, got)
				}
				return
			}
			if !ok || got != tt.want {
				t.Errorf("expiresInSeconds(%s) = %d, %v; want %d", tt.raw, got, ok, tt.want)
			}
		})
	}
}

// TestIsHTML: the body decides over the label.
func TestIsHTML(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, ctype, body string
		want              bool
	}{
		{"HTML page", "text/html; charset=utf-8", "<!DOCTYPE html><html></html>", true},
		{"HTML labelled JSON", "application/json", "<html><body>blocked</body></html>", true},
		{"HTML without a label, after blanks", "", "\r\n  <HTML>", true},
		{"HTML after a byte-order mark", "", "\xef\xbb\xbf<html>", true},
		{"XML page", "application/xml", `<?xml version="1.0"?><Error/>`, true},
		{"text labelled HTML", "text/html", "Access denied", true},
		{"JSON labelled HTML", "text/html", `{"error":{}}`, false},
		{"empty body labelled HTML", "text/html", "", false},
		{"JSON", "application/json", `{"a":1}`, false},
		{"plain text", "text/plain", "Unauthorized", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := http.Header{}
			if tt.ctype != "" {
				h.Set("Content-Type", tt.ctype)
			}
			if got := isHTML([]byte(tt.body), h); got != tt.want {
				t.Errorf("isHTML = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestReadTokenAnswer: the members are read whatever else the answer holds,
// and an answer that is ambiguous or contradictory is told apart.
func TestReadTokenAnswer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		want tokenAnswer
		ok   bool
	}{
		{"plain", `{"access_token":"t1","token_type":"Bearer","expires_in":60}`, tokenAnswer{accessToken: "t1", tokenType: "Bearer", expiresIn: 60}, true},
		{"members in another case", `{"Access_Token":"t1","TOKEN_TYPE":"bearer","Expires_In":3600.0}`, tokenAnswer{accessToken: "t1", tokenType: "bearer", expiresIn: 3600}, true},
		{"odd extra members", `{"access_token":"t1","refresh_token":0,"error_description":{},"scope":["a"],"id_token":null}`, tokenAnswer{accessToken: "t1"}, true},
		{"error false", `{"access_token":"t1","error":false}`, tokenAnswer{accessToken: "t1"}, true},
		{"error null", `{"access_token":"t1","error":null}`, tokenAnswer{accessToken: "t1"}, true},
		{"error empty", `{"access_token":"t1","error":""}`, tokenAnswer{accessToken: "t1"}, true},
		{"error in another case", `{"access_token":"t1","Error":"invalid_client"}`, tokenAnswer{accessToken: "t1", errorCode: "invalid_client", hasError: true}, true},
		{"error object", `{"error":{"message":"no"}}`, tokenAnswer{hasError: true}, true},
		{"repeated token", `{"access_token":"t1","access_token":"t2"}`, tokenAnswer{accessToken: "t2", repeated: "access_token"}, true},
		{"repeated in two cases", `{"access_token":"t1","ACCESS_TOKEN":"t2"}`, tokenAnswer{accessToken: "t2", repeated: "access_token"}, true},
		{"repeated form parameter", `access_token=t1&access_token=t2`, tokenAnswer{accessToken: "t2", repeated: "access_token"}, true},
		{"form with a bad escape elsewhere", `access_token=t1&scope=a%zz`, tokenAnswer{accessToken: "t1"}, true},
		{"token with CR LF", "{\"access_token\":\"t1\\r\\n\"}", tokenAnswer{accessToken: "t1"}, true},
		{"no-break space kept for the token68 check", `{"access_token":"t1\u00a0"}`, tokenAnswer{accessToken: "t1\u00a0"}, true},
		{"number token", `{"access_token":12345}`, tokenAnswer{accessToken: "12345"}, true},
		{"boolean token", `{"access_token":true}`, tokenAnswer{}, true},
		{"HTML", `<html></html>`, tokenAnswer{}, false},
		{"JSON array", `[{"access_token":"t1"}]`, tokenAnswer{}, false},
		{"two objects", `{"access_token":"t1"}{}`, tokenAnswer{}, false},
		{"form without a token", `a=b`, tokenAnswer{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := readTokenAnswer([]byte(tt.body))
			if ok != tt.ok || (ok && got != tt.want) {
				t.Errorf("readTokenAnswer = %+v, %v; want %+v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}
