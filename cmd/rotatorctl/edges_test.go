package main

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/clickwrap-rotator/clickwrap-rotator/internal/localrun"
	"github.com/clickwrap-rotator/clickwrap-rotator/internal/operator"
	"github.com/clickwrap-rotator/clickwrap-rotator/internal/secretsmanagertest"
)

// emptyName is the secret the empty-secret tests create beside the world's.
const emptyName = "clickwrap/empty"

// createEmpty creates a secret without a value, as `aws secretsmanager
// create-secret --name NAME` does, and returns its ARN.
func (w *world) createEmpty() string {
	w.t.Helper()
	out, err := w.sm.Client().CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{Name: aws.String(emptyName)})
	if err != nil {
		w.t.Fatal(err)
	}
	return aws.ToString(out.ARN)
}

// rotateEmpty turns rotation on for the empty secret: its createSecret
// fails (there is no AWSCURRENT to read the client credentials from), and
// the version RotateSecret made keeps AWSPENDING without a value.
func (w *world) rotateEmpty(arn string) string {
	w.t.Helper()
	in := localrun.RotateSecretInput(arn)
	out, err := w.sm.Client().RotateSecret(context.Background(), in)
	if err != nil {
		w.t.Fatal(err)
	}
	w.waitRotations()
	if rs := w.sm.Rotations(arn); len(rs) == 0 || rs[len(rs)-1].Err == nil {
		w.t.Fatal("the rotation of the empty secret did not fail")
	}
	return aws.ToString(out.VersionId)
}

// TestEmptySecret: a secret with no AWSCURRENT value is unhealthy and says
// what to put in; rotate refuses it; verify says there is nothing to check;
// unstick clears the value-less AWSPENDING a rotation left, at once; and
// once the credentials are in, it rotates.
func TestEmptySecret(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		setup   func(w *world, arn string) string // returns the pending version, if any
		enabled bool
		also    []string
	}{
		{"created without a value", func(*world, string) string { return "" }, false, []string{"rotation-not-enabled"}},
		{"only a value-less AWSPENDING", (*world).rotateEmpty, true, []string{"stuck"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			arn := w.createEmpty()
			pending := tt.setup(w, arn)

			r := w.expect(exitUnhealthy, nil, "status", emptyName)
			for _, want := range []string{"Diagnosis: secret-empty", "The secret has no AWSCURRENT value",
				"from a file (then delete it), never on the command line", `{"client_id": "...", "client_secret": "..."}`,
				`{"credentials_secret": "ARN of a secret holding the applications"}`, "docs/credentials-secret.md",
				"AWSCURRENT value none: no version holds AWSCURRENT",
				"Fix: aws secretsmanager put-secret-value --secret-id " + arn + " --secret-string file://clickwrap-secret.json",
				"Then: rotatorctl rotate clickwrap/empty --wait"} {
				if !r.has(want) {
					t.Errorf("status lacks %q:\n%s", want, r)
				}
			}
			for _, also := range tt.also {
				if !r.has("Also: " + also) {
					t.Errorf("status lacks Also: %s:\n%s", also, r)
				}
			}
			if pending != "" && (!r.has("First: rotatorctl unstick clickwrap/empty") || !r.has("Version "+pending+" holds only AWSPENDING")) {
				t.Errorf("status does not say to clear AWSPENDING first:\n%s", r)
			}
			if pending == "" && !r.has("none: the secret has no labelled version") {
				t.Errorf("status with no version:\n%s", r)
			}

			s, r := w.status() // the world's own secret, for contrast: a first secret before rotation
			if s.Diagnosis.State == string(operator.StateEmpty) {
				t.Errorf("a secret with a value is called empty:\n%s", r)
			}
			r = w.expect(exitUnhealthy, nil, "status", emptyName, "--json")
			if !strings.Contains(r.stdout, `"current": null`) || !strings.Contains(r.stdout, `"state": "secret-empty"`) ||
				strings.Contains(r.stdout, `"current_version"`) {
				t.Errorf("status --json:\n%s", r)
			}

			w.sm.ResetCalls()
			r = w.expect(exitUnhealthy, nil, "rotate", emptyName, "--wait")
			if !r.has("Not rotating clickwrap/empty: nothing was changed.") || !r.has("Diagnosis: secret-empty") {
				t.Errorf("rotate:\n%s", r)
			}
			if n := w.calls()["RotateSecret"]; n != 0 {
				t.Errorf("rotate called RotateSecret %d times", n)
			}

			r = w.expect(exitUnhealthy, nil, "verify", emptyName)
			if !r.has("no version of the secret has the stage AWSCURRENT: the secret has no value yet") ||
				!r.has("Put the client credentials in: rotatorctl status clickwrap/empty says how.") {
				t.Errorf("verify:\n%s", r)
			}

			if pending != "" {
				// No --stuck-after 0s needed: without AWSCURRENT, createSecret can store nothing.
				r = w.expect(exitOK, nil, "unstick", emptyName, "--yes")
				for _, want := range []string{"Removed AWSPENDING from version " + pending,
					"No version holds AWSCURRENT (the secret has no value yet). Nothing else changes.",
					"none: the secret has no labelled version",
					"The secret has no AWSCURRENT value: put the client credentials in"} {
					if !r.has(want) {
						t.Errorf("unstick lacks %q:\n%s", want, r)
					}
				}
			} else {
				w.expect(exitRefused, nil, "unstick", emptyName, "--yes")
			}

			w.putSecret(arn, w.secretJSON(nil))
			if tt.enabled {
				w.expect(exitOK, nil, "rotate", emptyName, "--wait", "--interval", "20ms")
				w.expect(exitOK, nil, "status", emptyName, "--verify")
			} else {
				w.expectStatus(exitUnhealthy, operator.StateNotEnabled) // the world's secret, untouched
				r = w.expect(exitUnhealthy, nil, "status", emptyName)
				if !r.has("Diagnosis: rotation-not-enabled") || r.has("secret-empty") {
					t.Errorf("status once the credentials are in:\n%s", r)
				}
			}
		})
	}
}

