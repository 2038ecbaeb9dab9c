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

	"golang.org/x/oauth2"

	"github.com/clickwrap-rotator/clickwrap-rotator/clickwrap"
	"github.com/clickwrap-rotator/clickwrap-rotator/clickwrap/clickwraptest"
	"github.com/clickwrap-rotator/clickwrap-rotator/internal/localrun"
	"github.com/clickwrap-rotator/clickwrap-rotator/internal/secretsmanagertest"
)

// rotating is a secret rotated in-process by the real rotator against the
// Secrets Manager emulator and the Clickwrap sandbox.
type rotating struct {
	p   *localrun.InProcess
	sm  *secretsmanagertest.Server
	cw  *clickwraptest.Server
	arn string
}

func newRotating(t testing.TB) *rotating {
	t.Helper()
	p, err := localrun.NewInProcess(localrun.InProcessOptions{
		ClientID: clientID, ClientSecret: clientSecret, SecretName: "clickwrap/consumer", Sync: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	r := &rotating{p: p, sm: p.Secrets, cw: p.Sandbox, arn: p.ARN}
	r.rotate(t) // the first rotation mints the first token
	return r
}

func (r *rotating) rotate(t testing.TB) {
	t.Helper()
	if _, err := r.p.RotateSecret(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := r.p.LastRotation().Err; err != nil {
		t.Fatalf("rotation failed: %v", err)
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

// fakeClock is a clock that moves only when the test advances it.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestTokenSourceExpiry: Token's Expiry is the read time plus MaxAge, or the
// secret's expires_at if sooner; it is fixed at the read (a cached token
// keeps it), and the secret is read again when it passes.
func TestTokenSourceExpiry(t *testing.T) {
	t.Parallel()
	const maxAge = 5 * time.Minute
	readAt := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		expiresAt time.Time // zero: the secret has no expires_at
		want      time.Time // Expiry of the first read, at readAt
		// rereadAfter is when, after readAt, the secret is read again;
		// wantNext is the Expiry of that second read.
		rereadAfter time.Duration
		wantNext    time.Time
	}{
		{
			name:        "no expires_at",
			want:        readAt.Add(maxAge),
			rereadAfter: maxAge,
			wantNext:    readAt.Add(2 * maxAge),
		},
		{
			name:        "expires_at sooner than MaxAge",
			expiresAt:   readAt.Add(time.Minute),
			want:        readAt.Add(time.Minute),
			rereadAfter: time.Minute,
			wantNext:    readAt.Add(time.Minute), // the secret still holds the same expires_at
		},
		{
			name:        "expires_at later than MaxAge",
			expiresAt:   readAt.Add(time.Hour),
			want:        readAt.Add(maxAge),
			rereadAfter: maxAge,
			wantNext:    readAt.Add(2 * maxAge),
		},
		{
			// The rotation is behind: Expiry says so, but the secret is not
			// read again on every call, only after MaxAge.
			name:        "expires_at already past at the read",
			expiresAt:   readAt.Add(-time.Hour),
			want:        readAt.Add(-time.Hour),
			rereadAfter: maxAge,
			wantNext:    readAt.Add(-time.Hour),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sm := secretsmanagertest.New(secretsmanagertest.Options{})
			defer sm.Close()
			value := `{"client_id":"a","client_secret":"b","access_token":"expiry-token-x","token_type":"Bearer"`
			if !tt.expiresAt.IsZero() {
				value += `,"expires_at":"` + tt.expiresAt.Format(time.RFC3339) + `"`
			}
			arn := sm.CreateSecret("consumer/expiry", value+"}")
			clock := &fakeClock{t: readAt}
			ts := clickwrap.NewTokenSource(sm.Client(), arn, clickwrap.TokenSourceOptions{MaxAge: maxAge})
			clickwrap.SetTokenSourceClock(ts, clock.Now)

			check := func(when string, want time.Time, wantReads int) {
				t.Helper()
				tok, err := ts.Token()
				if err != nil {
					t.Fatalf("%s: %v", when, err)
				}
				if !tok.Expiry.Equal(want) {
					t.Errorf("%s: Expiry = %s, want %s", when, tok.Expiry.UTC().Format(time.RFC3339), want.Format(time.RFC3339))
				}
				if n := sm.Calls()["GetSecretValue"]; n != wantReads {
					t.Errorf("%s: GetSecretValue called %d times, want %d", when, n, wantReads)
				}
			}
			check("first call", tt.want, 1)
			clock.Advance(tt.rereadAfter - time.Second)
			check("cached, 1s before the re-read", tt.want, 1)
			clock.Advance(time.Second)
			check("at the re-read", tt.wantNext, 2)
		})
	}
}

// TestTokenSourceUnderOAuth2PicksUpRotation reproduces the report: under
// oauth2.NewClient, which wraps the source in oauth2.ReuseTokenSource, the
// first token was reused forever because Token set no Expiry, so once a
// rotation replaced it and the old one was revoked every request got 401.
// Now the first request after MaxAge reads the secret and carries the new
// token, and the secret is still read once per MaxAge, not once a request.
func TestTokenSourceUnderOAuth2PicksUpRotation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		maxAge time.Duration
		// fakeClock runs the source on a clock the test advances; without
		// it the test waits MaxAge in real time.
		fakeClock bool
		client    func(r *rotating, ts oauth2.TokenSource) *http.Client
	}{
		{
			// MaxAge under oauth2's 10-second expiryDelta: every token is
			// "expired" to ReuseTokenSource at once, so it asks the source on
			// every request and the source's cache decides. oauth2 reads the
			// real clock, the source the fake one, which stays within 10 s of
			// the real start, so this holds throughout.
			name:      "oauth2.NewClient, MaxAge under expiryDelta",
			maxAge:    5 * time.Second,
			fakeClock: true,
			client: func(r *rotating, ts oauth2.TokenSource) *http.Client {
				ctx := context.WithValue(context.Background(), oauth2.HTTPClient, r.cw.Client())
				return oauth2.NewClient(ctx, ts)
			},
		},
		{
			// ReuseTokenSource itself holds the token until shortly before
			// Expiry, as oauth2.NewClient does with a MaxAge of minutes.
			name:   "oauth2.ReuseTokenSource, MaxAge over its expiry delta",
			maxAge: 400 * time.Millisecond,
			client: func(r *rotating, ts oauth2.TokenSource) *http.Client {
				return &http.Client{Transport: &oauth2.Transport{
					Source: oauth2.ReuseTokenSourceWithExpiry(nil, ts, 100*time.Millisecond),
					Base:   r.cw.Client().Transport,
				}}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newRotating(t)
			ts := clickwrap.NewTokenSource(r.sm.Client(), r.arn, clickwrap.TokenSourceOptions{MaxAge: tt.maxAge})
			clock := &fakeClock{t: time.Now()}
			if tt.fakeClock {
				clickwrap.SetTokenSourceClock(ts, clock.Now)
			}
			hc := tt.client(r, ts)
			get := func() int {
				t.Helper()
				resp, err := hc.Get(r.cw.APIURL() + "/sites?per_page=1")
				if err != nil {
					t.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				return resp.StatusCode
			}

			if code := get(); code != http.StatusOK {
				t.Fatalf("first request: HTTP %d", code)
			}
			firstRead := time.Now() // the token was read no later than this
			old, err := ts.AccessToken(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			r.rotate(t)
			r.cw.Revoke(old)
			r.sm.ResetCalls()
			if tt.fakeClock {
				// Within MaxAge the cached token is still used: this is how
				// the report looked, except that it never ended.
				for range 2 {
					if code := get(); code != http.StatusUnauthorized {
						t.Fatalf("request within MaxAge after the revocation: HTTP %d, want 401", code)
					}
				}
				clock.Advance(tt.maxAge)
			} else {
				time.Sleep(time.Until(firstRead.Add(tt.maxAge)))
			}
			for i := range 3 {
				if code := get(); code != http.StatusOK {
					t.Fatalf("request %d after MaxAge: HTTP %d, want 200 with the rotated token", i+1, code)
				}
			}
			if n := r.sm.Calls()["GetSecretValue"]; tt.fakeClock && n != 1 {
				t.Errorf("GetSecretValue called %d times for 5 requests over one MaxAge, want 1", n)
			}
		})
	}
}
