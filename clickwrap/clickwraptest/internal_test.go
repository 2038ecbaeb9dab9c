package clickwraptest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"testing"
	"time"
)

// activeHandlers returns the number of handlers running.
func (s *Server) activeHandlers() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.active
}

// waitActive polls until want handlers run, or fails the test.
func waitActive(t *testing.T, s *Server, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for s.activeHandlers() != want {
		if time.Now().After(deadline) {
			t.Fatalf("%d handlers running, want %d", s.activeHandlers(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestDelayReturnsWhenClientGivesUp checks that a delayed handler returns as
// soon as the request context ends, not when the delay is over.
func TestDelayReturnsWhenClientGivesUp(t *testing.T) {
	t.Parallel()
	for _, h2 := range []bool{false, true} {
		name := "HTTP/1.1"
		if h2 {
			name = "HTTP/2"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := NewServer()
			defer s.Close()
			s.SetDelay(EndpointAPI, time.Hour)
			c := s.Client()
			if !h2 {
				pool := x509.NewCertPool()
				pool.AppendCertsFromPEM(s.CACertPEM())
				tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
				c = &http.Client{Transport: tr}
				defer tr.CloseIdleConnections()
			}
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() {
				req, _ := http.NewRequestWithContext(ctx, "GET", s.APIURL()+"/sites", nil)
				resp, err := c.Do(req)
				if err == nil {
					resp.Body.Close()
				}
				done <- err
			}()
			waitActive(t, s, 1)
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Errorf("err = %v, want context.Canceled", err)
			}
			waitActive(t, s, 0) // well before the hour is over
			if st := s.Stats(); st.APIRequests != 1 || st.APIRejected != 0 {
				t.Errorf("Stats = %+v", st)
			}
		})
	}
}

// TestCloseAbortsDelays checks that Close does not wait for pending delays.
func TestCloseAbortsDelays(t *testing.T) {
	t.Parallel()
	s := NewServer()
	s.SetDelay(EndpointAny, time.Hour)
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(t.Context(), "POST", s.TokenURL(), nil)
		resp, err := s.Client().Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	waitActive(t, s, 1)
	start := time.Now()
	s.Close()
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Close took %v", d)
	}
	if s.activeHandlers() != 0 {
		t.Error("handlers still running after Close")
	}
	if err := <-done; err == nil {
		t.Error("the delayed request got an answer from a closed server")
	}
}
