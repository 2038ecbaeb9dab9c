package main_test

// Whole rotations of the real bootstrap under the Lambda runtime emulator,
// against answers real servers send at the Clickwrap boundary. The
// invariant each one checks: AWSCURRENT moves only to a token that got the
// API's own JSON 2xx from the api_url host with no redirect, and a good
// token is never thrown away.

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/clickwrap-rotator/clickwrap-rotator/clickwrap/clickwraptest"
	"github.com/clickwrap-rotator/clickwrap-rotator/internal/localrun"
)

func secretFor(st *localrun.Stack, apiURL string) string {
	return `{"client_id":"` + clientID + `","client_secret":"` + clientSecret + `","token_url":"` + st.Sandbox.TokenURL() +
		`","api_url":"` + apiURL + `"}`
}

// TestNotTheAPIsAnswerUnderLambdaEmulator: an answer from something in
// front of the API (a sign-in redirect, a sign-in page with 200, a CDN
// challenge with 403, a gateway's own JSON with 200) neither proves nor
// condemns the pending token. The rotation
// fails with AWSPENDING kept and AWSCURRENT untouched; the service's retry,
// once the page is gone, promotes the same token with no second mint.
func TestNotTheAPIsAnswerUnderLambdaEmulator(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		kind clickwraptest.Intercept
		want string
	}{
		{"login redirect on the check", clickwraptest.InterceptLoginRedirect, "HTTP 302 with a redirect to"},
		{"sign-in page with 200", clickwraptest.InterceptSignInPage, "HTTP 200 with an HTML page"},
		{"CDN challenge 403 once", clickwraptest.InterceptChallenge, "HTTP 403 with an HTML page"},
		{"a gateway's own JSON with 200", clickwraptest.InterceptGatewayJSON, `HTTP 200 with a JSON object without the API's "data" member`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := startStack(t)
			arn := st.Secrets.CreateSecret("clickwrap/e2e-page", secretFor(st, st.Sandbox.APIURL()))
			first := firstVersion(t, st, arn)
			if _, err := rotate(t, st, arn); err != nil { // a first token
				t.Fatalf("first rotation: %v", err)
			}
			good := currentToken(t, st, arn)
			prev := currentVersion(t, st, arn)

			st.Sandbox.InterceptNext(clickwraptest.EndpointAPI, 1, tt.kind)
			st.Sandbox.ResetStats()
			v, err := rotate(t, st, arn)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "neither proven nor refused") {
				t.Fatalf("rotation error = %v, want testSecret failing with %q", err, tt.want)
			}
			assertStages(t, st, arn, map[string][]string{first: {"AWSPREVIOUS"}, prev: {"AWSCURRENT"}, v: {"AWSPENDING"}})
			if currentToken(t, st, arn) != good || !st.Sandbox.Valid(good) {
				t.Fatal("AWSCURRENT changed, or its token stopped working")
			}
			pending, _ := secretValue(t, st, arn, v)["access_token"].(string)

			if err := st.Secrets.RetryRotation(context.Background(), arn); err != nil {
				t.Fatalf("the service's retry: %v\nlogs:\n%s", err, st.Logs())
			}
			assertStages(t, st, arn, map[string][]string{prev: {"AWSPREVIOUS"}, v: {"AWSCURRENT"}})
			if currentToken(t, st, arn) != pending || !st.Sandbox.Valid(pending) {
				t.Error("the retry did not promote the token the first attempt stored")
			}
			if s := st.Sandbox.Stats(); s.Minted != 1 {
				t.Errorf("minted %d tokens over the two attempts, want 1", s.Minted)
			}
			assertNoSecretIn(t, st.Logs()+err.Error(), clientSecret, good, pending)
		})
	}
}

// TestNeverProvenNeverPromoted: while the check keeps being redirected to a
// sign-in page, no attempt promotes anything, and nothing is abandoned.
func TestNeverProvenNeverPromoted(t *testing.T) {
	t.Parallel()
	st := startStack(t)
	arn := st.Secrets.CreateSecret("clickwrap/e2e-redirect", secretFor(st, st.Sandbox.APIURL()))
	first := firstVersion(t, st, arn)
	st.Sandbox.InterceptNext(clickwraptest.EndpointAPI, 1000, clickwraptest.InterceptLoginRedirect)
	v, err := rotate(t, st, arn)
	if err == nil {
		t.Fatal("a rotation whose check was redirected to a sign-in page succeeded")
	}
	for range 2 {
		if err := st.Secrets.RetryRotation(context.Background(), arn); err == nil {
			t.Fatal("a retry whose check was redirected succeeded")
		}
	}
	assertStages(t, st, arn, map[string][]string{first: {"AWSCURRENT"}, v: {"AWSPENDING"}})
	if s := st.Sandbox.Stats(); s.Minted != 1 {
		t.Errorf("minted %d, want 1", s.Minted)
	}
}

