package clickwrap_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/clickwrap-rotator/clickwrap-rotator/clickwrap"
	"github.com/clickwrap-rotator/clickwrap-rotator/internal/secretsmanagertest"
	"github.com/clickwrap-rotator/clickwrap-rotator/internal/syncbuf"
)

// These tests cover how the token source behaves when Clickwrap rejects the
// cached token and when Secrets Manager fails: who waits for a read of the
// secret, how many reads there are, and what a caller gets.

// noRetries returns a client of the emulator whose calls are not retried,
// so that one FailNext fault is one failed GetSecretValue (the standard
// retryer would retry throttling and 5xx for seconds).
func noRetries(sm *secretsmanagertest.Server) *secretsmanager.Client {
	return secretsmanager.New(sm.Client().Options(), func(o *secretsmanager.Options) { o.Retryer = aws.NopRetryer{} })
}

// holdReads makes every GetSecretValue of sm wait until release is called
// (or the test ends); entered receives one value per call that reached the
// emulator. It stands for a Secrets Manager call that hangs.
func holdReads(t *testing.T, sm *secretsmanagertest.Server) (entered <-chan struct{}, release func()) {
	t.Helper()
	in := make(chan struct{}, 1000)
	gate := make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(gate) }) }
	remove := sm.OnCall("GetSecretValue", func(secretsmanagertest.Call) error {
		in <- struct{}{}
		<-gate
		return nil
	})
	t.Cleanup(func() { release(); remove() })
	return in, release
}

// getStatus sends GET url through hc and returns the status code, or 0 and
// the error.
func getStatus(hc *http.Client, url string) (int, error) {
	resp, err := hc.Get(url)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// getAll sends n concurrent GETs and returns their status codes (0 for an
// error) and the first error.
func getAll(hc *http.Client, url string, n int) ([]int, error) {
	codes := make([]int, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { codes[i], errs[i] = getStatus(hc, url) })
	}
	wg.Wait()
	return codes, errors.Join(errs...)
}

func allAre(codes []int, want int) bool {
	for _, c := range codes {
		if c != want {
			return false
		}
	}
	return true
}

// TestTransportConcurrent401sShareOneReread: after the cached token is
// revoked, 20 concurrent requests get 401 and share one re-read of the
// secret (with FallbackToPending: one poll of AWSCURRENT and AWSPENDING,
// 5 rounds 100 ms apart), which finds nothing newer; requests that get 401
// within the back-off after it do not read again; once the back-off has
// passed and a rotation stored a new token, the next 401s find it with one
// read. Before the fix each 401 re-read in turn, under the source's lock:
// 20 reads without the fallback, 200 and 8 s with it.
func TestTransportConcurrent401sShareOneReread(t *testing.T) {
	t.Parallel()
	const n = 20
	tests := []struct {
		name     string
		fallback bool
		// wantReads is the GetSecretValue calls of the first wave of 401s.
		wantReads int
	}{
		{name: "AWSCURRENT only", wantReads: 1},
		{name: "AWSPENDING fallback", fallback: true, wantReads: 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, clock, ts, hc := newTransportWorld(t, tt.fallback)
			url := r.cw.APIURL() + "/sites?per_page=1"
			old := firstToken(t, ts, hc, url)
			r.cw.Revoke(old)

			wave := func(name string, want, wantReads int, within time.Duration) {
				t.Helper()
				r.sm.ResetCalls()
				start := time.Now()
				codes, err := getAll(hc, url, n)
				took := time.Since(start)
				if err != nil || !allAre(codes, want) {
					t.Errorf("%s: statuses %v (error %v), want all %d", name, codes, err, want)
				}
				if got := r.sm.Calls()["GetSecretValue"]; got != wantReads {
					t.Errorf("%s: GetSecretValue called %d times for %d concurrent requests, want %d", name, got, n, wantReads)
				}
				if took > within {
					t.Errorf("%s: %d concurrent requests took %s, want under %s", name, n, took, within)
				}
			}
			wave("401s on the revoked token", http.StatusUnauthorized, tt.wantReads, 3*time.Second)
			wave("401s within the back-off", http.StatusUnauthorized, 0, time.Second)

			r.rotate(t)
			clock.Advance(time.Second) // the back-off after a first empty re-read
			wave("401s after the back-off and a rotation", http.StatusOK, 1, 3*time.Second)
		})
	}
}

