package clickwrap

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"
)

const (
	testClientSecret = "cs-very-secret-value-0123456789"
	testAccessToken  = "at-live-token-abcdefghijklmnop"
)

func TestParseSecret(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		in        string
		wantField string // "" means success
		notObject bool
	}{
		{name: "minimal first secret", in: `{"client_id":"id","client_secret":"s"}`},
		{name: "full", in: `{"client_id":"id","client_secret":"s","access_token":"t","token_type":"Bearer","expires_at":"2027-01-02T03:04:05Z","token_url":"https://proxy.example/oauth/token","api_url":"https://proxy.example/v1.1","team":"payments"}`},
		{name: "null known field is absent", in: `{"client_id":"id","client_secret":"s","access_token":null}`},
		{name: "missing client_id", in: `{"client_secret":"s"}`, wantField: FieldClientID},
		{name: "empty client_secret", in: `{"client_id":"id","client_secret":""}`, wantField: FieldClientSecret},
		{name: "client_id not a string", in: `{"client_id":42,"client_secret":"s"}`, wantField: FieldClientID},
		{name: "duplicate key", in: `{"client_id":"a","client_id":"b","client_secret":"s"}`, wantField: FieldClientID},
		{name: "bad expires_at", in: `{"client_id":"id","client_secret":"s","expires_at":"tomorrow"}`, wantField: FieldExpiresAt},
		{name: "http token_url", in: `{"client_id":"id","client_secret":"s","token_url":"http://api.pactsafe.com/oauth/token"}`, wantField: FieldTokenURL},
		{name: "relative api_url", in: `{"client_id":"id","client_secret":"s","api_url":"/v1.1"}`, wantField: FieldAPIURL},
		{name: "api_url with user info", in: `{"client_id":"id","client_secret":"s","api_url":"https://u:p@host/v1.1"}`, wantField: FieldAPIURL},
		{name: "array", in: `["client_id"]`, notObject: true},
		{name: "plain string", in: `not json`, notObject: true},
		{name: "empty", in: ``, notObject: true},
		{name: "trailing data", in: `{"client_id":"id","client_secret":"s"} {}`, notObject: true},
		{name: "truncated", in: `{"client_id":"id","client_secret":"s"`, notObject: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := ParseSecret(tt.in)
			switch {
			case tt.notObject:
				if !errors.Is(err, ErrNotObject) {
					t.Fatalf("err = %v, want ErrNotObject", err)
				}
			case tt.wantField != "":
				var fe *FieldError
				if !errors.As(err, &fe) || fe.Field != tt.wantField {
					t.Fatalf("err = %v, want a FieldError for %q", err, tt.wantField)
				}
				if !fe.Permanent() {
					t.Error("a malformed secret must be reported as permanent")
				}
			default:
				if err != nil {
					t.Fatalf("ParseSecret: %v", err)
				}
				if s.ClientID != "id" || s.ClientSecret != "s" {
					t.Errorf("credentials not read: %v", s)
				}
			}
		})
	}
}

func TestParseSecretFields(t *testing.T) {
	t.Parallel()
	s, err := ParseSecret(`{"client_id":"id","client_secret":"s","access_token":"t","token_type":"Bearer","expires_at":"2027-01-02T03:04:05Z","token_url":"https://p.example/oauth/token","api_url":"https://p.example/v1.1"}`)
	if err != nil {
		t.Fatal(err)
	}
	want := time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC)
	if s.AccessToken != "t" || s.TokenType != "Bearer" || !s.ExpiresAt.Equal(want) ||
		s.TokenEndpoint() != "https://p.example/oauth/token" || s.APIEndpoint() != "https://p.example/v1.1" {
		t.Errorf("fields not read: %+v", s)
	}
	d, err := ParseSecret(`{"client_id":"id","client_secret":"s"}`)
	if err != nil {
		t.Fatal(err)
	}
	if d.TokenEndpoint() != DefaultTokenURL || d.APIEndpoint() != DefaultAPIURL {
		t.Errorf("defaults: got %s and %s", d.TokenEndpoint(), d.APIEndpoint())
	}
}