// TestOwnersFixIsNotUndoneByAStaleRetry is a real report: api_url is wrong,
// the check gets 404 and AWSPENDING stays; the owner fixes api_url with
// put-secret-value. The service's retry must not test the stale copy again
// (and stay stuck): it abandons it, and the next rotation uses the fix.
func TestOwnersFixIsNotUndoneByAStaleRetry(t *testing.T) {
	t.Parallel()
	st := startStack(t)
	arn := st.Secrets.CreateSecret("clickwrap/e2e-stale", secretFor(st, st.Sandbox.URL+"/v1"))
	first := firstVersion(t, st, arn)
	v, err := rotate(t, st, arn)
	if err == nil || !strings.Contains(err.Error(), "api_url") {
		t.Fatalf("rotation with a wrong api_url: %v, want an error naming api_url", err)
	}
	assertStages(t, st, arn, map[string][]string{first: {"AWSCURRENT"}, v: {"AWSPENDING"}})

	ctx := context.Background()
	fixed, err := st.Secrets.Client().PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(arn), SecretString: aws.String(secretFor(st, st.Sandbox.APIURL())),
	})
	if err != nil {
		t.Fatal(err)
	}
	err = st.Secrets.RetryRotation(ctx, arn)
	if err == nil || !strings.Contains(err.Error(), "AWSCURRENT") {
		t.Fatalf("the retry after the fix: %v, want the stale version abandoned", err)
	}
	for id, stages := range st.Secrets.Stages(arn) {
		if id != aws.ToString(fixed.VersionId) && contains(stages, "AWSPENDING") {
			t.Fatalf("AWSPENDING left on the stale version %s: the secret is stuck", id)
		}
	}
	v2, err := rotate(t, st, arn)
	if err != nil {
		t.Fatalf("the next rotation, after the fix: %v\nlogs:\n%s", err, st.Logs())
	}
	cur := secretValue(t, st, arn, v2)
	if tok, _ := cur["access_token"].(string); !st.Sandbox.Valid(tok) || cur["api_url"] != st.Sandbox.APIURL() {
		t.Error("the next rotation did not store a working token with the fixed api_url")
	}
}

