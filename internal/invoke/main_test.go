package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clickwrap-rotator/clickwrap-rotator/internal/localcmd/localcmdtest"
)

var bin = &localcmdtest.Binary{Name: "invoke", Dir: "../..", Skip: "builds the command and runs the bootstrap under the runtime emulator"}

func TestMain(m *testing.M) { os.Exit(bin.Run(m)) }

// result is one run of the command.
type result struct {
	stdout, stderr string
	code           int
}

// invokeCmd runs the command for args from the module root (as make runs
// it) to its end, and checks it left nothing behind.
func invokeCmd(t *testing.T, args ...string) result {
	t.Helper()
	r := bin.Start(t, args...)
	stdout, code := r.Wait(t)
	r.CheckNothingLeft(t)
	return result{stdout, r.Stderr.String(), code}
}

// TestEvents sends each sample event as written: the function refuses it,
// because no rotation created its version, and the command exits 1.
func TestEvents(t *testing.T) {
	files, err := filepath.Glob("../../events/*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 4 {
		t.Fatalf("events/ holds %d events, want one per step: %v", len(files), files)
	}
	for _, f := range files {
		step := strings.TrimSuffix(filepath.Base(f), ".json")
		t.Run(step, func(t *testing.T) {
			r := invokeCmd(t, "events/"+filepath.Base(f))
			if r.code != exitFunctionError {
				t.Errorf("exit status %d, want %d", r.code, exitFunctionError)
			}
			for _, want := range []string{
				`SecretId "arn:aws:secretsmanager:us-east-1:123456789012:secret:clickwrap/api-token-Ab12Cd" -> the local secret's ARN`,
				"START RequestId: ",
				`"step":"` + step + `"`, // the function's own log line
				"REPORT RequestId: ",
				"Answer: error",
				"errorType:    StepError",
				"version has no stage for rotation",
				"afterwards: unchanged",
			} {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("the output does not say %q", want)
				}
			}
			if strings.Contains(r.stdout, "] (rapid) ") {
				t.Error("the emulator's own [INFO] lines are printed")
			}
			if t.Failed() {
				t.Logf("stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
			}
		})
	}
}

// TestPending sends createSecret for the version RotateSecret made: the
// step succeeds and the pending version gets a token.
func TestPending(t *testing.T) {
	r := invokeCmd(t, "--pending", "events/createSecret.json")
	if r.code != 0 {
		t.Errorf("exit status %d, want 0", r.code)
	}
	for _, want := range []string{
		"ClientRequestToken \"6f1c9a2e-4b7d-4e35-9a80-3c5d2e7f1b64\" -> ",
		"RotationToken \"EXAMPLE-fake-rotation-token-0000\" -> the one RotateSecret issued for it (not shown)",
		`"step":"createSecret"`,
		"Answer: success",
		"AWSPENDING               a value with an access_token",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("the output does not say %q", want)
		}
	}
	if t.Failed() {
		t.Logf("stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}
}

func TestUsage(t *testing.T) {
	dir := t.TempDir()
	notObject := filepath.Join(dir, "list.json")
	if err := os.WriteFile(notObject, []byte(`[{"Step":"createSecret"}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{}, {"--no-such-flag", "events/createSecret.json"}, {filepath.Join(dir, "missing.json")}, {notObject}} {
		if r := invokeCmd(t, args...); r.code != exitUsage {
			t.Errorf("invoke %q: exit status %d, want %d\nstderr:\n%s", args, r.code, exitUsage, r.stderr)
		}
	}
}

// TestClosedPipe is `make invoke EVENT=… | head -1`.
func TestClosedPipe(t *testing.T) {
	r := bin.Start(t, "events/createSecret.json")
	r.ReadUntil(t, "a line", func(string) bool { return true })
	r.CloseOutput()
	if _, code := r.Wait(t); code != 141 {
		t.Errorf("exit status %d, want 141\nstderr:\n%s", code, r.Stderr.String())
	}
	r.CheckNothingLeft(t)
}

func TestParseEvent(t *testing.T) {
	e, err := parseEvent([]byte(`{"Step":"createSecret", "Extra": {"a": [1, 2.50]}, "SecretId": 7}`))
	if err != nil {
		t.Fatal(err)
	}
	e.set("SecretId", "arn:x")
	e.set("RotationToken", "t")
	b, err := e.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	// Members keep their order and their text; a new one goes last.
	if want := `{"Step":"createSecret","Extra":{"a":[1,2.50]},"SecretId":"arn:x","RotationToken":"t"}`; string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	for _, bad := range []string{``, `[]`, `"x"`, `{"a":1} {}`, `{"a":`} {
		if _, err := parseEvent([]byte(bad)); err == nil {
			t.Errorf("parseEvent(%q) accepted it", bad)
		}
	}
}

func TestSecretName(t *testing.T) {
	for id, want := range map[string]string{
		"arn:aws:secretsmanager:us-east-1:123456789012:secret:clickwrap/api-token-Ab12Cd": "clickwrap/api-token",
		"arn:aws:secretsmanager:eu-west-1:123456789012:secret:partner-portal-x1Y2z3":      "partner-portal",
		"clickwrap/partner":                     "clickwrap/partner",
		"":                                      defaultSecretName,
		"arn:aws:lambda:us-east-1:1:function:f": defaultSecretName,
		"has space":                             defaultSecretName,
	} {
		if got := secretName(id); got != want {
			t.Errorf("secretName(%q) = %q, want %q", id, got, want)
		}
	}
}
