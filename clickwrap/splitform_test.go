package clickwrap_test

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/clickwrap-rotator/clickwrap-rotator/clickwrap"
	"github.com/clickwrap-rotator/clickwrap-rotator/clickwrap/clickwraptest"
	"github.com/clickwrap-rotator/clickwrap-rotator/internal/secretsmanagertest"
)

// The split form against the real stand-ins: the Secrets Manager emulator
// holds the credentials secret, the Clickwrap sandbox knows both API
// applications.

const (
	app1, app1Secret = "split-app-1", "split-secret-1-a8f3c2d9e7"
	app2, app2Secret = "split-app-2", "split-secret-2-5b6e1f0c4a"
)

type split struct {
	sm    *secretsmanagertest.Server
	cw    *clickwraptest.Server
	c     *clickwrap.Client
	creds string // the credentials secret's ARN
}

func newSplit(t *testing.T) *split {
	t.Helper()
	s := &split{sm: secretsmanagertest.New(secretsmanagertest.Options{}), cw: clickwraptest.NewServer()}
	t.Cleanup(s.sm.Close)
	t.Cleanup(s.cw.Close)
	s.cw.AddClient(app1, app1Secret)
	s.cw.AddClient(app2, app2Secret)
	s.c = clickwrap.NewClient(s.cw.Client())
	s.c.Retry.BaseDelay = 10 * time.Millisecond
	s.c.Secrets = s.sm.Client()
	s.creds = s.sm.CreateSecret("clickwrap/credentials", s.credentialsJSON(app1, app1Secret, app2, app2Secret))
	return s
}

// credentialsJSON is a credentials secret listing the applications given as
// client_id, client_secret pairs, with the sandbox's token endpoint (the
// split form sends the client secrets only where the credentials secret
// says).
func (s *split) credentialsJSON(pairs ...string) string {
	var apps []map[string]string
	for i := 0; i+1 < len(pairs); i += 2 {
		apps = append(apps, map[string]string{"client_id": pairs[i], "client_secret": pairs[i+1]})
	}
	b, _ := json.Marshal(map[string]any{"token_url": s.cw.TokenURL(), "applications": apps})
	return string(b)
}