// TestTokenSourceCallersDoNotWaitForARereadInFlight: while a re-read after
// a 401 is held up in Secrets Manager, a caller whose cached token is still
// in date gets it at once, and a request without a deadline whose token is
// rejected gets Clickwrap's 401 once the re-read's own bound has passed.
// Before the fix the re-read held the source's lock: every caller waited
// for Secrets Manager, and with a hung call, for ever.
func TestTokenSourceCallersDoNotWaitForARereadInFlight(t *testing.T) {
	t.Parallel()
	const readBound = 300 * time.Millisecond
	tests := []struct {
		name string
		// call runs while the re-read is held; it must return within
		// readBound plus slack.
		call func(t *testing.T, r *rotating, ts *clickwrap.TokenSource, hc *http.Client) error
	}{
		{
			name: "AccessToken",
			call: func(t *testing.T, r *rotating, ts *clickwrap.TokenSource, _ *http.Client) error {
				tok, err := ts.AccessToken(context.Background())
				if err == nil && !r.cw.Valid(tok) {
					err = errors.New("AccessToken returned a token the sandbox rejects")
				}
				return err
			},
		},
		{
			name: "Token",
			call: func(t *testing.T, r *rotating, ts *clickwrap.TokenSource, _ *http.Client) error {
				_, err := ts.Token()
				return err
			},
		},
		{
			name: "Transport request with the cached token",
			call: func(t *testing.T, r *rotating, _ *clickwrap.TokenSource, hc *http.Client) error {
				code, err := getStatus(hc, r.cw.APIURL()+"/sites")
				if err == nil && code != http.StatusOK {
					err = errors.New(http.StatusText(code))
				}
				return err
			},
		},
		{
			// The request has no deadline, its token is rejected, and the
			// re-read hangs: the re-read's bound ends the wait.
			name: "Transport request without deadline, token rejected, read hung",
			call: func(t *testing.T, r *rotating, ts *clickwrap.TokenSource, hc *http.Client) error {
				tok, err := ts.AccessToken(t.Context())
				if err != nil {
					return err
				}
				r.cw.Revoke(tok)
				code, err := getStatus(hc, r.cw.APIURL()+"/sites")
				if err == nil && code != http.StatusUnauthorized {
					err = errors.New("want Clickwrap's 401, got " + http.StatusText(code))
				}
				return err
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newRotating(t)
			ts := clickwrap.NewTokenSource(r.sm.Client(), r.arn, clickwrap.TokenSourceOptions{MaxAge: time.Hour, FallbackToPending: true})
			clickwrap.SetTokenSourceReadTimeout(ts, readBound)
			hc := &http.Client{Transport: &clickwrap.Transport{Source: ts, Base: r.cw.Client().Transport}}
			if _, err := ts.AccessToken(t.Context()); err != nil {
				t.Fatal(err)
			}
			entered, release := holdReads(t, r.sm)
			// A 401 reported for another token than the cached one starts no
			// read; report the cached one, as a request that got 401 would.
			cached, _ := ts.AccessToken(t.Context())
			go func() { _, _ = ts.Rejected(context.Background(), cached) }()
			select {
			case <-entered:
			case <-time.After(5 * time.Second):
				t.Fatal("the re-read did not reach Secrets Manager")
			}

			done := make(chan error, 1)
			start := time.Now()
			go func() { done <- tt.call(t, r, ts, hc) }()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("while a re-read was held: %v", err)
				}
				if took := time.Since(start); took > readBound+2*time.Second {
					t.Errorf("the call took %s while a re-read was held, want at most the read bound %s and slack", took, readBound)
				}
			case <-time.After(readBound + 5*time.Second):
				t.Errorf("the call was still waiting %s after the re-read was held", readBound+5*time.Second)
				release()
				<-done
			}
		})
	}
}

