package rotation_test

import (
	"context"
	"encoding/json"
	"maps"
	"strings"
	"testing"

	"github.com/clickwrap-rotator/clickwrap-rotator/rotation"
)

// The split form: the token secret names a credentials secret holding two
// API applications, and each rotation mints with the one that did not mint
// the current token (clickwrap.Credentials).

// newSplitWorld is newWorld with the token secret in the split form: the
// credentials secret (clickwrap/credentials) lists both applications, known
// to the sandbox, and the token secret names it by ARN and holds no client
// credentials. It returns the credentials secret's ARN.
func newSplitWorld(t *testing.T) (*world, string) {
	t.Helper()
	w := newWorld(t)
	w.cw.AddClient(secondClientID, secondClientSecret)
	b, err := json.Marshal(map[string]any{"token_url": w.cw.TokenURL(), "applications": []map[string]string{
		{"client_id": clientID, "client_secret": clientSecret},
		{"client_id": secondClientID, "client_secret": secondClientSecret},
	}})
	if err != nil {
		t.Fatal(err)
	}
	creds := w.sm.CreateSecret("clickwrap/credentials", string(b))
	v, err := w.p.SecretJSON("", "", map[string]any{"client_id": nil, "client_secret": nil, "credentials_secret": creds, "team": "payments"})
	if err != nil {
		t.Fatal(err)
	}
	w.putCurrent(v)
	return w, creds
}

// TestRotationCallsPerForm: the deterministic cost of one rotation in each
// form. The split form reads the credentials secret once more, in
// createSecret.
func TestRotationCallsPerForm(t *testing.T) {
	t.Parallel()
	t.Run("inline form: 9 calls", func(t *testing.T) {
		t.Parallel()
		assertRotationCalls(t, newWorld(t), 3)
	})
	t.Run("split form: 10 calls", func(t *testing.T) {
		t.Parallel()
		w, _ := newSplitWorld(t)
		assertRotationCalls(t, w, 4)
	})
}

// assertRotationCalls rotates w's secret once and checks the calls it
// took: gets is the rotation function's GetSecretValue calls, and the
// function makes gets+6 calls in all.
func assertRotationCalls(t *testing.T, w *world, gets int) {
	t.Helper()
	w.sm.ResetCalls()
	w.cw.ResetStats()
	if _, err := w.rotate(); err != nil {
		t.Fatalf("rotation: %v", err)
	}
	want := map[string]int{"RotateSecret": 1, "DescribeSecret": 4, "GetSecretValue": gets, "PutSecretValue": 1, "UpdateSecretVersionStage": 1}
	if got := w.sm.Calls(); !maps.Equal(got, want) {
		t.Errorf("Secrets Manager calls = %v, want %v", got, want)
	}
	if st := w.cw.Stats(); st.TokenRequests != 1 || st.Minted != 1 || st.APIRequests != 1 {
		t.Errorf("Clickwrap requests = %+v, want 1 mint and 1 verify", st)
	}
	_, cur := w.current()
	if tok, _ := cur["access_token"].(string); !w.cw.Valid(tok) {
		t.Error("AWSCURRENT does not hold a token the sandbox accepts")
	}
	w.assertNoLeak()
}

// TestSplitFormAlternates: two rotations mint with the two applications in
// turn, the token secret records which and never holds a client secret,
// and, with a sandbox that revokes an application's earlier tokens when it
// mints for it, the token consumers held before each rotation still works
// after it.
func TestSplitFormAlternates(t *testing.T) {
	t.Parallel()
	w, creds := newSplitWorld(t)
	w.cw.SetRevokeOnMint(true)
	var held string // the token consumers hold
	for i, want := range []string{clientID, secondClientID, clientID} {
		v, err := w.rotate()
		if err != nil {
			t.Fatalf("rotation %d: %v", i+1, err)
		}
		id, cur := w.current()
		if id != v {
			t.Fatalf("rotation %d did not promote its version", i+1)
		}
		if cur["client_id"] != want {
			t.Errorf("rotation %d: client_id %v, want %s", i+1, cur["client_id"], want)
		}
		if _, ok := cur["client_secret"]; ok {
			t.Errorf("rotation %d wrote client_secret into the token secret", i+1)
		}
		if cur["credentials_secret"] != creds || cur["team"] != "payments" {
			t.Errorf("rotation %d: fields not carried over", i+1)
		}
		tok, _ := cur["access_token"].(string)
		if !w.cw.Valid(tok) {
			t.Errorf("rotation %d: AWSCURRENT's token is not accepted", i+1)
		}
		if held != "" && !w.cw.Valid(held) {
			t.Errorf("rotation %d revoked the token consumers held: the applications did not alternate", i+1)
		}
		held = tok
	}
	if st := w.cw.Stats(); st.Minted != 3 {
		t.Errorf("minted %d tokens in three rotations", st.Minted)
	}
	for id := range w.sm.Stages(w.arn) {
		if v, _ := w.sm.Value(w.arn, id); v != "" {
			var m map[string]any
			_ = json.Unmarshal([]byte(v), &m)
			if _, ok := m["client_secret"]; ok {
				t.Errorf("version %s of the token secret holds a client_secret", id)
			}
		}
	}
	w.assertNoLeak()
}