// tokenSecret is a token secret in the split form naming credsID, with the
// sandbox's endpoints, a field of the user's own, and extra fields.
func (s *split) tokenSecret(credsID string, extra map[string]any) string {
	m := map[string]any{"credentials_secret": credsID, "token_url": s.cw.TokenURL(), "api_url": s.cw.APIURL(), "team": "payments"}
	for k, v := range extra {
		m[k] = v
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func decode(t *testing.T, v string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(v), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestNewPendingAlternates: three rotations in a row mint with app1, app2,
// app1; each records its application, never a client secret; and with
// per-application revocation the token consumers hold survives the next
// mint.
func TestNewPendingAlternates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		first   map[string]any // the token secret's client_id, if any
		want    []string
		oneApp  bool
		revoked []bool // after the last mint, is the token of rotation i revoked?
	}{
		{name: "first rotation", want: []string{app1, app2, app1}, revoked: []bool{true, false, false}},
		{name: "current is the first application", first: map[string]any{"client_id": app1}, want: []string{app2, app1, app2}, revoked: []bool{true, false, false}},
		{name: "current names neither", first: map[string]any{"client_id": "retired-app"}, want: []string{app1, app2, app1}, revoked: []bool{true, false, false}},
		{name: "one application", oneApp: true, want: []string{app1, app1, app1}, revoked: []bool{true, true, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newSplit(t)
			credsID := s.creds
			if tt.oneApp {
				credsID = s.sm.CreateSecret("clickwrap/one-app", s.credentialsJSON(app1, app1Secret))
			}
			s.cw.SetRevokeOnMint(true) // per application: minting revokes that application's earlier tokens
			ctx := context.Background()
			cur := s.tokenSecret(credsID, tt.first)
			var tokens []string
			for i, want := range tt.want {
				pending, err := s.c.NewPending(ctx, cur)
				if err != nil {
					t.Fatalf("NewPending %d: %v", i+1, err)
				}
				m := decode(t, pending)
				if m["client_id"] != want {
					t.Errorf("rotation %d recorded client_id %v, want %s", i+1, m["client_id"], want)
				}
				if _, ok := m["client_secret"]; ok || strings.Contains(pending, app1Secret) || strings.Contains(pending, app2Secret) {
					t.Fatalf("rotation %d wrote a client secret into the token secret", i+1)
				}
				if m["credentials_secret"] != credsID || m["team"] != "payments" || m["api_url"] != s.cw.APIURL() {
					t.Errorf("rotation %d did not keep the other fields: %v", i+1, m)
				}
				if err := s.c.Verify(ctx, pending); err != nil {
					t.Errorf("rotation %d: Verify: %v", i+1, err)
				}
				if !s.c.MadeFrom(pending, cur) {
					t.Errorf("rotation %d: the pending value is not seen as made from the current one", i+1)
				}
				tokens = append(tokens, m["access_token"].(string))
				cur = pending
			}
			for i, tok := range tokens {
				if s.cw.Valid(tok) == tt.revoked[i] {
					t.Errorf("token of rotation %d: valid=%v, want revoked=%v", i+1, s.cw.Valid(tok), tt.revoked[i])
				}
			}
			if st := s.cw.Stats(); st.Minted != len(tt.want) || st.TokenRequests != len(tt.want) {
				t.Errorf("sandbox %+v: want %d mints in %d requests", st, len(tt.want), len(tt.want))
			}
			if n := s.sm.Calls()["GetSecretValue"]; n != len(tt.want) {
				t.Errorf("GetSecretValue called %d times, want one per NewPending", n)
			}
		})
	}
}

// TestNewPendingCredentialsFailures: whatever is wrong with the credentials
// secret, nothing is minted, and the error names the secret (and the field)
// and says what to do, with no value.
func TestNewPendingCredentialsFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(t *testing.T, s *split) (credsID string)
		// wantField is the CredentialsError's Field; words are in the error.
		wantField string
		// wantReason is the CredentialsError's Reason.
		wantReason clickwrap.CredentialsReason
		words      []string
		wantAs     func(error) bool
	}{
		{
			name: "no Secrets reader",
			setup: func(_ *testing.T, s *split) string {
				s.c.Secrets = nil
				return s.creds
			},
			wantReason: clickwrap.CredentialsReadFailed,
			words:      []string{"Client.Secrets is nil"},
		},
		{
			name:       "not found",
			setup:      func(*testing.T, *split) string { return "clickwrap/no-such-credentials" },
			wantReason: clickwrap.CredentialsNotFound,
			words:      []string{"not found", "create it", "credentials_secret"},
			wantAs:     func(err error) bool { var nf *types.ResourceNotFoundException; return errors.As(err, &nf) },
		},
		{
			name: "access denied",
			setup: func(_ *testing.T, s *split) string {
				s.sm.FailNext("GetSecretValue", 1, "AccessDeniedException")
				return s.creds
			},
			wantReason: clickwrap.CredentialsAccessDenied,
			words:      []string{"secretsmanager:GetSecretValue", "kms:Decrypt", "AccessDeniedException"},
		},
		{
			name: "KMS decryption failure",
			setup: func(_ *testing.T, s *split) string {
				s.sm.FailNext("GetSecretValue", 1, "DecryptionFailure")
				return s.creds
			},
			wantReason: clickwrap.CredentialsUndecryptable,
			words:      []string{"kms:Decrypt"},
			wantAs:     func(err error) bool { var df *types.DecryptionFailure; return errors.As(err, &df) },
		},
		{
			name: "KMS key disabled",
			setup: func(_ *testing.T, s *split) string {
				s.sm.FailNext("GetSecretValue", 1, "KMSDisabledException")
				return s.creds
			},
			wantReason: clickwrap.CredentialsUndecryptable,
			words:      []string{"kms:Decrypt", "KMSDisabledException"},
		},
		{
			name: "throttled",
			setup: func(_ *testing.T, s *split) string {
				s.sm.FailNext("GetSecretValue", 10, "ThrottlingException") // more than the SDK's retries
				return s.creds
			},
			wantReason: clickwrap.CredentialsReadFailed,
			words:      []string{"could not be read", "retries the rotation", "ThrottlingException"},
		},
		{
			name: "binary secret",
			setup: func(t *testing.T, s *split) string {
				out, err := s.sm.Client().CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{
					Name: aws.String("clickwrap/binary-credentials"), SecretBinary: []byte(s.credentialsJSON(app1, app1Secret)),
				})
				if err != nil {
					t.Fatal(err)
				}
				return aws.ToString(out.ARN)
			},
			words: []string{"SecretString"},
		},
		{
			name:  "not JSON",
			setup: func(_ *testing.T, s *split) string { return s.sm.CreateSecret("c", app1+":"+app1Secret) },
			words: []string{"not a JSON object"},
		},
		{
			name: "no applications",
			setup: func(_ *testing.T, s *split) string {
				return s.sm.CreateSecret("c", `{"client_id":"`+app1+`","client_secret":"`+app1Secret+`"}`)
			},
			wantField: "applications",
		},
		{
			name:      "empty list",
			setup:     func(_ *testing.T, s *split) string { return s.sm.CreateSecret("c", `{"applications":[]}`) },
			wantField: "applications",
		},
		{
			name: "three applications",
			setup: func(_ *testing.T, s *split) string {
				return s.sm.CreateSecret("c", s.credentialsJSON(app1, app1Secret, app2, app2Secret, "app-3", "third-secret-77"))
			},
			wantField: "applications",
		},
		{
			name: "duplicate client_id",
			setup: func(_ *testing.T, s *split) string {
				return s.sm.CreateSecret("c", s.credentialsJSON(app1, app1Secret, app1, app2Secret))
			},
			wantField: "applications[1].client_id",
		},
		{
			name: "empty client_secret",
			setup: func(_ *testing.T, s *split) string {
				return s.sm.CreateSecret("c", s.credentialsJSON(app1, app1Secret, app2, ""))
			},
			wantField: "applications[1].client_secret",
		},
		{
			name: "client_secret not a string",
			setup: func(_ *testing.T, s *split) string {
				return s.sm.CreateSecret("c", `{"applications":[{"client_id":"`+app1+`","client_secret":"`+app1Secret+`"},{"client_id":"`+app2+`","client_secret":["`+app2Secret+`"]}]}`)
			},
			wantField: "applications[1].client_secret",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newSplit(t)
			credsID := tt.setup(t, s)
			pending, err := s.c.NewPending(context.Background(), s.tokenSecret(credsID, nil))
			var ce *clickwrap.CredentialsError
			if !errors.As(err, &ce) || pending != "" {
				t.Fatalf("NewPending gave a value: %t, and %v; want a *CredentialsError and no value", pending != "", err)
			}
			if ce.Secret != credsID || ce.Field != tt.wantField || ce.Reason != tt.wantReason {
				t.Errorf("Secret %q, Field %q, Reason %v; want %q, %q, %v", ce.Secret, ce.Field, ce.Reason, credsID, tt.wantField, tt.wantReason)
			}
			msg := err.Error()
			words := append([]string{credsID, "Nothing was minted"}, tt.words...)
			if tt.wantField != "" {
				words = append(words, `"`+tt.wantField+`"`)
			}
			for _, w := range words {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not say %q", msg, w)
				}
			}
			if tt.wantAs != nil && !tt.wantAs(err) {
				t.Errorf("the Secrets Manager error is not wrapped: %v", err)
			}
			if strings.Contains(msg, app1Secret) || strings.Contains(msg, app2Secret) {
				t.Error("the error holds a client secret")
			}
			if st := s.cw.Stats(); st.Minted != 0 || st.TokenRequests != 0 {
				t.Errorf("sandbox %+v: nothing may be minted or asked for", st)
			}
		})
	}
}

