// Package localcmdtest holds what the tests of the local commands
// (internal/demo and internal/invoke) share: building the command once,
// running it with its output a pipe the test reads, and checking that a
// run of it left nothing behind. It imports "testing", so only tests may
// import it; the commands themselves use localcmd.
package localcmdtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/clickwrap-rotator/clickwrap-rotator/internal/localcmd"
	"github.com/clickwrap-rotator/clickwrap-rotator/internal/syncbuf"
)

// Binary is the command in the current folder, built once for a package's
// tests. Its tests are skipped under -short and off Linux (leftover
// processes are found through /proc). TestMain calls Run.
type Binary struct {
	// Name is the built file's name; its folder is named after it too.
	Name string
	// Dir is the folder the command runs in, relative to the package's
	// ("": the package's own).
	Dir string
	// Skip is what -short skips: what the tests that need the command do.
	Skip string

	once sync.Once
	path string
	err  error
}

// Path builds the command (go build, as make does) on the first call and
// returns the built file's path; it skips or fails t as its tests must.
func (b *Binary) Path(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip(b.Skip)
	}
	if runtime.GOOS != "linux" {
		t.Skip("finds leftover processes through /proc")
	}
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", b.Name+"-test-bin-*")
		if err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(dir, b.Name)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		if out, err := exec.CommandContext(ctx, "go", "build", "-o", b.path, ".").CombinedOutput(); err != nil {
			b.err = errors.New("go build: " + err.Error() + "\n" + string(out))
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// Run is for TestMain: it runs the tests, then removes the built file's
// folder (if it was built), and returns m.Run's exit status.
func (b *Binary) Run(m *testing.M) int {
	defer func() {
		if b.path != "" {
			os.RemoveAll(filepath.Dir(b.path))
		}
	}()
	return m.Run()
}

// Running is a run of the command, started by Start.
type Running struct {
	// Cmd is the command, started in Dir, in a process group of its own.
	Cmd *exec.Cmd
	// Tmp is its TMPDIR, a folder of the test's, so that what it leaves
	// behind can be found: processes naming the folder, files in it.
	Tmp string
	// Stderr is what it wrote to its standard error; safe to read while it
	// runs.
	Stderr syncbuf.Buffer

	name   string
	pipe   *os.File // the reading end of its standard output
	stdout *bufio.Reader
	seen   strings.Builder // what was read of it so far
}

// Start starts the command (built by Path) for args, its standard output a
// pipe that ReadUntil and Wait read. When t ends, it kills the command and
// whatever it started if they still run (after a failure).
func (b *Binary) Start(t testing.TB, args ...string) *Running {
	t.Helper()
	r := &Running{Tmp: t.TempDir(), name: b.Name}
	r.Cmd = exec.Command(b.Path(t), args...)
	r.Cmd.Dir = b.Dir
	r.Cmd.Env = append(os.Environ(), "TMPDIR="+r.Tmp)
	r.Cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.Cmd.Stdout = pw
	r.Cmd.Stderr = &r.Stderr
	err = r.Cmd.Start()
	pw.Close() // the command holds the writing end
	if err != nil {
		pr.Close()
		t.Fatal(err)
	}
	r.pipe, r.stdout = pr, bufio.NewReader(pr)
	t.Cleanup(func() {
		pr.Close()
		if r.Cmd.ProcessState == nil { // a failed test: do not leave it running
			_ = syscall.Kill(-r.Cmd.Process.Pid, syscall.SIGKILL)
			_ = r.Cmd.Wait()
		}
		left, _ := localcmd.Leftovers(r.Cmd.Process.Pid, r.Tmp)
		for _, pid := range pids(left) { // after a failure only: the checks found none
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	return r
}

// ReadUntil reads whole lines of the standard output until one satisfies
// match (given the line without its newline), and returns it. It fails t
// if the output ends first; what describes the line awaited.
func (r *Running) ReadUntil(t testing.TB, what string, match func(string) bool) string {
	t.Helper()
	for {
		line, err := r.stdout.ReadString('\n')
		r.seen.WriteString(line)
		if err != nil {
			t.Fatalf("%s's output ended (%v) before %s:\n%s\nstderr:\n%s", r.name, err, what, r.seen.String(), r.Stderr.String())
		}
		if match(strings.TrimSuffix(line, "\n")) {
			return line
		}
	}
}

// CloseOutput closes the reading end of the standard output, as a reader
// that goes away (`| head`) does: the command's next write to it fails.
func (r *Running) CloseOutput() { r.pipe.Close() }

// Wait reads the rest of the standard output (none once CloseOutput was
// called), waits for the command to exit, and returns all it wrote to its
// standard output and its exit status. It fails t unless the command ran
// and exited (with any status).
func (r *Running) Wait(t testing.TB) (string, int) {
	t.Helper()
	rest, _ := io.ReadAll(r.stdout)
	r.seen.Write(rest)
	var ee *exec.ExitError
	if err := r.Cmd.Wait(); err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return r.seen.String(), r.Cmd.ProcessState.ExitCode()
}

// InFolder returns the pids of the live processes whose command line
// names Tmp, the command's working folder: `go tool`, the emulator and the
// bootstrap do.
func (r *Running) InFolder(t testing.TB) []int {
	t.Helper()
	left, err := localcmd.Leftovers(0, r.Tmp)
	if err != nil {
		t.Fatal(err)
	}
	return pids(left)
}

// pids returns the pids of the processes Leftovers lists.
func pids(left []string) []int {
	var out []int
	for _, l := range left {
		var pid int
		if _, err := fmt.Sscan(l, &pid); err == nil {
			out = append(out, pid)
		}
	}
	return out
}

// CheckNothingLeft fails t if a process the command started still runs,
// in its process group or naming Tmp (`go tool`, the emulator and the
// bootstrap do), or if Tmp is not empty. Call it after Wait.
func (r *Running) CheckNothingLeft(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second) // SIGKILL takes a moment
	for {
		left, err := localcmd.Leftovers(r.Cmd.Process.Pid, r.Tmp)
		if err != nil {
			t.Fatal(err)
		}
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("still running after %s exited:\n%s", r.name, strings.Join(left, "\n"))
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	entries, err := os.ReadDir(r.Tmp)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("left in TMPDIR: %s", e.Name())
	}
}
