package clickwrap

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"golang.org/x/oauth2"
)

// SecretReader is the one Secrets Manager call a token consumer needs.
// *secretsmanager.Client satisfies it.
type SecretReader interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// TokenSourceOptions tune a [TokenSource].
type TokenSourceOptions struct {
	// MaxAge is how long a token read from the secret is used before the
	// secret is read again (default 5 minutes; zero or negative means the
	// default). The token is re-read sooner when the secret's expires_at
	// comes first, and at once when Clickwrap answers 401 through
	// [Transport]. A rotation is therefore picked up at the latest MaxAge
	// after the previous read. A cached token that Clickwrap rejected, for
	// which the re-read found nothing newer, is still returned until that
	// re-read's back-off ends (see [TokenSource.Rejected]); the next call
	// then reads the secret again, and waits for that read.
	//
	// Under oauth2.ReuseTokenSource (which oauth2.NewClient wraps around
	// every source) a token counts as expired 10 seconds (oauth2's
	// expiryDelta) before its Expiry. From then on ReuseTokenSource asks
	// [TokenSource.Token] on every request; Token answers from its cache,
	// without a Secrets Manager call, with the same token and Expiry until
	// the Expiry passes, and only then reads the secret. A MaxAge of 10
	// seconds or less is therefore fine: ReuseTokenSource asks on every
	// request (it uses a token it has just been given even if it already
	// counts as expired), and the secret is still read at most once per
	// MaxAge.
	//
	// When the read due after MaxAge fails (Secrets Manager throttled or
	// unreachable, KMS unable to decrypt, a malformed secret), the cached
	// token, which most likely still works, goes on being used for at most
	// MaxAge more: until twice MaxAge after the read that returned it, and
	// never past the secret's expires_at (a 401 through [Transport] still
	// re-reads at once). Meanwhile the secret is read again once
	// a back-off has passed: 1 second after the failed read, doubling after
	// each further one, at most 30 seconds; calls in between are answered
	// from the cache without a read. Callers wait only for the first read
	// that fails (the one due after MaxAge); each read after a back-off runs
	// in the background, started by a call that, like those made while it
	// runs, gets the cached token at once. Token keeps the token's Expiry,
	// which has passed. Once the cached token is past expires_at, or was read
	// twice MaxAge ago, the read's error is returned, as it is when there is
	// no cached token (a first read that fails).
	MaxAge time.Duration
	// FallbackToPending makes a 401 on the AWSCURRENT token also try the
	// AWSPENDING version. It matters only if minting a token revokes the
	// previous one (Clickwrap does not document whether it does): then the
	// AWSCURRENT token dies when createSecret mints, and the new token is
	// readable as AWSPENDING until finishSecret promotes it. The consumer's
	// role then also needs GetSecretValue for AWSPENDING (the same action).
	//
	// The re-read after a 401 then polls, to catch a token minted but not
	// yet stored: it reads AWSCURRENT and AWSPENDING up to 5 times, 100 ms
	// apart, so a re-read that finds nothing newer takes about 0.4 seconds
	// and 10 GetSecretValue calls (one re-read for all the callers that
	// report the same token; see [TokenSource.Rejected]). A re-read does not
	// take as the replacement a token that Clickwrap rejected and whose
	// back-off has not ended: when Clickwrap rejects both the AWSCURRENT and
	// the AWSPENDING token, the source backs off instead of alternating
	// between them.
	FallbackToPending bool
	// Logger, when set, receives a warning for each failed read of the
	// secret after which the cached token is still used (see MaxAge): the
	// secret's ID, the read's error, until when the token is used and when
	// the secret is read next. Never a token or any other value of the
	// secret. Nil logs nothing.
	Logger *slog.Logger
}