// TestNewPendingSplitFormLeaks: errors on every path of the split form,
// minting refused included, hold neither client secret; a token secret that
// holds a client_secret beside credentials_secret is refused before the
// credentials secret is read.
func TestNewPendingSplitFormLeaks(t *testing.T) {
	t.Parallel()
	s := newSplit(t)
	ctx := context.Background()
	var errs []error

	// The token endpoint rejects applications[1]'s credentials.
	wrong := s.sm.CreateSecret("clickwrap/wrong", s.credentialsJSON(app1, app1Secret, app2, app2Secret+"-old"))
	_, err := s.c.NewPending(ctx, s.tokenSecret(wrong, map[string]any{"client_id": app1}))
	var se *clickwrap.StatusError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "applications[1] of credentials secret "+wrong) {
		t.Errorf("mint refused: %v, want the StatusError naming applications[1] of the credentials secret", err)
	}
	errs = append(errs, err)

	// A client_secret in the token secret: refused, nothing read.
	s.sm.ResetCalls()
	_, err = s.c.NewPending(ctx, s.tokenSecret(s.creds, map[string]any{"client_id": app1, "client_secret": app1Secret}))
	var fe *clickwrap.FieldError
	if !errors.As(err, &fe) || fe.Field != clickwrap.FieldClientSecret {
		t.Errorf("client_secret beside credentials_secret: %v, want a FieldError for client_secret", err)
	}
	if n := s.sm.Calls()["GetSecretValue"]; n != 0 {
		t.Errorf("the credentials secret was read %d times for a refused token secret", n)
	}
	errs = append(errs, err)

	// Malformed credentials secrets holding both values.
	for i, v := range []string{
		`{"applications":[{"client_id":"` + app1 + `","client_secret":"` + app1Secret + `"},{"client_id":"` + app1 + `","client_secret":"` + app2Secret + `"}]}`,
		`{"applications":[{"client_id":"` + app1 + `","client_secret":"` + app1Secret + `"},{"client_id":"` + app2 + `","client_secret":"` + app2Secret + `"},{"client_id":"x","client_secret":"y"}]}`,
		`{"applications":[{"client_id":"` + app1 + `","client_secret":"` + app1Secret + `"},{"client_id":"` + app2 + `","client_secret":{"v":"` + app2Secret + `"}}]}`,
		`{"applications":[{"client_id":"` + app1 + `","client_secret":"` + app1Secret + `"},{"client_id":"` + app2 + `","client_secret":"` + app2Secret + `"}]`,
		app1Secret + app2Secret,
	} {
		_, err := s.c.NewPending(ctx, s.tokenSecret(s.sm.CreateSecret("clickwrap/bad-"+strconv.Itoa(i), v), nil))
		if err == nil {
			t.Fatal("a malformed credentials secret was accepted")
		}
		errs = append(errs, err)
	}
	for _, err := range errs {
		if err == nil {
			continue
		}
		if msg := err.Error(); strings.Contains(msg, app1Secret) || strings.Contains(msg, app2Secret) {
			t.Error("an error holds a client secret")
		}
	}
	if st := s.cw.Stats(); st.Minted != 0 {
		t.Errorf("minted %d tokens, want 0", st.Minted)
	}
}

