// Package examples_test runs the example consumers (examples/go,
// examples/python, examples/node), each as its own process with its real
// AWS SDK (aws-sdk-go-v2, boto3, the AWS SDK for JavaScript v3), against the
// Secrets Manager emulator and the Clickwrap sandbox while the rotator
// rotates the secret, and checks that each kept working (TestConsumers).
// It also gives the Python and Node consumers secrets edited by hand, which
// they must refuse as the Go one does, naming the field and never its
// value, or accept as it does (TestConsumersMalformedSecrets), and drives
// their TokenCache from concurrent callers: one read of the secret at a
// time, and never an older read's token over a newer one
// (TestTokenCacheRaces).
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
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
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
	"github.com/clickwrap-rotator/clickwrap-rotator/internal/secretsmanagertest"
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
	consumers := consumersUnderTest(t, "go", "python", "node")
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

// consumersUnderTest returns the consumers named (go, python, node) that
// CONSUMERS_SKIP does not name; it fails the test for one that cannot run,
// and skips the test when CONSUMERS_SKIP is 1 (all).
func consumersUnderTest(t *testing.T, names ...string) []consumer {
	skip := skipped()
	if skip["all"] {
		t.Skip("CONSUMERS_SKIP=" + os.Getenv("CONSUMERS_SKIP") + ": the example consumers are not run")
	}
	var consumers []consumer
	for _, name := range names {
		if skip[name] {
			t.Logf("CONSUMERS_SKIP: the %s consumer is not run", name)
			continue
		}
		switch name {
		case "go":
			consumers = append(consumers, goConsumer(t, t.TempDir()))
		case "python":
			if c, problem := pythonConsumer(); problem != "" {
				t.Errorf("the Python consumer cannot run: %s.\nInstall Debian's python3-boto3 (apt-get update && apt-get install -y python3 python3-boto3, as .ci/run does; "+
					"CONSUMERS_PYTHON=/usr/bin/python3 when another python3 comes first on PATH), or set CONSUMERS_SKIP=python to skip it on purpose", problem)
			} else {
				consumers = append(consumers, c)
			}
		case "node":
			if c, problem := nodeConsumer(); problem != "" {
				t.Errorf("the Node consumer cannot run: %s.\nInstall Node.js 18 or later and npm (apt-get install -y nodejs npm, as .ci/run does), "+
					"then `npm ci --prefix examples/node` (make test runs it), or set CONSUMERS_SKIP=node to skip it on purpose", problem)
			} else {
				consumers = append(consumers, c)
			}
		}
	}
	return consumers
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
	// Failures show the output with each of them replaced by what it is.
	safe := func(s string) string { return redact(s, hidden) }
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
	cmd.Env = append(consumerEnv(p.Secrets.URL()), c.caVar+"="+caFile)
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
				t.Fatalf("the consumer exited (%v) before its first request:\n%s\nstderr:\n%s", err, safe(out.String()), safe(stderr.String()))
			default:
			}
			if time.Since(started) > time.Minute {
				cmd.Process.Kill()
				<-scanned
				_ = cmd.Wait() // then stderr is complete
				t.Fatalf("the consumer made no request within a minute:\n%s\nstderr:\n%s", safe(out.String()), safe(stderr.String()))
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
		c.name, sc.name, rotations, safe(out.last()), stats.APIRequests, stats.APIRejected)

	for value, what := range hidden {
		if strings.Contains(all, value) {
			t.Errorf("the consumer printed %s", what)
		}
	}
	if err != nil {
		t.Fatalf("the consumer exited with %v:\n%s\nstderr:\n%s", err, safe(out.String()), safe(stderr.String()))
	}
	sum, err := out.summary()
	if err != nil {
		t.Fatalf("%s:\n%s\nstderr:\n%s", safe(err.Error()), safe(out.String()), safe(stderr.String()))
	}
	if sum.Failed != 0 || sum.OK != sum.Requests {
		t.Errorf("%d of %d requests failed:\n%s", sum.Failed, sum.Requests, safe(out.failures()))
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
		t.Logf("output:\n%s\nstderr:\n%s", safe(out.String()), safe(stderr.String()))
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

// knownFields are the secret's fields that hold a string, as clickwrap's
// decodeSecret reads them: the Go consumer refuses a secret in which one
// holds anything but a string or null, naming the field, never its value.
var knownFields = []string{"client_id", "client_secret", "access_token", "token_type", "token_url", "api_url", "credentials_secret", "expires_at"}

// nonStrings are a JSON value of every other type.
var nonStrings = []struct {
	name  string
	value any
	echo  string // its text, when distinctive enough to look for in the output
}{
	{"number", 7316452, "7316452"},
	{"true", true, ""},
	{"object", map[string]any{"nested": "value-3f9a2c"}, "value-3f9a2c"},
	{"array", []any{"item-8d41b7"}, "item-8d41b7"},
}

// falsy are the non-strings a consumer could take for an absent field; they
// go in the fields the consumers use (each case is two processes, so not in
// all of them).
var falsy = []struct {
	name  string
	value any
}{
	{"zero", 0},
	{"false", false},
	{"empty-object", map[string]any{}},
	{"empty-array", []any{}},
}

// secretCase is a secret the rotator wrote, then edited by hand.
type secretCase struct {
	name string
	// fields replace or add fields; a nil value is JSON null.
	fields map[string]any
	// refused is the field the consumer must name as it refuses the secret,
	// request after request, without sending anything to the API; "" means
	// the secret is fine and every request must succeed.
	refused string
	// echo is text of the faulty value, which must not appear in the output.
	echo string
}

// secretCases are every known field holding every non-string type, the
// other secrets decodeSecret refuses, and some it accepts, which the
// consumers must accept too.
func secretCases() []secretCase {
	var cases []secretCase
	for _, field := range knownFields {
		for _, v := range nonStrings {
			cases = append(cases, secretCase{name: field + "=" + v.name, fields: map[string]any{field: v.value}, refused: field, echo: v.echo})
		}
	}
	for _, field := range []string{"access_token", "api_url", "expires_at"} {
		for _, v := range falsy {
			cases = append(cases, secretCase{name: field + "=" + v.name, fields: map[string]any{field: v.value}, refused: field})
		}
	}
	nulls, empties := map[string]any{}, map[string]any{}
	for _, field := range knownFields {
		if field != "access_token" && field != "api_url" {
			nulls[field], empties[field] = nil, ""
		}
	}
	return append(cases,
		secretCase{name: "api_url=http", fields: map[string]any{"api_url": "http://api.example.test/v1.1"}, refused: "api_url"},
		secretCase{name: "api_url=no-host", fields: map[string]any{"api_url": "https://"}, refused: "api_url"},
		secretCase{name: "api_url=user-info", fields: map[string]any{"api_url": "https://user-5b7e:pw@api.example.test/v1.1"}, refused: "api_url", echo: "user-5b7e"},
		secretCase{name: "token_url=http", fields: map[string]any{"token_url": "http://api.example.test/oauth/token"}, refused: "token_url"},
		secretCase{name: "expires_at=not-a-time", fields: map[string]any{"expires_at": "next tuesday-6c0d"}, refused: "expires_at", echo: "next tuesday-6c0d"},
		// Not a token68 (RFC 6750's Bearer credential), and a header injection.
		secretCase{name: "access_token=line-break", fields: map[string]any{"access_token": "tok-4e7a91\r\nX-Injected: 1"}, refused: "access_token", echo: "tok-4e7a91"},
		secretCase{name: "access_token=empty", fields: map[string]any{"access_token": ""}, refused: "access_token"},
		secretCase{name: "other-known-fields=null", fields: nulls},
		secretCase{name: "other-known-fields=empty", fields: empties},
		secretCase{name: "expires_at=fraction-and-offset", fields: map[string]any{"expires_at": "2099-01-02T15:04:05.123456789+02:00"}},
		secretCase{name: "unknown-fields=any-type", fields: map[string]any{"note": 5, "labels": []any{"a"}, "meta": map[string]any{"k": true}}},
	)
}

// TestConsumersMalformedSecrets runs the Python and Node consumers on
// secrets the Go consumer refuses (clickwrap's own tests cover it) and on
// some it accepts.
func TestConsumersMalformedSecrets(t *testing.T) {
	consumers := consumersUnderTest(t, "python", "node")
	for _, sc := range secretCases() {
		for _, c := range consumers {
			t.Run(sc.name+"/"+c.name, func(t *testing.T) {
				t.Parallel()
				runSecretCase(t, c, sc)
			})
		}
	}
}

func runSecretCase(t *testing.T, c consumer, sc secretCase) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	p, err := localrun.NewInProcess(localrun.InProcessOptions{Sync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := p.RotateSecret(ctx); err != nil {
		t.Fatalf("RotateSecret: %v", err)
	}
	if err := p.LastRotation().Err; err != nil {
		t.Fatalf("the rotation failed: %v", err)
	}
	hidden := map[string]string{"client-secret-7f3a9c1e5b": "the client secret", currentToken(t, p): "the token"}
	if sc.echo != "" {
		hidden[sc.echo] = "the faulty value"
	}
	v, err := p.Secrets.Client().GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(p.ARN)})
	if err != nil {
		t.Fatal(err)
	}
	var secret map[string]any
	if err := json.Unmarshal([]byte(aws.ToString(v.SecretString)), &secret); err != nil {
		t.Fatal(err)
	}
	maps.Copy(secret, sc.fields)
	edited, err := json.Marshal(secret)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Secrets.Client().PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(p.ARN), SecretString: aws.String(string(edited))}); err != nil {
		t.Fatal(err)
	}
	caFile, err := p.Sandbox.WriteCAFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	p.Sandbox.ResetStats()

	cmd := exec.CommandContext(ctx, c.argv[0], append(c.argv[1:],
		"--secret-id", "clickwrap/api-token", "--requests", "2", "--interval", "0", "--max-age", "5m")...)
	cmd.Env = append(consumerEnv(p.Secrets.URL()), c.caVar+"="+caFile)
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	all := stdout.String() + stderr.String()
	for value, what := range hidden {
		if strings.Contains(all, value) {
			t.Errorf("the consumer printed %s", what)
		}
	}
	shown := fmt.Sprintf("exit: %v\noutput:\n%s\nstderr:\n%s", err, redact(stdout.String(), hidden), redact(stderr.String(), hidden))
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	api := p.Sandbox.Stats().APIRequests

	if sc.refused == "" {
		if err != nil || len(lines) != 3 || lines[2] != "summary: requests=2 ok=2 failed=0 rejected=0 rereads=0 secret_reads=1" {
			t.Errorf("want two requests that succeed with one read of the secret:\n%s", shown)
		}
		if api != 2 {
			t.Errorf("the API received %d requests, want 2", api)
		}
		return
	}
	if strings.Contains(stderr.String(), "Traceback") {
		t.Errorf("the consumer died on an exception instead of refusing the secret")
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Errorf("want exit status 1 (requests failed), got %v", err)
	}
	if len(lines) != 3 || lines[2] != "summary: requests=2 ok=0 failed=2 rejected=0 rereads=0 secret_reads=2" {
		t.Errorf("want two requests that fail, one read of the secret each, then the summary")
	}
	for i, line := range lines[:min(2, len(lines))] {
		prefix := fmt.Sprintf("request %d: FAILED: could not read the token: ", i+1)
		if !strings.HasPrefix(line, prefix) || !strings.Contains(line, `"`+sc.refused+`"`) {
			t.Errorf("request %d: want %q and the field name %q", i+1, prefix+"…", sc.refused)
		}
	}
	if api != 0 {
		t.Errorf("the consumer sent %d requests to the API with a secret it must refuse", api)
	}
	if t.Failed() {
		t.Log(shown)
	}
}

