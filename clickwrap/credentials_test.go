package clickwrap

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

const (
	testCredsARN      = "arn:aws:secretsmanager:us-east-1:123456789012:secret:clickwrap/credentials-AbCdEf"
	testSecondSecret  = "cs-second-app-secret-9876543210"
	testCredsTwoApps  = `{"applications":[{"client_id":"app-1","client_secret":"` + testClientSecret + `"},{"client_id":"app-2","client_secret":"` + testSecondSecret + `"}]}`
	testSplitTokenSec = `{"credentials_secret":"` + testCredsARN + `","team":"payments"}`
)

// TestParseSecretSplitForm: with credentials_secret the token secret holds
// no client_secret, and client_id is optional.
func TestParseSecretSplitForm(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		in        string
		wantField string // "" means success
		wantID    string
		wantWords []string // in the error
	}{
		{name: "first secret: credentials_secret alone", in: `{"credentials_secret":"` + testCredsARN + `"}`},
		{name: "by name", in: `{"credentials_secret":"clickwrap/credentials"}`},
		{name: "client_id of the minting application", in: `{"credentials_secret":"x","client_id":"app-2","access_token":"t"}`, wantID: "app-2"},
		{name: "null client_secret is absent", in: `{"credentials_secret":"x","client_secret":null}`},
		{name: "empty client_secret is absent", in: `{"credentials_secret":"x","client_secret":""}`},
		{
			name: "client_secret refused", in: `{"credentials_secret":"x","client_id":"app-1","client_secret":"` + testClientSecret + `"}`,
			wantField: FieldClientSecret, wantWords: []string{"credentials_secret", "mint", "credentials secret"},
		},
		{name: "credentials_secret not a string", in: `{"credentials_secret":{"arn":"x"}}`, wantField: FieldCredentialsSecret, wantWords: []string{"JSON string"}},
		{name: "credentials_secret a number", in: `{"credentials_secret":42,"client_id":"a","client_secret":"s"}`, wantField: FieldCredentialsSecret},
		{name: "credentials_secret twice", in: `{"credentials_secret":"a","credentials_secret":"b"}`, wantField: FieldCredentialsSecret},
		{name: "empty credentials_secret is the inline form", in: `{"credentials_secret":""}`, wantField: FieldClientID, wantWords: []string{"credentials_secret"}},
		{name: "null credentials_secret is the inline form", in: `{"credentials_secret":null,"client_id":"a"}`, wantField: FieldClientSecret},
		{
			// credentials_secret naming the token secret itself, which then
			// carries the applications: every reader could mint.
			name: "applications in the token secret", in: `{"credentials_secret":"x","applications":[{"client_id":"a","client_secret":"` + testClientSecret + `"}]}`,
			wantField: CredentialsFieldApplications, wantWords: []string{"every reader of the token could mint", "separate secret"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := ParseSecret(tt.in)
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("ParseSecret: %v", err)
				}
				if s.CredentialsSecret == "" || s.ClientSecret != "" || s.ClientID != tt.wantID {
					t.Errorf("parsed %v, want credentials_secret set, no client_secret, client_id %q", s, tt.wantID)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tt.wantField {
				t.Fatalf("err = %v, want a FieldError for %q", err, tt.wantField)
			}
			for _, w := range tt.wantWords {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), testClientSecret) {
				t.Error("the error holds the client secret")
			}
		})
	}
}

