// Package bench measures the rotator the way `make bench` reports it: the
// real bootstrap under the AWS Lambda Runtime Interface Emulator, driven by
// the Secrets Manager emulator's RotateSecret, against the Clickwrap sandbox
// over TLS (internal/localrun starts the three), plus the size of the
// deployment artifact and the in-process Go benchmarks of rotation/.
//
// [Run] returns a [Report]: one [Row] per figure, each with its target where
// there is one, and [Report.Markdown] renders docs/benchmarks.md. Timings are
// medians over repeated runs and are printed, never asserted; the
// deterministic figures (calls, requests, handshakes) are also asserted by
// `make test` (rotation/rotator_test.go, cmd/rotator/e2e_test.go and this
// package's test, which runs the whole bench in a tiny configuration).
package bench

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/clickwrap-rotator/clickwrap-rotator/clickwrap"
	"github.com/clickwrap-rotator/clickwrap-rotator/internal/lambdarie"
	"github.com/clickwrap-rotator/clickwrap-rotator/internal/localrun"
	"github.com/clickwrap-rotator/clickwrap-rotator/internal/machine"
	"github.com/clickwrap-rotator/clickwrap-rotator/internal/secretsmanagertest"
	"github.com/clickwrap-rotator/clickwrap-rotator/rotation"
)

// Targets, from issue 5.
const (
	TargetSMCalls        = 9  // Secrets Manager calls per rotation, at most
	TemplateSMCalls      = 13 // what the aws-samples generic template's logic needs for the same job
	TargetCWRequests     = 2  // Clickwrap requests per rotation: one mint, one verify
	TargetHandshakes     = 1  // TLS handshakes to Clickwrap for several rotations in one warm container
	TargetPeakRSSBytes   = 30_000_000
	TargetZipBytes       = 6_000_000
	TargetFailedRequests = 0 // consumer requests failed during rotations
)

// Config sizes a run. The zero value means the `make bench` defaults.
type Config struct {
	// Runs is how many fresh containers each cold-start figure is the median
	// of, and how many warm rotations the warm figures are the median of
	// (default 25).
	Runs int
	// Rotations is how many back-to-back rotations each zero-downtime mode
	// runs (default 50).
	Rotations int
	// GoBenchTime is the -benchtime of `go test -bench . ./rotation/`
	// (default "1000x"); "-" skips the Go benchmarks.
	GoBenchTime string
	// Dir is a scratch directory (default: a new temporary one, removed at
	// the end).
	Dir string
	// Bootstrap is a bootstrap already built for this machine with
	// lambdarie.Build; empty means build one.
	Bootstrap string
	// Progress receives one line per phase and run; nil discards them.
	Progress io.Writer
}

func (c Config) withDefaults() Config {
	if c.Runs <= 0 {
		c.Runs = 25
	}
	if c.Rotations <= 0 {
		c.Rotations = 50
	}
	if c.GoBenchTime == "" {
		c.GoBenchTime = "1000x"
	}
	return c
}

// Result says how a figure compares with its target.
type Result string

const (
	Met      Result = "met"
	Missed   Result = "MISSED"
	NoTarget Result = ""
	// Expected marks a control figure that is meant to show a failure, and
	// NotSeen one where the failure did not show.
	Expected Result = "as expected"
	NotSeen  Result = "no failure seen"
)

// Row is one figure of the report.
type Row struct {
	// ID is stable (tests look rows up by it), e.g. "sm.calls".
	ID string
	// Section groups rows: the numbered items of issue 5.
	Section string
	Figure  string
	Value   string
	// Spread is the distribution of a timing (min, p90, max, n), or the
	// detail behind a count.
	Spread string
	Target string
	Result Result
	// Note explains the figure (for example a missed target), printed
	// under the table.
	Note string
}

// Machine describes where the figures were taken.
type Machine struct {
	machine.Description
	LoadStart string // /proc/loadavg when the run started
	LoadEnd   string
}

// Report is the outcome of Run.
type Report struct {
	Machine Machine
	Config  Config
	Rows    []Row
	// GoBench is the output of `go test -bench`, empty when skipped.
	GoBench string
	Took    time.Duration
}

