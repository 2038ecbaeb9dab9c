// Package examples_test runs the example consumers (examples/go,
// examples/python, examples/node), each as its own process with its real
// AWS SDK (aws-sdk-go-v2, boto3, the AWS SDK for JavaScript v3), against the
// Secrets Manager emulator and the Clickwrap sandbox while the rotator
// rotates the secret, and checks that each kept working.
//
// The Python consumer needs python3 with boto3 (Debian: python3-boto3), the
// Node one node (18 or later) and `npm ci --prefix examples/node`; .ci/run
// installs them and `make test` runs the npm ci. When one is missing the
// test fails and says how to install it, unless CONSUMERS_SKIP names it
// (python, node, go, comma-separated) or is 1 (all). CONSUMERS_PYTHON and
// CONSUMERS_NODE choose other interpreters than python3 and node on PATH.
package examples_test

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/clickwrap-rotator/clickwrap-rotator/internal/localrun"
)

// consumer is one example program.
type consumer struct {
	name string
	// argv runs it (the flags are added).
	argv []string
	// caVar names the variable that makes it trust the sandbox's CA, the
	// standard one for its language.
	caVar string
	// setupReads are the reads of the secret it makes besides the token
	// source's: the Go example reads api_url once at start.
	setupReads int
}

// scenario is one run of a consumer under rotations.
type scenario struct {
	name string
	// split puts the secret in the split form, with two API applications
	// that the rotation alternates.
	split bool
	// revoke makes a minted token revoke its application's earlier ones.
	revoke bool
	// expiresIn makes tokens expire (the secret then holds expires_at).
	expiresIn time.Duration
	// maxAge is the consumer's --max-age.
	maxAge string
	// rotations are made, one every every, once the consumer has answered
	// its first request (more run before that, to keep an expiring token
	// fresh while the consumer starts).
	rotations int
	every     time.Duration
	// check adds the scenario's own assertions; rotations counts every
	// rotation made while the consumer ran.
	check func(t *testing.T, c consumer, sum summary, rotations int)
}

var scenarios = []scenario{
	{
		// Earlier tokens stay valid (the sandbox's default). A short MaxAge:
		// the consumer reads the secret again on its own, never on a 401.
		name: "rotations", maxAge: "1s", rotations: 8, every: 400 * time.Millisecond,
		check: func(t *testing.T, c consumer, sum summary, rotations int) {
			if sum.Rejected != 0 {
				t.Errorf("%d answers were 401 although no token was revoked", sum.Rejected)
			}
			if proactive := sum.SecretReads - c.setupReads - 1 - sum.Rereads; proactive < 2 {
				t.Errorf("secret_reads=%d, rereads=%d: with a MaxAge of 1s, over the 3.2s of rotations the consumer should have read the secret again on its own at least twice",
					sum.SecretReads, sum.Rereads)
			}
		},
	},
	{
		// Minting revokes the application's earlier tokens, and two
		// applications alternate (the split form): the token a consumer holds
		// is revoked two rotations after it was minted, while AWSCURRENT holds
		// the other application's, so one re-read after the 401 finds a
		// working token. A long MaxAge: the consumer learns of the rotation
		// from the 401 alone.
		name: "revoke-on-mint-two-applications", split: true, revoke: true, maxAge: "5m", rotations: 6, every: 300 * time.Millisecond,
		check: func(t *testing.T, c consumer, sum summary, rotations int) {
			if sum.Rereads < 1 {
				t.Errorf("no re-read after a 401: the token was never revoked under the consumer, the path was not exercised")
			}
			if sum.Rereads > rotations {
				t.Errorf("%d re-reads after a 401 for %d rotations: more than one per rotation", sum.Rereads, rotations)
			}
		},
	},
	{
		// Tokens expire 3 seconds after they are minted and the secret says
		// when (expires_at); the consumer's MaxAge is 5 minutes, so only
		// expires_at makes it read the secret again before the token dies.
		name: "expires-at", expiresIn: 3 * time.Second, maxAge: "5m", rotations: 5, every: time.Second,
		check: func(t *testing.T, c consumer, sum summary, rotations int) {
			if proactive := sum.SecretReads - c.setupReads - 1 - sum.Rereads; proactive < 1 {
				t.Errorf("secret_reads=%d, rereads=%d: the consumer never read the secret again on its own: it kept the token past expires_at",
					sum.SecretReads, sum.Rereads)
			}
		},
	},
}

