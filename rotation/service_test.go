package rotation_test

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/clickwrap-rotator/clickwrap-rotator/clickwrap"
	"github.com/clickwrap-rotator/clickwrap-rotator/rotation"
)

// service is the Clickwrap client as a CredentialService, with what the
// tests need: it counts mints and verifies, reports a value without
// access_token as rotation.ErrNoCredential, can refuse the first verifies
// (a credential that is not live yet), and can make pending values that hold
// no token. It is not a SourceMatcher; matching adds that.
type service struct {
	cw *clickwrap.Client

	mu          sync.Mutex
	mints       int
	verifies    int
	refuseFirst int  // Verify refuses this many calls first, permanently
	noToken     bool // NewPending drops access_token from what it makes
}

func newService(w *world) *service { return &service{cw: clickwrap.NewClient(w.cw.Client())} }

func (s *service) NewPending(ctx context.Context, current string) (string, error) {
	s.mu.Lock()
	s.mints++
	noToken := s.noToken
	s.mu.Unlock()
	v, err := s.cw.NewPending(ctx, current)
	if err != nil || !noToken {
		return v, err
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(v), &m); err != nil {
		return "", err
	}
	delete(m, "access_token") // token_type stays: the value is not a copy of AWSCURRENT
	b, err := json.Marshal(m)
	return string(b), err
}

func (s *service) Verify(ctx context.Context, value string) error {
	s.mu.Lock()
	s.verifies++
	refuse := s.verifies <= s.refuseFirst
	s.mu.Unlock()
	var m map[string]any
	if err := json.Unmarshal([]byte(value), &m); err == nil {
		if tok, _ := m["access_token"].(string); tok == "" {
			return noTokenError{}
		}
	}
	if refuse {
		return notLiveError{}
	}
	return s.cw.Verify(ctx, value)
}

func (s *service) counts() (mints, verifies int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mints, s.verifies
}

// matching is service with MadeFrom: a SourceMatcher, as the Clickwrap
// client is.
type matching struct{ *service }

func (m matching) MadeFrom(pending, current string) bool { return m.cw.MadeFrom(pending, current) }

// credentials is s as a rotator is given it: a SourceMatcher (matching) or
// not.
func (s *service) credentials(matcher bool) rotation.CredentialService {
	if matcher {
		return matching{s}
	}
	return s
}

// noTokenError is what a CredentialService's Verify returns for a value with
// no credential: it wraps ErrNoCredential and, like a malformed field, says
// it is permanent.
type noTokenError struct{}

func (noTokenError) Error() string   { return `secret field "access_token" is missing or empty` }
func (noTokenError) Permanent() bool { return true }
func (noTokenError) Unwrap() error   { return rotation.ErrNoCredential }

// notLiveError is a permanent refusal of a credential that is not live yet.
type notLiveError struct{}

func (notLiveError) Error() string   { return "the service refused the credential (HTTP 401, test)" }
func (notLiveError) Permanent() bool { return true }
