package main

import (
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clickwrap-rotator/clickwrap-rotator/internal/operator"
	"github.com/clickwrap-rotator/clickwrap-rotator/internal/secretsmanagertest"
	"github.com/clickwrap-rotator/clickwrap-rotator/rotation"
)

// TestUnstickRefuses: unstick changes nothing unless a rotation is stuck
// and the change is confirmed.
func TestUnstickRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		setup  func(w *world)
		stdin  io.Reader
		args   []string
		stdout string
	}{
		{"nothing pending", (*world).configure, nil, []string{"--yes"}, "Nothing is stuck: no version has AWSPENDING."},
		{"AWSPENDING on AWSCURRENT", func(w *world) { w.configure(); w.pendingOnCurrent() }, nil, []string{"--yes"}, "AWSPENDING is on the AWSCURRENT version"},
		{"in progress", func(w *world) { w.configure(); w.blockAt(rotation.CreateSecret) }, nil, []string{"--yes"}, "--stuck-after 0s"},
		{"recent, unproven failure", func(w *world) { w.configure(); w.failedCreate() }, nil, []string{"--yes"}, "A rotation is in progress"},
		{"no stdin", func(w *world) { w.configure(); w.failedRotation() }, nil, nil, "there is no stdin to ask on; pass --yes"},
		{"stdin at its end", func(w *world) { w.configure(); w.failedRotation() }, strings.NewReader(""), nil, "stdin ended without an answer"},
		{"answered no", func(w *world) { w.configure(); w.failedRotation() }, strings.NewReader("no\n"), nil, "Not confirmed. Nothing was changed."},
		{"answered something else", func(w *world) { w.configure(); w.failedRotation() }, strings.NewReader("sure\n"), nil, "Not confirmed."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			tt.setup(w)
			before := w.stages()
			w.sm.ResetCalls()
			r := w.expect(exitRefused, tt.stdin, append([]string{"unstick", secretName}, tt.args...)...)
			if !r.has(tt.stdout) {
				t.Errorf("output lacks %q:\n%s", tt.stdout, r)
			}
			if n := w.calls()["UpdateSecretVersionStage"]; n != 0 {
				t.Errorf("UpdateSecretVersionStage called %d times", n)
			}
			after := w.stages()
			for id, st := range before {
				if !slices.Equal(after[id], st) {
					t.Errorf("stages changed: %v -> %v", before, after)
				}
			}
		})
	}
}

// TestUnstick: every way of confirming removes AWSPENDING from the stuck
// version only, with one call.
func TestUnstick(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(w *world)
		stdin io.Reader
		args  []string
	}{
		{"--yes", func(w *world) { w.failedRotation() }, nil, []string{"--yes"}},
		{"y", func(w *world) { w.failedRotation() }, strings.NewReader("y\n"), nil},
		{"YES without a newline", func(w *world) { w.failedRotation() }, strings.NewReader("YES"), nil},
		{"createSecret failed an hour ago", func(w *world) { w.failedCreate(); w.setShift(time.Hour) }, nil, []string{"--yes"}},
		{"--stuck-after 0s", func(w *world) { w.failedCreate() }, nil, []string{"--yes", "--stuck-after", "0s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			w.configure()
			current := operator.VersionWithStage(w.stages(), "AWSCURRENT")
			previous := operator.VersionWithStage(w.stages(), "AWSPREVIOUS")
			tt.setup(w)
			stuck := operator.VersionWithStage(w.stages(), "AWSPENDING")
			w.sm.ResetCalls()
			r := w.expect(exitOK, tt.stdin, append([]string{"unstick", secretName}, tt.args...)...)
			if n := w.calls()["UpdateSecretVersionStage"]; n != 1 {
				t.Errorf("UpdateSecretVersionStage called %d times, want 1", n)
			}
			want := map[string][]string{current: {"AWSCURRENT"}, previous: {"AWSPREVIOUS"}}
			if got := w.stages(); len(got) != 2 || !slices.Equal(got[current], want[current]) || !slices.Equal(got[previous], want[previous]) {
				t.Errorf("stages after unstick: %v", got)
			}
			if !r.has("Removed AWSPENDING from version "+stuck+". The stages now:") || r.has(stuck+"  AWSPENDING") {
				t.Errorf("output:\n%s", r)
			}
			w.setShift(0)
			w.expect(exitOK, nil, "rotate", secretName, "--wait", "--interval", "20ms")
		})
	}
}

// TestUnstickReportsTheChangeWhenTheRereadFails: once AWSPENDING is
// removed, a failing read of the stages afterwards must not turn success
// into an error exit (a script would retry into "nothing is stuck").
func TestUnstickReportsTheChangeWhenTheRereadFails(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.configure()
	stuck := w.failedRotation()
	remove := w.sm.OnCall("UpdateSecretVersionStage", func(secretsmanagertest.Call) error {
		w.sm.FailNext("DescribeSecret", 5, "AccessDeniedException") // the read after the change
		return nil
	})
	defer remove()
	r := w.run(nil, "unstick", secretName, "--yes")
	if r.code != exitOK || !strings.Contains(r.stdout, "Removed AWSPENDING from version "+stuck) || !strings.Contains(r.stderr, "warning") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if slices.Contains(w.stages()[stuck], "AWSPENDING") {
		t.Error("AWSPENDING is still on the stuck version")
	}
}

// TestUnstickLeavesAYoungRefusal: a new token may take a moment to go live,
// and the rotation function retries a refusal within its propagation grace.
// Seconds into a rotation, a refused pending token is a rotation in
// progress: status says so (exit 0), and unstick changes nothing.
func TestUnstickLeavesAYoungRefusal(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.configure()
	w.cw.SetActivationDelay(3 * time.Second) // the next token is refused for 3 s
	v := w.blockAt(rotation.TestSecret)
	s := w.expectStatus(exitOK, operator.StateInProgress, "--verify")
	if s.Pending == nil || s.Pending.Check == nil || s.Pending.Check.Result != operator.CheckRejected ||
		!strings.Contains(s.Diagnosis.Message, "refuses its credential for now") {
		t.Fatalf("status of a refused pending token seconds old: %+v", s.Diagnosis)
	}
	w.sm.ResetCalls()
	r := w.expect(exitRefused, nil, "unstick", secretName, "--yes")
	if !r.has("refuses its credential for now") || !r.has("--stuck-after 0s") {
		t.Errorf("unstick's refusal:\n%s", r)
	}
	if n := w.calls()["UpdateSecretVersionStage"]; n != 0 || !slices.Contains(w.stages()[v], "AWSPENDING") {
		t.Errorf("unstick removed AWSPENDING (%d calls, stages %v)", n, w.stages())
	}
}
