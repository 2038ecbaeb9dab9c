package clickwrap_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/clickwrap-rotator/clickwrap-rotator/clickwrap"
	"github.com/clickwrap-rotator/clickwrap-rotator/clickwrap/clickwraptest"
	"github.com/clickwrap-rotator/clickwrap-rotator/internal/localrun"
	"github.com/clickwrap-rotator/clickwrap-rotator/internal/secretsmanagertest"
)

// rotating is a secret rotated in-process by the real rotator against the
// Secrets Manager emulator and the Clickwrap sandbox.
type rotating struct {
	sm  *secretsmanagertest.Server
	cw  *clickwraptest.Server
	arn string
}

func newRotating(t testing.TB) *rotating {
	t.Helper()
	p := localrun.NewInProcess(t, localrun.InProcessOptions{
		ClientID: clientID, ClientSecret: clientSecret, SecretName: "clickwrap/consumer", Sync: true,
	})
	r := &rotating{sm: p.Secrets, cw: p.Sandbox, arn: p.ARN}
	r.rotate(t) // the first rotation mints the first token
	return r
}

func (r *rotating) rotate(t testing.TB) {
	t.Helper()
	_, err := r.sm.Client().RotateSecret(context.Background(), &secretsmanager.RotateSecretInput{
		SecretId:          aws.String(r.arn),
		RotationLambdaARN: aws.String("arn:aws:lambda:us-east-1:123456789012:function:clickwrap-rotator"),
		RotationRules:     &types.RotationRulesType{AutomaticallyAfterDays: aws.Int64(30)},
	})
	if err != nil {
		t.Fatal(err)
	}
	rs := r.sm.Rotations(r.arn)
	if last := rs[len(rs)-1]; last.Err != nil {
		t.Fatalf("rotation failed: %v", last.Err)
	}
}

func TestTokenSourceCaches(t *testing.T) {
	t.Parallel()
	r := newRotating(t)
	ts := clickwrap.NewTokenSource(r.sm.Client(), r.arn, clickwrap.TokenSourceOptions{})
	r.sm.ResetCalls()
	var first string
	for i := range 5 {
		tok, err := ts.Token()
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = tok.AccessToken
		}
		if tok.AccessToken != first || tok.TokenType != "Bearer" || !r.cw.Valid(tok.AccessToken) {
			t.Fatal("Token did not return the cached AWSCURRENT token")
		}
	}
	if n := r.sm.Calls()["GetSecretValue"]; n != 1 {
		t.Errorf("GetSecretValue called %d times for 5 tokens, want 1", n)
	}
}

// TestTokenSourceBeforeFirstRotation: a secret without a token gives an
// error naming the field, not a request with an empty token.
func TestTokenSourceBeforeFirstRotation(t *testing.T) {
	t.Parallel()
	sm := secretsmanagertest.New(secretsmanagertest.Options{})
	defer sm.Close()
	arn := sm.CreateSecret("fresh", `{"client_id":"a","client_secret":"b"}`)
	_, err := clickwrap.NewTokenSource(sm.Client(), arn, clickwrap.TokenSourceOptions{}).Token()
	if err == nil || !strings.Contains(err.Error(), `"access_token"`) {
		t.Fatalf("Token of an unrotated secret: %v", err)
	}
}