// TestSplitFormCredentialsUnusable: when the credentials secret cannot be
// used, createSecret fails naming it, nothing is minted or written, and
// AWSCURRENT stays.
func TestSplitFormCredentialsUnusable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		creds string // the credentials secret's value; "" for none at all
		want  []string
	}{
		{"missing", "", []string{"clickwrap/credentials", "not found", "credentials_secret"}},
		{"one application listed twice", `{"applications":[{"client_id":"` + clientID + `","client_secret":"` + clientSecret + `"},` +
			`{"client_id":"` + clientID + `","client_secret":"` + secondClientSecret + `"}]}`, []string{"clickwrap/credentials", `"applications[1].client_id"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			if tt.creds != "" {
				w.sm.CreateSecret("clickwrap/credentials", tt.creds)
			}
			v, err := w.p.SecretJSON("", "", map[string]any{"client_id": nil, "client_secret": nil, "credentials_secret": "clickwrap/credentials"})
			if err != nil {
				t.Fatal(err)
			}
			first := w.putCurrent(v)
			w.sm.ResetCalls()
			w.cw.ResetStats()
			pending, err := w.rotate()
			if err == nil {
				t.Fatal("the rotation succeeded")
			}
			for _, s := range append([]string{"createSecret", "Nothing was minted"}, tt.want...) {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
			if st := w.cw.Stats(); st.TokenRequests != 0 {
				t.Errorf("sandbox %+v: nothing may be minted", st)
			}
			if n := w.sm.Calls()["PutSecretValue"]; n != 0 {
				t.Errorf("PutSecretValue called %d times", n)
			}
			if _, ok := w.sm.Value(w.arn, pending); ok {
				t.Error("the pending version has a value")
			}
			if id, _ := w.current(); id != first {
				t.Error("AWSCURRENT moved")
			}
			w.assertNoLeak()
		})
	}
}

// TestConfigurationTestChecksCredentials: in the split form, the
// configuration test reads the credentials secret (one GetSecretValue more)
// and fails when rotation could not mint with it, naming the secret and the
// member at fault, instead of passing until the first rotation fails.
// Nothing is minted either way.
func TestConfigurationTestChecksCredentials(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// credentials replaces the credentials secret's value ("" keeps it);
		// missing names a secret that does not exist instead.
		credentials string
		missing     bool
		wantErr     []string // none: the test passes
	}{
		{name: "well formed"},
		{name: "missing", missing: true, wantErr: []string{"the configuration check failed", "clickwrap/no-such-credentials", "not found", "Nothing was minted"}},
		{name: "no applications", credentials: `{"applications":[]}`, wantErr: []string{"the configuration check failed", `field "applications"`, "is empty"}},
		{name: "not JSON", credentials: "app:secret", wantErr: []string{"the configuration check failed", "not a JSON object"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w, _ := newSplitWorld(t)
			_, cur := w.current()
			switch {
			case tt.missing:
				cur["credentials_secret"] = "clickwrap/no-such-credentials"
			case tt.credentials != "":
				cur["credentials_secret"] = w.sm.CreateSecret("clickwrap/other-credentials", tt.credentials)
			}
			b, err := json.Marshal(cur)
			if err != nil {
				t.Fatal(err)
			}
			w.putCurrent(string(b))
			ev := w.configTest(string(b))
			w.sm.ResetCalls()
			w.cw.ResetStats()
			err = w.handle(context.Background(), ev)
			if (err != nil) != (tt.wantErr != nil) {
				t.Fatalf("configuration test: %v, want an error saying %q", err, tt.wantErr)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			if err == nil && !strings.Contains(w.outcome(rotation.TestSecret, ev.ClientRequestToken), "the configuration it rotates with checked") {
				t.Errorf("outcome %q does not say the configuration was checked", w.outcome(rotation.TestSecret, ev.ClientRequestToken))
			}
			// The test version, AWSCURRENT, and the credentials secret.
			want := map[string]int{"DescribeSecret": 1, "GetSecretValue": 3}
			if got := w.sm.Calls(); !maps.Equal(got, want) {
				t.Errorf("calls = %v, want %v", got, want)
			}
			if st := w.cw.Stats(); st.TokenRequests != 0 || st.APIRequests != 0 {
				t.Errorf("Clickwrap requests %+v: a first secret's configuration test sends none", st)
			}
			w.assertNoLeak()
		})
	}
}