// TokenSource is the consumer side of rotation: it reads the access token
// from the secret's AWSCURRENT version, caches it for
// [TokenSourceOptions.MaxAge] (or until the secret's expires_at, if sooner),
// and re-reads the secret when Clickwrap rejects the cached token.
//
// Safe for concurrent use. Reads of the secret are shared, and a caller that
// has a usable token in the cache never waits for one: callers that find the
// cache stale wait together for one read of AWSCURRENT, the reads after a
// failed one run in the background while the cached token is used on (see
// [TokenSourceOptions.MaxAge]), and concurrent 401s on a token cause one
// re-read (see [TokenSource.Rejected]). Each shared
// read, polls included, is bounded to 10 seconds whatever the callers'
// contexts; a caller whose context ends stops waiting for it, and the read
// goes on for the others.
//
// Use it with [Transport], which sends the token only over HTTPS and only to
// the host of the secret's api_url, and on a 401 re-reads the secret and
// retries. TokenSource is also an [oauth2.TokenSource], but under
// oauth2.Transport or oauth2.NewClient the token goes to ANY host a request
// names, over plain http too (oauth2's transport binds the token to no
// host), and a 401 is handed to the caller without a re-read: the token is
// replaced only when its Expiry passes (see [TokenSource.Token]).
type TokenSource struct {
	secrets  SecretReader
	secretID string
	opts     TokenSourceOptions

	mu          sync.Mutex
	now         func() time.Time
	readTimeout time.Duration // bound of one shared read: readTimeout, or a test's
	cached      cachedToken   // zero until the first read
	gen         uint64        // incremented each time cached is replaced
	// refresh is the read of AWSCURRENT in progress for a stale or empty
	// cache, which the callers that need it wait for together.
	refresh *flight
	// refreshFailures counts the refreshes failed in a row. While it is not
	// zero and the cached token is servable, no refresh starts before
	// retryAt.
	refreshFailures int
	retryAt         time.Time
	// rereads are the re-reads after a 401 in progress, by rejected token.
	rereads map[string]*flight
	// rejects are the tokens Clickwrap rejected lately, at most
	// maxRejected of them, each with its back-off. A token under back-off
	// is not taken as a replacement by a re-read, and the source does not
	// re-read for it before the back-off ends.
	rejects map[string]*rejection
}

// maxRejected bounds the rejected tokens a source remembers.
const maxRejected = 8

// cachedToken is one read of the secret.
type cachedToken struct {
	token   string
	apiHost string    // host of the secret's api_url: where Transport may send the token
	readAt  time.Time // when the GetSecretValue that returned token started
	// expiry is readAt+MaxAge, or the secret's expires_at if that is
	// sooner: the oauth2.Token's Expiry.
	expiry time.Time
	// expiresAt is the secret's expires_at; zero when it has none.
	expiresAt time.Time
}

// rejection is what the source knows of a token Clickwrap rejected.
type rejection struct {
	err   error     // what Rejected answers for the token until the back-off ends
	times int       // re-reads in a row for the token (see noteRejectedLocked)
	until time.Time // end of the back-off: no re-read for the token before it
}

// flight is one read of the secret in progress, shared by the callers that
// need its result, as in golang.org/x/sync/singleflight's DoChan.
type flight struct {
	done chan struct{} // closed once c and err are set
	c    cachedToken
	err  error
}

// wait returns the flight's result, or an error wrapping ctx.Err() if ctx
// ends first; the flight goes on for its other callers.
func (f *flight) wait(ctx context.Context, secretID string) (cachedToken, error) {
	select {
	case <-f.done:
		return f.c, f.err
	default:
	}
	select {
	case <-f.done:
		return f.c, f.err
	case <-ctx.Done():
		return cachedToken{}, fmt.Errorf("clickwrap token source: waiting for a read of secret %s: %w", secretID, ctx.Err())
	}
}

// readTimeout bounds each shared read of the secret: a refresh of
// AWSCURRENT, or a re-read after a 401 with its polls. Token's wait has the
// same bound.
const readTimeout = 10 * time.Second

// backoff is how long the source waits before it reads the secret again
// for the same purpose after n (>= 1) reads in a row that failed or found
// nothing newer: 1 second, doubling, at most 30 seconds.
func backoff(n int) time.Duration {
	const ceiling = 30 * time.Second
	d := time.Second
	for ; n > 1 && d < ceiling; n-- {
		d *= 2
	}
	return min(d, ceiling)
}

