package main

import (
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/clickwrap-rotator/clickwrap-rotator/internal/operator"
	"github.com/clickwrap-rotator/clickwrap-rotator/internal/secretsmanagertest"
)

// The client credentials in status: the inline form's warning, the split
// form's credentials secret checked with one GetSecretValue, and rotate's
// refusal when that secret cannot be used.

const (
	secondClientID     = "ctl-app-2"
	secondClientSecret = "ctl-second-client-secret-5c8e01"
	credentialsName    = "clickwrap-credentials/api-applications"
)

// applications is a credentials secret's SecretString listing apps, each a
// client_id and client_secret.
func applications(t *testing.T, apps ...[2]string) string {
	t.Helper()
	list := []map[string]string{}
	for _, a := range apps {
		list = append(list, map[string]string{"client_id": a[0], "client_secret": a[1]})
	}
	b, err := json.Marshal(map[string]any{"applications": list})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// split puts the token secret in the split form, as
// docs/credentials-secret.md moves an existing one: a credentials secret
// named credentialsName holding creds ("" for none: credentials_secret then
// names a secret that does not exist), and a new AWSCURRENT token secret
// that names it by ARN (by name when there is none) and holds no client
// credentials. The second application is known to the sandbox, and its
// client secret to the leak check. It returns what credentials_secret holds.
func (w *world) split(creds string) string {
	w.t.Helper()
	w.cw.AddClient(secondClientID, secondClientSecret)
	w.mu.Lock()
	w.secrets = append(w.secrets, secondClientSecret)
	w.mu.Unlock()
	id := credentialsName
	if creds != "" {
		id = w.sm.CreateSecret(credentialsName, w.withTokenURL(creds))
	}
	w.put(w.secretJSON(map[string]any{"client_id": nil, "client_secret": nil, "credentials_secret": id}))
	return id
}

// withTokenURL adds the sandbox's token endpoint to a credentials secret's
// JSON object (the split form sends the client secrets only there); a value
// that is not an object is returned as it is.
func (w *world) withTokenURL(creds string) string {
	var m map[string]any
	if json.Unmarshal([]byte(creds), &m) != nil {
		return creds
	}
	m["token_url"] = w.cw.TokenURL()
	b, err := json.Marshal(m)
	if err != nil {
		w.t.Fatal(err)
	}
	return string(b)
}

// putCredentials stores value (with the sandbox's token_url, see
// withTokenURL) as the credentials secret's new AWSCURRENT.
func (w *world) putCredentials(id, value string) {
	w.t.Helper()
	w.putSecret(id, w.withTokenURL(value))
}

// failCredentialsReads makes the emulator answer code (FailNext) to every
// read of the credentials secret that follows a read of the token secret,
// as rotatorctl makes them: it arms the fault when the token secret's read
// has passed, so that the next GetSecretValue, the credentials secret's,
// gets it. It lasts until the test ends.
func (w *world) failCredentialsReads(code string) {
	w.t.Helper()
	remove := w.sm.OnCall("GetSecretValue", func(c secretsmanagertest.Call) error {
		var in struct{ SecretId string }
		if json.Unmarshal(c.Input, &in) == nil && in.SecretId == w.arn {
			w.sm.FailNext("GetSecretValue", 1, code)
		}
		return nil
	})
	w.t.Cleanup(remove)
}

// TestStatusCredentialsInline: the inline form names its one application
// and says plainly that readers of the token can mint, pointing to the split
// form; it reads no other secret.
func TestStatusCredentialsInline(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.configure()
	w.sm.ResetCalls()
	s := w.expectStatus(exitOK, operator.StateHealthy)
	c := s.Credentials
	if c == nil || c.Form != "inline" || c.ClientID != clientID || c.NextClientID != clientID ||
		c.ClientSecretInTokenSecret == nil || !*c.ClientSecretInTokenSecret {
		t.Fatalf("credentials = %+v", c)
	}
	if !strings.Contains(c.Warning, "anyone who can read the token can also mint tokens") || !strings.Contains(c.Warning, "docs/credentials-secret.md") {
		t.Errorf("warning = %q", c.Warning)
	}
	if c.Secret != "" || c.Value != "" || c.Applications != nil || c.Problem != "" {
		t.Errorf("split-form fields in the inline form: %+v", c)
	}
	if n := w.calls()["GetSecretValue"]; n != 1 {
		t.Errorf("status --json made %d GetSecretValue calls, want 1 (AWSCURRENT)", n)
	}

	r := w.expect(exitOK, nil, "status", secretName)
	for _, want := range []string{"Client credentials (inline form, in the token secret)",
		"application    " + clientID + " (the one application: every rotation mints with it)",
		"Warning: The token secret holds the client_secret: anyone who can read the token can also mint tokens.",
		"(the split form: docs/credentials-secret.md)", "Diagnosis: healthy"} {
		if !r.has(want) {
			t.Errorf("report lacks %q:\n%s", want, r.stdout)
		}
	}
}

// TestStatusCredentialsSplit: in the split form status names the
// credentials secret, checks it with one GetSecretValue more, and shows the
// application that minted the current token and the one the next rotation
// mints with; with two, they alternate.
func TestStatusCredentialsSplit(t *testing.T) {
	t.Parallel()
	t.Run("one application", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		creds := w.split(applications(t, [2]string{clientID, clientSecret}))
		w.configure()
		w.sm.ResetCalls()
		s := w.expectStatus(exitOK, operator.StateHealthy, "--verify")
		c := s.Credentials
		if c == nil || c.Form != "split" || c.Secret != creds || c.Value != "ok" || !slices.Equal(c.Applications, []string{clientID}) ||
			c.ClientID != clientID || c.NextClientID != clientID || c.ClientSecretInTokenSecret == nil || *c.ClientSecretInTokenSecret ||
			c.Warning != "" || c.Problem != "" {
			t.Fatalf("credentials = %+v", c)
		}
		if s.Current.ClientSecret != "absent" || s.Current.Check.Result != operator.CheckAccepted {
			t.Errorf("current = %+v", s.Current)
		}
		if n := w.calls()["GetSecretValue"]; n != 2 {
			t.Errorf("status made %d GetSecretValue calls, want 2: AWSCURRENT and the credentials secret", n)
		}
		r := w.expect(exitOK, nil, "status", secretName)
		for _, want := range []string{"Client credentials (split form, in a credentials secret)",
			"credentials secret  " + creds, "value               readable and well formed: 1 application, " + clientID,
			"current token       minted by " + clientID, "next rotation       mints with " + clientID + " (the one application",
			"client_secret       not in the token secret: readers of the token cannot mint"} {
			if !r.has(want) {
				t.Errorf("report lacks %q:\n%s", want, r.stdout)
			}
		}
		if r.has("Warning:") {
			t.Errorf("the split form is warned about:\n%s", r.stdout)
		}
	})
	t.Run("two applications alternate", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		creds := w.split(applications(t, [2]string{clientID, clientSecret}, [2]string{secondClientID, secondClientSecret}))

		// Before the first rotation: no application recorded, the first mints.
		s := w.expectStatus(exitUnhealthy, operator.StateNotEnabled)
		if c := s.Credentials; c == nil || c.ClientID != "" || c.NextClientID != clientID || c.Value != "ok" {
			t.Errorf("credentials before the first rotation = %+v", c)
		}
		r := w.expect(exitUnhealthy, nil, "status", secretName)
		if !r.has("current token       no client_id recorded yet") {
			t.Errorf("report:\n%s", r.stdout)
		}

		w.configure()
		for i, want := range [][2]string{{clientID, secondClientID}, {secondClientID, clientID}, {clientID, secondClientID}} {
			if i > 0 {
				if _, err := w.rotateNow(); err != nil {
					t.Fatalf("rotation %d: %v", i+1, err)
				}
			}
			s := w.expectStatus(exitOK, operator.StateHealthy)
			c := s.Credentials
			if c == nil || c.Secret != creds || c.Value != "ok" || !slices.Equal(c.Applications, []string{clientID, secondClientID}) ||
				c.ClientID != want[0] || c.NextClientID != want[1] {
				t.Errorf("after rotation %d: credentials = %+v, want minted by %s, next %s", i+1, c, want[0], want[1])
			}
			r := w.expect(exitOK, nil, "status", secretName)
			for _, line := range []string{"readable and well formed: 2 applications, " + clientID + " and " + secondClientID,
				"current token       minted by " + want[0] + "\n", "next rotation       mints with " + want[1] + "\n"} {
				if !strings.Contains(r.stdout, line) {
					t.Errorf("after rotation %d, report lacks %q:\n%s", i+1, line, r.stdout)
				}
			}
		}
	})
}