// Row returns the row with the given ID.
func (r *Report) Row(id string) (Row, bool) {
	for _, row := range r.Rows {
		if row.ID == id {
			return row, true
		}
	}
	return Row{}, false
}

// RowIDs lists the IDs of every row Run produces (the Go benchmark rows
// only when they are run), in report order.
func RowIDs(goBench bool) []string {
	ids := []string{
		"cold.createSecret", "cold.setSecret", "cold.penalty",
		"warm.createSecret", "warm.setSecret", "warm.testSecret", "warm.finishSecret", "warm.rotation",
		"sm.calls",
		"cw.requests", "cw.handshakes",
		"mem.one", "mem.many", "artifact.zip",
	}
	if goBench {
		for _, s := range goBenchNames {
			ids = append(ids, "go."+s)
		}
	}
	return append(ids, "zd.normal", "zd.revoke", "zd.alternate", "zd.fallback")
}

// Deterministic lists the IDs of the rows whose result does not depend on
// timing: they must always be Met. zd.alternate is among them because two
// alternating applications leave no moment at which the consumer's re-read
// of AWSCURRENT gives a revoked token: a token read from AWSCURRENT is
// revoked only when its application mints again, two rotations after the
// one that minted it, so the one retry fails only if a whole rotation
// finishes and the next one mints between the re-read and the retry.
var Deterministic = []string{"sm.calls", "cw.requests", "cw.handshakes", "zd.normal", "zd.alternate"}

// Run runs the whole benchmark. It needs Linux (/proc) and the Go toolchain,
// and uses only loopback networking.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg = cfg.withDefaults()
	started := time.Now()
	r := &runner{cfg: cfg, progress: cfg.Progress}
	if r.progress == nil {
		r.progress = io.Discard
	}
	rep := &Report{Config: cfg, Machine: Machine{Description: machine.Describe(ctx), LoadStart: loadAvg()}}
	if cfg.Dir == "" {
		dir, err := os.MkdirTemp("", "clickwrap-rotator-bench-*")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		r.cfg.Dir = dir
	}
	root, err := lambdarie.ModuleRoot(ctx)
	if err != nil {
		return nil, err
	}
	r.root = root
	r.bootstrap = cfg.Bootstrap
	if r.bootstrap == "" {
		r.logf("building the bootstrap for %s/%s (lambdarie.Build)", runtime.GOOS, runtime.GOARCH)
		if r.bootstrap, err = lambdarie.Build(ctx, localrun.RotatorPackage, filepath.Join(r.cfg.Dir, "host")); err != nil {
			return nil, err
		}
	}

	steps := []func(context.Context, *Report) error{r.coldStarts, r.warm, r.artifact, r.goBench, r.zeroDowntime}
	for _, step := range steps {
		if err := step(ctx, rep); err != nil {
			return nil, err
		}
	}
	rep.Machine.LoadEnd = loadAvg()
	rep.Took = time.Since(started)
	return rep, nil
}

type runner struct {
	cfg       Config
	root      string
	bootstrap string
	progress  io.Writer

	// Filled by coldStarts, used by warm and the totals.
	coldCreate, coldSet []time.Duration
	coldHWM             []int64
	coldCalls           []map[string]int
	coldCW              []cwCount
}

func (r *runner) logf(format string, args ...any) {
	fmt.Fprintf(r.progress, "bench: "+format+"\n", args...)
}

// The sandbox client the secrets are made for, and the second API
// application of the secret in the split form.
const (
	clientID           = "bench-app"
	clientSecret       = "bench-client-secret-4e1b"
	secondClientID     = "bench-app-2"
	secondClientSecret = "bench-client-secret-2-c07a"
)

// stack is one fresh local deployment: a new bootstrap process (started by
// the emulator on the first Invoke), a new Secrets Manager emulator and a new
// sandbox, with one secret.
type stack struct {
	*localrun.Stack
	arn string
	dir string
}

func (r *runner) start(ctx context.Context) (*stack, error) {
	return r.startForm(ctx, false)
}

