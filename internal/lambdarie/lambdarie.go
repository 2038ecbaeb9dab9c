package lambdarie

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// rieTool is the emulator's tool name in go.mod's tool directive.
const rieTool = "aws-lambda-rie"

// invokePath is the only route the emulator serves.
const invokePath = "/2015-03-31/functions/function/invocations"

const (
	// DefaultTimeout is the function timeout when Config.Timeout is zero.
	DefaultTimeout = 30 * time.Second

	// invokeGrace is added to the function timeout to bound an Invoke whose
	// context has no deadline: the emulator answers a timeout itself, this
	// only guards against it hanging.
	invokeGrace = 30 * time.Second

	// startAttempts bounds the retries after the emulator failed to bind a
	// port someone else took between our pick and its bind.
	startAttempts = 5

	// outputTail is how much recent output is kept for error messages.
	outputTail = 16 << 10

	// closeWait bounds how long Close waits for `go tool` to be reaped.
	closeWait = 10 * time.Second
)

// Build compiles the Go main package pkg (an import path, or a ./relative
// path, which is relative to the module root) into dir/bootstrap the way
// Lambda's provided.al2023 runtime runs it, but for the host's OS and
// architecture (so the emulator can run it here): CGO_ENABLED=0,
// -tags lambda.norpc, -trimpath, -ldflags "-s -w". It runs `go build` in
// the module root (found with `go env GOMOD`), creating dir if needed (a
// relative dir is relative to the current directory). It returns the
// binary's absolute path. On failure the error includes go build's output.
func Build(ctx context.Context, pkg, dir string) (string, error) {
	root, err := ModuleRoot(ctx)
	if err != nil {
		return "", err
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("lambdarie: build %s: %w", pkg, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("lambdarie: build %s: %w", pkg, err)
	}
	out := filepath.Join(dir, "bootstrap")
	cmd := exec.CommandContext(ctx, "go", "build",
		"-tags", "lambda.norpc", "-trimpath", "-ldflags", "-s -w",
		"-o", out, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH)
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("lambdarie: go build %s: %w\n%s", pkg, err, bytes.TrimSpace(b))
	}
	return out, nil
}

// ModuleRoot returns the directory of the main module's go.mod (from
// `go env GOMOD`, so it works from any directory inside the module).
func ModuleRoot(ctx context.Context) (string, error) {
	b, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return "", fmt.Errorf("lambdarie: go env GOMOD: %w: %s", err, bytes.TrimSpace(ee.Stderr))
		}
		return "", fmt.Errorf("lambdarie: go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(b))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("lambdarie: not inside a Go module (go env GOMOD is empty)")
	}
	return filepath.Dir(gomod), nil
}

// Config describes a function to run under the emulator.
type Config struct {
	// Bootstrap is the path of the executable (e.g. from Build). A relative
	// path is relative to the current directory.
	Bootstrap string

	// Env is extra environment for the function, as KEY=VALUE (e.g.
	// AWS_ENDPOINT_URL_SECRETS_MANAGER, SSL_CERT_FILE, AWS_REGION, dummy AWS
	// keys). It is given to the emulator process, which forwards its whole
	// environment to the function. It is applied last, so it overrides
	// anything below, including the timeout.
	//
	// For hermetic runs, the inherited environment is stripped of every
	// AWS_* variable (and of the Lambda-reserved _HANDLER, _X_AMZN_TRACE_ID,
	// _LAMBDA_*, LAMBDA_TASK_ROOT and LAMBDA_RUNTIME_DIR), and, unless Env
	// says otherwise, the function gets AWS_EC2_METADATA_DISABLED=true and
	// AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE pointing at the null
	// device, so it cannot pick up the developer's real AWS credentials or
	// profile. Everything else (PATH, HOME, the Go variables `go tool`
	// needs, ...) is inherited.
	Env []string

	// Timeout is the function timeout, passed as AWS_LAMBDA_FUNCTION_TIMEOUT
	// in whole seconds (rounded up); zero means DefaultTimeout (30s).
	Timeout time.Duration

	// Output receives the emulator's and the function's stdout and stderr
	// (the function's output reaches it through the emulator, interleaved
	// with the emulator's START/END/REPORT lines and logs). nil discards it.
	// It is written from another goroutine, one Write at a time; if you read
	// it while the Function runs, make it safe for that.
	Output io.Writer
}