// cacheRaces drive each consumer's TokenCache, imported as an application
// copies it, from several threads (Python) or promises (Node) at once, with
// the Secrets Manager emulator (see cacheDriver). AWSCURRENT holds the old
// token; a driver puts the new one where the race needs it.
var cacheRaces = []struct {
	name string
	// want is the driver's line: what each caller got (old, new, or none
	// from a re-read that found no newer token), then the reads of the
	// secret.
	want string
}{
	// Eight callers of get() on an empty cache: one read, which they share.
	{"concurrent-gets", "tokens=old,old,old,old,old,old,old,old reads=1"},
	// The secret now holds the new token, and eight callers report a 401 on
	// the old one at once: one re-read, which they share.
	{"concurrent-401s", "tokens=new,new,new,new,new,new,new,new reads=2"},
	// A first re-read gets the old token, and its answer is held back until
	// a second re-read, which starts once the secret holds the new token,
	// has returned (or for a second). The older read must not replace the
	// newer token when it finishes last, and the second caller, whose 401
	// came after the first read started, must not take that read's answer
	// for its own: it reads again.
	{"older-read-finishing-last", "tokens=none,new,new reads=3"},
}

func TestTokenCacheRaces(t *testing.T) {
	consumers := consumersUnderTest(t, "python", "node")
	for _, race := range cacheRaces {
		for _, c := range consumers {
			t.Run(race.name+"/"+c.name, func(t *testing.T) {
				t.Parallel()
				ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
				defer cancel()
				sm := secretsmanagertest.New(secretsmanagertest.Options{})
				defer sm.Close()
				const oldToken, newToken = "tok-old-5c2e19", "tok-new-a08d73"
				secret := func(token string) string {
					return fmt.Sprintf(`{"access_token":%q,"api_url":"https://api.example.test/v1.1"}`, token)
				}
				sm.CreateSecret("clickwrap/api-token", secret(oldToken))
				cmd := cacheDriver(ctx, c, append(consumerEnv(sm.URL()),
					"RACE="+race.name, "OLD_TOKEN="+oldToken, "NEW_TOKEN="+newToken, "NEW_SECRET="+secret(newToken)))
				cmd.WaitDelay = 5 * time.Second
				out, err := cmd.CombinedOutput()
				hidden := map[string]string{oldToken: "the old token", newToken: "the new token"}
				for value, what := range hidden {
					if strings.Contains(string(out), value) {
						t.Errorf("the driver printed %s", what)
					}
				}
				if got := lastLine(out); err != nil || got != race.want {
					t.Errorf("got %q, want %q (%v):\n%s", got, race.want, err, redact(string(out), hidden))
				}
				if reads := sm.Calls()["GetSecretValue"]; !strings.HasSuffix(race.want, fmt.Sprintf(" reads=%d", reads)) {
					t.Errorf("the emulator answered %d GetSecretValue calls, want the %s", reads, race.want[strings.LastIndexByte(race.want, ' ')+1:])
				}
			})
		}
	}
}