// TestConfigurationTestUnderLambdaEmulator: RotateImmediately=false makes
// the service test a copy of AWSCURRENT with testSecret alone, to learn
// whether rotation can work. A first secret with no token yet passes (there
// is nothing to prove until the first rotation mints one); a secret with a
// token has it checked; a split-form secret has its credentials secret
// read and checked. A configuration that cannot rotate fails the test, and
// so does a token Clickwrap rejects (whoever reads the secret fails now),
// with an error that says what to do. Nothing is minted, AWSCURRENT is
// untouched, the test version is gone afterwards.
func TestConfigurationTestUnderLambdaEmulator(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// secret is the token secret's SecretString; rotated rotates it
		// once first, so that it holds a token.
		secret  func(st *localrun.Stack) string
		rotated bool
		revoke  bool // Clickwrap rejects AWSCURRENT's token
		checks  int
		// abandons is the function's UpdateSecretVersionStage calls: a
		// rejected copy can never pass, and AWSPENDING is removed from it.
		abandons int
		// wantErr are words of the test's error; none means it passes.
		wantErr []string
		wantLog string // a word of the function's logs
	}{
		{name: "first secret without a token", secret: inlineSecret, wantLog: "holds no credential yet"},
		{name: "secret with a token", secret: inlineSecret, rotated: true, checks: 1, wantLog: "pending credential verified"},
		{name: "rejected token", secret: inlineSecret, rotated: true, revoke: true, checks: 1, abandons: 1,
			wantErr: []string{"configuration test", "AWSCURRENT's credential is rejected", "HTTP 401", "rotate now", "rotate-secret --secret-id"}},
		{name: "split form, first secret", secret: func(st *localrun.Stack) string {
			return splitTokenSecret(st, st.Secrets.CreateSecret("clickwrap/e2e-config-credentials", credentialsFor(st)))
		}, wantLog: "the configuration it rotates with checked"},
		{name: "split form, credentials secret missing", secret: func(st *localrun.Stack) string {
			return splitTokenSecret(st, "clickwrap/e2e-config-no-credentials")
		}, wantErr: []string{"configuration test", "the configuration check failed", "clickwrap/e2e-config-no-credentials", "not found"}},
		{name: "split form, credentials secret malformed", secret: func(st *localrun.Stack) string {
			return splitTokenSecret(st, st.Secrets.CreateSecret("clickwrap/e2e-config-credentials", `{"applications":[]}`))
		}, wantErr: []string{"configuration test", `field "applications"`, "is empty"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := startStack(t)
			arn := st.Secrets.CreateSecret("clickwrap/e2e-config", tt.secret(st))
			if tt.rotated {
				if _, err := rotate(t, st, arn); err != nil {
					t.Fatal(err)
				}
			}
			if tt.revoke {
				tok, _ := secretValue(t, st, arn, currentVersion(t, st, arn))["access_token"].(string)
				st.Sandbox.Revoke(tok)
			}
			before := st.Secrets.Stages(arn)
			st.Sandbox.ResetStats()
			st.Secrets.ResetCalls()
			ctx := context.Background()
			out, err := st.Secrets.Client().RotateSecret(ctx, &secretsmanager.RotateSecretInput{
				SecretId:          aws.String(arn),
				RotationLambdaARN: aws.String(localrun.LambdaARN),
				RotationRules:     &types.RotationRulesType{ScheduleExpression: aws.String("rate(30 days)")},
				RotateImmediately: aws.Bool(false),
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := st.Secrets.Wait(ctx); err != nil {
				t.Fatal(err)
			}
			rs := st.Secrets.Rotations(arn)
			last := rs[len(rs)-1]
			if last.VersionID != aws.ToString(out.VersionId) || (last.Err != nil) != (tt.wantErr != nil) {
				t.Fatalf("the configuration test gave %v, want an error saying %q\nlogs:\n%s", last.Err, tt.wantErr, st.Logs())
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(last.Err.Error(), w) {
					t.Errorf("error %q does not say %q", last.Err, w)
				}
			}
			if len(last.Steps) != 1 || last.Steps[0].Step != "testSecret" {
				t.Errorf("steps run: %v, want testSecret alone", last.Steps)
			}
			if c := st.Secrets.Calls(); c["PutSecretValue"] != 0 || c["UpdateSecretVersionStage"] != tt.abandons {
				t.Errorf("the function wrote %d values and changed %d labels; want none and %d", c["PutSecretValue"], c["UpdateSecretVersionStage"], tt.abandons)
			}
			if after := st.Secrets.Stages(arn); !maps.EqualFunc(after, before, slices.Equal) {
				t.Errorf("versions after the test: %v, want as before: %v", after, before)
			}
			if s := st.Sandbox.Stats(); s.Minted != 0 || s.TokenRequests != 0 || s.APIRequests != tt.checks {
				t.Errorf("sandbox: %d minted, %d token requests, %d checks; want 0, 0 and %d", s.Minted, s.TokenRequests, s.APIRequests, tt.checks)
			}
			if !strings.Contains(st.Logs(), tt.wantLog) {
				t.Errorf("no log line says %q:\n%s", tt.wantLog, st.Logs())
			}
		})
	}
}

// inlineSecret is a first token secret in the inline form.
func inlineSecret(st *localrun.Stack) string { return secretFor(st, st.Sandbox.APIURL()) }

func currentVersion(t *testing.T, st *localrun.Stack, arn string) string {
	t.Helper()
	for id, stages := range st.Secrets.Stages(arn) {
		if contains(stages, "AWSCURRENT") {
			return id
		}
	}
	t.Fatal("no AWSCURRENT")
	return ""
}

func currentToken(t *testing.T, st *localrun.Stack, arn string) string {
	t.Helper()
	tok, _ := secretValue(t, st, arn, currentVersion(t, st, arn))["access_token"].(string)
	return tok
}

func contains(xs []string, x string) bool {
	for _, s := range xs {
		if s == x {
			return true
		}
	}
	return false
}

// TestNewTokenNotLiveYet: a service that accepts a new token only a moment
// after issuing it answers the first checks 401; within the propagation
// grace that is not a verdict, and the rotation passes with one mint.
func TestNewTokenNotLiveYet(t *testing.T) {
	t.Parallel()
	st := startStack(t)
	arn := st.Secrets.CreateSecret("clickwrap/e2e-propagation", secretFor(st, st.Sandbox.APIURL()))
	st.Sandbox.SetActivationDelay(1500 * time.Millisecond)
	v, err := rotate(t, st, arn)
	if err != nil {
		t.Fatalf("rotation: %v\nlogs:\n%s", err, st.Logs())
	}
	if currentVersion(t, st, arn) != v || !st.Sandbox.Valid(currentToken(t, st, arn)) {
		t.Error("AWSCURRENT is not the new, working token")
	}
	if s := st.Sandbox.Stats(); s.Minted != 1 || s.APIRequests < 2 {
		t.Errorf("sandbox %+v: want 1 mint and at least 2 checks (the first ones refused)", s)
	}
}