// TestUnstickRotationOff: with rotation off no rotation can be running, so
// AWSPENDING left on another version is stuck whatever its age: status says
// so, and unstick removes it without --stuck-after.
func TestUnstickRotationOff(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(w *world) string // returns the version AWSPENDING is on
	}{
		{"AWSPENDING stored by hand with a value", func(w *world) string {
			return w.putSecret(w.arn, w.secretJSON(map[string]any{"team": "billing"}), "AWSPENDING")
		}},
		{"AWSPENDING moved onto the previous version", func(w *world) string {
			previous := operator.VersionWithStage(w.stages(), "AWSCURRENT")
			w.put(w.secretJSON(map[string]any{"team": "billing"}))
			if _, err := w.sm.Client().UpdateSecretVersionStage(context.Background(), &secretsmanager.UpdateSecretVersionStageInput{
				SecretId: aws.String(w.arn), VersionStage: aws.String("AWSPENDING"), MoveToVersionId: aws.String(previous),
			}); err != nil {
				w.t.Fatal(err)
			}
			return previous
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			pending := tt.setup(w)
			current := operator.VersionWithStage(w.stages(), "AWSCURRENT")

			s := w.expectStatus(exitStuck, operator.StateStuck)
			if !strings.Contains(s.Diagnosis.Message, "rotation is off for this secret, so no rotation is running") ||
				!slices.Contains(s.states(), string(operator.StateNotEnabled)) || s.Diagnosis.PendingVersion != pending {
				t.Errorf("diagnosis %+v", s.Diagnosis)
			}

			w.sm.ResetCalls()
			r := w.expect(exitOK, nil, "unstick", secretName, "--yes")
			if n := w.calls()["UpdateSecretVersionStage"]; n != 1 {
				t.Errorf("UpdateSecretVersionStage called %d times", n)
			}
			for _, want := range []string{"Removed AWSPENDING from version " + pending, "AWSCURRENT stays on version " + current,
				"Rotation is off for this secret: turn it on when it should rotate (rotatorctl status clickwrap/api-token gives the command)."} {
				if !r.has(want) {
					t.Errorf("unstick lacks %q:\n%s", want, r)
				}
			}
			if slices.Contains(w.stages()[pending], "AWSPENDING") || !slices.Equal(w.stages()[current], []string{"AWSCURRENT"}) {
				t.Errorf("stages after unstick: %v", w.stages())
			}
			w.expectStatus(exitUnhealthy, operator.StateNotEnabled)
		})
	}
}

