package clickwrap_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/clickwrap-rotator/clickwrap-rotator/clickwrap"
	"github.com/clickwrap-rotator/clickwrap-rotator/clickwrap/clickwraptest"
)

const (
	clientID     = "app-1"
	clientSecret = "client-secret-4b1d2e9a"
)

func newSandbox(t *testing.T) (*clickwraptest.Server, *clickwrap.Client, *clickwrap.Secret) {
	t.Helper()
	srv := clickwraptest.NewServer()
	t.Cleanup(srv.Close)
	srv.AddClient(clientID, clientSecret)
	c := clickwrap.NewClient(srv.Client())
	c.Retry.BaseDelay = 10 * time.Millisecond
	s, err := clickwrap.ParseSecret(`{"client_id":"` + clientID + `","client_secret":"` + clientSecret +
		`","token_url":"` + srv.TokenURL() + `","api_url":"` + srv.APIURL() + `"}`)
	if err != nil {
		t.Fatal(err)
	}
	return srv, c, s
}

func TestMintExpiry(t *testing.T) {
	t.Parallel()
	srv, c, s := newSandbox(t)
	srv.SetExpiresIn(2 * time.Hour)
	tok, err := c.Mint(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Until(tok.ExpiresAt); d < 119*time.Minute || d > 121*time.Minute {
		t.Errorf("ExpiresAt in %v, want about 2h", d)
	}
}

func TestMintErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		setup    func(srv *clickwraptest.Server, s *clickwrap.Secret)
		want     []string
		requests int // token requests: no request is sent twice at once
	}{
		{
			name:  "wrong client secret",
			setup: func(_ *clickwraptest.Server, s *clickwrap.Secret) { s.ClientSecret = "wrong-secret-123" },
			want:  []string{"invalid_client", "check client_id and client_secret"},
			// Basic, then body parameters, then a JSON body.
			requests: 3,
		},
		{
			// The token may have been issued before the 502: not retried.
			name: "502 is final for a mint",
			setup: func(srv *clickwraptest.Server, _ *clickwrap.Secret) {
				srv.FailNext(clickwraptest.EndpointToken, 100, 502)
			},
			want:     []string{"HTTP 502"},
			requests: 1,
		},
		{
			// 503 says the server did nothing: retried.
			name: "503 on every try",
			setup: func(srv *clickwraptest.Server, _ *clickwrap.Secret) {
				srv.FailNext(clickwraptest.EndpointToken, 100, 503)
			},
			want:     []string{"HTTP 503", "gave up after 4 tries"},
			requests: 4,
		},
		{
			name: "Retry-After longer than the deadline",
			setup: func(srv *clickwraptest.Server, _ *clickwrap.Secret) {
				srv.RateLimitNext(clickwraptest.EndpointToken, 100, 20*time.Second)
			},
			want:     []string{"HTTP 429", "remain before the deadline"},
			requests: 1,
		},
		{
			name:  "plain http token_url",
			setup: func(_ *clickwraptest.Server, s *clickwrap.Secret) { s.TokenURL = "http://127.0.0.1:1/oauth/token" },
			want:  []string{`"token_url"`, "https://"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, c, s := newSandbox(t)
			tt.setup(srv, s)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			start := time.Now()
			_, err := c.Mint(ctx, s)
			if err == nil {
				t.Fatal("Mint succeeded")
			}
			if time.Since(start) > 4*time.Second {
				t.Errorf("Mint took %v", time.Since(start))
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if strings.Contains(err.Error(), clientSecret) || strings.Contains(err.Error(), "wrong-secret-123") {
				t.Error("error leaks the client secret")
			}
			if st := srv.Stats(); st.Minted != 0 || st.TokenRequests != tt.requests {
				t.Errorf("sandbox saw %d token requests and %d mints, want %d and 0", st.TokenRequests, st.Minted, tt.requests)
			}
		})
	}
}