// startForm starts a stack whose secret is in the inline form (client_id and
// client_secret in it), or, with twoApps, in the split form: the token
// secret names a credentials secret that lists two API applications, both
// registered in the sandbox, and holds no client_id yet (the first
// rotation mints with the first application).
func (r *runner) startForm(ctx context.Context, twoApps bool) (*stack, error) {
	dir, err := os.MkdirTemp(r.cfg.Dir, "stack-*")
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	st, err := localrun.Start(sctx, localrun.Options{Dir: dir, Bootstrap: r.bootstrap, Timeout: 30 * time.Second})
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	st.Sandbox.AddClient(clientID, clientSecret)
	if twoApps {
		st.Sandbox.AddClient(secondClientID, secondClientSecret)
		creds := st.Secrets.CreateSecret("clickwrap/bench-credentials", fmt.Sprintf(
			`{"token_url":%q,"applications":[{"client_id":%q,"client_secret":%q},{"client_id":%q,"client_secret":%q}]}`,
			st.Sandbox.TokenURL(), clientID, clientSecret, secondClientID, secondClientSecret))
		arn := st.Secrets.CreateSecret("clickwrap/bench", fmt.Sprintf(
			`{"credentials_secret":%q,"token_url":%q,"api_url":%q,"owner":"platform-team"}`,
			creds, st.Sandbox.TokenURL(), st.Sandbox.APIURL()))
		return &stack{Stack: st, arn: arn, dir: dir}, nil
	}
	arn := st.Secrets.CreateSecret("clickwrap/bench", fmt.Sprintf(
		`{"client_id":%q,"client_secret":%q,"token_url":%q,"api_url":%q,"owner":"platform-team"}`,
		clientID, clientSecret, st.Sandbox.TokenURL(), st.Sandbox.APIURL()))
	return &stack{Stack: st, arn: arn, dir: dir}, nil
}

func (s *stack) close() {
	s.Close()
	os.RemoveAll(s.dir)
}

// rotate runs one whole rotation as the schedule does: RotateSecret, then
// the emulator invokes the four steps; it returns when the rotation has
// finished, with the wall time from the RotateSecret call to that moment.
func (s *stack) rotate(ctx context.Context) (time.Duration, secretsmanagertest.Rotation, error) {
	t0 := time.Now()
	_, err := s.Secrets.Client().RotateSecret(ctx, localrun.RotateSecretInput(s.arn))
	if err != nil {
		return 0, secretsmanagertest.Rotation{}, fmt.Errorf("RotateSecret: %w", err)
	}
	if err := s.Secrets.Wait(ctx); err != nil {
		return 0, secretsmanagertest.Rotation{}, err
	}
	wall := time.Since(t0)
	rs := s.Secrets.Rotations(s.arn)
	last := rs[len(rs)-1]
	if last.Err != nil {
		return wall, last, fmt.Errorf("rotation failed: %w\nfunction output:\n%s", last.Err, tail(s.Logs(), 4000))
	}
	return wall, last, nil
}

// rotatorCalls returns the Secrets Manager calls since the last ResetCalls,
// without the RotateSecret that started the rotation (the caller's, not the
// rotator's).
func (s *stack) rotatorCalls() map[string]int {
	c := s.Secrets.Calls()
	delete(c, "RotateSecret")
	return c
}

func stepDuration(rot secretsmanagertest.Rotation, step rotation.Step) (time.Duration, bool) {
	for _, s := range rot.Steps {
		if s.Step == string(step) {
			return s.Duration, true
		}
	}
	return 0, false
}

// cwCount is what the sandbox saw during one rotation.
type cwCount struct{ mints, verifies, handshakes int }

// coldStarts runs each kind of cold start Runs times, alternating, each in a
// fresh stack.
func (r *runner) coldStarts(ctx context.Context, _ *Report) error {
	for i := range r.cfg.Runs {
		r.logf("cold start %d/%d", i+1, r.cfg.Runs)
		if err := r.coldCreateSecret(ctx); err != nil {
			return fmt.Errorf("cold start (createSecret) %d: %w", i+1, err)
		}
		if err := r.coldSetSecret(ctx); err != nil {
			return fmt.Errorf("cold start (setSecret) %d: %w", i+1, err)
		}
	}
	return nil
}