// TestTokenSourceServesCachedTokenWhenRefreshFails: when the read due after
// MaxAge fails (Secrets Manager throttled, KMS, an outage), a cached token
// that is not past the secret's expires_at is served for up to MaxAge more,
// and the secret is read again only after a back-off; a token past its
// expires_at, one held for twice MaxAge, and a first read that fails give
// the error. Before the fix every such call failed.
func TestTokenSourceServesCachedTokenWhenRefreshFails(t *testing.T) {
	t.Parallel()
	const (
		maxAge = 5 * time.Minute
		token  = "stale-token-7f3a"
	)
	readAt := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		expiresAt time.Time // zero: the secret has no expires_at
		noCache   bool      // no successful read before the failure
		failAfter time.Duration
		code      string
		wantErr   bool
	}{
		{name: "KMS failure after MaxAge, no expires_at", failAfter: maxAge, code: "DecryptionFailure"},
		{name: "throttled after MaxAge", failAfter: maxAge, code: "ThrottlingException"},
		{name: "Secrets Manager outage after MaxAge", failAfter: maxAge, code: "ServiceUnavailable"},
		{name: "expires_at later than the failure", expiresAt: readAt.Add(time.Hour), failAfter: maxAge + time.Minute, code: "InternalServiceError"},
		{name: "at expires_at", expiresAt: readAt.Add(time.Minute), failAfter: time.Minute, code: "DecryptionFailure", wantErr: true},
		{name: "expires_at already past at the read", expiresAt: readAt.Add(-time.Hour), failAfter: maxAge, code: "DecryptionFailure", wantErr: true},
		{name: "twice MaxAge after the read", failAfter: 2 * maxAge, code: "ThrottlingException", wantErr: true},
		{name: "first read", noCache: true, code: "ThrottlingException", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sm := secretsmanagertest.New(secretsmanagertest.Options{})
			defer sm.Close()
			value := `{"client_id":"a","client_secret":"` + clientSecret + `","access_token":"` + token + `","token_type":"Bearer"`
			if !tt.expiresAt.IsZero() {
				value += `,"expires_at":"` + tt.expiresAt.Format(time.RFC3339) + `"`
			}
			arn := sm.CreateSecret("consumer/stale", value+"}")
			clock := &fakeClock{t: readAt}
			var logs bytes.Buffer
			ts := clickwrap.NewTokenSource(noRetries(sm), arn, clickwrap.TokenSourceOptions{
				MaxAge: maxAge, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			clickwrap.SetTokenSourceClock(ts, clock.Now)
			defer func() {
				clickwrap.WaitTokenSourceReads(ts)
				if out := logs.String(); strings.Contains(out, token) || strings.Contains(out, clientSecret) {
					t.Error("the log holds the token or the client secret")
				}
			}()
			if !tt.noCache {
				if _, err := ts.Token(); err != nil {
					t.Fatal(err)
				}
			}
			clock.Advance(tt.failAfter)
			sm.FailNext("GetSecretValue", 100, tt.code)
			sm.ResetCalls()

			tok, err := ts.Token()
			if reads := sm.Calls()["GetSecretValue"]; reads != 1 {
				t.Errorf("GetSecretValue called %d times for the refresh, want 1", reads)
			}
			if tt.wantErr {
				if err == nil {
					t.Fatal("Token served a token it should not have")
				}
				if strings.Contains(err.Error(), token) || strings.Contains(err.Error(), clientSecret) {
					t.Error("the error holds the token or the client secret")
				}
				return
			}
			if err != nil {
				t.Fatalf("Token with a working cached token and Secrets Manager failing: %v", err)
			}
			if tok.AccessToken != token {
				t.Fatal("Token did not serve the cached token")
			}
			if !strings.Contains(logs.String(), tt.code) {
				t.Errorf("the failed refresh was not logged with its error code %s", tt.code)
			}

			// Within the back-off the cached token is served without a read.
			clock.Advance(500 * time.Millisecond)
			if tok, err := ts.Token(); err != nil || tok.AccessToken != token {
				t.Fatalf("Token within the back-off: %v", err)
			}
			if reads := sm.Calls()["GetSecretValue"]; reads != 1 {
				t.Errorf("GetSecretValue called %d times within the back-off, want 1", reads)
			}
			// After it, the secret is read again, in the background: still
			// failing, the token is still served, and the next back-off is
			// longer (2 s).
			clock.Advance(500 * time.Millisecond)
			if tok, err := ts.Token(); err != nil || tok.AccessToken != token {
				t.Fatalf("Token after the back-off, still failing: %v", err)
			}
			clickwrap.WaitTokenSourceReads(ts)
			clock.Advance(1500 * time.Millisecond)
			if _, err := ts.Token(); err != nil {
				t.Fatal(err)
			}
			if reads := sm.Calls()["GetSecretValue"]; reads != 2 {
				t.Errorf("GetSecretValue called %d times after 1 s and 2.5 s of failures, want 2", reads)
			}
			// Secrets Manager is back: the next read after the back-off,
			// started in the background by a call that still gets the
			// cached token, replaces the cache, with a new Expiry.
			sm.FailNext("GetSecretValue", 0, "")
			clock.Advance(500 * time.Millisecond)
			if tok, err := ts.Token(); err != nil || tok.AccessToken != token {
				t.Fatalf("Token starting the read after the back-off: %v", err)
			}
			clickwrap.WaitTokenSourceReads(ts)
			tok, err = ts.Token()
			if err != nil {
				t.Fatal(err)
			}
			want := clock.Now().Add(maxAge)
			if !tt.expiresAt.IsZero() && tt.expiresAt.Before(want) {
				want = tt.expiresAt
			}
			if !tok.Expiry.Equal(want) {
				t.Errorf("Expiry after the recovery = %s, want %s", tok.Expiry, want)
			}
			if reads := sm.Calls()["GetSecretValue"]; reads != 3 {
				t.Errorf("GetSecretValue called %d times, want 3", reads)
			}
		})
	}
}