// cacheDriver runs the race that env's RACE names with c's TokenCache,
// imported from the consumer's file.
func cacheDriver(ctx context.Context, c consumer, env []string) *exec.Cmd {
	dir := filepath.Dir(c.argv[len(c.argv)-1])
	var cmd *exec.Cmd
	switch c.name {
	case "python":
		cmd = exec.CommandContext(ctx, c.argv[0], "-c", pythonCacheDriver)
		env = append(env, "PYTHONPATH="+dir, "PYTHONDONTWRITEBYTECODE=1") // no __pycache__ in examples/python
	case "node":
		cmd = exec.CommandContext(ctx, c.argv[0], "--input-type=module", "-e", nodeCacheDriver)
	default:
		panic("no cache driver for the " + c.name + " consumer")
	}
	cmd.Dir, cmd.Env = dir, env
	return cmd
}

// The drivers wrap the Secrets Manager client: every answer is held back
// 200ms, so that the callers overlap, and in older-read-finishing-last the
// second read's answer is held until the race releases it. They print the
// tokens' names, never the tokens.
const pythonCacheDriver = `
import itertools, os, threading, time
import boto3
from consumer import TokenCache

env = os.environ
race, secret_id = env["RACE"], "clickwrap/api-token"
sm = boto3.client("secretsmanager", region_name="us-east-1", endpoint_url=env["AWS_ENDPOINT_URL_SECRETS_MANAGER"])
calls, second_answered, released = itertools.count(1), threading.Event(), threading.Event()

class Slow:
    def get_secret_value(self, **kwargs):
        n = next(calls)
        out = sm.get_secret_value(**kwargs)
        time.sleep(0.2)
        if race == "older-read-finishing-last" and n == 2:
            second_answered.set()
            released.wait(1)
        return out

cache = TokenCache(Slow(), secret_id, 300)

def together(fn, n=8):
    got, barrier = [None] * n, threading.Barrier(n)
    def run(i):
        barrier.wait()
        got[i] = fn()
    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return got

def put_new():
    sm.put_secret_value(SecretId=secret_id, SecretString=env["NEW_SECRET"])

if race == "concurrent-gets":
    got = together(cache.get)
elif race == "concurrent-401s":
    cache.get()
    put_new()
    got = together(lambda: cache.reread(env["OLD_TOKEN"]))
elif race == "older-read-finishing-last":
    cache.get()
    first = []
    t = threading.Thread(target=lambda: first.append(cache.reread(env["OLD_TOKEN"])))
    t.start()
    second_answered.wait(10)
    put_new()
    second = cache.reread(env["OLD_TOKEN"])
    released.set()
    t.join()
    got = [first[0], second, cache.get()]

names = {env["OLD_TOKEN"]: "old", env["NEW_TOKEN"]: "new"}
print("tokens=" + ",".join("none" if g is None else names.get(g[0], "other") for g in got) + " reads=" + str(cache.reads))
`