// coldCreateSecret: a whole rotation in a fresh stack; its createSecret is
// the bootstrap's first invocation.
func (r *runner) coldCreateSecret(ctx context.Context) error {
	st, err := r.start(ctx)
	if err != nil {
		return err
	}
	defer st.close()
	if pid, err := st.Function.BootstrapPID(); err == nil {
		return fmt.Errorf("a bootstrap (pid %d) runs before the first invocation", pid)
	}
	st.Secrets.ResetCalls()
	st.Sandbox.ResetStats()
	_, rot, err := st.rotate(ctx)
	if err != nil {
		return err
	}
	d, _ := stepDuration(rot, rotation.CreateSecret)
	r.coldCreate = append(r.coldCreate, d)
	r.coldCalls = append(r.coldCalls, st.rotatorCalls())
	s := st.Sandbox.Stats()
	r.coldCW = append(r.coldCW, cwCount{mints: s.TokenRequests, verifies: s.APIRequests, handshakes: s.Handshakes})
	hwm, _, err := procMemory(st.Function)
	if err != nil {
		return err
	}
	r.coldHWM = append(r.coldHWM, hwm)
	return nil
}

// coldSetSecret: a whole rotation in a fresh stack whose createSecret runs
// in this process (an in-process rotator on the same emulator and sandbox),
// so that the bootstrap's first invocation is setSecret: start-up plus one
// DescribeSecret.
func (r *runner) coldSetSecret(ctx context.Context) error {
	st, err := r.start(ctx)
	if err != nil {
		return err
	}
	defer st.close()
	inproc := rotation.New(st.Secrets.Client(), clickwrap.NewClient(st.Sandbox.Client()), slog.New(slog.DiscardHandler))
	st.Secrets.SetInvoker(func(ctx context.Context, ev rotation.Event) error {
		if ev.Step == string(rotation.CreateSecret) {
			return inproc.Handle(ctx, ev)
		}
		return st.Invoke(ctx, ev)
	})
	if pid, err := st.Function.BootstrapPID(); err == nil {
		return fmt.Errorf("a bootstrap (pid %d) runs before the first invocation", pid)
	}
	_, rot, err := st.rotate(ctx)
	if err != nil {
		return err
	}
	d, _ := stepDuration(rot, rotation.SetSecret)
	r.coldSet = append(r.coldSet, d)
	return nil
}