// TestWithTokenKeepsEveryField checks the promise of the README: rotation
// changes the token fields only, and every other key keeps its JSON value
// and its place.
func TestWithTokenKeepsEveryField(t *testing.T) {
	t.Parallel()
	in := `{"team":"payments","client_id":"id","limits":{"rps":5,"burst":[1,2.50,3e2]},"client_secret":"s","n":12345678901234567890,"access_token":"old","expires_at":"2020-01-01T00:00:00Z","flag":true,"nothing":null}`
	s, err := ParseSecret(in)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		tok  Token
		want string
	}{
		{
			name: "token with expiry",
			tok:  Token{AccessToken: "new", TokenType: "Bearer", ExpiresAt: time.Date(2027, 5, 6, 7, 8, 9, 0, time.UTC)},
			want: `{"team":"payments","client_id":"id","limits":{"rps":5,"burst":[1,2.50,3e2]},"client_secret":"s","n":12345678901234567890,"access_token":"new","expires_at":"2027-05-06T07:08:09Z","flag":true,"nothing":null,"token_type":"Bearer"}`,
		},
		{
			name: "token without expiry drops expires_at",
			tok:  Token{AccessToken: "new", TokenType: "Bearer"},
			want: `{"team":"payments","client_id":"id","limits":{"rps":5,"burst":[1,2.50,3e2]},"client_secret":"s","n":12345678901234567890,"access_token":"new","flag":true,"nothing":null,"token_type":"Bearer"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := s.WithToken(tt.tok).MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
			if s.AccessToken != "old" {
				t.Error("WithToken changed the original")
			}
		})
	}
}

// TestSecretNeverPrintsValues formats a secret and a token every way a log
// line or error could, and checks no credential appears.
func TestSecretNeverPrintsValues(t *testing.T) {
	t.Parallel()
	s, err := ParseSecret(`{"client_id":"id","client_secret":"` + testClientSecret + `","access_token":"` + testAccessToken + `"}`)
	if err != nil {
		t.Fatal(err)
	}
	tok := Token{AccessToken: testAccessToken, TokenType: "Bearer"}
	var logBuf bytes.Buffer
	slog.New(slog.NewJSONHandler(&logBuf, nil)).Info("x", "secret", *s, "secret_ptr", s, "token", tok)
	outputs := []string{
		fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s %q", s, s, s, s, s),
		fmt.Sprintf("%v %+v %#v", *s, *s, *s),
		fmt.Sprintf("%v %+v %#v %s", tok, tok, tok, tok),
		logBuf.String(),
	}
	for _, out := range outputs {
		for _, secret := range []string{testClientSecret, testAccessToken} {
			if strings.Contains(out, secret) {
				t.Fatalf("output leaks a secret value: %s", out)
			}
		}
	}
	if !strings.Contains(outputs[0], "client_secret:present") {
		t.Errorf("redacted form should still say what is present: %s", outputs[0])
	}
}

func TestFingerprint(t *testing.T) {
	t.Parallel()
	a, b := Fingerprint("token-a"), Fingerprint("token-b")
	if len(a) != 8 || a == b || a != Fingerprint("token-a") || Fingerprint("") != "" {
		t.Errorf("Fingerprint: %q %q", a, b)
	}
}

// FuzzParseSecret: the parser never panics, never accepts what it cannot
// write back, and a round trip through MarshalJSON is stable and keeps the
// same keys and values.
func FuzzParseSecret(f *testing.F) {
	seeds := []string{
		`{"client_id":"id","client_secret":"s"}`,
		`{"client_id":"id","client_secret":"s","access_token":"t","expires_at":"2027-01-02T03:04:05Z","x":{"y":[1,2,{"z":null}]}}`,
		`{"client_id":"id","client_secret":"s","client_id":"dup"}`,
		`{"client_id":"id","client_secret":"s","api_url":"http://x"}`,
		`{"client_id":"\u0069d","client_secret":"s\n","n":1e400}`,
		`[]`, `null`, `"str"`, `{`, `{"a":}`, ``,
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := ParseSecret(in)
		if err != nil {
			if s != nil {
				t.Fatal("secret returned with an error")
			}
			return
		}
		out, err := s.MarshalJSON()
		if err != nil {
			t.Fatalf("MarshalJSON of an accepted secret: %v", err)
		}
		orig, back := decodeNumbers(t, []byte(in)), decodeNumbers(t, out)
		for k, v := range orig {
			if v == nil || v == "" {
				continue // empty and null known fields are written back absent
			}
			if k == FieldExpiresAt {
				continue // normalised to UTC
			}
			if !reflect.DeepEqual(back[k], v) {
				t.Fatalf("key %q changed: %v -> %v", k, v, back[k])
			}
		}
		s2, err := ParseSecret(string(out))
		if err != nil {
			t.Fatalf("output does not parse again: %v", err)
		}
		out2, _ := s2.MarshalJSON()
		if string(out2) != string(out) {
			t.Fatalf("round trip not stable:\n%s\n%s", out, out2)
		}
	})
}

func decodeNumbers(t *testing.T, b []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("not a JSON object: %v", err)
	}
	return m
}

func TestMadeFrom(t *testing.T) {
	t.Parallel()
	base := `{"client_id":"id","client_secret":"s","team":"a","n":{"x":[1,2]}}`
	tests := []struct {
		name    string
		pending string
		want    bool
	}{
		{"only the token fields differ", `{"n":{"x":[1, 2]},"client_id":"id","client_secret":"s","team":"a","access_token":"t","token_type":"Bearer","expires_at":"2030-01-01T00:00:00Z"}`, true},
		{"client_secret changed", `{"client_id":"id","client_secret":"old","team":"a","n":{"x":[1,2]},"access_token":"t"}`, false},
		{"a user field changed", `{"client_id":"id","client_secret":"s","team":"b","n":{"x":[1,2]},"access_token":"t"}`, false},
		{"a user field added", `{"client_id":"id","client_secret":"s","team":"a","n":{"x":[1,2]},"extra":1,"access_token":"t"}`, false},
		{"api_url changed", `{"client_id":"id","client_secret":"s","team":"a","n":{"x":[1,2]},"api_url":"https://proxy.example/v1.1"}`, false},
		{"malformed", `[]`, false},
	}
	c := NewClient(nil)
	for _, tt := range tests {
		if got := c.MadeFrom(tt.pending, base); got != tt.want {
			t.Errorf("%s: MadeFrom = %v, want %v", tt.name, got, tt.want)
		}
	}
	// Secrets that break their form's rules are compared as they are:
	// Verify names the field; the version is not called stale for it.
	odd := `{"credentials_secret":"not a secret id","client_secret":"s"}`
	if !c.MadeFrom(`{"credentials_secret":"not a secret id","client_secret":"s","access_token":"t"}`, odd) {
		t.Error("MadeFrom refused a pending version of a secret that breaks the split form's rules, alike but for the token")
	}
}
