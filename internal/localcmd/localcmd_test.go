package localcmd

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"
)

func TestLines(t *testing.T) {
	var got []string
	l := &Lines{Line: func(s string) { got = append(got, s) }}
	// Lines split across writes, and a REPORT line's tab-separated fields.
	for _, chunk := range []string{"START RequestId: 1 Version: $LATEST\n{\"st", "ep\":\"createSecret\"}\nEND RequestId: 1\nREPORT Requ", "estId: 1\tDuration: 1.00 ms\t\npartial"} {
		if _, err := l.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"START RequestId: 1 Version: $LATEST", `{"step":"createSecret"}`, "END RequestId: 1", "REPORT RequestId: 1\tDuration: 1.00 ms\t"}
	if !slices.Equal(got, want) {
		t.Errorf("lines %q, want %q", got, want)
	}
	if n := l.Reports(); n != 1 {
		t.Errorf("Reports() = %d, want 1", n)
	}
	if !l.WaitReports(context.Background(), 1, time.Second) {
		t.Error("WaitReports(1) after one REPORT line: false")
	}

	// A wait for the next REPORT line ends when it comes...
	done := make(chan bool)
	go func() { done <- l.WaitReports(context.Background(), 2, time.Minute) }()
	time.Sleep(10 * time.Millisecond) // let it wait (it passes either way)
	l.Write([]byte("\nREPORT RequestId: 2\tDuration: 1.00 ms\n"))
	if !<-done {
		t.Error("WaitReports(2) did not see the second REPORT line")
	}
	// ... or when the timeout passes (a crashed runtime gets none), or ctx ends.
	if l.WaitReports(context.Background(), 3, 10*time.Millisecond) {
		t.Error("WaitReports(3) with two REPORT lines: true")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if l.WaitReports(ctx, 3, time.Minute) {
		t.Error("WaitReports with a cancelled context: true")
	}
}

func TestSession(t *testing.T) {
	t.Setenv("GOTMPDIR", "") // restored afterwards
	t.Setenv("TMPDIR", t.TempDir())

	s, err := Start("test", "localcmd-*")
	if err != nil {
		t.Fatal(err)
	}
	if got := os.Getenv("GOTMPDIR"); got != filepath.Join(s.Dir, "gotmp") {
		t.Errorf("GOTMPDIR=%q, want inside %s", got, s.Dir)
	}
	if code := s.Close(); code != 0 {
		t.Errorf("Close() = %d without a signal, want 0", code)
	}
	if _, err := os.Stat(s.Dir); !os.IsNotExist(err) {
		t.Errorf("%s is still there (%v)", s.Dir, err)
	}

	// A signal ends the context; Close then says 128 + its number.
	s, err = Start("test", "localcmd-*")
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.Context().Done():
	case <-time.After(10 * time.Second):
		t.Fatal("SIGHUP did not end the context")
	}
	if code := s.Close(); code != 128+int(syscall.SIGHUP) {
		t.Errorf("Close() = %d after SIGHUP, want %d", code, 128+int(syscall.SIGHUP))
	}
	if _, err := os.Stat(s.Dir); !os.IsNotExist(err) {
		t.Errorf("%s is still there (%v)", s.Dir, err)
	}

	// A failed write to Stdout (a closed pipe) ends it too: 141.
	s, err = Start("test", "localcmd-*")
	if err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	s.Stdout.(*checkedWriter).w = w
	if _, err := s.Stdout.Write([]byte("x\n")); err == nil {
		t.Fatal("a write to a pipe without a reader succeeded")
	}
	w.Close()
	if s.Context().Err() == nil {
		t.Error("a failed write did not end the context")
	}
	if code := s.Close(); code != 141 {
		t.Errorf("Close() = %d after EPIPE, want 141", code)
	}
}
