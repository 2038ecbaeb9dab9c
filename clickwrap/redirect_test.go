package clickwrap_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/clickwrap-rotator/clickwrap-rotator/clickwrap"
)

// pair starts "home", the configured host, and two other servers, one TLS
// (httptest uses one certificate for all, so the client trusts it) and one
// plain http, which count every request they get; and a client that trusts
// the TLS ones.
func pair(t *testing.T, home http.HandlerFunc) (homeURL string, elsewhereHits *atomic.Int32, elsewhereURL, plainURL string, c *clickwrap.Client) {
	t.Helper()
	hits := new(atomic.Int32)
	count := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"access_token":"stolen","token_type":"Bearer"}`))
	})
	other := httptest.NewTLSServer(count)
	t.Cleanup(other.Close)
	plain := httptest.NewServer(count)
	t.Cleanup(plain.Close)
	ts := httptest.NewTLSServer(home)
	t.Cleanup(ts.Close)
	hc := clickwrap.NewHTTPClient()
	hc.Transport.(*http.Transport).TLSClientConfig.RootCAs = ts.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	c = clickwrap.NewClient(hc)
	c.Retry.MaxAttempts = 1
	return ts.URL, hits, other.URL, plain.URL, c
}

// TestRedirectsStayOnTheHost: neither the client secret (a 307 replays the
// token request's body) nor a Bearer token follows a redirect to another
// host, or to plain http.
func TestRedirectsStayOnTheHost(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		to   func(elsewhere, plain string) string
		want string
	}{
		{"another https host", func(e, _ string) string { return e + "/oauth/token" }, "refusing redirect from host"},
		{"plain http", func(_, p string) string { return p + "/oauth/token" }, "non-https"},
	}
	// The check follows no redirect at all: a redirect is not the API's
	// answer, so it neither proves nor condemns the token.
	const checkWant = "with a redirect to"
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var target string
			var homeHits atomic.Int32
			home, hits, elsewhere, plain, c := pair(t, func(w http.ResponseWriter, r *http.Request) {
				homeHits.Add(1)
				http.Redirect(w, r, target, http.StatusTemporaryRedirect)
			})
			target = tt.to(elsewhere, plain)
			c.Retry.MaxAttempts = 4 // a refused redirect must not be retried
			s, err := clickwrap.ParseSecret(`{"client_id":"id","client_secret":"redirect-secret-x","token_url":"` + home + `/oauth/token","api_url":"` + home + `/v1.1"}`)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Mint(context.Background(), s); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Mint through a redirect: %v, want an error containing %q", err, tt.want)
			}
			if err := c.Check(context.Background(), s.APIEndpoint(), "bearer-token-x"); err == nil || !strings.Contains(err.Error(), checkWant) {
				t.Errorf("Check through a redirect: %v, want an error containing %q", err, checkWant)
			}
			if n := hits.Load(); n != 0 {
				t.Errorf("the other host got %d requests", n)
			}
			if n := homeHits.Load(); n != 2 {
				t.Errorf("the configured host got %d requests, want 2 (one mint, one check; a refused redirect is final)", n)
			}
		})
	}
}

// TestUnusableTokenAnswerIsNotRetried: a 2xx that is not a token response
// may still have minted a token; asking again could mint more, so it is
// final, and the error names what was missing.
func TestUnusableTokenAnswerIsNotRetried(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	home, _, _, _, c := pair(t, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"token_type":"Bearer"}`)) // no access_token
	})
	c.Retry.MaxAttempts = 4
	s, _ := clickwrap.ParseSecret(`{"client_id":"id","client_secret":"s","token_url":"` + home + `/oauth/token"}`)
	_, err := c.Mint(context.Background(), s)
	if err == nil || !strings.Contains(err.Error(), "a JSON object without access_token") {
		t.Fatalf("Mint: %v", err)
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("token endpoint got %d requests, want 1", n)
	}
}

// TestURLQueryNotInErrors: a query string in an endpoint (a proxy's key,
// say) does not reach an error message.
func TestURLQueryNotInErrors(t *testing.T) {
	t.Parallel()
	untrusted := httptest.NewTLSServer(http.NotFoundHandler()) // the system roots do not trust it
	defer untrusted.Close()
	c := clickwrap.NewClient(nil)
	c.Retry.MaxAttempts = 1
	tests := []struct {
		name string
		base string
	}{
		{"connection refused", "https://127.0.0.1:1"},
		{"untrusted certificate", untrusted.URL},
	}
	for _, tt := range tests {
		s, err := clickwrap.ParseSecret(`{"client_id":"id","client_secret":"s","token_url":"` + tt.base + `/oauth/token?proxy_key=hidden-key-9","api_url":"` + tt.base + `/v1.1?proxy_key=hidden-key-9"}`)
		if err != nil {
			t.Fatal(err)
		}
		_, mintErr := c.Mint(context.Background(), s)
		checkErr := c.Check(context.Background(), s.APIEndpoint(), "tok")
		for _, err := range []error{mintErr, checkErr} {
			if err == nil || strings.Contains(err.Error(), "hidden-key-9") {
				t.Errorf("%s: error %v (it must exist and not show the query)", tt.name, err)
			}
		}
		if got := fmt.Sprint(s); strings.Contains(got, "hidden-key-9") {
			t.Errorf("the redacted secret shows the query: %s", got)
		}
	}
}