// TestConsumersKeepAWorkingTokenWhenSecretsManagerFails: after MaxAge, with
// every GetSecretValue failing or hanging, a request through the Transport
// (without a deadline), AccessToken and Token still get the working cached
// token; with Secrets Manager hung, the first call waits for the bound of the
// read and the next ones, within the back-off, not at all. Before the fix
// the request failed although its token worked, or waited for ever.
func TestConsumersKeepAWorkingTokenWhenSecretsManagerFails(t *testing.T) {
	t.Parallel()
	const (
		maxAge    = 5 * time.Minute
		readBound = 300 * time.Millisecond
	)
	transport := func(r *rotating, _ *clickwrap.TokenSource, hc *http.Client) error {
		code, err := getStatus(hc, r.cw.APIURL()+"/sites")
		if err == nil && code != http.StatusOK {
			return errors.New(http.StatusText(code))
		}
		return err
	}
	accessToken := func(r *rotating, ts *clickwrap.TokenSource, _ *http.Client) error {
		_, err := ts.AccessToken(context.Background())
		return err
	}
	token := func(r *rotating, ts *clickwrap.TokenSource, _ *http.Client) error {
		_, err := ts.Token()
		return err
	}
	tests := []struct {
		name string
		hang bool // Secrets Manager hangs instead of answering ThrottlingException
		use  func(r *rotating, ts *clickwrap.TokenSource, hc *http.Client) error
	}{
		{name: "Transport, throttled", use: transport},
		{name: "AccessToken, throttled", use: accessToken},
		{name: "Token, throttled", use: token},
		{name: "Transport, hung", hang: true, use: transport},
		{name: "AccessToken, hung", hang: true, use: accessToken},
		{name: "Token, hung", hang: true, use: token},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, clock, ts, hc := newSourceWorld(t, clickwrap.TokenSourceOptions{MaxAge: maxAge}, true, readBound)
			if code, err := getStatus(hc, r.cw.APIURL()+"/sites"); code != http.StatusOK {
				t.Fatalf("first request: HTTP %d %v", code, err)
			}
			clock.Advance(maxAge)
			if tt.hang {
				holdReads(t, r.sm)
			} else {
				r.sm.FailNext("GetSecretValue", 100, "ThrottlingException")
			}
			for i := range 3 {
				done := make(chan error, 1)
				start := time.Now()
				go func() { done <- tt.use(r, ts, hc) }()
				select {
				case err := <-done:
					if err != nil {
						t.Fatalf("call %d after MaxAge with Secrets Manager failing: %v", i+1, err)
					}
				case <-time.After(readBound + 5*time.Second):
					t.Fatalf("call %d after MaxAge was still waiting after %s", i+1, readBound+5*time.Second)
				}
				if took := time.Since(start); i > 0 && took > time.Second {
					t.Errorf("call %d, within the back-off, took %s", i+1, took)
				}
			}
		})
	}
}

// onlyReader hides every method of its reader but Read, so that
// http.NewRequest cannot set GetBody: a body that cannot be replayed.
type onlyReader struct{ io.Reader }

// TestTransport401ReplaysOnlyWhatItCan: a rotation replaced the cached
// token and revoked it. A request whose body cannot be replayed gets the
// 401 unsent again, but the source re-reads the secret, so the next request
// carries the new token on its first try; a request with no body or a
// replayable one is sent again with the new token. Before the fix the
// revoked token stayed cached after the first kind, and http.NoBody counted
// as a body that cannot be replayed.
func TestTransport401ReplaysOnlyWhatItCan(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		method string
		body   func() io.Reader
		want   int // the answer the request gets
		// wantSends is how often the sandbox saw the request.
		wantSends int
	}{
		{name: "body without GetBody", method: http.MethodPost, body: func() io.Reader { return onlyReader{strings.NewReader("{}")} },
			want: http.StatusUnauthorized, wantSends: 1},
		{name: "replayable body", method: http.MethodPost, body: func() io.Reader { return strings.NewReader("{}") },
			want: http.StatusMethodNotAllowed, wantSends: 2}, // resent with the new token; the sandbox's /sites takes only GET
		{name: "http.NoBody", method: http.MethodGet, body: func() io.Reader { return http.NoBody },
			want: http.StatusOK, wantSends: 2},
		{name: "no body", method: http.MethodGet, body: func() io.Reader { return nil },
			want: http.StatusOK, wantSends: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newRotating(t)
			ts := clickwrap.NewTokenSource(r.sm.Client(), r.arn, clickwrap.TokenSourceOptions{MaxAge: time.Hour})
			hc := &http.Client{Transport: &clickwrap.Transport{Source: ts, Base: r.cw.Client().Transport}}
			url := r.cw.APIURL() + "/sites"
			if code, err := getStatus(hc, url); code != http.StatusOK {
				t.Fatalf("first request: HTTP %d %v", code, err)
			}
			old, _ := ts.AccessToken(t.Context())
			r.rotate(t)
			r.cw.Revoke(old)
			r.cw.ResetStats()

			req, err := http.NewRequest(tt.method, url, tt.body())
			if err != nil {
				t.Fatal(err)
			}
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("HTTP %d, want %d", resp.StatusCode, tt.want)
			}
			if st := r.cw.Stats(); st.APIRequests != tt.wantSends || st.APIRejected != 1 {
				t.Errorf("the sandbox saw %d requests and %d rejections, want %d and 1", st.APIRequests, st.APIRejected, tt.wantSends)
			}

			// Whatever the request, the source now holds the new token.
			r.cw.ResetStats()
			if code, err := getStatus(hc, url); code != http.StatusOK {
				t.Fatalf("next request: HTTP %d %v", code, err)
			}
			if st := r.cw.Stats(); st.APIRequests != 1 || st.APIRejected != 0 {
				t.Errorf("the next request took %d tries (%d rejected), want 1 with the new token", st.APIRequests, st.APIRejected)
			}
		})
	}
}