// TestSplitFormTokenEndpoint: in the split form the client secrets are sent
// only to the credentials secret's token endpoint. A different token_url in
// the token secret, which more people may write, is refused before
// anything is sent; the same one, or none, is fine.
func TestSplitFormTokenEndpoint(t *testing.T) {
	t.Parallel()
	var stolen atomic.Int32
	elsewhere := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		stolen.Add(1)
		http.Error(w, "no", http.StatusUnauthorized)
	}))
	defer elsewhere.Close()
	tests := []struct {
		name     string
		tokenURL any // in the token secret; nil: none
		wantErr  bool
	}{
		{"none in the token secret", nil, false},
		{"the same as the credentials secret's", "same", false},
		{"another host", elsewhere.URL + "/oauth/token", true},
		{"the default", clickwrap.DefaultTokenURL, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newSplit(t)
			extra := map[string]any{"token_url": tt.tokenURL}
			if tt.tokenURL == "same" {
				extra["token_url"] = s.cw.TokenURL()
			}
			pending, err := s.c.NewPending(context.Background(), s.tokenSecret(s.creds, extra))
			if !tt.wantErr {
				if err != nil {
					t.Fatalf("NewPending: %v", err)
				}
				if p, perr := clickwrap.ParseSecret(pending); perr != nil || !s.cw.Valid(p.AccessToken) {
					t.Errorf("the pending token is not one the sandbox minted (%v)", perr)
				}
				return
			}
			var fe *clickwrap.FieldError
			if !errors.As(err, &fe) || fe.Field != clickwrap.FieldTokenURL || !strings.Contains(err.Error(), "Nothing was minted") {
				t.Fatalf("NewPending: %v, want a FieldError naming token_url", err)
			}
			if st := s.cw.Stats(); st.TokenRequests != 0 {
				t.Errorf("%d token requests", st.TokenRequests)
			}
		})
	}
	if n := stolen.Load(); n != 0 {
		t.Errorf("the other host got %d requests", n)
	}
}

