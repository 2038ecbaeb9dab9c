package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/clickwrap-rotator/clickwrap-rotator/clickwrap/clickwraptest"
	"github.com/clickwrap-rotator/clickwrap-rotator/internal/operator"
	"github.com/clickwrap-rotator/clickwrap-rotator/rotation"
)

// TestRotateWaitRejectedToken: a rotation whose new token Clickwrap rejects
// fails, and rotate --wait says how it ended. A rotation function that
// removes AWSPENDING from such a version itself leaves nothing stuck; one
// that does not leaves it stuck, and unstick clears it. Either way the next
// rotation succeeds.
func TestRotateWaitRejectedToken(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.configure()
	w.setHook(w.revokeBeforeTest)
	r := w.expect(exitStuck, nil, "rotate", secretName, "--wait", "--interval", "20ms", "--timeout", "20s")
	w.setHook(nil)
	switch {
	case r.has("its version was abandoned"):
		if !r.has("nothing is stuck") {
			t.Errorf("output:\n%s", r)
		}
		w.expect(exitOK, nil, "status", secretName, "--verify")
	case r.has("testSecret can never pass"):
		w.expect(exitStuck, nil, "status", secretName, "--verify")
		w.expect(exitOK, nil, "unstick", secretName, "--yes")
	default:
		t.Fatalf("rotate --wait does not say how the rotation ended:\n%s", r)
	}
	w.expect(exitOK, nil, "rotate", secretName, "--wait", "--interval", "20ms")
}

// TestRotateWaitBadCredentials: createSecret cannot mint with a wrong
// client_secret, so the pending version never gets a value; the wait says it
// is slow and names the likely causes, gives up at the timeout, and says how
// to abandon the rotation at once.
func TestRotateWaitBadCredentials(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.configure()
	w.cw.AddClient(clientID, "a-rotated-client-secret") // the API key was regenerated at Clickwrap
	r := w.expect(exitStuck, nil, "rotate", secretName, "--wait", "--interval", "20ms", "--timeout", "1s")
	for _, want := range []string{"still has no value after", "wrong client_id or client_secret", "Gave up waiting after",
		"not finished after 1s", "Diagnosis: rotation-in-progress", "createSecret has not stored its value yet",
		"abandon it now: rotatorctl unstick clickwrap/api-token --stuck-after 0s"} {
		if !r.has(want) {
			t.Errorf("output lacks %q:\n%s", want, r)
		}
	}
	if !strings.Contains(w.logs.String(), "invalid_client") {
		t.Error("the function did not fail on the credentials")
	}
	// What the hint says works; then, with the credentials right again, a
	// rotation succeeds.
	w.expect(exitRefused, nil, "unstick", secretName, "--yes")
	w.expect(exitOK, nil, "unstick", secretName, "--yes", "--stuck-after", "0s")
	w.cw.AddClient(clientID, clientSecret)
	w.expect(exitOK, nil, "rotate", secretName, "--wait", "--interval", "20ms")
}

// TestRotateWaitTimeout: a rotation that keeps failing on a passing Clickwrap
// outage is reported when the timeout comes, with the diagnosis status gives
// (in progress: nothing proves it cannot pass); Secrets Manager's own retry
// then finishes it.
func TestRotateWaitTimeout(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.configure()
	w.cw.FailNext(clickwraptest.EndpointAPI, 100000, 503)
	r := w.expect(exitStuck, nil, "rotate", secretName, "--wait", "--interval", "50ms", "--timeout", "1s")
	for _, want := range []string{"Gave up waiting after", "not finished after 1s", "still AWSPENDING", "rotation-in-progress",
		"Bearer check could not check: Clickwrap answered HTTP 503", "--stuck-after 0s"} {
		if !r.has(want) {
			t.Errorf("output lacks %q:\n%s", want, r)
		}
	}
	w.waitRotations()
	w.cw.FailNext(clickwraptest.EndpointAPI, 0, 503)
	if err := w.sm.RetryRotation(context.Background(), w.arn); err != nil {
		t.Fatalf("the service's retry: %v", err)
	}
	w.expect(exitOK, nil, "status", secretName, "--verify")
}

// TestRotateRefusals: rotate changes nothing when rotation cannot work.
func TestRotateRefusals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		setup  func(w *world)
		code   int
		stdout string
	}{
		{"rotation not enabled", func(*world) {}, exitUnhealthy, "Rotation is not enabled"},
		{"malformed", func(w *world) {
			w.configure()
			w.put(w.secretJSON(map[string]any{"client_id": ""}))
		}, exitUnhealthy, `"client_id" is missing or empty`},
		{"stuck", func(w *world) { w.configure(); w.failedRotation() }, exitStuck, "or: rotatorctl unstick clickwrap/api-token"},
		{"in progress", func(w *world) { w.configure(); w.blockAt(rotation.SetSecret) }, exitRefused, "A rotation is in progress"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			tt.setup(w)
			before := w.stages()
			w.sm.ResetCalls()
			r := w.expect(tt.code, nil, "rotate", secretName, "--wait")
			if !r.has(tt.stdout) || !r.has("nothing was changed") {
				t.Errorf("output lacks %q:\n%s", tt.stdout, r)
			}
			calls := w.calls()
			if calls["RotateSecret"]+calls["UpdateSecretVersionStage"]+calls["PutSecretValue"] != 0 {
				t.Errorf("calls: %v", calls)
			}
			if after := w.stages(); len(after) != len(before) {
				t.Errorf("stages changed: %v -> %v", before, after)
			}
		})
	}
}