// putPending stores, as the secret's AWSPENDING version, its AWSCURRENT
// value with access_token replaced by token: a token minted by a rotation
// in progress.
func putPending(t *testing.T, r *rotating, token string) {
	t.Helper()
	sm := r.sm.Client()
	out, err := sm.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(r.arn)})
	if err != nil {
		t.Fatal(err)
	}
	var value map[string]any
	if err := json.Unmarshal([]byte(aws.ToString(out.SecretString)), &value); err != nil {
		t.Fatal(err)
	}
	value["access_token"] = token
	b, err := json.Marshal(value)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sm.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(r.arn), SecretString: aws.String(string(b)), VersionStages: []string{"AWSPENDING"},
	}); err != nil {
		t.Fatal(err)
	}
}

// TestTransportBacksOffWhenEveryTokenIsRejected: Clickwrap rejects the
// AWSCURRENT token and, with FallbackToPending, the AWSPENDING one too; 10
// requests in a row each get the 401, and after the first re-reads the
// source backs off: no more reads, one send per request. Before the fix,
// with both tokens rejected, the re-read for each found the other, so the
// back-off never started: 45 reads and 40 sends.
func TestTransportBacksOffWhenEveryTokenIsRejected(t *testing.T) {
	t.Parallel()
	const requests = 10
	tests := []struct {
		name     string
		fallback bool
		pending  bool // AWSPENDING holds a token Clickwrap rejects
		// wantReads and wantSends are the GetSecretValue calls and the
		// requests Clickwrap sees for the 10 requests.
		wantReads, wantSends int
	}{
		{name: "AWSCURRENT rejected", wantReads: 1, wantSends: requests},
		{name: "AWSCURRENT rejected, fallback, no pending", fallback: true, wantReads: 2 * 5, wantSends: requests},
		// The re-read for AWSCURRENT finds AWSPENDING (2 reads), which is
		// sent and rejected; the re-read for it polls (10 reads) and does not
		// take AWSCURRENT back.
		{name: "AWSCURRENT and AWSPENDING rejected, fallback", fallback: true, pending: true, wantReads: 2 + 2*5, wantSends: requests + 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, clock, ts, hc := newTransportWorld(t, tt.fallback)
			url := r.cw.APIURL() + "/sites"
			current := firstToken(t, ts, hc, url)
			if tt.pending {
				putPending(t, r, "pending-token-unknown-to-clickwrap")
			}
			r.cw.Revoke(current)
			wave := func(name string) (reads, sends int) {
				t.Helper()
				r.sm.ResetCalls()
				r.cw.ResetStats()
				for i := range requests {
					if code, err := getStatus(hc, url); code != http.StatusUnauthorized {
						t.Fatalf("%s, request %d: HTTP %d %v, want 401", name, i+1, code, err)
					}
				}
				return r.sm.Calls()["GetSecretValue"], r.cw.Stats().APIRequests
			}
			reads, sends := wave("first wave")
			if reads != tt.wantReads || sends != tt.wantSends {
				t.Errorf("%d requests: %d GetSecretValue calls and %d sends, want %d and %d", requests, reads, sends, tt.wantReads, tt.wantSends)
			}
			// Once the back-off has passed, the next wave costs no more.
			clock.Advance(time.Second)
			reads, sends = wave("after the back-off")
			if reads > tt.wantReads || sends > tt.wantSends {
				t.Errorf("%d requests after the back-off: %d GetSecretValue calls and %d sends, want at most %d and %d", requests, reads, sends, tt.wantReads, tt.wantSends)
			}
		})
	}
}