func TestConsumers(t *testing.T) {
	skip := skipped()
	if skip["all"] {
		t.Skip("CONSUMERS_SKIP=" + os.Getenv("CONSUMERS_SKIP") + ": the example consumers are not run")
	}
	dir := t.TempDir()
	var consumers []consumer
	if !skip["go"] {
		consumers = append(consumers, goConsumer(t, dir))
	}
	if !skip["python"] {
		if c, problem := pythonConsumer(); problem != "" {
			t.Errorf("the Python consumer cannot run: %s.\nInstall Debian's python3-boto3 (apt-get update && apt-get install -y python3 python3-boto3, as .ci/run does; "+
				"CONSUMERS_PYTHON=/usr/bin/python3 when another python3 comes first on PATH), or set CONSUMERS_SKIP=python to skip it on purpose", problem)
		} else {
			consumers = append(consumers, c)
		}
	}
	if !skip["node"] {
		if c, problem := nodeConsumer(); problem != "" {
			t.Errorf("the Node consumer cannot run: %s.\nInstall Node.js 18 or later and npm (apt-get install -y nodejs npm, as .ci/run does), "+
				"then `npm ci --prefix examples/node` (make test runs it), or set CONSUMERS_SKIP=node to skip it on purpose", problem)
		} else {
			consumers = append(consumers, c)
		}
	}
	for name := range skip {
		t.Logf("CONSUMERS_SKIP: the %s consumer is not run", name)
	}
	caDir := t.TempDir()
	for _, sc := range scenarios {
		for _, c := range consumers {
			t.Run(sc.name+"/"+c.name, func(t *testing.T) {
				t.Parallel()
				runScenario(t, c, sc, caDir)
			})
		}
	}
}

// skipped reads CONSUMERS_SKIP: 1, true or all, or names.
func skipped() map[string]bool {
	m := map[string]bool{}
	for name := range strings.SplitSeq(strings.ToLower(os.Getenv("CONSUMERS_SKIP")), ",") {
		switch name = strings.TrimSpace(name); name {
		case "":
		case "1", "true", "yes", "all":
			m["all"] = true
		default:
			m[name] = true
		}
	}
	return m
}

func goConsumer(t *testing.T, dir string) consumer {
	bin := filepath.Join(dir, "consumer-go")
	cmd := exec.Command("go", "build", "-o", bin, "./go")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./examples/go: %v\n%s", err, out)
	}
	return consumer{name: "go", argv: []string{bin}, caVar: "SSL_CERT_FILE", setupReads: 1}
}

func pythonConsumer() (consumer, string) {
	python := cmp.Or(os.Getenv("CONSUMERS_PYTHON"), "python3")
	out, err := exec.Command(python, "-c", "import boto3, sys; print(sys.executable, boto3.__version__)").CombinedOutput()
	if err != nil {
		return consumer{}, fmt.Sprintf("%s -c 'import boto3': %v: %s", python, err, lastLine(out))
	}
	script, err := filepath.Abs(filepath.Join("python", "consumer.py"))
	if err != nil {
		return consumer{}, err.Error()
	}
	return consumer{name: "python", argv: []string{python, script}, caVar: "SSL_CERT_FILE"}, ""
}

func nodeConsumer() (consumer, string) {
	node := cmp.Or(os.Getenv("CONSUMERS_NODE"), "node")
	out, err := exec.Command(node, "--version").CombinedOutput()
	if err != nil {
		return consumer{}, fmt.Sprintf("%s --version: %v: %s", node, err, lastLine(out))
	}
	v := strings.TrimSpace(string(out))
	if major, err := strconv.Atoi(strings.SplitN(strings.TrimPrefix(v, "v"), ".", 2)[0]); err != nil || major < 18 {
		return consumer{}, fmt.Sprintf("%s is Node.js %s; the AWS SDK for JavaScript v3 needs 18 or later", node, v)
	}
	sdk := filepath.Join("node", "node_modules", "@aws-sdk", "client-secrets-manager", "package.json")
	if _, err := os.Stat(sdk); err != nil {
		return consumer{}, fmt.Sprintf("examples/%s is missing: the SDK is not installed", filepath.ToSlash(sdk))
	}
	script, err := filepath.Abs(filepath.Join("node", "consumer.mjs"))
	if err != nil {
		return consumer{}, err.Error()
	}
	return consumer{name: "node", argv: []string{node, script}, caVar: "NODE_EXTRA_CA_CERTS"}, ""
}

