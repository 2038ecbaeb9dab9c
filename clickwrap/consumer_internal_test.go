package clickwrap

import (
	"net/http"
	"testing"
	"time"
)

func TestAllowed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url, apiHost string
		ok           bool
	}{
		{"https://api.pactsafe.com/v1.1/sites", "api.pactsafe.com", true},
		{"https://API.PactSafe.com/v1.1/sites", "api.pactsafe.com", true},
		{"https://api.pactsafe.com:443/v1.1/sites", "api.pactsafe.com", true},
		{"https://api.pactsafe.com/v1.1/sites", "api.pactsafe.com:443", true},
		{"https://127.0.0.1:8443/v1.1", "127.0.0.1:8443", true},
		{"http://api.pactsafe.com/v1.1/sites", "api.pactsafe.com", false},
		{"https://api.pactsafe.com:8443/v1.1/sites", "api.pactsafe.com", false},
		{"https://evil.example/v1.1/sites", "api.pactsafe.com", false},
		{"https://api.pactsafe.com.evil.example/v1.1", "api.pactsafe.com", false},
	}
	for _, tt := range tests {
		req, err := http.NewRequest(http.MethodGet, tt.url, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := allowed(req, tt.apiHost); (err == nil) != tt.ok {
			t.Errorf("allowed(%s, %s) = %v, want ok=%v", tt.url, tt.apiHost, err, tt.ok)
		}
	}
}

// SetTokenSourceClock replaces the clock of s, for the tests of package
// clickwrap_test (this file is compiled only into the package's tests).
func SetTokenSourceClock(s *TokenSource, now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}

// SetTokenSourceReadTimeout replaces the bound of the shared reads of s
// (10 seconds), for the tests of package clickwrap_test.
func SetTokenSourceReadTimeout(s *TokenSource, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.readTimeout = d
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		times int
		want  time.Duration
	}{
		{name: "first", times: 1, want: time.Second},
		{name: "second", times: 2, want: 2 * time.Second},
		{name: "fifth", times: 5, want: 16 * time.Second},
		{name: "sixth, capped", times: 6, want: 30 * time.Second},
		{name: "many, capped", times: 1000, want: 30 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := backoff(tt.times); got != tt.want {
				t.Errorf("backoff(%d) = %s, want %s", tt.times, got, tt.want)
			}
		})
	}
}

// WaitTokenSourceReads waits until no shared read of s is in progress (a
// refresh started in the background included), for the tests of package
// clickwrap_test.
func WaitTokenSourceReads(s *TokenSource) {
	for {
		s.mu.Lock()
		var fs []*flight
		if s.refresh != nil {
			fs = append(fs, s.refresh)
		}
		for _, f := range s.rereads {
			fs = append(fs, f)
		}
		s.mu.Unlock()
		if len(fs) == 0 {
			return
		}
		for _, f := range fs {
			<-f.done
		}
	}
}