// TestTokenSourceRefreshesInTheBackgroundAfterAFailure: once a refresh has
// failed and its back-off has passed, the next call starts the read in the
// background and gets the cached token at once, even with Secrets Manager
// hung and a short deadline. Before the fix that caller waited for the read
// (up to its bound), and one whose context ended first got an error.
func TestTokenSourceRefreshesInTheBackgroundAfterAFailure(t *testing.T) {
	t.Parallel()
	const (
		maxAge    = 5 * time.Minute
		readBound = 2 * time.Second
		deadline  = 100 * time.Millisecond
	)
	tests := []struct {
		name string
		use  func(ctx context.Context, r *rotating, ts *clickwrap.TokenSource, hc *http.Client) (string, error)
	}{
		{name: "AccessToken with a deadline", use: func(ctx context.Context, _ *rotating, ts *clickwrap.TokenSource, _ *http.Client) (string, error) {
			return ts.AccessToken(ctx)
		}},
		{name: "Token", use: func(_ context.Context, _ *rotating, ts *clickwrap.TokenSource, _ *http.Client) (string, error) {
			tok, err := ts.Token()
			if err != nil {
				return "", err
			}
			return tok.AccessToken, nil
		}},
		{name: "Transport request with a deadline", use: func(ctx context.Context, r *rotating, ts *clickwrap.TokenSource, hc *http.Client) (string, error) {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.cw.APIURL()+"/sites", nil)
			if err != nil {
				return "", err
			}
			resp, err := hc.Do(req)
			if err != nil {
				return "", err
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return "", errors.New(resp.Status)
			}
			return ts.AccessToken(ctx)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, clock, ts, hc := newSourceWorld(t, clickwrap.TokenSourceOptions{MaxAge: maxAge}, true, readBound)
			cached, err := ts.AccessToken(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			clock.Advance(maxAge)
			r.sm.FailNext("GetSecretValue", 1, "ThrottlingException")
			if _, err := ts.Token(); err != nil {
				t.Fatalf("Token after a failed refresh: %v", err)
			}
			clock.Advance(time.Second) // the back-off after the failure
			entered, release := holdReads(t, r.sm)
			defer func() { release(); clickwrap.WaitTokenSourceReads(ts) }()

			ctx, cancel := context.WithTimeout(t.Context(), deadline)
			defer cancel()
			start := time.Now()
			tok, err := tt.use(ctx, r, ts, hc)
			if took := time.Since(start); took > time.Second {
				t.Errorf("the call took %s with a usable cached token, want no wait for the read", took)
			}
			if err != nil {
				t.Fatalf("with a usable cached token and the refresh hung: %v", err)
			}
			if tok != cached {
				t.Error("the call did not get the cached token")
			}
			select {
			case <-entered:
			case <-time.After(5 * time.Second):
				t.Error("no refresh reached Secrets Manager after the back-off")
			}
		})
	}
}

// TestTokenSourceLeavesARejectedTokenAfterItsBackOff: a 401 on the cached
// token found nothing newer; a rotation then stores a new token. Once the
// back-off has ended, AccessToken and Token read the secret and return the
// new token. Before the fix they returned the rejected one until MaxAge.
func TestTokenSourceLeavesARejectedTokenAfterItsBackOff(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		get  func(ts *clickwrap.TokenSource) (string, error)
	}{
		{name: "AccessToken", get: func(ts *clickwrap.TokenSource) (string, error) { return ts.AccessToken(context.Background()) }},
		{name: "Token", get: func(ts *clickwrap.TokenSource) (string, error) {
			tok, err := ts.Token()
			if err != nil {
				return "", err
			}
			return tok.AccessToken, nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newRotating(t)
			clock := &fakeClock{t: time.Now()}
			ts := clickwrap.NewTokenSource(r.sm.Client(), r.arn, clickwrap.TokenSourceOptions{MaxAge: time.Hour})
			clickwrap.SetTokenSourceClock(ts, clock.Now)
			old, err := tt.get(ts)
			if err != nil {
				t.Fatal(err)
			}
			r.cw.Revoke(old)
			if _, err := ts.Rejected(t.Context(), old); err == nil {
				t.Fatal("Rejected found a replacement before any rotation")
			}
			r.rotate(t)
			clock.Advance(time.Second) // the back-off after the first empty re-read
			got, err := tt.get(ts)
			if err != nil {
				t.Fatal(err)
			}
			if got == old {
				t.Fatal("after the back-off the source still returns the rejected token")
			}
			if !r.cw.Valid(got) {
				t.Fatal("the token returned after the back-off is not the rotated one")
			}
		})
	}
}

