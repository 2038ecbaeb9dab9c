package clickwrap_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/clickwrap-rotator/clickwrap-rotator/clickwrap"
)

// pair starts two TLS servers that trust each other's certificate (httptest
// uses one certificate for all) and a client that trusts both: "home", the
// configured host, and "elsewhere", another host.
func pair(t *testing.T, home http.HandlerFunc) (homeURL string, elsewhereHits *atomic.Int32, elsewhereURL string, c *clickwrap.Client) {
	t.Helper()
	hits := new(atomic.Int32)
	other := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"access_token":"stolen","token_type":"Bearer"}`))
	}))
	t.Cleanup(other.Close)
	ts := httptest.NewTLSServer(home)
	t.Cleanup(ts.Close)
	hc := clickwrap.NewHTTPClient()
	hc.Transport.(*http.Transport).TLSClientConfig.RootCAs = ts.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	c = clickwrap.NewClient(hc)
	c.Retry.MaxAttempts = 1
	return ts.URL, hits, other.URL, c
}

// TestRedirectsStayOnTheHost: neither the client secret (a 307 replays the
// token request's body) nor a Bearer token follows a redirect to another
// host, or to plain http.
func TestRedirectsStayOnTheHost(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		to   func(elsewhere string) string
		want string
	}{
		{"another https host", func(e string) string { return e + "/oauth/token" }, "refusing redirect from host"},
		{"plain http", func(e string) string { return "http://" + strings.TrimPrefix(e, "https://") + "/oauth/token" }, "non-https"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var target string
			home, hits, elsewhere, c := pair(t, func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, target, http.StatusTemporaryRedirect)
			})
			target = tt.to(elsewhere)
			s, err := clickwrap.ParseSecret(`{"client_id":"id","client_secret":"redirect-secret-x","token_url":"` + home + `/oauth/token","api_url":"` + home + `/v1.1"}`)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Mint(context.Background(), s); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Mint through a redirect: %v, want an error containing %q", err, tt.want)
			}
			if err := c.Check(context.Background(), s.APIEndpoint(), "bearer-token-x"); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Check through a redirect: %v, want an error containing %q", err, tt.want)
			}
			if n := hits.Load(); n != 0 {
				t.Errorf("the other host got %d requests", n)
			}
		})
	}
}

// TestUnusableTokenAnswerIsNotRetried: a 2xx that is not a token response
// may still have minted a token; asking again could mint more, so it is
// final.
func TestUnusableTokenAnswerIsNotRetried(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	home, _, _, c := pair(t, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"token_type":"Bearer"}`)) // no access_token
	})
	c.Retry.MaxAttempts = 4
	s, _ := clickwrap.ParseSecret(`{"client_id":"id","client_secret":"s","token_url":"` + home + `/oauth/token"}`)
	_, err := c.Mint(context.Background(), s)
	if err == nil || !strings.Contains(err.Error(), "unusable answer") {
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
	c := clickwrap.NewClient(nil)
	c.Retry.MaxAttempts = 1
	err := c.Check(context.Background(), "https://127.0.0.1:1/v1.1?proxy_key=hidden-key-9", "tok")
	if err == nil || strings.Contains(err.Error(), "hidden-key-9") {
		t.Fatalf("Check error: %v", err)
	}
}