// expiryOf is readAt+maxAge, or expiresAt if it is set and sooner.
func expiryOf(readAt time.Time, maxAge time.Duration, expiresAt time.Time) time.Time {
	e := readAt.Add(maxAge)
	if !expiresAt.IsZero() && expiresAt.Before(e) {
		return expiresAt
	}
	return e
}

// fresh reports whether c may still be used at now: until its expiry, or,
// when the secret's expires_at had already passed at the read, for maxAge
// after the read (reading again sooner would cost a Secrets Manager call per
// request while the rotation is behind, and a 401 through Transport re-reads
// at once anyway).
func (c *cachedToken) fresh(now time.Time, maxAge time.Duration) bool {
	if c.token == "" {
		return false
	}
	if c.expiry.After(c.readAt) {
		return now.Before(c.expiry)
	}
	return now.Before(c.readAt.Add(maxAge))
}

// servable reports whether c may be used at now once a refresh has failed:
// it is not past the secret's expires_at (or the secret has none), and it
// was read less than twice maxAge ago.
func (c *cachedToken) servable(now time.Time, maxAge time.Duration) bool {
	return c.token != "" &&
		(c.expiresAt.IsZero() || now.Before(c.expiresAt)) &&
		now.Before(c.readAt.Add(2*maxAge))
}

// NewTokenSource returns a TokenSource for the secret secretID.
func NewTokenSource(sm SecretReader, secretID string, opts TokenSourceOptions) *TokenSource {
	if opts.MaxAge <= 0 {
		opts.MaxAge = 5 * time.Minute
	}
	return &TokenSource{secrets: sm, secretID: secretID, opts: opts, now: time.Now, readTimeout: readTimeout}
}

// Token implements [oauth2.TokenSource]: it returns the cached token, or
// reads AWSCURRENT (waiting at most 10 seconds) when there is none or it is
// stale, as [TokenSource.AccessToken] does. TokenType is "Bearer". Expiry is
// the time the token was read from the secret plus MaxAge, or the secret's
// expires_at if that is sooner; it is fixed at the read, so a cached token
// keeps its Expiry however often Token is called, also while it is used on
// after a failed read (see [TokenSourceOptions.MaxAge]).
// oauth2.ReuseTokenSource (and so oauth2.NewClient) reuses the token until
// 10 seconds before Expiry, then asks Token again; see
// [TokenSourceOptions.MaxAge]. The error is the read's: a Secrets Manager
// error, or a [*FieldError] or [ErrNotObject] for a malformed secret,
// wrapped with the secret's ID (never its value); or, when the read takes
// longer than 10 seconds, one wrapping [context.DeadlineExceeded].
//
// Under oauth2.Transport or oauth2.NewClient the token is sent to ANY host a
// request names, over plain http too: oauth2's transport binds the token to
// no host. [Transport] sends it only over HTTPS to the host of the secret's
// api_url, and on a 401 re-reads the secret and retries.
func (s *TokenSource) Token() (*oauth2.Token, error) {
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	c, err := s.current(ctx)
	if err != nil {
		return nil, err
	}
	return &oauth2.Token{AccessToken: c.token, TokenType: "Bearer", Expiry: c.expiry}, nil
}

// AccessToken returns the cached token, reading AWSCURRENT when there is
// none or it is stale: older than MaxAge, past the secret's expires_at, or
// rejected by Clickwrap with its back-off ended (see
// [TokenSourceOptions.MaxAge]).
// When that read fails, the cached token is returned while it may still be
// used, as [TokenSourceOptions.MaxAge] says. The read is shared with the other
// callers and bounded to 10 seconds; AccessToken stops waiting for it when
// ctx ends, with an error wrapping ctx.Err(). Other errors are those of
// [TokenSource.Token].
func (s *TokenSource) AccessToken(ctx context.Context) (string, error) {
	c, err := s.current(ctx)
	return c.token, err
}