// TestTokenSourceBackOffStartsAgainAfterAQuietSpell: a token rejected
// twice, with nothing newer, is under a 2 s back-off; rejected again an hour
// later, its back-off starts again at 1 s. Before the fix it went on
// doubling (4 s), however long ago the last rejection was.
func TestTokenSourceBackOffStartsAgainAfterAQuietSpell(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		quiet     time.Duration
		wantReads int // reads for the rejection 1 s after the one after the quiet spell
	}{
		{name: "an hour later", quiet: time.Hour, wantReads: 1},
		{name: "right after the back-off", quiet: 2 * time.Second, wantReads: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newRotating(t)
			clock := &fakeClock{t: time.Now()}
			ts := clickwrap.NewTokenSource(r.sm.Client(), r.arn, clickwrap.TokenSourceOptions{MaxAge: 24 * time.Hour})
			clickwrap.SetTokenSourceClock(ts, clock.Now)
			tok, err := ts.AccessToken(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			r.cw.Revoke(tok)
			for _, wait := range []time.Duration{0, time.Second, tt.quiet} { // back-offs 1 s, 2 s, then 1 s or 4 s
				clock.Advance(wait)
				if _, err := ts.Rejected(t.Context(), tok); err == nil {
					t.Fatal("Rejected found a replacement")
				}
			}
			r.sm.ResetCalls()
			clock.Advance(time.Second)
			_, _ = ts.Rejected(t.Context(), tok)
			if got := r.sm.Calls()["GetSecretValue"]; got != tt.wantReads {
				t.Errorf("GetSecretValue called %d times 1 s after the last rejection, want %d", got, tt.wantReads)
			}
		})
	}
}

// TestTokenSourceRefreshFailureAfterAReplacement: a refresh of AWSCURRENT
// is held in Secrets Manager while a re-read after a 401 installs a newer
// token; when the refresh then fails, nothing is logged and the newer token
// is used. Before the fix the failure was counted and logged as "still using
// the cached token".
func TestTokenSourceRefreshFailureAfterAReplacement(t *testing.T) {
	t.Parallel()
	const maxAge = 5 * time.Minute
	tests := []struct {
		name     string
		replaced bool // a re-read installs a newer token while the refresh is held
		wantWarn bool
	}{
		{name: "replaced meanwhile", replaced: true},
		{name: "not replaced", wantWarn: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newRotating(t)
			clock := &fakeClock{t: time.Now()}
			var logs syncbuf.Buffer
			ts := clickwrap.NewTokenSource(noRetries(r.sm), r.arn, clickwrap.TokenSourceOptions{
				MaxAge: maxAge, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			clickwrap.SetTokenSourceClock(ts, clock.Now)
			old, err := ts.AccessToken(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			r.rotate(t)
			clock.Advance(maxAge)

			// The first GetSecretValue (the refresh) waits for release and
			// fails; the others pass.
			entered, gate := make(chan struct{}), make(chan struct{})
			var calls atomic.Int32
			remove := r.sm.OnCall("GetSecretValue", func(secretsmanagertest.Call) error {
				if calls.Add(1) != 1 {
					return nil
				}
				close(entered)
				<-gate
				return errors.New("injected failure")
			})
			defer remove()
			done := make(chan string, 1)
			go func() {
				tok, _ := ts.AccessToken(context.Background())
				done <- tok
			}()
			<-entered
			if tt.replaced {
				if _, err := ts.Rejected(t.Context(), old); err != nil {
					t.Fatalf("Rejected after a rotation: %v", err)
				}
			}
			close(gate)
			tok := <-done
			clickwrap.WaitTokenSourceReads(ts)
			out := logs.String()
			if strings.Contains(out, tok) || strings.Contains(out, old) || strings.Contains(out, clientSecret) {
				t.Error("the log holds a token or the client secret")
			}
			if got := strings.Contains(out, "still using the cached token"); got != tt.wantWarn {
				t.Errorf("warning logged = %v, want %v", got, tt.wantWarn)
			}
			if tt.replaced && (tok == old || !r.cw.Valid(tok)) {
				t.Error("the caller did not get the newer token")
			}
		})
	}
}

// deafReader is a SecretReader whose GetSecretValue ignores its context:
// it waits for gate to close, then reads from the emulator.
type deafReader struct {
	sm   clickwrap.SecretReader
	gate chan struct{}
}

func (d *deafReader) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	<-d.gate
	return d.sm.GetSecretValue(context.Background(), in, opts...)
}

// TestTokenSourceOutlivesAReaderThatIgnoresItsContext: a SecretReader that
// ignores its context hangs; each shared read still ends at its bound, so
// callers get the cached token or an error wrapping
// context.DeadlineExceeded instead of waiting for ever. Before the fix a
// read landed only when the reader returned: every caller waited.
func TestTokenSourceOutlivesAReaderThatIgnoresItsContext(t *testing.T) {
	t.Parallel()
	const (
		maxAge    = 5 * time.Minute
		readBound = 300 * time.Millisecond
	)
	tests := []struct {
		name    string
		cached  bool // a first read succeeded before the reader hung
		call    func(ts *clickwrap.TokenSource, cached string) (string, error)
		wantErr bool
	}{
		{name: "first read", call: func(ts *clickwrap.TokenSource, _ string) (string, error) {
			return ts.AccessToken(context.Background())
		}, wantErr: true},
		{name: "refresh after MaxAge", cached: true, call: func(ts *clickwrap.TokenSource, _ string) (string, error) {
			tok, err := ts.Token()
			if err != nil {
				return "", err
			}
			return tok.AccessToken, nil
		}},
		{name: "re-read after a 401", cached: true, call: func(ts *clickwrap.TokenSource, cached string) (string, error) {
			return ts.Rejected(context.Background(), cached)
		}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newRotating(t)
			reader := &deafReader{sm: r.sm.Client(), gate: make(chan struct{})}
			clock := &fakeClock{t: time.Now()}
			ts := clickwrap.NewTokenSource(reader, r.arn, clickwrap.TokenSourceOptions{MaxAge: maxAge})
			clickwrap.SetTokenSourceClock(ts, clock.Now)
			clickwrap.SetTokenSourceReadTimeout(ts, readBound)
			var once sync.Once
			release := func() { once.Do(func() { close(reader.gate) }) }
			defer release()
			var cached string
			if tt.cached {
				release()
				var err error
				if cached, err = ts.AccessToken(t.Context()); err != nil {
					t.Fatal(err)
				}
				reader.gate = make(chan struct{})
				once = sync.Once{}
				clock.Advance(maxAge)
			}

			type result struct {
				tok string
				err error
			}
			done := make(chan result, 1)
			go func() {
				tok, err := tt.call(ts, cached)
				done <- result{tok, err}
			}()
			select {
			case res := <-done:
				if tt.wantErr {
					if !errors.Is(res.err, context.DeadlineExceeded) {
						t.Errorf("error %v, want one wrapping context.DeadlineExceeded", res.err)
					}
				} else if res.err != nil || res.tok != cached {
					t.Errorf("want the cached token, got error %v", res.err)
				}
			case <-time.After(readBound + 5*time.Second):
				t.Errorf("the call was still waiting %s after it started, with a read bound of %s", readBound+5*time.Second, readBound)
				release()
				<-done
			}
		})
	}
}