// warm runs one rotation to warm a fresh container up, then Runs rotations
// in it, and reports the warm figures, the counts and the memory.
func (r *runner) warm(ctx context.Context, rep *Report) error {
	r.logf("warm: 1 + %d rotations in one container", r.cfg.Runs)
	st, err := r.start(ctx)
	if err != nil {
		return err
	}
	defer st.close()
	st.Sandbox.ResetStats()
	st.Secrets.ResetCalls()
	if _, _, err := st.rotate(ctx); err != nil {
		return fmt.Errorf("warm-up rotation: %w", err)
	}
	allCalls := slices.Clone(r.coldCalls)
	allCW := slices.Clone(r.coldCW)
	allCalls = append(allCalls, st.rotatorCalls())
	first := st.Sandbox.Stats()
	allCW = append(allCW, cwCount{mints: first.TokenRequests, verifies: first.APIRequests})

	stepTimes := map[rotation.Step][]time.Duration{}
	var walls []time.Duration
	for i := range r.cfg.Runs {
		before := st.Sandbox.Stats()
		st.Secrets.ResetCalls()
		wall, rot, err := st.rotate(ctx)
		if err != nil {
			return fmt.Errorf("warm rotation %d: %w", i+1, err)
		}
		walls = append(walls, wall)
		for _, s := range rotation.Steps {
			d, ok := stepDuration(rot, s)
			if !ok {
				return fmt.Errorf("warm rotation %d: no %s step recorded", i+1, s)
			}
			stepTimes[s] = append(stepTimes[s], d)
		}
		allCalls = append(allCalls, st.rotatorCalls())
		after := st.Sandbox.Stats()
		allCW = append(allCW, cwCount{mints: after.TokenRequests - before.TokenRequests, verifies: after.APIRequests - before.APIRequests})
	}
	handshakes := st.Sandbox.Stats().Handshakes
	hwmMany, rssMany, err := procMemory(st.Function)
	if err != nil {
		return err
	}
	rotations := r.cfg.Runs + 1

	// 1. Cold start.
	const sCold = "1. Cold start (fresh bootstrap process per run)"
	rep.add(timingRow("cold.createSecret", sCold, "first invocation = createSecret (whole step, new TLS connection)", r.coldCreate))
	rep.add(timingRow("cold.setSecret", sCold, "first invocation = setSecret (start-up + 1 DescribeSecret)", r.coldSet))
	penalty := median(r.coldSet) - median(stepTimes[rotation.SetSecret])
	rep.add(Row{ID: "cold.penalty", Section: sCold, Figure: "start-up cost: cold setSecret − warm setSecret (medians)", Value: ms(penalty)})

	// 2. Warm latency.
	const sWarm = "2. Warm latency (invoked through the runtime emulator)"
	for _, s := range rotation.Steps {
		rep.add(timingRow("warm."+string(s), sWarm, string(s), stepTimes[s]))
	}
	rep.add(timingRow("warm.rotation", sWarm, "whole rotation: RotateSecret to finished", walls))

	// 3. Secrets Manager calls.
	const sSM = "3. Secrets Manager calls per rotation (counted by the emulator)"
	worst, desc := callsSummary(allCalls)
	rep.add(Row{ID: "sm.calls", Section: sSM,
		Figure: fmt.Sprintf("rotator's calls per rotation (all %d rotations)", len(allCalls)),
		Value:  desc,
		Target: fmt.Sprintf("≤ %d (aws-samples template logic: %d)", TargetSMCalls, TemplateSMCalls),
		Result: verdict(worst <= TargetSMCalls)})

	// 4. Clickwrap.
	const sCW = "4. Clickwrap requests"
	okReq, descReq := cwSummary(allCW)
	rep.add(Row{ID: "cw.requests", Section: sCW,
		Figure: fmt.Sprintf("requests per rotation (all %d rotations)", len(allCW)),
		Value:  descReq, Target: fmt.Sprintf("exactly %d (1 mint, 1 verify)", TargetCWRequests), Result: verdict(okReq)})
	coldHS := make([]int, len(r.coldCW))
	for i, c := range r.coldCW {
		coldHS[i] = c.handshakes
	}
	rep.add(Row{ID: "cw.handshakes", Section: sCW,
		Figure: fmt.Sprintf("TLS handshakes for %d rotations in one warm container", rotations),
		Value:  strconv.Itoa(handshakes),
		Spread: fmt.Sprintf("fresh container, 1 rotation: %s", intRange(coldHS)),
		Target: strconv.Itoa(TargetHandshakes), Result: verdict(handshakes == TargetHandshakes)})

	// 5. Memory and artifact (the artifact row is added by artifact).
	const sMem = "5. Memory and artifact"
	rep.add(Row{ID: "mem.one", Section: sMem, Figure: "bootstrap peak RSS (VmHWM) after 1 rotation, fresh container",
		Value: mb(medianInt(r.coldHWM)), Spread: fmt.Sprintf("min %s, max %s, n=%d", mb(slices.Min(r.coldHWM)), mb(slices.Max(r.coldHWM)), len(r.coldHWM)),
		Target: "< " + mb(TargetPeakRSSBytes), Result: verdict(slices.Max(r.coldHWM) < TargetPeakRSSBytes)})
	rep.add(Row{ID: "mem.many", Section: sMem, Figure: fmt.Sprintf("bootstrap peak RSS (VmHWM) after %d rotations in one container", rotations),
		Value: mb(hwmMany), Spread: "VmRSS now " + mb(rssMany),
		Target: "< " + mb(TargetPeakRSSBytes), Result: verdict(hwmMany < TargetPeakRSSBytes)})
	return nil
}

// artifact builds the Lambda artifact as `make build` does (linux/arm64,
// CGO_ENABLED=0, -tags lambda.norpc -trimpath -ldflags "-s -w -buildid=")
// and zips it with archive/zip's Deflate.
func (r *runner) artifact(ctx context.Context, rep *Report) error {
	r.logf("building and zipping the linux/arm64 artifact")
	dir := filepath.Join(r.cfg.Dir, "artifact")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	bin := filepath.Join(dir, "bootstrap")
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags", "-s -w -buildid=", "-o", bin, localrun.RotatorPackage)
	cmd.Dir = r.root
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build (linux/arm64): %w\n%s", err, out)
	}
	binSize, zipSize, err := zipFile(bin, filepath.Join(dir, "bootstrap.zip"))
	if err != nil {
		return err
	}
	rep.add(Row{ID: "artifact.zip", Section: "5. Memory and artifact", Figure: "deployment zip (linux/arm64 bootstrap, Deflate)",
		Value: mb(zipSize), Spread: "binary " + mb(binSize),
		Target: "< " + mb(TargetZipBytes), Result: verdict(zipSize < TargetZipBytes)})
	return nil
}