// TestSplitFormRoundTrip: credentials_secret keeps its place, and a
// client_id the token secret lacked is appended.
func TestSplitFormRoundTrip(t *testing.T) {
	t.Parallel()
	s, err := ParseSecret(testSplitTokenSec)
	if err != nil {
		t.Fatal(err)
	}
	p := s.WithToken(Token{AccessToken: "new", TokenType: "Bearer"})
	p.ClientID = "app-1"
	got, err := p.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"credentials_secret":"` + testCredsARN + `","team":"payments","client_id":"app-1","access_token":"new","token_type":"Bearer"}`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestParseCredentials(t *testing.T) {
	t.Parallel()
	app := func(id, secret string) string {
		return `{"client_id":"` + id + `","client_secret":"` + secret + `"}`
	}
	one, two := app("app-1", testClientSecret), app("app-2", testSecondSecret)
	tests := []struct {
		name      string
		in        string
		wantIDs   []string // on success
		wantField string   // on failure; "" with wantErr for the whole secret
		wantErr   bool
	}{
		{name: "one application", in: `{"applications":[` + one + `]}`, wantIDs: []string{"app-1"}},
		{name: "two applications", in: `{"applications":[` + one + `,` + two + `]}`, wantIDs: []string{"app-1", "app-2"}},
		{name: "order kept", in: `{"applications":[` + two + `,` + one + `]}`, wantIDs: []string{"app-2", "app-1"}},
		{name: "extra members ignored", in: `{"note":"rotated by the rotator","applications":[{"client_id":"app-1","client_secret":"` + testClientSecret + `","registered":"2026-01-01","owner":{"team":"x"}}],"version":2}`, wantIDs: []string{"app-1"}},
		{name: "not JSON", in: `client_id=app-1`, wantErr: true},
		{name: "empty string", in: ``, wantErr: true},
		{name: "a JSON array", in: `[` + one + `]`, wantErr: true},
		{name: "null", in: `null`, wantErr: true},
		{name: "trailing data", in: `{"applications":[` + one + `]} {}`, wantErr: true},
		{name: "truncated", in: `{"applications":[` + one, wantErr: true},
		{name: "inline secret instead", in: one, wantField: "applications", wantErr: true},
		{name: "applications null", in: `{"applications":null}`, wantField: "applications", wantErr: true},
		{name: "applications an object", in: `{"applications":` + one + `}`, wantField: "applications", wantErr: true},
		{name: "applications a string", in: `{"applications":"app-1"}`, wantField: "applications", wantErr: true},
		{name: "empty list", in: `{"applications":[]}`, wantField: "applications", wantErr: true},
		{name: "three applications", in: `{"applications":[` + one + `,` + two + `,` + app("app-3", "cs-third") + `]}`, wantField: "applications", wantErr: true},
		{name: "applications twice", in: `{"applications":[` + one + `],"applications":[` + two + `]}`, wantField: "applications", wantErr: true},
		{name: "element not an object", in: `{"applications":[` + one + `,"app-2"]}`, wantField: "applications[1]", wantErr: true},
		{name: "element null", in: `{"applications":[null]}`, wantField: "applications[0]", wantErr: true},
		{name: "duplicate client_id", in: `{"applications":[` + one + `,` + app("app-1", testSecondSecret) + `]}`, wantField: "applications[1].client_id", wantErr: true},
		{name: "missing client_id", in: `{"applications":[{"client_secret":"` + testClientSecret + `"}]}`, wantField: "applications[0].client_id", wantErr: true},
		{name: "empty client_id", in: `{"applications":[` + one + `,` + app("", testSecondSecret) + `]}`, wantField: "applications[1].client_id", wantErr: true},
		{name: "client_id a number", in: `{"applications":[{"client_id":7,"client_secret":"` + testClientSecret + `"}]}`, wantField: "applications[0].client_id", wantErr: true},
		{name: "missing client_secret", in: `{"applications":[` + one + `,{"client_id":"app-2"}]}`, wantField: "applications[1].client_secret", wantErr: true},
		{name: "empty client_secret", in: `{"applications":[` + one + `,` + app("app-2", "") + `]}`, wantField: "applications[1].client_secret", wantErr: true},
		{name: "null client_secret", in: `{"applications":[{"client_id":"app-1","client_secret":null}]}`, wantField: "applications[0].client_secret", wantErr: true},
		{name: "client_secret an object", in: `{"applications":[{"client_id":"app-1","client_secret":{"v":"` + testClientSecret + `"}}]}`, wantField: "applications[0].client_secret", wantErr: true},
		{name: "client_id with a space around it", in: `{"applications":[` + app(" app-1", testClientSecret) + `]}`, wantField: "applications[0].client_id", wantErr: true},
		{name: "client_secret with a newline after it", in: `{"applications":[` + app("app-1", testClientSecret+`\n`) + `]}`, wantField: "applications[0].client_secret", wantErr: true},
		{name: "client_id with a control character", in: `{"applications":[` + app(`\u001b]0;x\u0007app`, testClientSecret) + `]}`, wantField: "applications[0].client_id", wantErr: true},
		{name: "token_url kept", in: `{"token_url":"https://proxy.example/oauth/token","applications":[` + one + `]}`, wantIDs: []string{"app-1"}},
		{name: "token_url not https", in: `{"token_url":"http://proxy.example/oauth/token","applications":[` + one + `]}`, wantField: "token_url", wantErr: true},
		{name: "a token secret named instead", in: `{"credentials_secret":"x","applications":[` + one + `]}`, wantField: "credentials_secret", wantErr: true},
		{name: "a token secret with a token", in: `{"access_token":"t","applications":[` + one + `]}`, wantField: "access_token", wantErr: true},
		{name: "client_secret twice", in: `{"applications":[{"client_id":"app-1","client_secret":"` + testClientSecret + `","client_secret":"` + testSecondSecret + `"}]}`, wantField: "applications[0].client_secret", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := ParseCredentials(tt.in)
			if !tt.wantErr {
				if err != nil {
					t.Fatalf("ParseCredentials: %v", err)
				}
				var ids []string
				for _, a := range c.Applications {
					ids = append(ids, a.ClientID)
					if a.ClientSecret == "" {
						t.Error("a client secret was not read")
					}
				}
				if fmt.Sprint(ids) != fmt.Sprint(tt.wantIDs) {
					t.Errorf("client_ids %v, want %v", ids, tt.wantIDs)
				}
				return
			}
			var ce *CredentialsError
			if !errors.As(err, &ce) || ce.Field != tt.wantField || c != nil {
				t.Fatalf("err = %v, want a *CredentialsError for field %q and no credentials", err, tt.wantField)
			}
			if ce.Secret != "" || ce.Problem == "" {
				t.Errorf("Secret %q (want it left to the caller), Problem %q", ce.Secret, ce.Problem)
			}
			if tt.wantField != "" && !strings.Contains(err.Error(), `"`+tt.wantField+`"`) {
				t.Errorf("error %q does not name the field", err)
			}
			for _, v := range []string{testClientSecret, testSecondSecret} {
				if strings.Contains(err.Error(), v) {
					t.Error("the error holds a client secret")
				}
			}
		})
	}
}

func TestCredentialsNext(t *testing.T) {
	t.Parallel()
	a1, a2 := Application{"app-1", "s1"}, Application{"app-2", "s2"}
	tests := []struct {
		name    string
		apps    []Application
		current string
		want    Application
	}{
		{"two, first rotation", []Application{a1, a2}, "", a1},
		{"two, current is the first", []Application{a1, a2}, "app-1", a2},
		{"two, current is the second", []Application{a1, a2}, "app-2", a1},
		{"two, current names neither", []Application{a1, a2}, "retired-app", a1},
		{"two in the other order", []Application{a2, a1}, "app-2", a1},
		{"one, first rotation", []Application{a1}, "", a1},
		{"one, current is it", []Application{a1}, "app-1", a1},
		{"one, current names another", []Application{a1}, "app-2", a1},
		{"none", nil, "app-1", Application{}},
	}
	for _, tt := range tests {
		c := &Credentials{Applications: tt.apps}
		if got := c.Next(tt.current); got != tt.want {
			t.Errorf("%s: Next(%q) = %s, want %s", tt.name, tt.current, got.ClientID, tt.want.ClientID)
		}
	}
}

// TestMadeFromSplitForm: in the split form client_id follows the token; the
// credentials secret's name does not.
func TestMadeFromSplitForm(t *testing.T) {
	t.Parallel()
	base := `{"credentials_secret":"creds-a","client_id":"app-1","team":"a","access_token":"old"}`
	tests := []struct {
		name    string
		pending string
		want    bool
	}{
		{"the other application minted", `{"credentials_secret":"creds-a","client_id":"app-2","team":"a","access_token":"new"}`, true},
		{"client_id added by the first rotation", `{"credentials_secret":"creds-a","client_id":"app-1","team":"a","access_token":"new"}`, true},
		{"another credentials secret", `{"credentials_secret":"creds-b","client_id":"app-2","team":"a","access_token":"new"}`, false},
		{"a user field changed", `{"credentials_secret":"creds-a","client_id":"app-2","team":"b","access_token":"new"}`, false},
		{"the inline form", `{"client_id":"app-1","client_secret":"s","team":"a","access_token":"new"}`, false},
	}
	c := NewClient(nil)
	for _, tt := range tests {
		if got := c.MadeFrom(tt.pending, base); got != tt.want {
			t.Errorf("%s: MadeFrom = %v, want %v", tt.name, got, tt.want)
		}
		if got := c.MadeFrom(base, tt.pending); got != tt.want {
			t.Errorf("%s (reversed): MadeFrom = %v, want %v", tt.name, got, tt.want)
		}
	}
	if !c.MadeFrom(`{"credentials_secret":"creds-a","team":"a","client_id":"app-2"}`, `{"credentials_secret":"creds-a","team":"a"}`) {
		t.Error("a first rotation's pending version is not seen as made from its AWSCURRENT")
	}
}

// TestCredentialsNeverPrintValues formats and logs credentials every way a
// log line or error could, and checks no client secret appears.
func TestCredentialsNeverPrintValues(t *testing.T) {
	t.Parallel()
	c, err := ParseCredentials(testCredsTwoApps)
	if err != nil {
		t.Fatal(err)
	}
	app := c.Applications[1]
	var logBuf bytes.Buffer
	slog.New(slog.NewJSONHandler(&logBuf, nil)).Info("x", "creds", *c, "creds_ptr", c, "app", app, "app_ptr", &app, "apps", c.Applications)
	slog.New(slog.NewTextHandler(&logBuf, nil)).Info("x", "creds", *c, "creds_ptr", c, "app", app, "apps", c.Applications)
	marshalled, _ := json.Marshal(c)
	outputs := []string{
		fmt.Sprint(c), fmt.Sprintf("%v %+v %#v %s %q", c, c, c, c, c),
		fmt.Sprintf("%v %+v %#v", *c, *c, *c),
		fmt.Sprintf("%v %+v %#v %s %q", app, app, app, app, app),
		fmt.Sprintf("%v %+v %#v", c.Applications, c.Applications, c.Applications),
		logBuf.String(),
		string(marshalled),
	}
	for i, out := range outputs {
		for _, secret := range []string{testClientSecret, testSecondSecret} {
			if strings.Contains(out, secret) {
				t.Errorf("output %d leaks a client secret", i)
			}
		}
	}
	if !strings.Contains(outputs[3], "client_secret:present") || !strings.Contains(outputs[0], "applications:2") {
		t.Errorf("redacted forms should still say what is present: %s / %s", outputs[3], outputs[0])
	}
}