// TestTokenSourceServesAMisplacedSecret: a token consumer serves the token
// of a secret the rotation would refuse (a client_secret beside
// credentials_secret, as a half-done migration leaves it): refusing it is
// the rotation's and rotatorctl's business, not a reason for an outage.
func TestTokenSourceServesAMisplacedSecret(t *testing.T) {
	t.Parallel()
	s := newSplit(t)
	arn := s.sm.CreateSecret("clickwrap/misplaced", s.tokenSecret(s.creds, map[string]any{
		"client_id": app1, "client_secret": app1Secret, "access_token": "held-token-abc",
	}))
	tok, err := clickwrap.NewTokenSource(s.sm.Client(), arn, clickwrap.TokenSourceOptions{}).AccessToken(context.Background())
	if err != nil || tok != "held-token-abc" {
		t.Fatalf("AccessToken: %v (token right: %v)", err, tok == "held-token-abc")
	}
	if _, err := clickwrap.ParseSecret(s.tokenSecret(s.creds, map[string]any{"client_secret": app1Secret})); err == nil {
		t.Error("ParseSecret, as the rotation uses it, accepted a client_secret beside credentials_secret")
	}
}

// TestCheckConfiguration: the configuration test's check finds what would
// stop NewPending from minting, with NewPending's errors, and sends nothing
// to Clickwrap; the inline form needs no call.
func TestCheckConfiguration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		secret func(s *split) string
		gets   int    // GetSecretValue calls
		want   string // the error's Field, or "-" for none; "" with wantOK
		wantOK bool
		words  []string
	}{
		{name: "split form", secret: func(s *split) string { return s.tokenSecret(s.creds, nil) }, gets: 1, wantOK: true},
		{name: "inline form", secret: func(s *split) string {
			return `{"client_id":"` + app1 + `","client_secret":"` + app1Secret + `","api_url":"` + s.cw.APIURL() + `"}`
		}, wantOK: true},
		{name: "malformed token secret", secret: func(s *split) string {
			return s.tokenSecret(s.creds, map[string]any{"api_url": "http://plain.example"})
		},
			want: clickwrap.FieldAPIURL, words: []string{"https://"}},
		{name: "credentials secret missing", secret: func(s *split) string { return s.tokenSecret("clickwrap/none", nil) },
			gets: 1, want: "-", words: []string{"clickwrap/none", "not found"}},
		{name: "credentials secret malformed", secret: func(s *split) string {
			return s.tokenSecret(s.sm.CreateSecret("c", `{"applications":[]}`), nil)
		}, gets: 1, want: "applications", words: []string{"is empty"}},
		{name: "token_url not the credentials secret's", secret: func(s *split) string {
			return s.tokenSecret(s.creds, map[string]any{"token_url": "https://elsewhere.example/oauth/token"})
		}, gets: 1, want: clickwrap.FieldTokenURL, words: []string{"credentials secret"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newSplit(t)
			secret := tt.secret(s)
			s.sm.ResetCalls()
			err := s.c.CheckConfiguration(context.Background(), secret)
			if tt.wantOK != (err == nil) {
				t.Fatalf("CheckConfiguration = %v, want ok %t", err, tt.wantOK)
			}
			if !tt.wantOK {
				var fe *clickwrap.FieldError
				var ce *clickwrap.CredentialsError
				switch {
				case errors.As(err, &fe):
					if fe.Field != tt.want {
						t.Errorf("FieldError names %q, want %q", fe.Field, tt.want)
					}
				case errors.As(err, &ce):
					if got := cmp.Or(ce.Field, "-"); got != tt.want {
						t.Errorf("CredentialsError names %q, want %q", got, tt.want)
					}
				default:
					t.Errorf("error %v (%T) is neither a FieldError nor a CredentialsError", err, err)
				}
				for _, w := range tt.words {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not say %q", err, w)
					}
				}
				if strings.Contains(err.Error(), app1Secret) || strings.Contains(err.Error(), app2Secret) {
					t.Error("the error holds a client secret")
				}
			}
			if n := s.sm.Calls()["GetSecretValue"]; n != tt.gets {
				t.Errorf("GetSecretValue called %d times, want %d", n, tt.gets)
			}
			if st := s.cw.Stats(); st.TokenRequests != 0 || st.APIRequests != 0 {
				t.Errorf("sandbox %+v: nothing may be sent to Clickwrap", st)
			}
		})
	}
}