func TestMintRetriesThenSucceeds(t *testing.T) {
	t.Parallel()
	srv, c, s := newSandbox(t)
	srv.FailNext(clickwraptest.EndpointToken, 1, 503)
	tok, err := c.Mint(context.Background(), s)
	if err != nil {
		t.Fatalf("Mint after one 503: %v", err)
	}
	if !srv.Valid(tok.AccessToken) {
		t.Error("token not valid")
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		setup     func(srv *clickwraptest.Server)
		token     string // "" means a freshly minted one
		ok        bool
		permanent bool
		requests  int
		want      string
	}{
		{name: "valid", ok: true, requests: 1},
		{name: "unknown token", token: "not-a-token", permanent: true, requests: 1, want: "HTTP 401"},
		{name: "429 then success", setup: func(s *clickwraptest.Server) { s.RateLimitNext(clickwraptest.EndpointAPI, 1, time.Second) }, ok: true, requests: 2},
		{name: "503 twice then success", setup: func(s *clickwraptest.Server) { s.FailNext(clickwraptest.EndpointAPI, 2, 503) }, ok: true, requests: 3},
		{name: "500 on every try", setup: func(s *clickwraptest.Server) { s.FailNext(clickwraptest.EndpointAPI, 100, 500) }, requests: 4, want: "gave up after 4 tries"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, c, s := newSandbox(t)
			token := tt.token
			if token == "" {
				tok, err := c.Mint(context.Background(), s)
				if err != nil {
					t.Fatal(err)
				}
				token = tok.AccessToken
			}
			if tt.setup != nil {
				tt.setup(srv)
			}
			srv.ResetStats()
			err := c.Check(context.Background(), s.APIEndpoint(), token)
			if (err == nil) != tt.ok {
				t.Fatalf("Check: %v", err)
			}
			if got := srv.Stats().APIRequests; got != tt.requests {
				t.Errorf("API requests = %d, want %d", got, tt.requests)
			}
			if err == nil {
				return
			}
			var se *clickwrap.StatusError
			if !errors.As(err, &se) || se.Permanent() != tt.permanent {
				t.Errorf("err = %v, want a StatusError with Permanent() = %v", err, tt.permanent)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
			if strings.Contains(err.Error(), token) {
				t.Error("error leaks the token")
			}
		})
	}
}

// TestSlowServerBoundedByDeadline: a server that does not answer cannot hold
// a call past its context's deadline.
func TestSlowServerBoundedByDeadline(t *testing.T) {
	t.Parallel()
	srv, c, s := newSandbox(t)
	srv.SetDelay(clickwraptest.EndpointAny, time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Mint(ctx, s)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Mint against a stalled server: %v, want a deadline error", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("returned after %v", took)
	}
}

// TestUntrustedCertificate: the system roots do not trust the sandbox, and
// the failure is final (no retry) and says what to do.
func TestUntrustedCertificate(t *testing.T) {
	t.Parallel()
	srv, _, s := newSandbox(t)
	c := clickwrap.NewClient(nil) // system roots only
	err := c.Check(context.Background(), s.APIEndpoint(), "whatever-token")
	if err == nil || !strings.Contains(err.Error(), "not trusted") || !strings.Contains(err.Error(), "SSL_CERT_FILE") {
		t.Fatalf("Check against an untrusted server: %v", err)
	}
	if st := srv.Stats(); st.APIRequests != 0 {
		t.Errorf("a request reached the server: %+v", st)
	}
}

// TestConnectionReuse: one client, many calls, one TLS handshake.
func TestConnectionReuse(t *testing.T) {
	t.Parallel()
	srv, c, s := newSandbox(t)
	tok, err := c.Mint(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if err := c.Check(context.Background(), s.APIEndpoint(), tok.AccessToken); err != nil {
			t.Fatal(err)
		}
	}
	if n := srv.Stats().Handshakes; n != 1 {
		t.Errorf("TLS handshakes = %d, want 1", n)
	}
}

func TestRedirectToHTTPRefused(t *testing.T) {
	t.Parallel()
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://127.0.0.1:1/sites", http.StatusFound)
	}))
	defer ts.Close()
	hc := clickwrap.NewHTTPClient()
	hc.Transport.(*http.Transport).TLSClientConfig.RootCAs = ts.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	c := clickwrap.NewClient(hc)
	err := c.Check(context.Background(), ts.URL+"/v1.1", "tok")
	var se *clickwrap.StatusError
	if !errors.As(err, &se) || se.NotAPI == "" || se.Permanent() || !strings.Contains(err.Error(), "a redirect to http://127.0.0.1:1/sites") {
		t.Fatalf("redirect to http: %v, want the redirect reported and not followed", err)
	}
}

func TestNewPendingAndVerify(t *testing.T) {
	t.Parallel()
	srv, c, s := newSandbox(t)
	current, _ := s.MarshalJSON()
	pending, err := c.NewPending(context.Background(), string(current))
	if err != nil {
		t.Fatal(err)
	}
	p, err := clickwrap.ParseSecret(pending)
	if err != nil {
		t.Fatal(err)
	}
	if !srv.Valid(p.AccessToken) || p.ClientSecret != clientSecret {
		t.Error("pending secret lacks the new token or the credentials")
	}
	if err := c.Verify(context.Background(), pending); err != nil {
		t.Errorf("Verify: %v", err)
	}
	err = c.Verify(context.Background(), string(current))
	if !errors.Is(err, clickwrap.ErrNoAccessToken) {
		t.Errorf("Verify without a token: %v", err)
	}
	var fe *clickwrap.FieldError
	if _, err := c.NewPending(context.Background(), `{"client_id":"x"}`); !errors.As(err, &fe) || fe.Field != clickwrap.FieldClientSecret {
		t.Errorf("NewPending of a malformed secret: %v", err)
	}
	if srv.Stats().Minted != 1 {
		t.Errorf("minted %d, want 1", srv.Stats().Minted)
	}
}