// Function is a bootstrap running under the emulator, started by Start.
// Its methods are safe for concurrent use.
type Function struct {
	cmd        *exec.Cmd
	pgid       int
	bootstrap  string
	invokeURL  string
	runtimeAPI string
	timeout    time.Duration
	out        *outputSink

	client    *http.Client
	transport *http.Transport
	invoking  chan struct{} // one-slot semaphore: one invocation at a time

	exited  chan struct{} // closed once `go tool` has exited and been reaped
	waitErr error         // set before exited is closed

	closing   chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// Start runs
//
//	go tool aws-lambda-rie --runtime-interface-emulator-address 127.0.0.1:P1 --runtime-api-address 127.0.0.1:P2 <bootstrap>
//
// from the module root, on two free loopback ports (so several Functions can
// run side by side), in its own process group, and waits until the emulator
// accepts connections on both ports. The wait is bounded only by ctx, so
// give it minutes: the first run compiles the emulator, which takes tens of
// seconds (about 45s on a 2-core machine with an empty build cache); later
// runs use the build cache and take a few hundred milliseconds, most of it
// `go tool` checking that cache. If the emulator exits because a port was
// taken between picking it and binding it, Start retries with new ports
// (up to 5 attempts). ctx only bounds the start-up; the Function runs until
// Close. On failure the error includes the tail of the emulator's output.
//
// The emulator starts the bootstrap on the first Invoke, not here.
func Start(ctx context.Context, cfg Config) (*Function, error) {
	if cfg.Bootstrap == "" {
		return nil, errors.New("lambdarie: Config.Bootstrap is empty")
	}
	bootstrap, err := filepath.Abs(cfg.Bootstrap)
	if err != nil {
		return nil, fmt.Errorf("lambdarie: bootstrap: %w", err)
	}
	if fi, err := os.Stat(bootstrap); err != nil {
		return nil, fmt.Errorf("lambdarie: bootstrap: %w", err)
	} else if fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
		return nil, fmt.Errorf("lambdarie: bootstrap %s is not an executable file", bootstrap)
	}
	env, timeout, err := emulatorEnv(os.Environ(), cfg)
	if err != nil {
		return nil, err
	}
	root, err := ModuleRoot(ctx)
	if err != nil {
		return nil, err
	}
	for attempt := 1; ; attempt++ {
		f, err := startOnce(ctx, cfg.Output, root, bootstrap, env, timeout)
		if err == nil {
			return f, nil
		}
		if errors.Is(err, errAddrInUse) && attempt < startAttempts && ctx.Err() == nil {
			continue
		}
		return nil, err
	}
}

// Test seams: testHookPorts may replace the ports picked for an attempt;
// testHookStarted runs right after `go tool` started.
var (
	testHookPorts   func(ports []int) []int
	testHookStarted func(pgid int)
)

// errAddrInUse marks a start-up that failed because a port was taken.
var errAddrInUse = errors.New("address already in use")