// zipFile writes src into a new zip at dst as the entry "bootstrap" (mode
// 0755, Deflate) and returns both sizes.
func zipFile(src, dst string) (srcSize, zipSize int64, err error) {
	data, err := os.ReadFile(src)
	if err != nil {
		return 0, 0, err
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	h := &zip.FileHeader{Name: "bootstrap", Method: zip.Deflate}
	h.SetMode(0o755)
	w, err := zw.CreateHeader(h)
	if err == nil {
		_, err = w.Write(data)
	}
	if err == nil {
		err = zw.Close()
	}
	if err != nil {
		return 0, 0, fmt.Errorf("zipping the bootstrap: %w", err)
	}
	if err := os.WriteFile(dst, buf.Bytes(), 0o644); err != nil {
		return 0, 0, err
	}
	return int64(len(data)), int64(buf.Len()), nil
}

// goBenchNames are the benchmarks of rotation/rotator_bench_test.go.
var goBenchNames = []string{"CreateSecret", "SetSecret", "TestSecret", "FinishSecret", "Rotation"}

var benchLine = regexp.MustCompile(`^Benchmark(\w+?)(?:-\d+)?\s+(\d+)\s+([\d.]+) ns/op\s+(\d+) B/op\s+(\d+) allocs/op`)

// goBench runs the in-process benchmarks of the rotation package.
func (r *runner) goBench(ctx context.Context, rep *Report) error {
	if r.cfg.GoBenchTime == "-" {
		return nil
	}
	r.logf("go test -bench (in-process, -benchtime %s)", r.cfg.GoBenchTime)
	args := []string{"test", "-run", "^$", "-bench", ".", "-benchmem", "-benchtime", r.cfg.GoBenchTime, "-count", "1", "./rotation/"}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = r.root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	shown := slices.Clone(args)
	for i, a := range shown {
		if strings.ContainsAny(a, "^$ ") {
			shown[i] = "'" + a + "'"
		}
	}
	rep.GoBench = "$ go " + strings.Join(shown, " ") + "\n" + string(out)
	found := map[string]Row{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		ns, _ := strconv.ParseFloat(m[3], 64)
		bytesOp, _ := strconv.Atoi(m[4])
		name := m[1]
		figure := "whole rotation (RotateSecret + 4 steps)"
		if name != "Rotation" {
			figure = strings.ToLower(name[:1]) + name[1:]
		}
		found[name] = Row{ID: "go." + name, Section: "6. In-process cost (Go benchmarks, emulator and sandbox in the same process)",
			Figure: figure, Value: ms(time.Duration(ns)) + "/op",
			Spread: fmt.Sprintf("%s B/op, %s allocs/op, n=%s", thousands(bytesOp), m[5], m[2])}
	}
	for _, name := range goBenchNames {
		row, ok := found[name]
		if !ok {
			return fmt.Errorf("go test -bench printed no result for Benchmark%s:\n%s", name, out)
		}
		rep.add(row)
	}
	return nil
}

// zdMode is one zero-downtime scenario.
type zdMode struct {
	id, figure string
	revoke     bool
	fallback   bool
	control    bool // failures are the expected outcome
	// twoApps: the secret in the split form with two API applications,
	// which alternate; revocation is per application.
	twoApps bool
}

var zdModes = []zdMode{
	{id: "zd.normal", figure: "normal mode (earlier tokens stay valid)"},
	{id: "zd.revoke", figure: "minting revokes the previous token, one API application, no fallback", revoke: true, control: true},
	{id: "zd.alternate", figure: "minting revokes the application's earlier tokens, two API applications alternating, no fallback",
		revoke: true, twoApps: true},
	{id: "zd.fallback", figure: "minting revokes the previous token, one API application, FallbackToPending", revoke: true, fallback: true},
}

// zeroDowntime runs, for each mode, Rotations back-to-back rotations of the
// bootstrap under the emulator while one consumer calls the sandbox in a
// loop through clickwrap.TokenSource and clickwrap.Transport.
func (r *runner) zeroDowntime(ctx context.Context, rep *Report) error {
	for _, m := range zdModes {
		r.logf("zero downtime: %s, %d rotations", m.figure, r.cfg.Rotations)
		res, err := r.consumeDuringRotations(ctx, m)
		if err != nil {
			return fmt.Errorf("zero downtime (%s): %w", m.figure, err)
		}
		period := time.Duration(0)
		if res.rotationsOK > 0 {
			period = res.took / time.Duration(res.rotationsOK)
		}
		spread := fmt.Sprintf("401 answers %d; %d/%d rotations ok, one every %s", res.rejected, res.rotationsOK, r.cfg.Rotations, ms(period))
		if res.failed > 0 {
			spread = fmt.Sprintf("failed: %d with no other token in the secret, %d whose replacement token was rejected too, %d other; ",
				res.noReplacement, res.replacementRejected, res.failed-res.noReplacement-res.replacementRejected) + spread
		}
		row := Row{ID: m.id, Section: fmt.Sprintf("7. Zero downtime: consumer requests failed during %d back-to-back rotations (bootstrap under the emulator)", r.cfg.Rotations),
			Figure: m.figure,
			Value:  fmt.Sprintf("%d of %d", res.failed, res.total),
			Spread: spread,
			Target: strconv.Itoa(TargetFailedRequests),
			Result: verdict(res.failed == TargetFailedRequests && res.rotationsOK == r.cfg.Rotations && res.total > 0)}
		if m.control {
			row.Target = "none: the control, failures expected"
			row.Result = Expected
			if res.failed == 0 {
				row.Result = NotSeen
			}
		}
		if m.twoApps && res.replacementRejected > 0 {
			row.Note = fmt.Sprintf("%d request(s) failed although the transport found a newer token in AWSCURRENT: that "+
				"token was rejected too, on the transport's one retry, so its application had minted again between the "+
				"consumer's re-read and its retry: a whole rotation finished and the next one's createSecret minted in "+
				"that moment (here one rotation every %s). With scheduled rotations, hours apart, that cannot happen.",
				res.replacementRejected, ms(period))
		}
		if m.fallback && res.replacementRejected > 0 {
			row.Note = fmt.Sprintf("%d request(s) failed although the transport found a newer token in the secret: "+
				"that token was rejected too, on the transport's one retry, because a later rotation's createSecret had "+
				"minted (revoking it) between the consumer's read of the secret and its retry. That needs a rotation to "+
				"mint within one re-read, which back-to-back rotations make likely: here one every %s, while a re-read "+
				"that finds AWSPENDING without a value yet waits 100 ms (the poll in clickwrap/consumer.go) before "+
				"reading again. Scheduled rotations are at least 4 hours apart, so this needs rotations started by hand "+
				"in quick succession; a Transport that asks the source again while each replacement is rejected "+
				"(bounded, e.g. 3 times) would remove these failures.", res.replacementRejected, ms(period))
		}
		rep.add(row)
	}
	return nil
}

type zdResult struct {
	total, failed, rejected int64
	// Failed requests by cause: Clickwrap answered 401 and the source had no
	// other token (one attempt); the replacement got 401 too (two attempts).
	noReplacement, replacementRejected int64
	rotationsOK                        int
	took                               time.Duration
}

// attempts counts the round trips clickwrap.Transport makes for one
// consumer request and the status of the last. The consumer makes one
// request at a time and http.Client calls the transports on its goroutine,
// so it needs no lock.
type attempts struct {
	base       http.RoundTripper
	n, last401 int
}

func (a *attempts) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := a.base.RoundTrip(req)
	a.n++
	if err == nil && resp.StatusCode == http.StatusUnauthorized {
		a.last401++
	}
	return resp, err
}