// current returns the cached read, reading AWSCURRENT when it is stale.
func (s *TokenSource) current(ctx context.Context) (cachedToken, error) {
	s.mu.Lock()
	now := s.now()
	// A cached token Clickwrap rejected, with nothing newer found, is used
	// until its back-off ends; then the cache is stale.
	r := s.rejectionLocked(s.cached.token, now)
	rejectedDue := r != nil && !now.Before(r.until)
	if s.cached.fresh(now, s.opts.MaxAge) && !rejectedDue {
		c := s.cached
		s.mu.Unlock()
		return c, nil
	}
	if s.refreshFailures > 0 && s.cached.servable(now, s.opts.MaxAge) {
		// A refresh failed: the cached token is used on, and the secret is
		// read again once the back-off has passed. No caller waits for that
		// read, unless Clickwrap rejected the cached token.
		switch {
		case s.refresh != nil || now.Before(s.retryAt):
			c := s.cached
			s.mu.Unlock()
			return c, nil
		case r == nil:
			s.startRefreshLocked(ctx)
			c := s.cached
			s.mu.Unlock()
			return c, nil
		}
	}
	f := s.refresh
	if f == nil {
		f = s.startRefreshLocked(ctx)
	}
	s.mu.Unlock()
	c, err := f.wait(ctx, s.secretID)
	if err == nil || ctx.Err() != nil {
		return c, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cached.servable(s.now(), s.opts.MaxAge) {
		return s.cached, nil
	}
	return cachedToken{}, err
}

// startRefreshLocked starts the read of AWSCURRENT for a stale or empty
// cache. The caller holds s.mu.
func (s *TokenSource) startRefreshLocked(ctx context.Context) *flight {
	gen := s.gen
	s.refresh = s.goLocked(ctx, func(ctx context.Context, now func() time.Time) (cachedToken, error) {
		return s.read(ctx, "AWSCURRENT", now)
	}, func(c cachedToken, err error) (cachedToken, error, func()) {
		s.refresh = nil
		if err != nil && s.gen != gen {
			// A re-read after a 401 replaced the cache while this read ran:
			// its token is newer, and this failure says nothing of it.
			return s.cached, nil, nil
		}
		if err != nil {
			s.refreshFailures++
			now, wait := s.now(), backoff(s.refreshFailures)
			s.retryAt = now.Add(wait)
			if s.opts.Logger == nil || !s.cached.servable(now, s.opts.MaxAge) {
				return cachedToken{}, err, nil
			}
			until := s.cached.readAt.Add(2 * s.opts.MaxAge)
			if !s.cached.expiresAt.IsZero() && s.cached.expiresAt.Before(until) {
				until = s.cached.expiresAt
			}
			logger, failures := s.opts.Logger, s.refreshFailures
			return cachedToken{}, err, func() {
				logger.Warn("clickwrap token source: reading the secret failed; still using the cached token",
					"secret_id", s.secretID, "error", err.Error(), "failures_in_a_row", failures,
					"used_until", until, "next_read_in", wait)
			}
		}
		if s.gen == gen {
			s.installLocked(c)
			// The secret still holds a token Clickwrap rejected: this read
			// found nothing newer, as a re-read after a 401 would not have.
			now := s.now()
			if r := s.rejectionLocked(c.token, now); r != nil && !now.Before(r.until) {
				s.noteRejectedLocked(c.token, r.err, now)
			}
		} // else a re-read after a 401 replaced the cache while this read ran: keep its token
		s.refreshFailures = 0
		return s.cached, nil, nil
	})
	return s.refresh
}

// pendingPolls bound how long a re-read with FallbackToPending waits for a
// pending token to be stored (the moment between a mint and its
// PutSecretValue).
const (
	pendingPolls    = 5
	pendingInterval = 100 * time.Millisecond
)

// Rejected tells the source that Clickwrap answered 401 to token, and
// returns the token to use instead. When the source already holds another
// token, it returns that one without a read. Otherwise it re-reads the
// secret (AWSCURRENT; with [TokenSourceOptions.FallbackToPending], polling
// AWSPENDING too for about 0.4 seconds), once however many callers report
// the same token meanwhile, bounded to 10 seconds; Rejected stops waiting
// when ctx ends, with an error wrapping ctx.Err(), and the re-read goes on
// for the others. A newer token is cached and returned. Callers holding a
// cached token do not wait for the re-read.
//
// When the secret holds no other token, the error says so; when the re-read
// fails, the error is the read's (see [TokenSource.Token]). Either is
// remembered: the same token reported again gets the same error without a
// read until a back-off has passed, 1 second after the first such re-read
// and doubling with each further one for that token, at most 30 seconds;
// once a back-off ended as long ago as it lasted, the next one starts again
// at 1 second. The source remembers the last few rejected tokens: a re-read
// does not take one of them as the replacement while its back-off lasts (a
// token rejected has a back-off even when its re-read found a
// replacement), so a rejected AWSPENDING token does not bring back a
// rejected AWSCURRENT one (see [TokenSourceOptions.FallbackToPending]).
// Errors name the secret, never a token.
func (s *TokenSource) Rejected(ctx context.Context, token string) (string, error) {
	c, err := s.rejected(ctx, token)
	return c.token, err
}

// rejected is Rejected, returning the whole read of the replacement.
func (s *TokenSource) rejected(ctx context.Context, token string) (cachedToken, error) {
	s.mu.Lock()
	if s.cached.token != "" && s.cached.token != token {
		c := s.cached
		s.mu.Unlock()
		return c, nil // another caller already replaced it
	}
	if r := s.rejectionLocked(token, s.now()); r != nil && s.now().Before(r.until) {
		err := r.err
		s.mu.Unlock()
		return cachedToken{}, err
	}
	f := s.rereads[token]
	if f == nil {
		f = s.startRereadLocked(ctx, token)
	}
	s.mu.Unlock()
	return f.wait(ctx, s.secretID)
}

// startRereadLocked starts the re-read after a 401 on token. The caller
// holds s.mu.
func (s *TokenSource) startRereadLocked(ctx context.Context, token string) *flight {
	if s.rereads == nil {
		s.rereads = map[string]*flight{}
	}
	f := s.goLocked(ctx, func(ctx context.Context, now func() time.Time) (cachedToken, error) {
		return s.reread(ctx, token, now)
	}, func(c cachedToken, err error) (cachedToken, error, func()) {
		delete(s.rereads, token)
		if err == nil && (s.cached.token == "" || s.cached.token == token) {
			s.installLocked(c)
		}
		// token stays rejected, also when a replacement was found: a re-read
		// for that replacement does not take token back before token's
		// back-off ends.
		rerr := err
		if rerr == nil {
			rerr = s.errNoOther()
		}
		s.noteRejectedLocked(token, rerr, s.now())
		if s.cached.token != "" && s.cached.token != token {
			// This re-read's replacement, or one another read found meanwhile.
			return s.cached, nil, nil
		}
		return cachedToken{}, err, nil
	})
	s.rereads[token] = f
	return f
}

// errNoOther is the error of a re-read that found no other token than the
// rejected one.
func (s *TokenSource) errNoOther() error {
	return fmt.Errorf("clickwrap token source: Clickwrap rejected the token in secret %s and the secret holds no other: check the secret's rotation (rotatorctl status)", s.secretID)
}

// rejectionLocked returns what the source knows of token's rejection, or
// nil. Once the back-off has ended long since (as long again as the
// back-off itself), the count of re-reads starts again from zero, so that
// a rejection hours ago does not lengthen the next back-off. The caller
// holds s.mu.
func (s *TokenSource) rejectionLocked(token string, now time.Time) *rejection {
	r := s.rejects[token]
	if r == nil || token == "" {
		return nil
	}
	if r.times > 0 && !now.Before(r.until.Add(backoff(r.times))) {
		r.times = 0
	}
	return r
}

// noteRejectedLocked records one more re-read for token, which Clickwrap
// rejected, and starts its next back-off; err is what Rejected answers for
// token meanwhile. The caller holds s.mu.
func (s *TokenSource) noteRejectedLocked(token string, err error, now time.Time) {
	r := s.rejectionLocked(token, now)
	if r == nil {
		if s.rejects == nil {
			s.rejects = map[string]*rejection{}
		}
		if len(s.rejects) >= maxRejected {
			// Forget the one whose back-off ended first, never the cached one.
			var oldest string
			for t, o := range s.rejects {
				if t != s.cached.token && (oldest == "" || o.until.Before(s.rejects[oldest].until)) {
					oldest = t
				}
			}
			delete(s.rejects, oldest)
		}
		r = &rejection{}
		s.rejects[token] = r
	}
	r.times++
	r.err = err
	r.until = now.Add(backoff(r.times))
}

// underBackoff reports whether token was rejected by Clickwrap and its
// back-off has not ended: a re-read does not take it as a replacement.
func (s *TokenSource) underBackoff(token string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	r := s.rejectionLocked(token, now)
	return r != nil && now.Before(r.until)
}

// reread reads the secret for a token other than the rejected one:
// AWSCURRENT, and with FallbackToPending AWSPENDING too, polled.
func (s *TokenSource) reread(ctx context.Context, token string, now func() time.Time) (cachedToken, error) {
	polls, stages := 1, []string{"AWSCURRENT"}
	if s.opts.FallbackToPending {
		polls, stages = pendingPolls, []string{"AWSCURRENT", "AWSPENDING"}
	}
	for i := range polls {
		if i > 0 {
			t := time.NewTimer(pendingInterval)
			select {
			case <-ctx.Done():
				t.Stop()
				return cachedToken{}, fmt.Errorf("clickwrap token source: re-reading secret %s: %w", s.secretID, ctx.Err())
			case <-t.C:
			}
		}
		for _, stage := range stages {
			c, err := s.read(ctx, stage, now)
			var nf *types.ResourceNotFoundException
			if stage == "AWSPENDING" && errors.As(err, &nf) {
				continue // no rotation in progress, or its token is not stored yet
			}
			if err != nil {
				return cachedToken{}, err
			}
			if c.token != token && !s.underBackoff(c.token) {
				return c, nil
			}
		}
	}
	return cachedToken{}, s.errNoOther()
}

// goLocked starts read in a goroutine as a shared flight, under a context
// that keeps ctx's values but not its cancellation (the callers that wait
// may give up one by one) and ends after s.readTimeout. When read returns,
// or when that context ends first (with an error wrapping its Err; read,
// which should have returned, is then left to finish alone), land runs
// under s.mu, updates the source and gives the flight's result,
// and an action (a log) to run once s.mu is unlocked, or nil.
// The caller holds s.mu.
func (s *TokenSource) goLocked(ctx context.Context,
	read func(ctx context.Context, now func() time.Time) (cachedToken, error),
	land func(cachedToken, error) (cachedToken, error, func()),
) *flight {
	f := &flight{done: make(chan struct{})}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.readTimeout)
	now := s.now
	go func() {
		defer close(f.done)
		defer cancel()
		type result struct {
			c   cachedToken
			err error
		}
		// A SecretReader that ignores its context is left to finish alone.
		results := make(chan result, 1)
		go func() {
			c, err := read(fctx, now)
			results <- result{c, err}
		}()
		var res result
		select {
		case res = <-results:
		case <-fctx.Done():
			select {
			case res = <-results:
			default:
				res.err = fmt.Errorf("clickwrap token source: reading secret %s: %w", s.secretID, fctx.Err())
			}
		}
		c, err := res.c, res.err
		s.mu.Lock()
		var after func()
		f.c, f.err, after = land(c, err)
		s.mu.Unlock()
		if after != nil {
			after()
		}
	}()
	return f
}