// TestStatusCredentialsUnusable: a credentials secret that is missing or
// malformed makes status unhealthy with a finding that names
// the secret and the field and says what to do, and rotate refuses, changing
// nothing, since createSecret would mint nothing and leave AWSPENDING behind.
func TestStatusCredentialsUnusable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		spoil func(w *world, creds string)
		value string
		want  []string // in the diagnosis message
		fix   bool     // put-secret-value of the credentials secret
	}{
		{"missing", func(w *world, _ string) {
			cur := w.currentValue()
			cur["credentials_secret"] = "clickwrap-credentials/gone"
			w.putMap(cur)
		}, "missing", []string{"credentials secret clickwrap-credentials/gone was not found", "ResourceNotFoundException",
			"correct credentials_secret in the token secret", "every rotation fails at createSecret"}, false},
		{"malformed: the stack's placeholder", func(w *world, creds string) {
			w.putCredentials(creds, `{"applications":[{"client_id":"","client_secret":""},{"client_id":"","client_secret":""}]}`)
		}, "malformed", []string{`field "applications[0].client_id" is missing or empty`, "docs/credentials-secret.md"}, true},
		{"malformed: one application twice", func(w *world, creds string) {
			w.putCredentials(creds, applications(w.t, [2]string{clientID, clientSecret}, [2]string{clientID, secondClientSecret}))
		}, "malformed", []string{`field "applications[1].client_id" is the same as applications[0].client_id`}, true},
		{"malformed: three applications", func(w *world, creds string) {
			w.putCredentials(creds, applications(w.t, [2]string{clientID, clientSecret}, [2]string{secondClientID, secondClientSecret},
				[2]string{"ctl-app-3", secondClientSecret}))
		}, "malformed", []string{`field "applications" lists 3 applications`}, true},
		{"malformed: not JSON", func(w *world, creds string) {
			w.putCredentials(creds, "client_id="+clientID)
		}, "malformed", []string{"is not a JSON object"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			creds := w.split(applications(t, [2]string{clientID, clientSecret}, [2]string{secondClientID, secondClientSecret}))
			w.configure()
			tt.spoil(w, creds)

			s := w.expectStatus(exitUnhealthy, operator.StateCredentialsUnusable)
			c := s.Credentials
			if c == nil || c.Form != "split" || c.Value != tt.value || c.NextClientID != "" || c.Applications != nil || c.ClientID != clientID {
				t.Fatalf("credentials = %+v", c)
			}
			named := c.Secret
			if !strings.Contains(c.Problem, named) || !strings.Contains(s.Diagnosis.Message, named) {
				t.Errorf("the secret %s is not named: problem %q, message %q", named, c.Problem, s.Diagnosis.Message)
			}
			for _, want := range tt.want {
				if !strings.Contains(s.Diagnosis.Message, want) {
					t.Errorf("message lacks %q: %s", want, s.Diagnosis.Message)
				}
			}
			wantFix := ""
			if tt.fix {
				wantFix = "aws secretsmanager put-secret-value --secret-id " + creds + " --secret-string file://credentials.json"
			}
			if s.Diagnosis.Fix != wantFix || len(s.Diagnosis.More) != 0 {
				t.Errorf("fix %q, more %+v; want fix %q alone", s.Diagnosis.Fix, s.Diagnosis.More, wantFix)
			}

			r := w.expect(exitUnhealthy, nil, "status", secretName)
			for _, want := range []string{"value               " + tt.value + ": see the diagnosis",
				"next rotation       unknown: the credentials secret is not usable", "Diagnosis: credentials-secret-unusable"} {
				if !r.has(want) {
					t.Errorf("report lacks %q:\n%s", want, r.stdout)
				}
			}

			before := w.stages()
			w.sm.ResetCalls()
			r = w.expect(exitUnhealthy, nil, "rotate", secretName, "--wait")
			if !r.has("Not rotating clickwrap/api-token: nothing was changed.") || !r.has("Diagnosis: credentials-secret-unusable") {
				t.Errorf("rotate:\n%s", r)
			}
			if calls := w.calls(); calls["RotateSecret"]+calls["PutSecretValue"]+calls["UpdateSecretVersionStage"] != 0 {
				t.Errorf("rotate refused but called %v", calls)
			}
			if after := w.stages(); len(after) != len(before) {
				t.Errorf("stages changed: %v -> %v", before, after)
			}
			if st := w.cw.Stats(); st.Minted != 1 { // the first rotation's
				t.Errorf("minted %d tokens: rotatorctl must never mint", st.Minted)
			}
		})
	}
}

