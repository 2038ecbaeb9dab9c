package clickwrap

import (
	"encoding/json"
	"math"
	"net/http"
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
