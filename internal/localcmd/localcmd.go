// Package localcmd holds what the local commands `make demo`
// (internal/demo) and `make invoke` (internal/invoke) share, so that neither
// leaves anything behind nor prints out of order:
//
//   - a [Session]: a working folder that Close removes, the Go toolchain's
//     own temporary folders (GOTMPDIR) inside it, and a context that ends on
//     Ctrl-C (SIGINT), SIGTERM, SIGHUP or a closed standard output (`| head`),
//     so that the command returns through its deferred calls, which stop the
//     emulator and the bootstrap (localrun.Stack.Close), instead of dying
//     with them still running;
//   - [StartStack]: the stand-ins started, with a word on the output first;
//   - [Lines]: the emulator's output as lines, with a count of the REPORT
//     lines that tell when every line of an invocation has been passed on.
package localcmd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/clickwrap-rotator/clickwrap-rotator/internal/localrun"
)

// Session is one run of a local command. Start begins it; Close ends it.
type Session struct {
	// Dir is the working folder (for localrun.Options.Dir). The Go
	// toolchain's temporary folders go in it too (GOTMPDIR), so that a
	// `go build` or `go tool` killed midway leaves none in the system's
	// temporary folder. Close removes it.
	Dir string
	// Stdout is the standard output. A write that fails (the reader of a
	// pipe went away: EPIPE) ends the session's context.
	Stdout io.Writer

	name   string
	ctx    context.Context
	cancel context.CancelCauseFunc
	sigs   chan os.Signal
}

// interrupted is the cause of a context ended by a signal.
type interrupted struct{ sig syscall.Signal }

func (e interrupted) Error() string { return "interrupted by " + signalName(e.sig) }

// outputFailed is the cause of a context ended by a failed write to Stdout.
type outputFailed struct{ err error }

func (e outputFailed) Error() string { return "writing the output: " + e.err.Error() }
func (e outputFailed) Unwrap() error { return e.err }

// Start makes the working folder (os.MkdirTemp with pattern), points
// GOTMPDIR into it, and starts listening for SIGINT, SIGTERM and SIGHUP. It
// also takes SIGPIPE: a write to a closed standard output then fails with
// EPIPE (which ends the context) instead of killing the process on the spot.
// name prefixes Close's messages.
func Start(name, pattern string) (*Session, error) {
	dir, err := os.MkdirTemp("", pattern)
	if err != nil {
		return nil, err
	}
	gotmp := filepath.Join(dir, "gotmp")
	if err := os.Mkdir(gotmp, 0o700); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	// Read by the `go build` and `go tool` that localrun runs, which
	// inherit this process's environment.
	if err := os.Setenv("GOTMPDIR", gotmp); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	s := &Session{Dir: dir, name: name, ctx: ctx, cancel: cancel, sigs: make(chan os.Signal, 4)}
	s.Stdout = &checkedWriter{w: os.Stdout, failed: func(err error) { cancel(outputFailed{err}) }}
	// SIGPIPE is taken only so that a write to a closed standard output
	// fails with EPIPE rather than killing the process; a SIGPIPE from a
	// socket is nothing to act on, and the failed write itself says that the
	// output is gone.
	signal.Notify(s.sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE)
	go func() {
		for sig := range s.sigs {
			if sig, ok := sig.(syscall.Signal); ok && sig != syscall.SIGPIPE {
				cancel(interrupted{sig})
			}
		}
	}()
	return s, nil
}

// Context ends on the first SIGINT, SIGTERM or SIGHUP, or failed write to
// Stdout.
func (s *Session) Context() context.Context { return s.ctx }

// Close removes the working folder and returns the exit status the command
// must end with because of how its context ended: 0 if it did not end, 128
// plus the signal's number after a signal (130 for Ctrl-C), 141 (as SIGPIPE)
// after a write to a closed pipe. After a signal it says on the standard
// error that everything was stopped and removed. Call it after everything
// started in the working folder has been stopped: the signals are taken
// until Close has removed the folder, so that a second Ctrl-C cannot cut the
// clean-up short, and given back then.
func (s *Session) Close() int {
	cause := context.Cause(s.ctx) // nil while the context has not ended
	s.cancel(nil)
	rmErr := os.RemoveAll(s.Dir)
	code := 0
	var in interrupted
	switch {
	case cause == nil:
	case errors.As(cause, &in):
		code = 128 + int(in.sig)
		if rmErr == nil {
			fmt.Fprintf(os.Stderr, "%s: %v: the runtime emulator and the bootstrap are stopped, %s is removed.\n", s.name, cause, s.Dir)
		}
	case errors.Is(cause, syscall.EPIPE):
		code = 128 + int(syscall.SIGPIPE) // whoever closed the pipe needs no message
	default:
		code = 1
		fmt.Fprintf(os.Stderr, "%s: %v\n", s.name, cause)
	}
	if rmErr != nil {
		fmt.Fprintf(os.Stderr, "%s: removing %s: %v\n", s.name, s.Dir, rmErr)
		if code == 0 {
			code = 1
		}
	}
	signal.Stop(s.sigs)
	close(s.sigs)
	return code
}