const (
	secondClientID     = "api-app-2"
	secondClientSecret = "client-secret-2-c41d8e07aa"
)

func runScenario(t *testing.T, c consumer, sc scenario, caDir string) {
	ctx := t.Context()
	opts := localrun.InProcessOptions{Sync: true}
	if sc.split {
		// The token endpoint is the credentials secret's alone.
		opts.Fields = map[string]any{"client_id": nil, "client_secret": nil, "token_url": nil, "credentials_secret": "clickwrap/api-applications"}
	}
	p, err := localrun.NewInProcess(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	// Everything the consumer must never print: the client secrets and
	// every token the secret has held, by what the failure may name.
	hidden := map[string]string{"client-secret-7f3a9c1e5b": "the client secret of api-app-1"} // NewInProcess's default
	if sc.split {
		p.Sandbox.AddClient(secondClientID, secondClientSecret)
		p.Secrets.CreateSecret("clickwrap/api-applications", fmt.Sprintf(
			`{"token_url":%q,"applications":[{"client_id":"api-app-1","client_secret":"client-secret-7f3a9c1e5b"},{"client_id":%q,"client_secret":%q}]}`,
			p.Sandbox.TokenURL(), secondClientID, secondClientSecret))
		hidden[secondClientSecret] = "the client secret of " + secondClientID
	}
	p.Sandbox.SetExpiresIn(sc.expiresIn)
	minted := 0    // rotations in all
	rotations := 0 // while the consumer runs
	rotate := func() {
		t.Helper()
		rotations++
		if _, err := p.RotateSecret(ctx); err != nil {
			t.Fatalf("RotateSecret: %v", err)
		}
		if err := p.LastRotation().Err; err != nil {
			t.Fatalf("the rotation failed: %v", err)
		}
		minted++
		hidden[currentToken(t, p)] = fmt.Sprintf("the token of rotation %d", minted)
	}
	rotate() // the secret's first token
	rotations = 0
	p.Sandbox.SetRevokeOnMint(sc.revoke)
	p.Sandbox.ResetStats()

	caFile, err := p.Sandbox.WriteCAFile(caDir)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, c.argv[0], append(c.argv[1:],
		"--secret-id", "clickwrap/api-token", "--duration", "120s", "--interval", "50ms", "--max-age", sc.maxAge)...)
	cmd.Env = append(cleanEnv(),
		"AWS_REGION=us-east-1",
		"AWS_DEFAULT_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=AKIDCONSUMERSTEST",
		"AWS_SECRET_ACCESS_KEY=consumers-test-not-a-secret",
		"AWS_ENDPOINT_URL_SECRETS_MANAGER="+p.Secrets.URL(),
		"AWS_CONFIG_FILE="+os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE="+os.DevNull,
		"AWS_EC2_METADATA_DISABLED=true",
		"NO_PROXY=127.0.0.1,localhost",
		c.caVar+"="+caFile,
	)
	cmd.WaitDelay = 5 * time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	out := &lines{}
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		lines := bufio.NewScanner(stdout)
		for lines.Scan() {
			out.add(lines.Text())
		}
	}()

	// Rotate while the consumer runs: the counted rotations start once it
	// has answered its first request.
	counted := 0
	started := time.Now()
	for counted < sc.rotations {
		time.Sleep(sc.every)
		if out.requests() == 0 {
			select {
			case <-scanned: // it ended before its first request
				err := cmd.Wait()
				t.Fatalf("the consumer exited (%v) before its first request:\n%s\nstderr:\n%s", err, out, stderr.String())
			default:
			}
			if time.Since(started) > time.Minute {
				cmd.Process.Kill()
				<-scanned
				_ = cmd.Wait() // then stderr is complete
				t.Fatalf("the consumer made no request within a minute:\n%s\nstderr:\n%s", out, stderr.String())
			}
			if sc.expiresIn > 0 {
				rotate() // keep the token alive while the consumer starts
			}
			continue
		}
		rotate()
		counted++
	}
	atLastRotation := out.requests()
	for deadline := time.Now().Add(30 * time.Second); out.requests() < atLastRotation+5 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	// SIGTERM: each consumer finishes its request and prints its summary.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Fatal(err)
	}
	<-scanned
	err = cmd.Wait()
	stats := p.Sandbox.Stats()
	all := out.String() + stderr.String()
	t.Logf("%s, %s, %d rotations: %s (sandbox: %d API requests, %d answered 401)",
		c.name, sc.name, rotations, out.last(), stats.APIRequests, stats.APIRejected)

	for value, what := range hidden {
		if strings.Contains(all, value) {
			t.Errorf("the consumer printed %s", what)
		}
	}
	if err != nil {
		t.Fatalf("the consumer exited with %v:\n%s\nstderr:\n%s", err, out, stderr.String())
	}
	sum, err := out.summary()
	if err != nil {
		t.Fatalf("%v:\n%s\nstderr:\n%s", err, out, stderr.String())
	}
	if sum.Failed != 0 || sum.OK != sum.Requests {
		t.Errorf("%d of %d requests failed:\n%s", sum.Failed, sum.Requests, out.failures())
	}
	if n := out.requests(); sum.Requests != n || n == 0 {
		t.Errorf("the summary counts %d requests, the output shows %d", sum.Requests, n)
	}
	if out.requests() <= atLastRotation {
		t.Errorf("no request after the last rotation: nothing shows the consumer picked it up")
	}
	if sum.Rejected != stats.APIRejected {
		t.Errorf("the consumer reports %d answers 401, the sandbox sent %d", sum.Rejected, stats.APIRejected)
	}
	if sum.Rereads > sum.Rejected {
		t.Errorf("%d re-reads after a 401 for %d 401s", sum.Rereads, sum.Rejected)
	}
	sc.check(t, c, sum, rotations)
	if t.Failed() {
		t.Logf("output:\n%s\nstderr:\n%s", out, stderr.String())
	}
}

