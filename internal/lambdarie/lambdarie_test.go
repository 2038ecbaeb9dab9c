package lambdarie

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clickwrap-rotator/clickwrap-rotator/internal/syncbuf"
)

// echoBin is the testdata/echo bootstrap, built once by TestMain.
var echoBin string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "lambdarie-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	t0 := time.Now()
	echoBin, err = Build(ctx, "./internal/lambdarie/testdata/echo", dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "lambdarie: built %s in %v\n", echoBin, time.Since(t0).Round(time.Millisecond))
	return m.Run()
}

// startEcho starts the echo bootstrap (unless cfg names another) and closes
// it at the end of the test.
func startEcho(t *testing.T, cfg Config) *Function {
	t.Helper()
	if cfg.Bootstrap == "" {
		cfg.Bootstrap = echoBin
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	t0 := time.Now()
	f, err := Start(ctx, cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Logf("Start took %v (%s)", time.Since(t0).Round(time.Millisecond), f.InvokeURL())
	t.Cleanup(func() {
		if err := f.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return f
}

type echoResponse struct {
	Echo struct {
		Message string `json:"message"`
	} `json:"echo"`
	EnvValue    *string `json:"envValue"`
	RequestID   string  `json:"requestId"`
	RemainingMs int64   `json:"remainingMs"`
	PID         int     `json:"pid"`
}

func invokeEcho(t *testing.T, f *Function, req any) echoResponse {
	t.Helper()
	payload, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := f.Invoke(ctx, payload)
	if err != nil {
		t.Fatalf("Invoke(%s): %v", payload, err)
	}
	var resp echoResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatalf("Invoke(%s) = %q: %v", payload, out, err)
	}
	return resp
}

func invokeErr(t *testing.T, f *Function, payload string) *FunctionError {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := f.Invoke(ctx, []byte(payload))
	var fe *FunctionError
	if !errors.As(err, &fe) {
		t.Fatalf("Invoke(%s) = %q, %v; want a *FunctionError", payload, out, err)
	}
	if out != nil {
		t.Errorf("Invoke(%s) returned a body %q with its error", payload, out)
	}
	return fe
}

func envValue(t *testing.T, f *Function, name string) (string, bool) {
	t.Helper()
	resp := invokeEcho(t, f, map[string]string{"env": name})
	if resp.EnvValue == nil {
		return "", false
	}
	return *resp.EnvValue, true
}

func skipUnlessLinux(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("needs Linux /proc")
	}
}

func TestInvoke(t *testing.T) {
	var out syncbuf.Buffer
	f := startEcho(t, Config{
		Env:     []string{"LAMBDARIE_TEST_VAR=hello env = ok", "AWS_REGION=eu-west-3"},
		Timeout: 10 * time.Second,
		Output:  &out,
	})

	t.Run("success", func(t *testing.T) {
		resp := invokeEcho(t, f, map[string]string{"message": "hi"})
		if resp.Echo.Message != "hi" {
			t.Errorf("echoed message = %q, want hi", resp.Echo.Message)
		}
		if resp.RequestID == "" {
			t.Error("no request id in the lambda context")
		}
		if resp.RemainingMs <= 0 || resp.RemainingMs > 10_000 {
			t.Errorf("remaining time = %dms, want in (0, 10000]", resp.RemainingMs)
		}
	})

	t.Run("env", func(t *testing.T) {
		for name, want := range map[string]string{
			"LAMBDARIE_TEST_VAR":          "hello env = ok",
			"AWS_REGION":                  "eu-west-3",
			"AWS_LAMBDA_FUNCTION_TIMEOUT": "10",
			"AWS_LAMBDA_RUNTIME_API":      f.RuntimeAPIAddress(),
			"AWS_EC2_METADATA_DISABLED":   "true",
		} {
			if got, ok := envValue(t, f, name); !ok || got != want {
				t.Errorf("function sees %s=%q (set: %v), want %q", name, got, ok, want)
			}
		}
	})

	t.Run("output", func(t *testing.T) {
		marker := fmt.Sprintf("stdout-marker-%d", time.Now().UnixNano())
		invokeEcho(t, f, map[string]string{"print": marker})
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(out.String(), marker+"\n") {
			if time.Now().After(deadline) {
				t.Fatalf("Output never got %q; it has:\n%s", marker, out.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
		if !strings.Contains(out.String(), "START RequestId:") {
			t.Error("Output lacks the emulator's START line")
		}
	})

	t.Run("function error", func(t *testing.T) {
		fe := invokeErr(t, f, `{"fail":"boom: bad token"}`)
		if fe.Type != "errorString" || fe.Message != "boom: bad token" || fe.StatusCode != 200 {
			t.Errorf("got %+v, want errorString / boom: bad token / 200", fe)
		}
		if got, want := fe.Error(), "lambda function error: errorString: boom: bad token"; got != want {
			t.Errorf("Error() = %q, want %q", got, want)
		}
		if errors.Is(fe, ErrTimeout) {
			t.Error("a handler error matches ErrTimeout")
		}
	})

	t.Run("bad payload", func(t *testing.T) {
		fe := invokeErr(t, f, `"not an object"`)
		if fe.Type != "UnmarshalTypeError" {
			t.Errorf("got %+v, want UnmarshalTypeError", fe)
		}
	})

	t.Run("panic", func(t *testing.T) {
		fe := invokeErr(t, f, `{"panic":"oops"}`)
		if fe.Message != "oops" || fe.StatusCode != 502 {
			t.Errorf("got %+v, want message oops, status 502", fe)
		}
	})

	t.Run("crash", func(t *testing.T) {
		fe := invokeErr(t, f, `{"exit":3}`)
		if fe.Type != "Runtime.ExitError" || !strings.Contains(fe.Message, "exit status 3") || fe.StatusCode != 502 {
			t.Errorf("got %+v, want Runtime.ExitError with exit status 3, status 502", fe)
		}
		// The emulator starts a new bootstrap on the next invocation.
		if resp := invokeEcho(t, f, map[string]string{"message": "again"}); resp.Echo.Message != "again" {
			t.Errorf("after a crash: echoed %q", resp.Echo.Message)
		}
	})

	t.Run("concurrent invokes are serialised", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				msg := fmt.Sprintf("m%d", i)
				out, err := f.Invoke(context.Background(), []byte(`{"message":"`+msg+`","sleepMs":20}`))
				if err == nil && !bytes.Contains(out, []byte(`"message":"`+msg+`"`)) {
					err = fmt.Errorf("invoke %s answered %s", msg, out)
				}
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
	})

	t.Run("pids", func(t *testing.T) {
		skipUnlessLinux(t)
		resp := invokeEcho(t, f, map[string]string{})
		bpid, err := f.BootstrapPID()
		if err != nil {
			t.Fatal(err)
		}
		if bpid != resp.PID {
			t.Errorf("BootstrapPID() = %d, the function says its pid is %d", bpid, resp.PID)
		}
		epid, err := f.EmulatorPID()
		if err != nil {
			t.Fatal(err)
		}
		if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", epid)); filepath.Base(exe) != "aws-lambda-rie" {
			t.Errorf("EmulatorPID() = %d runs %q", epid, exe)
		}
		if f.Pid() == epid || f.Pid() == bpid || epid == bpid {
			t.Errorf("pids not distinct: go tool %d, emulator %d, bootstrap %d", f.Pid(), epid, bpid)
		}
	})
}

func TestTimeout(t *testing.T) {
	// The emulator's clock includes a cold start, so the timeout leaves room
	// for one on a loaded machine (1 s flaked when the suite ran alongside
	// builds).
	f := startEcho(t, Config{Timeout: 3 * time.Second})
	first := invokeEcho(t, f, map[string]string{"message": "warm"})

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	t0 := time.Now()
	out, err := f.Invoke(ctx, []byte(`{"sleepMs":8000}`))
	elapsed := time.Since(t0)
	t.Logf("timed-out Invoke returned after %v: %v", elapsed.Round(time.Millisecond), err)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("Invoke = %q, %v; want ErrTimeout", out, err)
	}
	var fe *FunctionError
	if !errors.As(err, &fe) || fe.Type != TimeoutErrorType || fe.Message != "Task timed out after 3.00 seconds" {
		t.Errorf("got %#v", err)
	}
	if elapsed >= 8*time.Second {
		t.Errorf("the timeout took %v, longer than the handler's sleep", elapsed)
	}
	if runtime.GOOS == "linux" && processAlive(first.PID) {
		t.Errorf("timed-out bootstrap %d is still running", first.PID)
	}

	// The emulator killed that bootstrap; the next invocation gets a new one.
	next := invokeEcho(t, f, map[string]string{"message": "after"})
	if next.Echo.Message != "after" || next.PID == first.PID {
		t.Errorf("after the timeout: %+v (the first bootstrap was %d)", next, first.PID)
	}
}

func TestSideBySide(t *testing.T) {
	fns := make([]*Function, 2)
	var wg sync.WaitGroup
	for i := range fns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			f, err := Start(ctx, Config{Bootstrap: echoBin, Env: []string{fmt.Sprintf("WHICH=fn%d", i)}})
			if err != nil {
				t.Error(err)
				return
			}
			fns[i] = f
		}()
	}
	wg.Wait()
	for _, f := range fns {
		if f != nil {
			t.Cleanup(func() {
				if err := f.Close(); err != nil {
					t.Error(err)
				}
			})
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	if fns[0].InvokeURL() == fns[1].InvokeURL() || fns[0].RuntimeAPIAddress() == fns[1].RuntimeAPIAddress() {
		t.Fatalf("shared addresses: %s %s / %s %s", fns[0].InvokeURL(), fns[0].RuntimeAPIAddress(), fns[1].InvokeURL(), fns[1].RuntimeAPIAddress())
	}

	var pids [2]int
	for i := range fns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := fns[i].Invoke(context.Background(), []byte(`{"env":"WHICH","sleepMs":200}`))
			if err != nil {
				t.Error(err)
				return
			}
			var resp echoResponse
			if err := json.Unmarshal(out, &resp); err != nil {
				t.Error(err)
				return
			}
			if want := fmt.Sprintf("fn%d", i); resp.EnvValue == nil || *resp.EnvValue != want {
				t.Errorf("function %d answered %s, want WHICH=%s", i, out, want)
			}
			pids[i] = resp.PID
		}()
	}
	wg.Wait()
	if pids[0] == pids[1] {
		t.Errorf("both answered from pid %d", pids[0])
	}
}