// TestRotate: without --wait it starts the rotation and returns; with
// --wait the progress is plain lines, or one redrawn line in a terminal.
func TestRotate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		args     []string
		terminal bool
		want     []string
		notWant  []string
	}{
		{"no wait", nil, false, []string{"Secrets Manager runs it now. Follow it with: rotatorctl status clickwrap/api-token"}, []string{"Rotation finished"}},
		{"plain progress", []string{"--wait", "--interval", "20ms"}, false,
			[]string{"s  started: version", "s  created: createSecret stored the new value", "Rotation finished in"}, []string{"\r"}},
		{"terminal progress", []string{"--wait", "--interval", "20ms"}, true,
			[]string{"\r\x1b[K| ", "created: createSecret stored", "\r\x1b[KRotation finished in"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			w.configure()
			before := operator.VersionWithStage(w.stages(), "AWSCURRENT")
			w.setTerminal(tt.terminal)
			// Slow steps, so that the wait sees every phase.
			w.setHook(func(_ context.Context, ev rotation.Event) error {
				switch ev.Step {
				case string(rotation.CreateSecret), string(rotation.TestSecret):
					time.Sleep(200 * time.Millisecond)
				}
				return nil
			})
			r := w.expect(exitOK, nil, append([]string{"rotate", secretName}, tt.args...)...)
			w.waitRotations()
			after := operator.VersionWithStage(w.stages(), "AWSCURRENT")
			if after == before || !r.has("version "+after+" is AWSPENDING") {
				t.Errorf("the version started is not the one promoted:\n%s", r)
			}
			for _, want := range tt.want {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("output lacks %q:\n%q", want, r.stdout)
				}
			}
			for _, no := range tt.notWant {
				if strings.Contains(r.stdout, no) {
					t.Errorf("output has %q:\n%q", no, r.stdout)
				}
			}
		})
	}
}

// TestRotateAbandoned: the rotation loses AWSPENDING before finishing
// (someone removed it): the wait ends at once as failed.
func TestRotateAbandoned(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.configure()
	w.setHook(func(ctx context.Context, ev rotation.Event) error {
		if ev.Step == string(rotation.TestSecret) {
			_, err := w.sm.Client().UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
				SecretId: aws.String(w.arn), VersionStage: aws.String("AWSPENDING"), RemoveFromVersionId: aws.String(ev.ClientRequestToken),
			})
			return err
		}
		return nil
	})
	r := w.expect(exitStuck, nil, "rotate", secretName, "--wait", "--interval", "20ms", "--timeout", "20s")
	if !r.has("lost AWSPENDING without becoming AWSCURRENT") {
		t.Errorf("output:\n%s", r)
	}
}

// TestRotateInterrupted: Ctrl-C while waiting exits 130 and leaves the
// rotation to Secrets Manager.
func TestRotateInterrupted(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.configure()
	release := make(chan struct{})
	t.Cleanup(func() { close(release); w.waitRotations() })
	w.setHook(func(ctx context.Context, ev rotation.Event) error {
		if ev.Step == string(rotation.TestSecret) {
			select {
			case <-release:
			case <-ctx.Done():
			}
		}
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	time.AfterFunc(300*time.Millisecond, cancel)
	r := w.runCtx(ctx, nil, "rotate", secretName, "--wait", "--interval", "20ms")
	if r.code != exitInterrupted || !strings.Contains(r.stderr, "interrupted; the rotation goes on in Secrets Manager") {
		t.Errorf("rotate --wait interrupted:\n%s", r)
	}
	if v := operator.VersionWithStage(w.stages(), "AWSPENDING"); v == "" || !r.has("version "+v+" is AWSPENDING") {
		t.Errorf("the rotation is not left running: %v", w.stages())
	}
}

// TestCheckInterrupted: Ctrl-C while status or verify waits on Clickwrap's
// answer is an interruption (exit 130, "interrupted" on stderr, nothing on
// stdout), not a check that could not be made (exit 4) with a report of it.
func TestCheckInterrupted(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
	}{
		{"status --verify", []string{"status", secretName, "--verify"}},
		{"status --verify --json", []string{"status", secretName, "--verify", "--json"}},
		{"verify", []string{"verify", secretName}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			w.configure()
			w.cw.SetDelay(clickwraptest.EndpointAPI, 5*time.Second)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			time.AfterFunc(300*time.Millisecond, cancel)
			r := w.runCtx(ctx, nil, tt.args...)
			if r.code != exitInterrupted || r.stdout != "" || !strings.Contains(r.stderr, "interrupted") {
				t.Errorf("interrupted %s: want exit %d, no stdout, and \"interrupted\"\n%s", tt.name, exitInterrupted, r)
			}
		})
	}
}
