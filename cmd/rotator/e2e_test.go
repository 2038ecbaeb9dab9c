package main_test

import (
	"context"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/clickwrap-rotator/clickwrap-rotator/clickwrap/clickwraptest"
	"github.com/clickwrap-rotator/clickwrap-rotator/internal/localrun"
)

const (
	clientID     = "e2e-app"
	clientSecret = "e2e-client-secret-5c8d1f"
)

var bootstrap string

// TestMain builds the real bootstrap once for every test here.
func TestMain(m *testing.M) {
	dir, err := localrun.TempDir()
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	bootstrap, err = localrun.BuildOnce(ctx, dir)
	cancel()
	if err != nil {
		os.RemoveAll(dir)
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func startStack(t *testing.T) *localrun.Stack {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	st, err := localrun.Start(ctx, localrun.Options{Dir: t.TempDir(), Bootstrap: bootstrap, Timeout: 20 * time.Second})
	if err != nil {
		t.Fatalf("starting the local stack: %v", err)
	}
	t.Cleanup(st.Close)
	st.Sandbox.AddClient(clientID, clientSecret)
	return st
}

func rotate(t *testing.T, st *localrun.Stack, arn string) (string, error) {
	t.Helper()
	ctx := context.Background()
	out, err := st.Secrets.Client().RotateSecret(ctx, localrun.RotateSecretInput(arn))
	if err != nil {
		t.Fatalf("RotateSecret: %v", err)
	}
	if err := st.Secrets.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	rs := st.Secrets.Rotations(arn)
	return aws.ToString(out.VersionId), rs[len(rs)-1].Err
}

func secretValue(t *testing.T, st *localrun.Stack, arn, version string) map[string]any {
	t.Helper()
	v, ok := st.Secrets.Value(arn, version)
	if !ok {
		t.Fatalf("version %s has no value", version)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(v), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestRotationUnderLambdaEmulator drives whole rotations of the real
// bootstrap, run by the AWS Lambda Runtime Interface Emulator, from the
// Secrets Manager emulator's RotateSecret: the endpoint comes from
// AWS_ENDPOINT_URL_SECRETS_MANAGER and the sandbox CA from SSL_CERT_FILE.
func TestRotationUnderLambdaEmulator(t *testing.T) {
	t.Parallel()
	st := startStack(t)
	initial := `{"client_id":"` + clientID + `","client_secret":"` + clientSecret + `","token_url":"` + st.Sandbox.TokenURL() +
		`","api_url":"` + st.Sandbox.APIURL() + `","owner":"platform-team","limits":{"rps":5,"ids":[1,2,3]}}`
	arn := st.Secrets.CreateSecret("clickwrap/e2e", initial)
	first := firstVersion(t, st, arn)

	v1, err := rotate(t, st, arn)
	if err != nil {
		t.Fatalf("first rotation: %v\nlogs:\n%s", err, st.Logs())
	}
	assertStages(t, st, arn, map[string][]string{first: {"AWSPREVIOUS"}, v1: {"AWSCURRENT"}})
	cur := secretValue(t, st, arn, v1)
	tok1, _ := cur["access_token"].(string)
	if !st.Sandbox.Valid(tok1) {
		t.Fatal("the new AWSCURRENT token is not accepted by the sandbox")
	}
	if cur["owner"] != "platform-team" || cur["client_id"] != clientID || cur["client_secret"] != clientSecret {
		t.Errorf("fields not carried over: %v", keys(cur))
	}
	if b, _ := json.Marshal(cur["limits"]); string(b) != `{"ids":[1,2,3],"rps":5}` {
		t.Errorf("nested field changed: %s", b)
	}

	v2, err := rotate(t, st, arn)
	if err != nil {
		t.Fatalf("second rotation: %v\nlogs:\n%s", err, st.Logs())
	}
	assertStages(t, st, arn, map[string][]string{v1: {"AWSPREVIOUS"}, v2: {"AWSCURRENT"}})
	tok2, _ := secretValue(t, st, arn, v2)["access_token"].(string)
	if tok2 == tok1 || !st.Sandbox.Valid(tok2) {
		t.Error("the second rotation did not store a new accepted token")
	}
	if prev, _ := secretValue(t, st, arn, v1)["access_token"].(string); prev != tok1 {
		t.Error("AWSPREVIOUS does not hold the old token")
	}

	// One warm container: one TLS handshake to Clickwrap for both rotations,
	// one mint and one verify each.
	if s := st.Sandbox.Stats(); s.Handshakes != 1 || s.TokenRequests != 2 || s.APIRequests != 2 {
		t.Errorf("sandbox stats %+v: want 1 handshake, 2 mints, 2 verifies", s)
	}
	logs := st.Logs()
	for _, step := range []string{"createSecret", "setSecret", "testSecret", "finishSecret"} {
		if !strings.Contains(logs, `"step":"`+step+`"`) {
			t.Errorf("no log line for %s", step)
		}
	}
	if !strings.Contains(logs, `"request_id"`) {
		t.Error("log lines lack the Lambda request id")
	}
	assertNoSecretIn(t, logs, clientSecret, tok1, tok2)
}

// TestFailingRotationUnderLambdaEmulator: the sandbox rejects the pending
// token, the function fails testSecret, AWSCURRENT is untouched, and the
// error that reaches Secrets Manager names the fix and no secret.
func TestFailingRotationUnderLambdaEmulator(t *testing.T) {
	t.Parallel()
	st := startStack(t)
	st.Sandbox.SetRevokeOnMint(false)
	arn := st.Secrets.CreateSecret("clickwrap/e2e-fail", `{"client_id":"`+clientID+`","client_secret":"`+clientSecret+
		`","token_url":"`+st.Sandbox.TokenURL()+`","api_url":"`+st.Sandbox.APIURL()+`"}`)
	first := firstVersion(t, st, arn)
	st.Sandbox.FailNext(clickwraptest.EndpointAPI, 1000, 500)
	v, err := rotate(t, st, arn)
	if err == nil || !strings.Contains(err.Error(), "testSecret") || !strings.Contains(err.Error(), "HTTP 500") {
		t.Fatalf("rotation error = %v, want testSecret failing with HTTP 500", err)
	}
	assertStages(t, st, arn, map[string][]string{first: {"AWSCURRENT"}, v: {"AWSPENDING"}})
	pending, _ := secretValue(t, st, arn, v)["access_token"].(string)
	assertNoSecretIn(t, st.Logs()+err.Error(), clientSecret, pending)
}

func firstVersion(t *testing.T, st *localrun.Stack, arn string) string {
	t.Helper()
	for id := range st.Secrets.Stages(arn) {
		return id
	}
	t.Fatal("secret has no version")
	return ""
}

func assertStages(t *testing.T, st *localrun.Stack, arn string, want map[string][]string) {
	t.Helper()
	got := st.Secrets.Stages(arn)
	ok := len(got) == len(want)
	for id, stages := range want {
		g := slices.Clone(got[id])
		slices.Sort(g)
		ok = ok && slices.Equal(g, stages)
	}
	if !ok {
		t.Fatalf("stages = %v, want %v\nlogs:\n%s", got, want, st.Logs())
	}
}

func assertNoSecretIn(t *testing.T, out string, values ...string) {
	t.Helper()
	for _, v := range values {
		if v != "" && strings.Contains(out, v) {
			t.Error("a secret value occurs in the function's output or errors")
		}
	}
}

func keys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
