package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBinary is a smoke test of the built command: the default AWS
// configuration chain with AWS_ENDPOINT_URL_SECRETS_MANAGER pointing at the
// emulator, and the real Clickwrap HTTP client trusting the sandbox through
// SSL_CERT_FILE.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command")
	}
	t.Parallel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "rotatorctl")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	w := newWorld(t)
	w.configure()
	ca, err := w.cw.WriteCAFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + dir,
		"AWS_ENDPOINT_URL_SECRETS_MANAGER=" + w.sm.URL(),
		"AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=AKIDROTATORCTLSMOKE",
		"AWS_SECRET_ACCESS_KEY=rotatorctl-smoke-not-a-secret",
		"AWS_CONFIG_FILE=" + os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE=" + os.DevNull,
		"AWS_EC2_METADATA_DISABLED=true",
		"SSL_CERT_FILE=" + ca,
	}
	exe := func(env []string, args ...string) result {
		t.Helper()
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = env
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut // stdin: /dev/null
		err := cmd.Run()
		r := result{stdout: out.String(), stderr: errOut.String()}
		var ee *exec.ExitError
		switch {
		case errors.As(err, &ee):
			r.code = ee.ExitCode()
		case err != nil:
			t.Fatal(err)
		}
		w.mu.Lock()
		w.outputs = append(w.outputs, r.stdout, r.stderr)
		w.mu.Unlock()
		return r
	}
	expect := func(code int, env []string, args ...string) result {
		t.Helper()
		r := exe(env, args...)
		if r.code != code {
			t.Fatalf("rotatorctl %s: exit %d, want %d\n%s", strings.Join(args, " "), r.code, code, r)
		}
		return r
	}

	expect(exitOK, env, "--help")
	expect(exitUsage, env, "status")
	// Built from this work tree: "(devel)", said as such, unless the
	// toolchain stamped a version from version control.
	r := expect(exitOK, env, "--version")
	switch {
	case strings.HasPrefix(r.stdout, "rotatorctl (devel) (go") && strings.Contains(r.stdout, "built from a work tree"):
	case strings.HasPrefix(r.stdout, "rotatorctl v"):
	default:
		t.Errorf("--version:\n%s", r)
	}

	r = expect(exitOK, env, "status", secretName, "--json", "--verify")
	var s statusJSON
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
		t.Fatal(err)
	}
	if s.Secret.ARN != w.arn || s.Current.Check == nil || s.Current.Check.Result != "accepted" {
		t.Errorf("status --json: %+v", s)
	}
	expect(exitOK, env, "verify", secretName)
	expect(exitOK, env, "rotate", secretName, "--wait", "--interval", "100ms")
	expect(exitRefused, env, "unstick", secretName, "--yes")

	// A rotation that Clickwrap rejects, then unstick without a terminal and
	// without --yes: refused, since stdin (/dev/null) gives no answer.
	// The binary runs on the real clock: seconds after the rotation began,
	// the refusal may be a token not live yet (operator.RejectionSettles),
	// so it is in progress, and unstick leaves it; --stuck-after 0s says
	// it has failed.
	w.failedRotation()
	if r = expect(exitOK, env, "status", secretName, "--verify"); !strings.Contains(flat(r.stdout), "refuses its credential for now") {
		t.Errorf("status of a young refused rotation:\n%s", r)
	}
	expect(exitRefused, env, "unstick", secretName, "--yes")
	expect(exitStuck, env, "status", secretName, "--verify", "--stuck-after", "0s")
	r = expect(exitRefused, env, "unstick", secretName, "--stuck-after", "0s")
	if !strings.Contains(r.stdout, "stdin ended without an answer") {
		t.Errorf("unstick without confirmation:\n%s", r)
	}
	expect(exitOK, env, "unstick", secretName, "--yes", "--stuck-after", "0s")
	expect(exitOK, env, "rotate", secretName, "--wait", "--interval", "100ms")

	// Without the sandbox CA the certificate is not trusted: the check
	// cannot be made (exit 4), it is not a rejection.
	noCA := append([]string(nil), env[:len(env)-1]...)
	r = expect(exitError, noCA, "verify", secretName)
	if !strings.Contains(r.stdout, "is not trusted") {
		t.Errorf("verify without the CA:\n%s", r)
	}

	// No region: a clear error before any call.
	var noRegion []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "AWS_REGION=") {
			noRegion = append(noRegion, kv)
		}
	}
	r = expect(exitError, noRegion, "status", secretName)
	if !strings.Contains(r.stderr, "no AWS region") {
		t.Errorf("status without a region:\n%s", r)
	}
}