func startOnce(ctx context.Context, output io.Writer, root, bootstrap string, env []string, timeout time.Duration) (*Function, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	if testHookPorts != nil {
		ports = testHookPorts(ports)
	}
	rieAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))
	apiAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[1]))

	out := &outputSink{dst: output}
	cmd := exec.Command("go", "tool", rieTool,
		"--runtime-interface-emulator-address", rieAddr,
		"--runtime-api-address", apiAddr,
		bootstrap)
	cmd.Dir = root
	cmd.Env = env
	cmd.Stdout = out // the same comparable writer for both: one copying goroutine
	cmd.Stderr = out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// Close kills every process that could hold the output pipe; this only
	// keeps Wait from blocking on one that escaped.
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("lambdarie: start go tool %s: %w", rieTool, err)
	}

	transport := &http.Transport{
		Proxy:               nil, // loopback only, never through a proxy
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     time.Minute,
	}
	f := &Function{
		cmd:        cmd,
		pgid:       cmd.Process.Pid,
		bootstrap:  bootstrap,
		invokeURL:  "http://" + rieAddr + invokePath,
		runtimeAPI: apiAddr,
		timeout:    timeout,
		out:        out,
		client:     &http.Client{Transport: transport},
		transport:  transport,
		invoking:   make(chan struct{}, 1),
		exited:     make(chan struct{}),
		closing:    make(chan struct{}),
	}
	go func() {
		f.waitErr = cmd.Wait()
		close(f.exited)
	}()
	if testHookStarted != nil {
		testHookStarted(f.pgid)
	}

	if err := f.waitReady(ctx, rieAddr, apiAddr); err != nil {
		_ = f.Close()
		return nil, err
	}
	return f, nil
}

// waitReady polls until both addresses accept connections and the process is
// still alive a moment later.
func (f *Function) waitReady(ctx context.Context, rieAddr, apiAddr string) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		// The Runtime API is bound in a goroutine of rapid.Start, the invoke
		// address right after; both must be ours and up.
		if canDial(ctx, apiAddr) && canDial(ctx, rieAddr) {
			select {
			case <-f.exited:
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("lambdarie: waiting for the emulator on %s: %w%s", rieAddr, ctx.Err(), f.out.tailNote())
		case <-f.exited:
			tail := f.out.tail()
			if strings.Contains(tail, "address already in use") {
				return fmt.Errorf("lambdarie: emulator could not bind %s or %s: %w", rieAddr, apiAddr, errAddrInUse)
			}
			return fmt.Errorf("lambdarie: emulator exited before accepting connections: %v%s", f.waitErr, f.out.tailNote())
		case <-tick.C:
		}
	}
}

