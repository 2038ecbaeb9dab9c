package main

import (
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/clickwrap-rotator/clickwrap-rotator/internal/localcmd/localcmdtest"
)

// The demo is run as a program (as `make demo` runs it), in a process group
// of its own and with TMPDIR pointing at a folder of the test's, so that
// what it leaves behind can be found: processes in its group or naming that
// folder (the emulator and `go tool` name the bootstrap's path, the
// bootstrap is that path), and files in the folder.

var demoBin = &localcmdtest.Binary{Name: "demo", Skip: "builds and runs the demo"}

func TestMain(m *testing.M) { os.Exit(demoBin.Run(m)) }

// standIns returns the pids of the processes running in the demo's working
// folder (`go tool` and the emulator; the bootstrap once invoked).
func standIns(t *testing.T, d *localcmdtest.Running) []int {
	t.Helper()
	pids := d.InFolder(t)
	if len(pids) == 0 {
		t.Fatal("no process of the demo names its working folder")
	}
	return pids
}

func isStep(line string) bool {
	for _, s := range []string{"createSecret", "setSecret", "testSecret", "finishSecret"} {
		if strings.HasPrefix(line, "  "+s+" ") {
			return true
		}
	}
	return false
}

// TestDemo runs the demo to the end: each rotation's four step lines come
// before its stages table, it ends with what to do next, and it leaves
// nothing behind.
func TestDemo(t *testing.T) {
	d := demoBin.Start(t)
	out, code := d.Wait(t)
	if code != 0 {
		t.Fatalf("exit status %d\n%s\nstderr:\n%s", code, out, d.Stderr.String())
	}
	d.CheckNothingLeft(t)

	rotations, steps := 0, -1
	for _, line := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(line, "Rotation "):
			rotations++
			steps = 0
		case isStep(line):
			if steps < 0 {
				t.Errorf("step line outside a rotation, after its table: %q", line)
			}
			steps++
		case strings.HasPrefix(line, "  VERSION") && steps >= 0:
			if steps != 4 {
				t.Errorf("rotation %d: %d step lines before the stages table, want 4", rotations, steps)
			}
			steps = -1
		}
	}
	if rotations != 2 {
		t.Errorf("%d rotations, want 2", rotations)
	}
	tail := out[strings.Index(out, "Demo finished"):]
	for _, want := range []string{"sam build && sam deploy --guided", "client_id and client_secret", "rotatorctl status", "--verify", "make invoke EVENT=events/createSecret.json"} {
		if !strings.Contains(tail, want) {
			t.Errorf("the end does not say %q:\n%s", want, tail)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}
}

// TestDemoClosedPipe is `make demo | head -3`: the reader goes away, the
// demo's next write fails, and it stops everything before exiting 141.
func TestDemoClosedPipe(t *testing.T) {
	d := demoBin.Start(t)
	for range 3 {
		d.ReadUntil(t, "three lines", func(string) bool { return true })
	}
	d.CloseOutput()
	if _, code := d.Wait(t); code != 141 {
		t.Errorf("exit status %d, want 141 (a write to a closed pipe)\nstderr:\n%s", code, d.Stderr.String())
	}
	d.CheckNothingLeft(t)
}

// TestDemoSignals interrupts the demo: after the first rotation, and while
// the emulator is frozen (stopped with SIGSTOP), so that the demo is
// certainly waiting for an invocation when the signal comes.
func TestDemoSignals(t *testing.T) {
	t.Run("SIGINT after the first rotation", func(t *testing.T) {
		d := demoBin.Start(t)
		d.ReadUntil(t, "the second rotation", func(l string) bool { return strings.HasPrefix(l, "Rotation 2:") })
		_ = d.Cmd.Process.Signal(syscall.SIGINT)
		out, code := d.Wait(t)
		switch code {
		case 130:
			if !strings.Contains(d.Stderr.String(), "interrupted by SIGINT") {
				t.Errorf("stderr does not say it was interrupted:\n%s", d.Stderr.String())
			}
		case 0:
			t.Logf("the demo finished before the signal came")
		default:
			t.Errorf("exit status %d, want 130\n%s\nstderr:\n%s", code, out, d.Stderr.String())
		}
		d.CheckNothingLeft(t)
	})

	t.Run("SIGINT at the end of the first rotation, emulator frozen", func(t *testing.T) {
		d := demoBin.Start(t)
		d.ReadUntil(t, "the emulator's address", func(l string) bool { return strings.HasPrefix(l, "  Lambda runtime emulator") })
		pids := standIns(t, d)
		d.ReadUntil(t, "the first finishSecret", func(l string) bool { return strings.HasPrefix(l, "  finishSecret ") })
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGSTOP)
		}
		_ = d.Cmd.Process.Signal(syscall.SIGINT)
		out, code := d.Wait(t)
		if code != 130 {
			t.Errorf("exit status %d, want 130\n%s\nstderr:\n%s", code, out, d.Stderr.String())
		}
		d.CheckNothingLeft(t)
	})

	t.Run("SIGTERM before the first rotation, emulator frozen", func(t *testing.T) {
		d := demoBin.Start(t)
		d.ReadUntil(t, "the emulator's address", func(l string) bool { return strings.HasPrefix(l, "  Lambda runtime emulator") })
		for _, pid := range standIns(t, d) {
			_ = syscall.Kill(pid, syscall.SIGSTOP)
		}
		d.ReadUntil(t, "the first rotation", func(l string) bool { return strings.HasPrefix(l, "Rotation 1:") })
		_ = d.Cmd.Process.Signal(syscall.SIGTERM)
		out, code := d.Wait(t)
		if code != 143 {
			t.Errorf("exit status %d, want 143\n%s\nstderr:\n%s", code, out, d.Stderr.String())
		}
		if !strings.Contains(d.Stderr.String(), "interrupted by SIGTERM") {
			t.Errorf("stderr does not say it was interrupted:\n%s", d.Stderr.String())
		}
		d.CheckNothingLeft(t)
	})
}