func (r *runner) consumeDuringRotations(ctx context.Context, m zdMode) (zdResult, error) {
	st, err := r.startForm(ctx, m.twoApps)
	if err != nil {
		return zdResult{}, err
	}
	defer st.close()
	if _, _, err := st.rotate(ctx); err != nil { // mints the first token (with the first application)
		return zdResult{}, fmt.Errorf("first rotation: %w", err)
	}
	st.Sandbox.SetRevokeOnMint(m.revoke)
	st.Sandbox.ResetStats()

	ts := clickwrap.NewTokenSource(st.Secrets.Client(), st.arn, clickwrap.TokenSourceOptions{FallbackToPending: m.fallback})
	counter := &attempts{base: st.Sandbox.Client().Transport}
	hc := &http.Client{Transport: &clickwrap.Transport{Source: ts, Base: counter}, Timeout: 30 * time.Second}
	url := st.Sandbox.APIURL() + "/sites?per_page=1"
	var cons zdResult // the consumer goroutine's counts, read after Wait
	cctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		for cctx.Err() == nil {
			// In-flight requests are not cancelled when the rotations end.
			req, err := http.NewRequestWithContext(context.WithoutCancel(cctx), http.MethodGet, url, nil)
			if err != nil {
				cons.failed++
				return
			}
			cons.total++
			counter.n, counter.last401 = 0, 0
			resp, err := hc.Do(req)
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					continue
				}
			}
			cons.failed++
			switch {
			case err == nil && counter.n == 1 && counter.last401 == 1:
				cons.noReplacement++
			case err == nil && counter.n >= 2 && counter.last401 == counter.n:
				cons.replacementRejected++
			}
		}
	})
	res := zdResult{}
	t0 := time.Now()
	var rotErr error
	for range r.cfg.Rotations {
		if _, _, err := st.rotate(ctx); err != nil {
			rotErr = err
			continue
		}
		res.rotationsOK++
	}
	res.took = time.Since(t0)
	stop()
	wg.Wait()
	res.total, res.failed, res.noReplacement, res.replacementRejected = cons.total, cons.failed, cons.noReplacement, cons.replacementRejected
	res.rejected = int64(st.Sandbox.Stats().APIRejected)
	if res.rotationsOK == 0 {
		return res, rotErr
	}
	if m.twoApps {
		if err := st.alternated(ctx); err != nil {
			return res, err
		}
	}
	return res, nil
}