func canDial(ctx context.Context, addr string) bool {
	d := net.Dialer{Timeout: 250 * time.Millisecond}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// InvokeURL returns the emulator's invoke endpoint,
// http://127.0.0.1:P1/2015-03-31/functions/function/invocations.
func (f *Function) InvokeURL() string { return f.invokeURL }

// RuntimeAPIAddress returns the Runtime API address (127.0.0.1:P2) the
// emulator serves to the bootstrap as AWS_LAMBDA_RUNTIME_API.
func (f *Function) RuntimeAPIAddress() string { return f.runtimeAPI }

// Timeout returns the function timeout the emulator enforces.
func (f *Function) Timeout() time.Duration { return f.timeout }

// Invoke posts payload to the function and returns its response.
//
// When the function failed it returns a [*FunctionError]: the handler
// returned an error (HTTP 200 with an {"errorType","errorMessage"} body), the
// runtime crashed or exited (HTTP 502), or it timed out (HTTP 200 with "Task
// timed out after N.00 seconds"; the error then matches [ErrTimeout]). Other
// emulator failures are plain errors. See the package documentation for the
// details and the one ambiguity.
//
// Invocations are serialised, since the emulator runs one at a time. If ctx
// has no deadline, the call is bounded by the function timeout plus 30s.
func (f *Function) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	select {
	case <-f.closing:
		return nil, ErrClosed
	default:
	}
	select {
	case f.invoking <- struct{}{}:
		defer func() { <-f.invoking }()
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-f.closing:
		return nil, ErrClosed
	}
	if err := f.exitedErr(); err != nil {
		return nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.timeout+invokeGrace)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.invokeURL, bytes.NewReader(payload))
	if err != nil {
		return nil, fmt.Errorf("lambdarie: invoke: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := f.client.Do(req)
	if err != nil {
		if xerr := f.exitedErr(); xerr != nil {
			return nil, fmt.Errorf("lambdarie: invoke: %w (%v)", err, xerr)
		}
		return nil, fmt.Errorf("lambdarie: invoke: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("lambdarie: invoke: reading response: %w", err)
	}
	return classify(resp.StatusCode, body)
}

// exitedErr reports, without blocking, whether the emulator has exited.
func (f *Function) exitedErr() error {
	select {
	case <-f.exited:
		select {
		case <-f.closing:
			return ErrClosed
		default:
		}
		return fmt.Errorf("lambdarie: emulator exited: %v%s", f.waitErr, f.out.tailNote())
	default:
		return nil
	}
}

// Pid returns the pid of the process Start started (`go tool`), which is
// also the id of the process group it leads, holding `go tool` and the
// emulator. See EmulatorPID and BootstrapPID for the processes doing the
// work.
func (f *Function) Pid() int { return f.pgid }

// EmulatorPID returns the pid of the emulator itself (the child `go tool`
// runs). Linux only: it reads /proc.
func (f *Function) EmulatorPID() (int, error) {
	procs, err := readProcs()
	if err != nil {
		return 0, err
	}
	for _, pid := range groupTree(procs, f.pgid) {
		if p := procs[pid]; p.ppid == f.pgid && p.pgrp == f.pgid {
			return pid, nil
		}
	}
	return 0, errors.New("lambdarie: emulator process not found")
}

// BootstrapPID returns the pid of the bootstrap the emulator is running:
// the emulator's child, which it puts in a process group of its own. There
// is none before the first Invoke (the emulator starts the bootstrap
// lazily), and none for a moment after a timeout or a crash (the emulator
// kills it and starts a new one on the next Invoke). Linux only: it reads
// /proc.
func (f *Function) BootstrapPID() (int, error) {
	procs, err := readProcs()
	if err != nil {
		return 0, err
	}
	for _, pid := range groupTree(procs, f.pgid) {
		p := procs[pid]
		if p.pgrp != f.pgid && procs[p.ppid].pgrp == f.pgid {
			return pid, nil
		}
	}
	return 0, errors.New("lambdarie: bootstrap not running (the emulator starts it on the first Invoke)")
}

// Close stops the emulator and the bootstrap and waits for `go tool` to be
// reaped: it stops the process group (SIGSTOP, so the emulator cannot start
// another bootstrap), finds all descendants through /proc (Linux), SIGKILLs
// the group and the process groups of those descendants (the bootstrap's
// own group among them), and waits. Calling it again returns the first
// result. Invocations in flight fail.
func (f *Function) Close() error {
	f.closeOnce.Do(func() {
		close(f.closing)
		f.closeErr = f.kill()
		f.transport.CloseIdleConnections()
	})
	return f.closeErr
}

func (f *Function) kill() error {
	self := syscall.Getpgrp()
	if f.pgid <= 1 || f.pgid == self {
		return fmt.Errorf("lambdarie: refusing to kill process group %d", f.pgid)
	}
	_ = syscall.Kill(-f.pgid, syscall.SIGSTOP)
	groups := []int{f.pgid}
	var pids []int
	if procs, err := readProcs(); err == nil {
		pids = groupTree(procs, f.pgid)
		for _, pid := range pids {
			if g := procs[pid].pgrp; g > 1 && g != self && !slices.Contains(groups, g) {
				groups = append(groups, g)
			}
		}
	}
	for _, g := range groups {
		_ = syscall.Kill(-g, syscall.SIGKILL)
	}
	for _, pid := range pids { // a descendant that left its group
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	select {
	case <-f.exited:
	case <-time.After(closeWait):
		return fmt.Errorf("lambdarie: go tool (pid %d) did not exit within %v of SIGKILL", f.pgid, closeWait)
	}
	return nil
}

// emulatorEnv builds the emulator's (and so the function's) environment from
// base (normally os.Environ()) and cfg, and returns the effective timeout.
func emulatorEnv(base []string, cfg Config) ([]string, time.Duration, error) {
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	if timeout < 0 {
		return nil, 0, fmt.Errorf("lambdarie: negative Config.Timeout %v", cfg.Timeout)
	}
	secs := int64((timeout + time.Second - 1) / time.Second)

	env := make([]string, 0, len(base)+len(cfg.Env)+5)
	for _, kv := range base {
		if !reservedKey(envKey(kv)) {
			env = append(env, kv)
		}
	}
	env = append(env,
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE="+os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE="+os.DevNull,
		"AWS_LAMBDA_FUNCTION_TIMEOUT="+strconv.FormatInt(secs, 10),
	)
	for _, kv := range cfg.Env {
		if k := envKey(kv); k == "" || k == kv {
			return nil, 0, fmt.Errorf("lambdarie: Config.Env entry %q is not KEY=VALUE", kv)
		}
	}
	env = append(env, cfg.Env...)

	// The emulator parses this itself (and panics on a bad value), so check
	// the value that wins.
	for i := len(env) - 1; i >= 0; i-- {
		if envKey(env[i]) == "AWS_LAMBDA_FUNCTION_TIMEOUT" {
			v := env[i][len("AWS_LAMBDA_FUNCTION_TIMEOUT="):]
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n <= 0 {
				return nil, 0, fmt.Errorf("lambdarie: AWS_LAMBDA_FUNCTION_TIMEOUT=%q is not a positive number of seconds", v)
			}
			timeout = time.Duration(n) * time.Second
			break
		}
	}
	return env, timeout, nil
}

func envKey(kv string) string {
	k, _, _ := strings.Cut(kv, "=")
	return k
}

// reservedKey reports whether an inherited variable must not reach the
// function: AWS configuration (which could point the SDK at real accounts)
// and variables Lambda reserves for itself.
func reservedKey(k string) bool {
	return strings.HasPrefix(k, "AWS_") ||
		strings.HasPrefix(k, "_LAMBDA_") ||
		k == "_HANDLER" || k == "_X_AMZN_TRACE_ID" ||
		k == "LAMBDA_TASK_ROOT" || k == "LAMBDA_RUNTIME_DIR"
}

// usedPorts holds every port this process has handed out, so that Functions
// started concurrently never pick the same one.
var usedPorts struct {
	sync.Mutex
	m map[int]bool
}

// freePorts returns n distinct loopback ports that were free a moment ago
// and that this process has not handed out before.
func freePorts(n int) ([]int, error) {
	usedPorts.Lock()
	defer usedPorts.Unlock()
	if usedPorts.m == nil {
		usedPorts.m = make(map[int]bool)
	}
	var ports []int
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	for tries := 0; len(ports) < n; tries++ {
		if tries > 100 {
			return nil, errors.New("lambdarie: no free loopback port found")
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("lambdarie: finding a free port: %w", err)
		}
		held = append(held, l) // hold it so the next Listen picks another
		p := l.Addr().(*net.TCPAddr).Port
		if !usedPorts.m[p] {
			usedPorts.m[p] = true
			ports = append(ports, p)
		}
	}
	return ports, nil
}

// outputSink forwards the process output to the user's writer and keeps the
// last outputTail bytes for error messages.
type outputSink struct {
	mu  sync.Mutex
	dst io.Writer
	buf []byte
}

func (o *outputSink) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.buf = append(o.buf, p...)
	if len(o.buf) > 2*outputTail {
		o.buf = append(o.buf[:0], o.buf[len(o.buf)-outputTail:]...)
	}
	if o.dst != nil {
		// A failing user writer must not break the emulator's output pipe.
		_, _ = o.dst.Write(p)
	}
	return len(p), nil
}

func (o *outputSink) tail() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	b := o.buf
	if len(b) > outputTail {
		b = b[len(b)-outputTail:]
	}
	return string(b)
}

// tailNote formats the recent output for an error message.
func (o *outputSink) tailNote() string {
	t := strings.TrimSpace(o.tail())
	if t == "" {
		return ""
	}
	if len(t) > 4096 {
		t = "…" + t[len(t)-4096:]
	}
	return "\nemulator output:\n" + t
}