// TestRotateSecretFails: when RotateSecret itself fails, rotate says whether
// it left AWSPENDING behind, and how to see and clear it; the advice works.
func TestRotateSecretFails(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		fail  func(w *world) func() // makes the next RotateSecret fail; returns the undo
		left  bool
		words []string // on stderr
	}{
		{"refused before making a version", func(w *world) func() {
			w.sm.FailNext("RotateSecret", 1, "AccessDeniedException")
			return func() {}
		}, false, []string{"rotatorctl: RotateSecret:", "AccessDeniedException", "Access was denied",
			"No version holds AWSPENDING: the failed RotateSecret left nothing to clear."}},
		{"failed after making the version", func(w *world) func() {
			// As when Secrets Manager cannot invoke the function: the version
			// is made and labelled, then the call fails (every retry too).
			var once sync.Once
			return w.sm.OnCall("RotateSecret", func(secretsmanagertest.Call) error {
				once.Do(func() {
					if _, err := w.sm.Client().PutSecretValue(context.Background(), &secretsmanager.PutSecretValueInput{
						SecretId: aws.String(w.arn), SecretString: aws.String(w.secretJSON(nil)), VersionStages: []string{"AWSPENDING"},
					}); err != nil {
						w.t.Error(err)
					}
				})
				return errors.New("the function could not be invoked (test)")
			})
		}, true, []string{"rotatorctl: RotateSecret:", "RotateSecret left AWSPENDING on version",
			`every rotation fails with "A previous rotation isn't complete"`, "See it with: rotatorctl status clickwrap/api-token",
			"clear it with: rotatorctl unstick clickwrap/api-token --stuck-after 0s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			w.configure()
			undo := tt.fail(w)
			r := w.expect(exitError, nil, "rotate", secretName, "--wait")
			undo()
			for _, want := range tt.words {
				if !strings.Contains(flat(r.stderr), want) {
					t.Errorf("stderr lacks %q:\n%s", want, r)
				}
			}
			pending := operator.VersionWithStage(w.stages(), "AWSPENDING")
			if (pending != "") != tt.left || (tt.left && !strings.Contains(r.stderr, pending)) {
				t.Errorf("AWSPENDING on %q, left %v:\n%s", pending, tt.left, r)
			}
			if tt.left {
				w.expect(exitOK, nil, "status", secretName) // a rotation in progress, as far as anyone can tell
				w.expect(exitOK, nil, "unstick", secretName, "--stuck-after", "0s", "--yes")
			}
			w.expect(exitOK, nil, "rotate", secretName, "--wait", "--interval", "20ms")
		})
	}
}