// TestStatusCredentialsNotReadable: a credentials secret that rotatorctl's
// own AWS credentials may not read (access denied, or its KMS key refuses)
// is "could not check" (exit 4), not unhealthy: the docs advise granting the
// read to the rotation function alone, so it says nothing certain about the
// rotation. The message names the secret and the permissions either side
// needs, and rotate is not refused for it.
func TestStatusCredentialsNotReadable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, code string
		want       []string
	}{
		{"access denied", "AccessDeniedException", []string{"cannot be read with the AWS credentials rotatorctl runs with", "AccessDeniedException",
			"secretsmanager:GetSecretValue on the credentials secret"}},
		{"KMS", "DecryptionFailure", []string{"cannot be decrypted", "DecryptionFailure", "kms:Decrypt"}},
		{"KMS key disabled", "KMSDisabledException", []string{"cannot be decrypted", "KMSDisabledException", "kms:Decrypt"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			creds := w.split(applications(t, [2]string{clientID, clientSecret}, [2]string{secondClientID, secondClientSecret}))
			w.configure()
			w.failCredentialsReads(tt.code)
			s := w.expectStatus(exitError, operator.StateCheckFailed)
			if c := s.Credentials; c == nil || c.Value != "unreadable" || !strings.Contains(c.Problem, creds) {
				t.Fatalf("credentials = %+v", c)
			}
			for _, want := range append(tt.want, creds) {
				if !strings.Contains(s.Diagnosis.Message, want) {
					t.Errorf("message lacks %q: %s", want, s.Diagnosis.Message)
				}
			}
			if _, blocked := operator.RotationBlocker(operator.Diagnosis{Finding: operator.Finding{State: operator.State(s.Diagnosis.State)}}); blocked {
				t.Error("rotate would be refused")
			}
		})
	}
}