func TestCloseLeavesNoProcess(t *testing.T) {
	skipUnlessLinux(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	f, err := Start(ctx, Config{Bootstrap: echoBin, Timeout: 2 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	invokeEcho(t, f, map[string]string{"message": "start the bootstrap"})
	epid, err := f.EmulatorPID()
	if err != nil {
		t.Fatal(err)
	}
	bpid, err := f.BootstrapPID()
	if err != nil {
		t.Fatal(err)
	}
	pids := []int{f.Pid(), epid, bpid}
	t.Logf("go tool %d, emulator %d, bootstrap %d", pids[0], pids[1], pids[2])

	// Keep the bootstrap busy so that it does not exit on its own when the
	// emulator goes away: the case where it would be orphaned.
	busy := make(chan error, 1)
	go func() {
		_, err := f.Invoke(context.Background(), []byte(`{"sleepMs":60000}`))
		busy <- err
	}()
	time.Sleep(300 * time.Millisecond)

	t0 := time.Now()
	if err := f.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	t.Logf("Close took %v", time.Since(t0).Round(time.Millisecond))
	select {
	case err := <-busy:
		if err == nil {
			t.Error("the invocation in flight succeeded after Close")
		}
	case <-time.After(10 * time.Second):
		t.Error("the invocation in flight still hangs after Close")
	}

	deadline := time.Now().Add(5 * time.Second) // let init reap the orphans
	for _, pid := range pids {
		for processAlive(pid) {
			if time.Now().After(deadline) {
				t.Errorf("pid %d survived Close", pid)
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if err := f.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := f.Invoke(context.Background(), []byte(`{}`)); !errors.Is(err, ErrClosed) {
		t.Errorf("Invoke after Close = %v, want ErrClosed", err)
	}
}

func TestStartCanceled(t *testing.T) {
	skipUnlessLinux(t)
	// A private copy, so that its path identifies our processes.
	bin := filepath.Join(t.TempDir(), "bootstrap")
	b, err := os.ReadFile(echoBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Cancel once the emulator runs (as the child of go tool), while Start
	// waits for its ports.
	emulatorSeen := make(chan int, 1)
	testHookStarted = func(pgid int) {
		go func() {
			defer cancel()
			for deadline := time.Now().Add(5 * time.Minute); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
				procs, _ := readProcs()
				if tree := groupTree(procs, pgid); len(tree) >= 2 {
					emulatorSeen <- tree[len(tree)-1]
					return
				}
			}
		}()
	}
	defer func() { testHookStarted = nil }()
	f, err := Start(ctx, Config{Bootstrap: bin})
	if err == nil {
		f.Close()
		t.Fatal("Start succeeded with a canceled context")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Start = %v, want context.Canceled", err)
	}
	select {
	case pid := <-emulatorSeen:
		t.Logf("canceled with the emulator running as pid %d", pid)
	default:
		t.Error("canceled before the emulator ran")
	}
	// Start cleaned up: soon no process has the bootstrap on its command line.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		left := processesMentioning(t, bin)
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("processes survived the canceled Start: %q", left)
			break
		}
	}
}

// processesMentioning returns the command lines of live processes whose
// command line contains s.
func processesMentioning(t *testing.T, s string) []string {
	t.Helper()
	procs, err := readProcs()
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for pid := range procs {
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if bytes.Contains(cmdline, []byte(s)) && processAlive(pid) {
			found = append(found, fmt.Sprintf("%d: %s", pid, bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '})))
		}
	}
	return found
}

func TestStartRetriesWhenPortTaken(t *testing.T) {
	// Someone else grabs the invoke port between our pick and the bind.
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	takenPort := taken.Addr().(*net.TCPAddr).Port
	attempts := 0
	testHookPorts = func(ports []int) []int {
		attempts++
		if attempts == 1 {
			ports[0] = takenPort
		}
		return ports
	}
	defer func() { testHookPorts = nil }()

	var out syncbuf.Buffer
	f := startEcho(t, Config{Output: &out})
	if attempts != 2 {
		t.Errorf("Start made %d attempts, want 2", attempts)
	}
	if !strings.Contains(out.String(), "address already in use") {
		t.Errorf("the first attempt did not fail on the bind; output:\n%s", out.String())
	}
	if strings.Contains(f.InvokeURL(), fmt.Sprintf(":%d/", takenPort)) {
		t.Errorf("InvokeURL %s uses the taken port", f.InvokeURL())
	}
	if resp := invokeEcho(t, f, map[string]string{"message": "hi"}); resp.Echo.Message != "hi" {
		t.Errorf("echoed %q", resp.Echo.Message)
	}
}

func TestStartBadConfig(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	notExec := filepath.Join(dir, "bootstrap")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, cfg := range map[string]Config{
		"no bootstrap":      {},
		"missing":           {Bootstrap: filepath.Join(dir, "nope")},
		"directory":         {Bootstrap: dir},
		"not executable":    {Bootstrap: notExec},
		"bad env":           {Bootstrap: echoBin, Env: []string{"NOEQUALS"}},
		"bad timeout env":   {Bootstrap: echoBin, Env: []string{"AWS_LAMBDA_FUNCTION_TIMEOUT=1.5"}},
		"negative timeout":  {Bootstrap: echoBin, Timeout: -time.Second},
		"empty env key":     {Bootstrap: echoBin, Env: []string{"=x"}},
		"zero timeout env":  {Bootstrap: echoBin, Env: []string{"AWS_LAMBDA_FUNCTION_TIMEOUT=0"}},
		"empty timeout env": {Bootstrap: echoBin, Env: []string{"AWS_LAMBDA_FUNCTION_TIMEOUT="}},
	} {
		if f, err := Start(ctx, cfg); err == nil {
			f.Close()
			t.Errorf("%s: Start succeeded", name)
		}
	}
}

func TestBuildError(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := Build(ctx, "./internal/lambdarie/testdata/does-not-exist", t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "does-not-exist") {
		t.Fatalf("Build = %v, want an error quoting go build", err)
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		name       string
		status     int
		body       string
		wantBody   string
		wantType   string
		wantMsg    string
		timeout    bool
		plainError bool
	}{
		{name: "success", status: 200, body: `{"ok":true}`, wantBody: `{"ok":true}`},
		{name: "empty success", status: 200, body: ``, wantBody: ``},
		{name: "string success", status: 200, body: `"errorType"`, wantBody: `"errorType"`},
		{name: "handled error", status: 200, body: `{"errorMessage":"boom","errorType":"errorString"}`, wantType: "errorString", wantMsg: "boom"},
		{name: "error with stack", status: 200, body: `{"errorMessage":"boom","errorType":"T","stackTrace":[]}`, wantType: "T", wantMsg: "boom"},
		{name: "lookalike success", status: 200, body: `{"errorMessage":"m","errorType":"t","data":1}`, wantBody: `{"errorMessage":"m","errorType":"t","data":1}`},
		{name: "half error is success", status: 200, body: `{"errorMessage":"m"}`, wantBody: `{"errorMessage":"m"}`},
		{name: "timeout", status: 200, body: `Task timed out after 3.00 seconds`, wantType: TimeoutErrorType, wantMsg: "Task timed out after 3.00 seconds", timeout: true},
		{name: "exit", status: 502, body: `{"errorType":"Runtime.ExitError","errorMessage":"RequestId: x Error: Runtime exited with error: exit status 3"}`, wantType: "Runtime.ExitError", wantMsg: "RequestId: x Error: Runtime exited with error: exit status 3"},
		{name: "502 odd body", status: 502, body: `oops`, plainError: true},
		{name: "busy", status: 400, body: ``, plainError: true},
		{name: "gateway timeout", status: 504, body: ``, plainError: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := classify(tc.status, []byte(tc.body))
			var fe *FunctionError
			switch {
			case tc.plainError:
				if err == nil || errors.As(err, &fe) {
					t.Fatalf("got %q, %v; want a plain error", out, err)
				}
				if !strings.Contains(err.Error(), fmt.Sprint(tc.status)) {
					t.Errorf("error %q does not name the status", err)
				}
			case tc.wantType != "":
				if !errors.As(err, &fe) || fe.Type != tc.wantType || fe.Message != tc.wantMsg || fe.StatusCode != tc.status || string(fe.Payload) != tc.body {
					t.Fatalf("got %q, %#v", out, err)
				}
				if errors.Is(err, ErrTimeout) != tc.timeout {
					t.Errorf("errors.Is(err, ErrTimeout) = %v", !tc.timeout)
				}
			default:
				if err != nil || string(out) != tc.wantBody {
					t.Fatalf("got %q, %v; want %q", out, err, tc.wantBody)
				}
			}
		})
	}
}

func TestEmulatorEnv(t *testing.T) {
	base := []string{
		"PATH=/usr/bin", "HOME=/home/me", "GOFLAGS=-mod=mod",
		"AWS_PROFILE=prod", "AWS_ACCESS_KEY_ID=AKIAREAL", "AWS_ENDPOINT_URL=https://real",
		"_HANDLER=x", "_LAMBDA_SB_ID=1", "AWS_LAMBDA_FUNCTION_TIMEOUT=900",
	}
	env, timeout, err := emulatorEnv(base, Config{
		Timeout: 1500 * time.Millisecond,
		Env:     []string{"AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=dummy", "AWS_CONFIG_FILE=/tmp/cfg"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if timeout != 2*time.Second {
		t.Errorf("timeout = %v, want 2s (rounded up)", timeout)
	}
	// Last value wins, as in exec.Cmd.
	final := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		final[k] = v
	}
	for k, want := range map[string]string{
		"PATH": "/usr/bin", "HOME": "/home/me", "GOFLAGS": "-mod=mod",
		"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "dummy",
		"AWS_CONFIG_FILE": "/tmp/cfg", "AWS_SHARED_CREDENTIALS_FILE": os.DevNull,
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_LAMBDA_FUNCTION_TIMEOUT": "2",
	} {
		if got, ok := final[k]; !ok || got != want {
			t.Errorf("%s = %q (set: %v), want %q", k, got, ok, want)
		}
	}
	for _, k := range []string{"AWS_PROFILE", "AWS_ENDPOINT_URL", "_HANDLER", "_LAMBDA_SB_ID"} {
		if v, ok := final[k]; ok {
			t.Errorf("inherited %s=%q reaches the function", k, v)
		}
	}
	if slices.Contains(env, "AWS_ACCESS_KEY_ID=AKIAREAL") {
		t.Error("the inherited access key is still in the environment")
	}

	if _, timeout, _ := emulatorEnv(nil, Config{}); timeout != DefaultTimeout {
		t.Errorf("default timeout = %v", timeout)
	}
	if _, timeout, _ := emulatorEnv(nil, Config{Timeout: time.Second, Env: []string{"AWS_LAMBDA_FUNCTION_TIMEOUT=7"}}); timeout != 7*time.Second {
		t.Errorf("Env's AWS_LAMBDA_FUNCTION_TIMEOUT=7 gives timeout %v", timeout)
	}
}