// TestCommandHelpExitCodes: `help COMMAND` and `COMMAND --help` show that
// command's exit codes, and only those.
func TestCommandHelpExitCodes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		args      []string
		want, not []string
	}{
		{"status", []string{"help", "status"}, []string{"0    healthy, or a rotation is in progress", "3    stuck:", "secret empty"},
			[]string{"5    refused"}},
		{"rotate", []string{"help", "rotate"}, []string{"5    refused, nothing changed: a rotation is already running",
			"says whether it left AWSPENDING behind", "130  interrupted (the rotation goes on"}, []string{"healthy, or"}},
		{"verify", []string{"verify", "--help"}, []string{"0    Clickwrap accepted the token", "1    Clickwrap rejected it"},
			[]string{"3    ", "5    "}},
		{"unstick", []string{"help", "unstick"}, []string{"0    AWSPENDING removed", "5    refused, nothing changed: nothing is stuck"},
			[]string{"1    ", "3    "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, code := runNoAWS(t, tt.args...)
			if code != exitOK {
				t.Fatalf("exit %d", code)
			}
			_, codes, ok := strings.Cut(out, "Exit codes:")
			if !ok {
				t.Fatalf("no exit codes:\n%s", out)
			}
			for _, want := range tt.want {
				if !strings.Contains(codes, want) {
					t.Errorf("exit codes lack %q:\n%s", want, codes)
				}
			}
			for _, no := range tt.not {
				if strings.Contains(codes, no) {
					t.Errorf("exit codes have %q:\n%s", no, codes)
				}
			}
		})
	}
}

// runNoAWS runs rotatorctl with dependencies that fail the test if AWS is
// needed, and returns stdout (stderr when it is empty) and the exit code.
func runNoAWS(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var out, errOut strings.Builder
	d := deps{
		operator: func(context.Context) (*operator.Operator, error) {
			t.Error("AWS was needed")
			return nil, io.EOF
		},
		terminal: func(io.Writer) bool { return false },
	}
	code := run(context.Background(), args, nil, &out, &errOut, d)
	if out.Len() == 0 {
		return errOut.String(), code
	}
	return out.String(), code
}

// TestVersion: --version prints the module version, and says what
// "(devel)" means.
func TestVersion(t *testing.T) {
	t.Parallel()
	info := func(version string, settings ...debug.BuildSetting) func() (*debug.BuildInfo, bool) {
		return func() (*debug.BuildInfo, bool) {
			return &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/clickwrap-rotator/clickwrap-rotator", Version: version}, Settings: settings}, true
		}
	}
	tests := []struct {
		name string
		args []string
		info func() (*debug.BuildInfo, bool)
		want string
	}{
		{"a module version", []string{"--version"}, info("v1.4.0"), "rotatorctl v1.4.0 (go1.26.8)\n"},
		{"a work tree", []string{"--version"}, info("(devel)"), "rotatorctl (devel) (go1.26.8): built from a work tree, so it has no module version\n"},
		{"a work tree with a commit", []string{"-version"}, info("(devel)",
			debug.BuildSetting{Key: "vcs.revision", Value: "5c2a2ed0123456789abcdef"}, debug.BuildSetting{Key: "vcs.modified", Value: "true"}),
			"rotatorctl (devel) (go1.26.8): built from a work tree, so it has no module version; commit 5c2a2ed01234, with uncommitted changes\n"},
		{"no build information", []string{"version"}, func() (*debug.BuildInfo, bool) { return nil, false },
			"rotatorctl (version unknown: built without module information)\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var out, errOut strings.Builder
			d := deps{buildInfo: tt.info, operator: func(context.Context) (*operator.Operator, error) {
				t.Error("AWS was needed")
				return nil, io.EOF
			}}
			if code := run(context.Background(), tt.args, nil, &out, &errOut, d); code != exitOK || out.String() != tt.want || errOut.Len() != 0 {
				t.Errorf("exit %d\nstdout %q\nwant   %q\nstderr %q", code, out.String(), tt.want, errOut.String())
			}
		})
	}
}