// TestTransportRereadsOn401: after a rotation in revoke-on-mint mode the
// cached token is dead; the transport re-reads the secret and the request
// succeeds on its second try.
func TestTransportRereadsOn401(t *testing.T) {
	t.Parallel()
	r := newRotating(t)
	ts := clickwrap.NewTokenSource(r.sm.Client(), r.arn, clickwrap.TokenSourceOptions{MaxAge: time.Hour})
	hc := &http.Client{Transport: &clickwrap.Transport{Source: ts, Base: r.cw.Client().Transport}}
	get := func() int {
		resp, err := hc.Get(r.cw.APIURL() + "/sites")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get(); code != 200 {
		t.Fatalf("first request: HTTP %d", code)
	}
	r.cw.SetRevokeOnMint(true)
	r.rotate(t)
	r.cw.ResetStats()
	if code := get(); code != 200 {
		t.Fatalf("request after a revoking rotation: HTTP %d", code)
	}
	if st := r.cw.Stats(); st.APIRequests != 2 || st.APIRejected != 1 {
		t.Errorf("sandbox saw %+v, want one 401 then one success", st)
	}
}

// TestZeroDowntime: a consumer calls Clickwrap continuously through the
// token source while rotations run back to back; no request may fail. The
// benchmark (make bench) runs the same with 50 rotations and reports the
// figures, revoke-on-mint without the fallback included.
func TestZeroDowntime(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		revoke    bool
		fallback  bool
		wantFails bool
	}{
		{name: "normal mode", revoke: false},
		{name: "revoke on mint, AWSPENDING fallback", revoke: true, fallback: true},
		// The control: without the fallback, revoke-on-mint must show up as
		// failed requests, or this test could not see a failure at all.
		{name: "revoke on mint, no fallback", revoke: true, wantFails: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newRotating(t)
			r.cw.SetRevokeOnMint(tt.revoke)
			total, failed := ConsumeDuringRotations(t, r, 10, tt.fallback)
			if total == 0 {
				t.Fatal("the consumer made no request")
			}
			if (failed != 0) != tt.wantFails {
				t.Errorf("%d of %d consumer requests failed during 10 rotations (failures expected: %v)", failed, total, tt.wantFails)
			}
		})
	}
}

// ConsumeDuringRotations runs n rotations back to back while one consumer
// goroutine calls GET /sites in a loop, and returns the consumer's request
// and failure counts.
func ConsumeDuringRotations(t testing.TB, r *rotating, n int, fallback bool) (total, failed int64) {
	t.Helper()
	ts := clickwrap.NewTokenSource(r.sm.Client(), r.arn, clickwrap.TokenSourceOptions{MaxAge: time.Hour, FallbackToPending: fallback})
	hc := &http.Client{Transport: &clickwrap.Transport{Source: ts, Base: r.cw.Client().Transport}}
	var tot, bad atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			tot.Add(1)
			resp, err := hc.Get(r.cw.APIURL() + "/sites?per_page=1")
			if err != nil {
				bad.Add(1)
				continue
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				bad.Add(1)
			}
		}
	})
	for range n {
		r.rotate(t)
	}
	close(stop)
	wg.Wait()
	return tot.Load(), bad.Load()
}

// TestTransportSendsTheTokenOnlyToTheAPIHost: plain http, another host, or
// a redirect to one gets an error, and never the token.
func TestTransportSendsTheTokenOnlyToTheAPIHost(t *testing.T) {
	t.Parallel()
	var leaked atomic.Int32
	other := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Header.Get("Authorization") != "" {
			leaked.Add(1)
		}
	}))
	defer other.Close()
	// The secret's api_url host answers every request with a redirect to
	// the other host (httptest's servers share one certificate).
	api := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		http.Redirect(w, req, other.URL+"/v1.1/sites", http.StatusFound)
	}))
	defer api.Close()
	sm := secretsmanagertest.New(secretsmanagertest.Options{})
	defer sm.Close()
	arn := sm.CreateSecret("consumer/redirect", `{"client_id":"a","client_secret":"b","access_token":"transport-token-x","api_url":"`+api.URL+`/v1.1"}`)
	ts := clickwrap.NewTokenSource(sm.Client(), arn, clickwrap.TokenSourceOptions{})
	hc := &http.Client{Transport: &clickwrap.Transport{Source: ts, Base: other.Client().Transport}}
	for _, target := range []string{
		other.URL + "/v1.1/sites", // another https host
		"http://" + strings.TrimPrefix(api.URL, "https://") + "/v1.1/sites", // the API host over plain http
		api.URL + "/v1.1/sites", // the API host, which redirects to the other host
	} {
		resp, err := hc.Get(target)
		if err == nil {
			resp.Body.Close()
			t.Errorf("GET %s succeeded", target)
		} else if !strings.Contains(err.Error(), "refusing to send the Clickwrap token") {
			t.Errorf("GET %s: %v", target, err)
		}
	}
	if n := leaked.Load(); n != 0 {
		t.Errorf("the other host received the token %d times", n)
	}
}