// currentToken reads the access_token of the secret's AWSCURRENT version.
func currentToken(t *testing.T, p *localrun.InProcess) string {
	t.Helper()
	v, err := p.Secrets.Client().GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(p.ARN)})
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal([]byte(aws.ToString(v.SecretString)), &s); err != nil || s.AccessToken == "" {
		t.Fatalf("AWSCURRENT holds no access_token after a rotation (%v)", err)
	}
	return s.AccessToken
}

// cleanEnv is the test's environment without what would point the
// consumer elsewhere: AWS settings, CA bundles, proxies, the consumers' own
// settings.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		u := strings.ToUpper(k)
		switch {
		case strings.HasPrefix(u, "AWS_"), strings.HasPrefix(u, "CLICKWRAP_"), strings.HasPrefix(u, "CONSUMER_"),
			strings.HasPrefix(u, "SSL_CERT_"), strings.HasSuffix(u, "_PROXY"), strings.HasSuffix(u, "_CA_BUNDLE"),
			u == "NODE_EXTRA_CA_CERTS", u == "NODE_OPTIONS":
			continue
		}
		env = append(env, kv)
	}
	return env
}

// lines is a consumer's standard output, as it arrives.
type lines struct {
	mu  sync.Mutex
	all []string
	n   int // request lines
}

var requestLine = regexp.MustCompile(`^request (\d+): `)

func (l *lines) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all = append(l.all, s)
	if requestLine.MatchString(s) {
		l.n++
	}
}

func (l *lines) requests() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.all, "\n")
}

func (l *lines) last() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.all) == 0 {
		return "(no output)"
	}
	return l.all[len(l.all)-1]
}

func (l *lines) failures() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var f []string
	for _, s := range l.all {
		if strings.Contains(s, ": FAILED: ") {
			f = append(f, s)
		}
	}
	return strings.Join(f, "\n")
}

// summary is a consumer's last line.
type summary struct {
	Requests, OK, Failed, Rejected, Rereads, SecretReads int
}

var summaryLine = regexp.MustCompile(`^summary: requests=(\d+) ok=(\d+) failed=(\d+) rejected=(\d+) rereads=(\d+) secret_reads=(\d+)$`)

func (l *lines) summary() (summary, error) {
	last := l.last()
	m := summaryLine.FindStringSubmatch(last)
	if m == nil {
		return summary{}, fmt.Errorf("the last line is not the summary: %q", last)
	}
	n := make([]int, len(m)-1)
	for i := range n {
		n[i], _ = strconv.Atoi(m[i+1])
	}
	return summary{Requests: n[0], OK: n[1], Failed: n[2], Rejected: n[3], Rereads: n[4], SecretReads: n[5]}, nil
}

func lastLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}