// TestAWSSetupErrors runs rotatorctl's own AWS setup (the default
// configuration chain, as the built command does) against the emulator, or
// a port nothing listens on: each error names the region and the endpoint,
// and says what to check. It sets the environment, so it is not parallel.
func TestAWSSetupErrors(t *testing.T) {
	w := newWorld(t)
	w.configure()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()

	dir := t.TempDir()
	base := map[string]string{
		"AWS_REGION":                       "eu-west-3",
		"AWS_ENDPOINT_URL_SECRETS_MANAGER": w.sm.URL(),
		"AWS_ACCESS_KEY_ID":                "AKIDROTATORCTLSETUP",
		"AWS_SECRET_ACCESS_KEY":            "rotatorctl-setup-not-a-secret",
		"AWS_CONFIG_FILE":                  os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE":      os.DevNull,
		"AWS_EC2_METADATA_DISABLED":        "true",
		"HOME":                             dir,
	}
	tests := []struct {
		name   string
		env    map[string]string // over base; "" unsets
		secret string            // default: the world's, by ARN
		code   int
		stderr []string
	}{
		{"working", nil, "", exitOK, nil},
		{"no credentials", map[string]string{"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}, "", exitError, []string{
			"rotatorctl: no AWS credentials:", "No AWS credentials were found (region eu-west-3, endpoint " + w.sm.URL() +
				" from AWS_ENDPOINT_URL_SECRETS_MANAGER)", "Configure AWS credentials: AWS_PROFILE", "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
			"aws sts get-caller-identity"}},
		{"connection refused", map[string]string{"AWS_ENDPOINT_URL_SECRETS_MANAGER": closed}, "", exitError, []string{
			"connection refused", "Could not reach Secrets Manager (region eu-west-3, endpoint " + closed + ")",
			"Check the endpoint URL, which comes from AWS_ENDPOINT_URL_SECRETS_MANAGER"}},
		{"a profile that does not exist", map[string]string{"AWS_PROFILE": "no-such-profile"}, "", exitError, []string{
			"loading the AWS configuration", "no-such-profile", "Check AWS_PROFILE"}},
		{"a secret that is not there", nil, "no/such/secret", exitError, []string{`secret "no/such/secret" not found (region eu-west-3, endpoint ` +
			w.sm.URL() + " from AWS_ENDPOINT_URL_SECRETS_MANAGER): check the name, and the region (AWS_REGION, or the profile's region)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range base {
				t.Setenv(k, v)
			}
			for _, k := range []string{"AWS_PROFILE", "AWS_DEFAULT_REGION", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
				"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN"} {
				t.Setenv(k, "")
				os.Unsetenv(k)
			}
			for k, v := range tt.env {
				t.Setenv(k, v)
				if v == "" {
					os.Unsetenv(k)
				}
			}
			secret := tt.secret
			if secret == "" {
				secret = w.arn
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			r := w.runDeps(ctx, defaultDeps(), nil, "status", secret)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d\n%s", r.code, tt.code, r)
			}
			for _, want := range tt.stderr {
				if !strings.Contains(flat(r.stderr), want) {
					t.Errorf("stderr lacks %q:\n%s", want, r)
				}
			}
			if tt.code != exitOK && r.stdout != "" {
				t.Errorf("stdout: %s", r.stdout)
			}
		})
	}
}

// TestBlankVersionIDPattern: the world's check finds a version id left
// blank, in text and JSON, and nothing else.
func TestBlankVersionIDPattern(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		line  string
		blank bool
	}{
		{"text, before a parenthesis", "AWSCURRENT (version )", true},
		{"text, before a comma", "AWSCURRENT of s (version , token 1234abcd)", true},
		{"text, before a full stop", "AWSCURRENT stays on version . Nothing else changes.", true},
		{"text, two spaces", "Rotation of s started: version  is AWSPENDING.", true},
		{"text, at the end of a line", "removes the label AWSPENDING from version ", true},
		{"JSON version_id", `      "version_id": "",`, true},
		{"JSON current_version", `    "current_version": ""`, true},
		{"a version id", "AWSCURRENT (version 36f809de-1b62-4811-8da5-4740e84584ef)", false},
		{"the versions table", "  VERSION                               STAGES       CREATED", false},
		{"the versions heading", "Versions", false},
		{"a sentence about a version", "No version holds AWSCURRENT (the secret has no value yet).", false},
		{"JSON with an id", `  "current_version": "36f809de-1b62-4811-8da5-4740e84584ef"`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := blankVersionID.MatchString(tt.line); got != tt.blank {
				t.Errorf("blankVersionID.MatchString(%q) = %v", tt.line, got)
			}
		})
	}
}