// installLocked replaces the cache with c, a read newer than it. The caller
// holds s.mu.
func (s *TokenSource) installLocked(c cachedToken) {
	s.cached = c
	s.gen++
	s.refreshFailures = 0
}

// read reads one stage of the secret; readAt is the time the read started.
// It may run without s.mu: it touches nothing of s but its settings.
func (s *TokenSource) read(ctx context.Context, stage string, now func() time.Time) (cachedToken, error) {
	readAt := now()
	out, err := s.secrets.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{
		SecretId:     aws.String(s.secretID),
		VersionStage: aws.String(stage),
	})
	if err != nil {
		return cachedToken{}, fmt.Errorf("clickwrap token source: reading %s of secret %s: %w", stage, s.secretID, err)
	}
	sec, err := decodeSecret(aws.ToString(out.SecretString))
	if err != nil {
		return cachedToken{}, fmt.Errorf("clickwrap token source: %s of secret %s: %w", stage, s.secretID, err)
	}
	if sec.AccessToken == "" {
		return cachedToken{}, fmt.Errorf("clickwrap token source: %s of secret %s: %w", stage, s.secretID,
			&FieldError{Field: FieldAccessToken, Problem: "is missing: the secret has not been rotated yet"})
	}
	u, err := url.Parse(sec.APIEndpoint()) // decodeSecret checked it is https://host
	if err != nil {
		return cachedToken{}, err
	}
	return cachedToken{
		token:     sec.AccessToken,
		apiHost:   u.Host,
		readAt:    readAt,
		expiry:    expiryOf(readAt, s.opts.MaxAge, sec.ExpiresAt),
		expiresAt: sec.ExpiresAt,
	}, nil
}