const nodeCacheDriver = `
import { PutSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { TokenCache } from "./consumer.mjs";

const env = process.env;
const race = env.RACE, secretId = "clickwrap/api-token";
const sm = new SecretsManagerClient({});
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
let calls = 0, secondAnswered, release;
const second = new Promise((resolve) => { secondAnswered = resolve; });
const released = new Promise((resolve) => { release = resolve; });

const slow = {
  async send(command) {
    const n = ++calls;
    const out = await sm.send(command);
    await sleep(200);
    if (race === "older-read-finishing-last" && n === 2) {
      secondAnswered();
      await Promise.race([released, sleep(1000)]);
    }
    return out;
  },
};

const cache = new TokenCache(slow, secretId, 300_000);
const together = (fn) => Promise.all(Array.from({ length: 8 }, fn));
const putNew = () => sm.send(new PutSecretValueCommand({ SecretId: secretId, SecretString: env.NEW_SECRET }));

let got;
if (race === "concurrent-gets") {
  got = await together(() => cache.get());
} else if (race === "concurrent-401s") {
  await cache.get();
  await putNew();
  got = await together(() => cache.reread(env.OLD_TOKEN));
} else if (race === "older-read-finishing-last") {
  await cache.get();
  const first = cache.reread(env.OLD_TOKEN);
  await second;
  await putNew();
  const later = await cache.reread(env.OLD_TOKEN);
  release();
  got = [await first, later, await cache.get()];
}

const names = { [env.OLD_TOKEN]: "old", [env.NEW_TOKEN]: "new" };
console.log("tokens=" + got.map((g) => (g === null ? "none" : names[g.token] ?? "other")).join(",") + " reads=" + cache.reads);
`

// redact replaces each hidden value in s with what it is, so that a
// failure shows where a leak is without repeating it.
func redact(s string, hidden map[string]string) string {
	for value, what := range hidden {
		s = strings.ReplaceAll(s, value, "["+what+"]")
	}
	return s
}

// consumerEnv is the environment of a consumer that talks to the Secrets
// Manager emulator at smURL.
func consumerEnv(smURL string) []string {
	return append(cleanEnv(),
		"AWS_REGION=us-east-1",
		"AWS_DEFAULT_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=AKIDCONSUMERSTEST",
		"AWS_SECRET_ACCESS_KEY=consumers-test-not-a-secret",
		"AWS_ENDPOINT_URL_SECRETS_MANAGER="+smURL,
		"AWS_CONFIG_FILE="+os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE="+os.DevNull,
		"AWS_EC2_METADATA_DISABLED=true",
		"NO_PROXY=127.0.0.1,localhost",
	)
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
