package main_test

// The split form under the Lambda runtime emulator: the token secret names a
// credentials secret holding two API applications, which the real bootstrap
// reads through the Secrets Manager emulator; each rotation mints with the
// application that did not mint the current token.

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/clickwrap-rotator/clickwrap-rotator/internal/localrun"
)

const (
	secondClientID     = "e2e-app-2"
	secondClientSecret = "e2e-client-secret-2-9a7b3e"
)

// splitTokenSecret is a token secret in the split form naming credsID.
func splitTokenSecret(st *localrun.Stack, credsID string) string {
	b, _ := json.Marshal(map[string]any{
		"credentials_secret": credsID, "token_url": st.Sandbox.TokenURL(), "api_url": st.Sandbox.APIURL(), "owner": "platform-team",
	})
	return string(b)
}

// credentialsFor is a credentials secret listing the sandbox's first API
// application, with the sandbox's token endpoint.
func credentialsFor(st *localrun.Stack) string {
	b, _ := json.Marshal(map[string]any{"token_url": st.Sandbox.TokenURL(), "applications": []map[string]string{
		{"client_id": clientID, "client_secret": clientSecret},
	}})
	return string(b)
}

// TestSplitFormUnderLambdaEmulator: two rotations of a token secret in the
// split form alternate the API application; each AWSCURRENT token is
// accepted; the token secret never holds a client secret; and neither
// client secret reaches the function's output.
func TestSplitFormUnderLambdaEmulator(t *testing.T) {
	t.Parallel()
	st := startStack(t)
	st.Sandbox.AddClient(secondClientID, secondClientSecret)
	st.Sandbox.SetRevokeOnMint(true) // per application: alternating keeps the held token alive
	creds, _ := json.Marshal(map[string]any{"token_url": st.Sandbox.TokenURL(), "applications": []map[string]string{
		{"client_id": clientID, "client_secret": clientSecret},
		{"client_id": secondClientID, "client_secret": secondClientSecret},
	}})
	credsARN := st.Secrets.CreateSecret("clickwrap/e2e-credentials", string(creds))
	arn := st.Secrets.CreateSecret("clickwrap/e2e-split", splitTokenSecret(st, credsARN))
	first := firstVersion(t, st, arn)

	prev := first
	var tokens []string
	for i, want := range []string{clientID, secondClientID} {
		v, err := rotate(t, st, arn)
		if err != nil {
			t.Fatalf("rotation %d: %v\nlogs:\n%s", i+1, err, st.Logs())
		}
		assertStages(t, st, arn, map[string][]string{prev: {"AWSPREVIOUS"}, v: {"AWSCURRENT"}})
		cur := secretValue(t, st, arn, v)
		tok, _ := cur["access_token"].(string)
		if !st.Sandbox.Valid(tok) {
			t.Fatalf("rotation %d: the AWSCURRENT token is not accepted by the sandbox", i+1)
		}
		if cur["client_id"] != want {
			t.Errorf("rotation %d: client_id %v, want %s", i+1, cur["client_id"], want)
		}
		if cur["credentials_secret"] != credsARN || cur["owner"] != "platform-team" {
			t.Errorf("rotation %d: fields not carried over: %v", i+1, keys(cur))
		}
		for _, held := range tokens {
			if !st.Sandbox.Valid(held) {
				t.Errorf("rotation %d revoked the token consumers held", i+1)
			}
		}
		tokens = append(tokens, tok)
		prev = v
	}
	for id := range st.Secrets.Stages(arn) {
		if _, ok := secretValue(t, st, arn, id)["client_secret"]; ok {
			t.Errorf("version %s of the token secret holds a client_secret", id)
		}
	}
	if s := st.Sandbox.Stats(); s.Minted != 2 || s.APIRequests != 2 {
		t.Errorf("sandbox stats %+v: want 2 mints, 2 verifies", s)
	}
	assertNoSecretIn(t, st.Logs(), append([]string{clientSecret, secondClientSecret}, tokens...)...)
}

// TestMissingCredentialsSecretUnderLambdaEmulator: a token secret naming a
// credentials secret that does not exist fails createSecret with an error
// naming it; nothing is minted, the pending version gets no value, and
// AWSCURRENT stays.
func TestMissingCredentialsSecretUnderLambdaEmulator(t *testing.T) {
	t.Parallel()
	st := startStack(t)
	const missing = "clickwrap/e2e-no-such-credentials"
	arn := st.Secrets.CreateSecret("clickwrap/e2e-split-missing", splitTokenSecret(st, missing))
	first := firstVersion(t, st, arn)
	v, err := rotate(t, st, arn)
	if err == nil {
		t.Fatal("the rotation succeeded without a credentials secret")
	}
	for _, want := range []string{"createSecret", missing, "not found", "credentials_secret"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("rotation error %q does not say %q", err, want)
		}
	}
	assertStages(t, st, arn, map[string][]string{first: {"AWSCURRENT"}, v: {"AWSPENDING"}})
	if _, ok := st.Secrets.Value(arn, v); ok {
		t.Error("the pending version has a value")
	}
	if s := st.Sandbox.Stats(); s.TokenRequests != 0 || s.Minted != 0 {
		t.Errorf("sandbox stats %+v: nothing may be minted", s)
	}
	if !strings.Contains(st.Logs(), missing) {
		t.Error("the function's log does not name the missing credentials secret")
	}
}