// Transport is an http.RoundTripper for calling the Clickwrap API with the
// token from a TokenSource. It sends the token only over https:// and only
// to the host of the secret's api_url (a request or redirect anywhere else
// fails without it). It sets Authorization: Bearer and, when
// Clickwrap answers 401, asks the source for the replacement
// ([TokenSource.Rejected]) and sends the request again, up to
// MaxReplacements times (default 3: during rotations in quick succession a
// replacement can itself be superseded before it is used). When the source
// has no replacement, the caller gets Clickwrap's 401. A request whose body
// cannot be replayed (a Body without GetBody; http.NoBody can be) is not
// resent: it gets the 401, but the source still re-reads the secret, so the
// next request carries the replacement.
//
// The reads of the secret a request causes are shared with concurrent
// requests and bounded to 10 seconds each, whatever the request's context;
// a request whose context ends stops waiting for them. When no token can be
// had (the secret cannot be read and no usable token is cached; see
// [TokenSourceOptions.MaxAge]), RoundTrip returns the source's error.
type Transport struct {
	Source *TokenSource
	// Base carries the requests; nil means http.DefaultTransport.
	Base http.RoundTripper
	// MaxReplacements bounds the re-sends after 401s; zero means 3.
	MaxReplacements int
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	tries := t.MaxReplacements
	if tries <= 0 {
		tries = 3
	}
	c, err := t.Source.current(req.Context())
	if err != nil {
		closeBody(req)
		return nil, err
	}
	tok := c.token
	if err := allowed(req, c.apiHost); err != nil {
		closeBody(req)
		return nil, err
	}
	resp, err := base.RoundTrip(withBearer(req, tok))
	for range tries {
		if err != nil || resp.StatusCode != http.StatusUnauthorized {
			return resp, err
		}
		// The source re-reads even for a request that cannot be sent again,
		// so that the next request has the replacement.
		fresh, rerr := t.Source.rejected(req.Context(), tok)
		if rerr != nil || !replayable(req) || allowed(req, fresh.apiHost) != nil {
			return resp, nil // the caller sees Clickwrap's 401
		}
		retry := withBearer(req, fresh.token)
		if req.GetBody != nil {
			if retry.Body, err = req.GetBody(); err != nil {
				return resp, nil
			}
		}
		resp.Body.Close()
		tok = fresh.token
		resp, err = base.RoundTrip(retry)
	}
	return resp, err
}

// replayable reports whether req can be sent again: it has no body, or one
// that GetBody gives anew.
func replayable(req *http.Request) bool {
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
}

// allowed refuses to send the token anywhere but over https to the host of
// the secret's api_url (host names compared without case, 443 as the
// default port).
func allowed(req *http.Request, apiHost string) error {
	want := &url.URL{Host: apiHost}
	port := func(u *url.URL) string {
		if p := u.Port(); p != "" {
			return p
		}
		return "443"
	}
	if req.URL.Scheme == "https" && strings.EqualFold(req.URL.Hostname(), want.Hostname()) && port(req.URL) == port(want) {
		return nil
	}
	return fmt.Errorf("clickwrap transport: refusing to send the Clickwrap token to %s://%s: only https://%s (the secret's api_url) gets it",
		req.URL.Scheme, req.URL.Host, apiHost)
}

// closeBody closes a request body the transport will not send, as a
// RoundTripper must.
func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

func withBearer(req *http.Request, token string) *http.Request {
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", "Bearer "+token)
	return r
}