// newTransportWorld is a rotating secret read by a TokenSource (MaxAge an
// hour, on a fake clock) behind a Transport to the sandbox.
func newTransportWorld(t *testing.T, fallback bool) (*rotating, *fakeClock, *clickwrap.TokenSource, *http.Client) {
	t.Helper()
	return newSourceWorld(t, clickwrap.TokenSourceOptions{MaxAge: time.Hour, FallbackToPending: fallback}, false, 0)
}

// newSourceWorld is newTransportWorld with the TokenSource's options
// given, reading through the emulator's client without the SDK's retries
// when noRetry, and with readBound, when not zero, as its read bound.
func newSourceWorld(t *testing.T, opts clickwrap.TokenSourceOptions, noRetry bool, readBound time.Duration) (*rotating, *fakeClock, *clickwrap.TokenSource, *http.Client) {
	t.Helper()
	r := newRotating(t)
	clock := &fakeClock{t: time.Now()}
	var reader clickwrap.SecretReader = r.sm.Client()
	if noRetry {
		reader = noRetries(r.sm)
	}
	ts := clickwrap.NewTokenSource(reader, r.arn, opts)
	clickwrap.SetTokenSourceClock(ts, clock.Now)
	if readBound != 0 {
		clickwrap.SetTokenSourceReadTimeout(ts, readBound)
	}
	return r, clock, ts, &http.Client{Transport: &clickwrap.Transport{Source: ts, Base: r.cw.Client().Transport}}
}

// firstToken makes a first request to url through hc, which must succeed,
// and returns the token ts then holds.
func firstToken(t *testing.T, ts *clickwrap.TokenSource, hc *http.Client, url string) string {
	t.Helper()
	if code, err := getStatus(hc, url); code != http.StatusOK {
		t.Fatalf("first request: HTTP %d %v", code, err)
	}
	tok, err := ts.AccessToken(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