// TestReadCredentialsWithoutAnswer: with no reader, or a reader that answers
// neither a value nor an error, ReadCredentials says it could not read the
// secret (CredentialsReadFailed) instead of panicking.
func TestReadCredentialsWithoutAnswer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		r    clickwrap.SecretReader
	}{
		{"nil reader", nil},
		{"no output and no error", silentReader{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			creds, err := clickwrap.ReadCredentials(context.Background(), tt.r, "clickwrap/credentials")
			var ce *clickwrap.CredentialsError
			if creds != nil || !errors.As(err, &ce) || ce.Reason != clickwrap.CredentialsReadFailed || ce.Secret != "clickwrap/credentials" {
				t.Fatalf("ReadCredentials = %v, %v; want no credentials and a CredentialsReadFailed error naming the secret", creds != nil, err)
			}
		})
	}
}

// silentReader answers GetSecretValue with neither output nor error.
type silentReader struct{}

func (silentReader) GetSecretValue(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	return nil, nil
}

// TestIsSecretID: what GetSecretValue's SecretId can be, and what a
// credentials_secret that is not one gives: a FieldError naming the field
// that never echoes it (it may be a value pasted into the wrong field).
func TestIsSecretID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		id   string
		want bool
	}{
		{"name", "clickwrap/credentials", true},
		{"name with every allowed mark", "team_a/clickwrap+creds=v2.prod@eu-1", true},
		{"ARN", "arn:aws:secretsmanager:us-east-1:123456789012:secret:clickwrap/credentials-a1B2c3", true},
		{"ARN in another partition", "arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:creds-a1B2c3", true},
		{"512 characters", strings.Repeat("a", 512), true},
		{"full ARN of a 512-character name", "arn:aws:secretsmanager:us-east-1:123456789012:secret:" + strings.Repeat("a", 512) + "-AbCdEf", true},
		{"partial ARN of a 512-character name", "arn:aws:secretsmanager:us-east-1:123456789012:secret:" + strings.Repeat("a", 512), true},
		{"ARN with a name part over 519", "arn:aws:secretsmanager:us-east-1:123456789012:secret:" + strings.Repeat("a", 520), false},
		{"empty", "", false},
		{"513 characters", strings.Repeat("a", 513), false},
		{"pasted JSON", `{"applications":[{"client_id":"app","client_secret":"` + app1Secret + `"}]}`, false},
		{"space", "clickwrap credentials", false},
		{"colon outside an ARN", "clickwrap:credentials", false},
		{"non-ASCII", "clickwrap/créds", false},
		{"ARN of another service", "arn:aws:ssm:us-east-1:123456789012:parameter/creds", false},
		{"ARN with a short account", "arn:aws:secretsmanager:us-east-1:1234:secret:creds-a1B2c3", false},
		{"ARN without a name", "arn:aws:secretsmanager:us-east-1:123456789012:secret:", false},
		{"ARN with a bad region", "arn:aws:secretsmanager:US_EAST:123456789012:secret:creds", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := clickwrap.IsSecretID(tt.id); got != tt.want {
				t.Fatalf("IsSecretID = %t, want %t", got, tt.want)
			}
			if tt.id == "" {
				return // an empty credentials_secret is the inline form
			}
			b, _ := json.Marshal(map[string]string{"credentials_secret": tt.id})
			_, err := clickwrap.ParseSecret(string(b))
			var fe *clickwrap.FieldError
			refused := errors.As(err, &fe) && fe.Field == clickwrap.FieldCredentialsSecret
			if refused == tt.want {
				t.Errorf("ParseSecret: %v; want credentials_secret refused: %t", err, !tt.want)
			}
			if refused && strings.Contains(err.Error(), tt.id) {
				t.Errorf("the error echoes the value: %v", err)
			}
		})
	}
}
