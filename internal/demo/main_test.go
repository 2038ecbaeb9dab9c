package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/clickwrap-rotator/clickwrap-rotator/internal/localcmd"
	"github.com/clickwrap-rotator/clickwrap-rotator/internal/localcmd/localcmdtest"
)

// The demo is run as a program (as `make demo` runs it), in a process group
// of its own and with TMPDIR pointing at a folder of the test's, so that
// what it leaves behind can be found: processes in its group or naming that
// folder (the emulator and `go tool` name the bootstrap's path, the
// bootstrap is that path), and files in the folder.

var demoBin = &localcmdtest.Binary{Name: "demo", Skip: "builds and runs the demo"}

func TestMain(m *testing.M) { os.Exit(demoBin.Run(m)) }

// demoRun is the demo running, its standard output a pipe the test reads.
type demoRun struct {
	cmd    *exec.Cmd
	tmp    string // its TMPDIR
	stdout *bufio.Reader
	pipe   *os.File // the reading end
	stderr bytes.Buffer
	seen   strings.Builder // the lines read so far
}

func startDemo(t *testing.T) *demoRun {
	t.Helper()
	d := &demoRun{tmp: t.TempDir()}
	d.cmd = demoBin.Command(t, d.tmp)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	d.cmd.Stdout = w
	d.cmd.Stderr = &d.stderr
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close() // the demo holds the writing end
	d.pipe, d.stdout = r, bufio.NewReader(r)
	t.Cleanup(func() {
		r.Close()
		if d.cmd.ProcessState == nil { // a failed test: do not leave it running
			_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
			_ = d.cmd.Wait()
		}
		left, _ := localcmd.Leftovers(d.cmd.Process.Pid, d.tmp)
		for _, l := range left { // after a failure only: the checks found none
			var pid int
			if _, err := fmt.Sscan(l, &pid); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	return d
}

// readUntil reads lines until one satisfies match, and returns it.
func (d *demoRun) readUntil(t *testing.T, what string, match func(string) bool) string {
	t.Helper()
	for {
		line, err := d.stdout.ReadString('\n')
		d.seen.WriteString(line)
		if match(strings.TrimSuffix(line, "\n")) {
			return line
		}
		if err != nil {
			t.Fatalf("the demo's output ended (%v) before %s:\n%s\nstderr:\n%s", err, what, d.seen.String(), d.stderr.String())
		}
	}
}

// wait reads the rest of the output and returns the exit status.
func (d *demoRun) wait(t *testing.T) (string, int) {
	t.Helper()
	rest, _ := io.ReadAll(d.stdout)
	d.seen.Write(rest)
	localcmdtest.Exited(t, d.cmd.Wait())
	return d.seen.String(), d.cmd.ProcessState.ExitCode()
}

// checkNothingLeft fails the test if a process the demo started still runs
// or its TMPDIR is not empty.
func (d *demoRun) checkNothingLeft(t *testing.T) {
	t.Helper()
	localcmdtest.CheckNothingLeft(t, "the demo", d.cmd.Process.Pid, d.tmp)
}

// standIns returns the pids of the processes running in the demo's working
// folder (`go tool` and the emulator; the bootstrap once invoked).
func (d *demoRun) standIns(t *testing.T) []int {
	t.Helper()
	left, err := localcmd.Leftovers(0, d.tmp)
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, l := range left {
		var pid int
		if _, err := fmt.Sscan(l, &pid); err == nil {
			pids = append(pids, pid)
		}
	}
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
	d := startDemo(t)
	out, code := d.wait(t)
	if code != 0 {
		t.Fatalf("exit status %d\n%s\nstderr:\n%s", code, out, d.stderr.String())
	}
	d.checkNothingLeft(t)

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
	d := startDemo(t)
	for range 3 {
		d.readUntil(t, "three lines", func(string) bool { return true })
	}
	d.pipe.Close()
	localcmdtest.Exited(t, d.cmd.Wait())
	if code := d.cmd.ProcessState.ExitCode(); code != 141 {
		t.Errorf("exit status %d, want 141 (a write to a closed pipe)\nstderr:\n%s", code, d.stderr.String())
	}
	d.checkNothingLeft(t)
}

// TestDemoSignals interrupts the demo: after the first rotation, and while
// the emulator is frozen (stopped with SIGSTOP), so that the demo is
// certainly waiting for an invocation when the signal comes.
func TestDemoSignals(t *testing.T) {
	t.Run("SIGINT after the first rotation", func(t *testing.T) {
		d := startDemo(t)
		d.readUntil(t, "the second rotation", func(l string) bool { return strings.HasPrefix(l, "Rotation 2:") })
		_ = d.cmd.Process.Signal(syscall.SIGINT)
		out, code := d.wait(t)
		switch code {
		case 130:
			if !strings.Contains(d.stderr.String(), "interrupted by SIGINT") {
				t.Errorf("stderr does not say it was interrupted:\n%s", d.stderr.String())
			}
		case 0:
			t.Logf("the demo finished before the signal came")
		default:
			t.Errorf("exit status %d, want 130\n%s\nstderr:\n%s", code, out, d.stderr.String())
		}
		d.checkNothingLeft(t)
	})

	t.Run("SIGINT at the end of the first rotation, emulator frozen", func(t *testing.T) {
		d := startDemo(t)
		d.readUntil(t, "the emulator's address", func(l string) bool { return strings.HasPrefix(l, "  Lambda runtime emulator") })
		pids := d.standIns(t)
		d.readUntil(t, "the first finishSecret", func(l string) bool { return strings.HasPrefix(l, "  finishSecret ") })
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGSTOP)
		}
		_ = d.cmd.Process.Signal(syscall.SIGINT)
		out, code := d.wait(t)
		if code != 130 {
			t.Errorf("exit status %d, want 130\n%s\nstderr:\n%s", code, out, d.stderr.String())
		}
		d.checkNothingLeft(t)
	})

	t.Run("SIGTERM before the first rotation, emulator frozen", func(t *testing.T) {
		d := startDemo(t)
		d.readUntil(t, "the emulator's address", func(l string) bool { return strings.HasPrefix(l, "  Lambda runtime emulator") })
		for _, pid := range d.standIns(t) {
			_ = syscall.Kill(pid, syscall.SIGSTOP)
		}
		d.readUntil(t, "the first rotation", func(l string) bool { return strings.HasPrefix(l, "Rotation 1:") })
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		out, code := d.wait(t)
		if code != 143 {
			t.Errorf("exit status %d, want 143\n%s\nstderr:\n%s", code, out, d.stderr.String())
		}
		if !strings.Contains(d.stderr.String(), "interrupted by SIGTERM") {
			t.Errorf("stderr does not say it was interrupted:\n%s", d.stderr.String())
		}
		d.checkNothingLeft(t)
	})
}