// TestStatusClientSecretBesideCredentialsSecret: a token secret that names
// a credentials secret and still holds a client_secret is refused as
// malformed, naming the field (never its value), and nothing is said about
// its credentials.
func TestStatusClientSecretBesideCredentialsSecret(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.split(applications(t, [2]string{clientID, clientSecret}))
	w.configure()
	cur := w.currentValue()
	cur["client_secret"] = clientSecret
	w.putMap(cur)
	s := w.expectStatus(exitUnhealthy, operator.StateMalformed)
	if s.Credentials != nil || s.Current.Value != "malformed" ||
		!strings.Contains(s.Diagnosis.Message, `"client_secret" must not be in a token secret that names a credentials_secret`) {
		t.Errorf("credentials %+v, current %+v, message %q", s.Credentials, s.Current, s.Diagnosis.Message)
	}
	r := w.expect(exitUnhealthy, nil, "rotate", secretName)
	if !r.has("Not rotating") {
		t.Errorf("rotate:\n%s", r)
	}
}

// TestStatusCredentialsReadFailing: a read of the credentials secret that
// fails for a passing reason (the service's 5xx, after the SDK's retries)
// proves nothing: check-failed, exit 4, and rotate is not refused for it.
func TestStatusCredentialsReadFailing(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.split(applications(t, [2]string{clientID, clientSecret}))
	w.configure()
	var once sync.Once
	remove := w.sm.OnCall("GetSecretValue", func(c secretsmanagertest.Call) error {
		var in struct{ SecretId string }
		if json.Unmarshal(c.Input, &in) == nil && in.SecretId == w.arn {
			once.Do(func() { w.sm.FailNext("GetSecretValue", 10, "InternalServiceError") })
		}
		return nil
	})
	t.Cleanup(remove)
	s := w.expectStatus(exitError, operator.StateCheckFailed)
	w.sm.FailNext("GetSecretValue", 0, "")
	if c := s.Credentials; c == nil || c.Value != "read-failed" || !strings.Contains(s.Diagnosis.Message, "Could not check the token secret's credentials secret") {
		t.Errorf("credentials %+v, message %q", c, s.Diagnosis.Message)
	}
}

// currentValue is the AWSCURRENT token secret's members.
func (w *world) currentValue() map[string]any {
	w.t.Helper()
	v, ok := w.sm.Value(w.arn, operator.VersionWithStage(w.stages(), "AWSCURRENT"))
	var m map[string]any
	if !ok || json.Unmarshal([]byte(v), &m) != nil {
		w.t.Fatalf("AWSCURRENT is not a JSON object")
	}
	return m
}

// putMap stores m as the token secret's new AWSCURRENT.
func (w *world) putMap(m map[string]any) {
	w.t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		w.t.Fatal(err)
	}
	w.put(string(b))
}