func signalName(sig syscall.Signal) string {
	switch sig {
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGHUP:
		return "SIGHUP"
	}
	return sig.String()
}

// checkedWriter reports the first failed write.
type checkedWriter struct {
	w      io.Writer
	failed func(error)
}

func (c *checkedWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	if err != nil {
		c.failed(err)
	}
	return n, err
}

// StartStack says on out that the stand-ins are being built and started,
// and starts them (localrun.Start) with dir as their working folder. What
// the emulator and the function print goes, line by line, to line (which
// may be nil) through the Lines returned, which counts the REPORT lines.
// The caller closes the Stack.
func StartStack(ctx context.Context, out io.Writer, dir string, line func(string)) (*localrun.Stack, *Lines, error) {
	fmt.Fprintln(out, "Building the bootstrap and starting the stand-ins (the first run compiles the Lambda runtime emulator: about a minute)...")
	lines := &Lines{Line: line}
	st, err := localrun.Start(ctx, localrun.Options{Dir: dir, Output: lines})
	return st, lines, err
}

// Lines is a localrun.Options.Output that splits what the emulator and the
// function print into lines, hands each to Line, and counts the REPORT lines.
//
// The emulator (internal/lambda/rie's InvokeHandler) runs the bootstrap
// with its own standard output, and writes "END RequestId: …" and
// "REPORT RequestId: …" there once the function has answered and before it
// passes the answer on; the function writes its log lines before it
// answers. So when Invoke has returned and the REPORT line of that
// invocation has been handled here, every line the function wrote for it
// has been handled too (lines reach Write in the order they entered the
// pipe). A runtime that crashed (HTTP 502) gets no REPORT line.
type Lines struct {
	// Line is called with each complete line, without its newline, in
	// order and one at a time. It may be nil.
	Line func(string)

	mu      sync.Mutex
	partial []byte
	reports int
	more    chan struct{} // closed and replaced at each REPORT line
}

// Write implements io.Writer.
func (l *Lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := string(l.partial[:i])
		l.partial = l.partial[i+1:]
		if l.Line != nil {
			l.Line(line)
		}
		if IsReport(line) {
			l.reports++
			if l.more != nil {
				close(l.more)
				l.more = nil
			}
		}
	}
}

// IsReport reports whether line is the emulator's REPORT line, the last it
// writes for an invocation.
func IsReport(line string) bool { return strings.HasPrefix(line, "REPORT RequestId: ") }

// Reports returns how many REPORT lines have been handled.
func (l *Lines) Reports() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.reports
}

// WaitReports waits until n REPORT lines have been handled and reports
// true, or until ctx ends or timeout passes and reports false (a crashed
// runtime gets no REPORT line: the timeout bounds the wait for one).
func (l *Lines) WaitReports(ctx context.Context, n int, timeout time.Duration) bool {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		l.mu.Lock()
		if l.reports >= n {
			l.mu.Unlock()
			return true
		}
		if l.more == nil {
			l.more = make(chan struct{})
		}
		more := l.more
		l.mu.Unlock()
		select {
		case <-more:
		case <-ctx.Done():
			return false
		case <-timer.C:
			return false
		}
	}
}

// Leftovers lists the live processes (as "PID COMMAND-LINE") that are in
// process group pgid or whose command line names dir: what a command run
// in its own process group pgid, with its working folder under dir, may
// have left running (`go tool aws-lambda-rie` and the emulator name the
// bootstrap's path in their arguments; the bootstrap is that path). It
// reads /proc, so it works on Linux only; elsewhere it returns an error. For
// the commands' tests.
func Leftovers(pgid int, dir string) ([]string, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("listing processes needs Linux /proc: %w", err)
	}
	var out []string
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // gone
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) < 3 || f[0] == "Z" || f[0] == "X" {
			continue // a zombie is dead, only not yet reaped
		}
		cmdline, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if (pgid > 0 && f[2] == strconv.Itoa(pgid)) || bytes.Contains(cmdline, []byte(dir)) {
			out = append(out, fmt.Sprintf("%d %s", pid, bytes.TrimSpace(bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '}))))
		}
	}
	return out, nil
}