// alternated checks that the last two rotations of a secret in the split
// form minted with different applications: AWSCURRENT's and AWSPREVIOUS's
// client_id are the two applications.
func (s *stack) alternated(ctx context.Context) error {
	ids := map[string]string{}
	for _, stage := range []string{"AWSCURRENT", "AWSPREVIOUS"} {
		out, err := s.Secrets.Client().GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(s.arn), VersionStage: aws.String(stage)})
		if err != nil {
			return fmt.Errorf("reading %s: %w", stage, err)
		}
		var v struct {
			ClientID string `json:"client_id"`
		}
		if err := json.Unmarshal([]byte(aws.ToString(out.SecretString)), &v); err != nil {
			return fmt.Errorf("%s is not JSON: %w", stage, err)
		}
		ids[stage] = v.ClientID
	}
	if got := []string{ids["AWSPREVIOUS"], ids["AWSCURRENT"]}; !slices.Contains(got, clientID) || !slices.Contains(got, secondClientID) {
		return fmt.Errorf("the applications did not alternate: AWSPREVIOUS minted by %q, AWSCURRENT by %q", ids["AWSPREVIOUS"], ids["AWSCURRENT"])
	}
	return nil
}

// procMemory reads VmHWM (peak resident set) and VmRSS of the running
// bootstrap from /proc/<pid>/status, in bytes.
func procMemory(fn *lambdarie.Function) (hwm, rss int64, err error) {
	pid, err := fn.BootstrapPID()
	if err != nil {
		return 0, 0, err
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for line := range strings.Lines(string(b)) {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "VmHWM" && k != "VmRSS") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/%d/status: %s: %w", pid, k, err)
		}
		if k == "VmHWM" {
			hwm = kb * 1024
		} else {
			rss = kb * 1024
		}
	}
	if hwm == 0 {
		return 0, 0, fmt.Errorf("/proc/%d/status has no VmHWM", pid)
	}
	return hwm, rss, nil
}

// loadAvg returns the 1, 5 and 15-minute load averages.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
