// Package localcmdtest holds what the tests of the local commands
// (internal/demo and internal/invoke) share: building the command once,
// and checking that a run of it left nothing behind. It imports "testing",
// so only tests may import it; the commands themselves use localcmd.
package localcmdtest

import (
	"context"
	"errors"
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
)

// Binary is the command in the current folder, built once for a package's
// tests. Its tests are skipped under -short and off Linux (leftover
// processes are found through /proc). TestMain calls Run.
type Binary struct {
	// Name is the built file's name; its folder is named after it too.
	Name string
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

// Command returns the command (built by Path) for args, in a process group
// of its own and with TMPDIR set to tmp, so that CheckNothingLeft can find
// what it leaves behind.
func (b *Binary) Command(t testing.TB, tmp string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(b.Path(t), args...)
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
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

// CheckNothingLeft fails t if a process the command (what, as "the demo")
// started still runs, in its process group pgid or naming its working
// folder under tmp (`go tool`, the emulator and the bootstrap do), or if
// tmp is not empty.
func CheckNothingLeft(t testing.TB, what string, pgid int, tmp string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second) // SIGKILL takes a moment
	for {
		left, err := localcmd.Leftovers(pgid, tmp)
		if err != nil {
			t.Fatal(err)
		}
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("still running after %s exited:\n%s", what, strings.Join(left, "\n"))
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	entries, err := os.ReadDir(tmp)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("left in TMPDIR: %s", e.Name())
	}
}

// Exited fails t unless err, from running a command, is nil or says only
// that it exited with a non-zero status.
func Exited(t testing.TB, err error) {
	t.Helper()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
}
