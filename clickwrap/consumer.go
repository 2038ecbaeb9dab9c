package clickwrap

import (
	"context"
	"errors"
	"fmt"
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
	// after the previous read.
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
	MaxAge time.Duration
	// FallbackToPending makes a 401 on the AWSCURRENT token also try the
	// AWSPENDING version. It matters only if minting a token revokes the
	// previous one (Clickwrap does not document whether it does): then the
	// AWSCURRENT token dies when createSecret mints, and the new token is
	// readable as AWSPENDING until finishSecret promotes it. The consumer's
	// role then also needs GetSecretValue for AWSPENDING (the same action).
	FallbackToPending bool
}

// TokenSource is the consumer side of rotation: it reads the access token
// from the secret's AWSCURRENT version, caches it for
// [TokenSourceOptions.MaxAge] (or until the secret's expires_at, if sooner),
// and re-reads the secret when Clickwrap rejects the cached token. Safe for
// concurrent use; concurrent 401s cause one read.
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
	now      func() time.Time

	mu     sync.Mutex
	cached cachedToken // zero until the first read
}

// cachedToken is one read of the secret.
type cachedToken struct {
	token   string
	apiHost string    // host of the secret's api_url: where Transport may send the token
	readAt  time.Time // when the GetSecretValue that returned token started
	// expiry is readAt+MaxAge, or the secret's expires_at if that is
	// sooner: the oauth2.Token's Expiry.
	expiry time.Time
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
	return now.Sub(c.readAt) < maxAge
}

// NewTokenSource returns a TokenSource for the secret secretID.
func NewTokenSource(sm SecretReader, secretID string, opts TokenSourceOptions) *TokenSource {
	if opts.MaxAge <= 0 {
		opts.MaxAge = 5 * time.Minute
	}
	return &TokenSource{secrets: sm, secretID: secretID, opts: opts, now: time.Now}
}

// Token implements [oauth2.TokenSource]: it returns the cached token, or
// reads AWSCURRENT (bounded to 10 seconds) when there is none or it is
// stale, as [TokenSource.AccessToken] does. TokenType is "Bearer". Expiry is
// the time the token was read from the secret plus MaxAge, or the secret's
// expires_at if that is sooner; it is fixed at the read, so a cached token
// keeps its Expiry however often Token is called. oauth2.ReuseTokenSource
// (and so oauth2.NewClient) reuses the token until 10 seconds before Expiry,
// then asks Token again; see [TokenSourceOptions.MaxAge]. The error is the
// read's: a Secrets Manager error, or a [*FieldError] or [ErrNotObject] for a
// malformed secret, wrapped with the secret's ID (never its value).
//
// Under oauth2.Transport or oauth2.NewClient the token is sent to ANY host a
// request names, over plain http too: oauth2's transport binds the token to
// no host. [Transport] sends it only over HTTPS to the host of the secret's
// api_url, and on a 401 re-reads the secret and retries.
func (s *TokenSource) Token() (*oauth2.Token, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := s.current(ctx)
	if err != nil {
		return nil, err
	}
	return &oauth2.Token{AccessToken: c.token, TokenType: "Bearer", Expiry: c.expiry}, nil
}

// AccessToken returns the cached token, reading AWSCURRENT when there is
// none or it is stale: older than MaxAge, or past the secret's expires_at.
// Errors are those of [TokenSource.Token].
func (s *TokenSource) AccessToken(ctx context.Context) (string, error) {
	c, err := s.current(ctx)
	return c.token, err
}

// current returns the cached read, reading AWSCURRENT when it is stale.
func (s *TokenSource) current(ctx context.Context) (cachedToken, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cached.fresh(s.now(), s.opts.MaxAge) {
		return s.cached, nil
	}
	c, err := s.read(ctx, "AWSCURRENT")
	if err != nil {
		return cachedToken{}, err
	}
	s.cached = c
	return c, nil
}

// pendingPolls bound how long Rejected waits for a pending token to be
// stored (the moment between a mint and its PutSecretValue).
const (
	pendingPolls    = 5
	pendingInterval = 100 * time.Millisecond
)

// Rejected tells the source that Clickwrap answered 401 to token. It reads
// the secret again (once, however many callers report the same token) and
// returns the replacement, or an error when the secret holds nothing newer.
func (s *TokenSource) Rejected(ctx context.Context, token string) (string, error) {
	c, err := s.rejected(ctx, token)
	return c.token, err
}

// rejected is Rejected, returning the whole read of the replacement.
func (s *TokenSource) rejected(ctx context.Context, token string) (cachedToken, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cached.token != "" && s.cached.token != token {
		return s.cached, nil // another caller already replaced it
	}
	polls := 1
	if s.opts.FallbackToPending {
		polls = pendingPolls
	}
	for i := range polls {
		if i > 0 {
			t := time.NewTimer(pendingInterval)
			select {
			case <-ctx.Done():
				t.Stop()
				return cachedToken{}, ctx.Err()
			case <-t.C:
			}
		}
		stages := []string{"AWSCURRENT"}
		if s.opts.FallbackToPending {
			stages = append(stages, "AWSPENDING")
		}
		for _, stage := range stages {
			c, err := s.read(ctx, stage)
			var nf *types.ResourceNotFoundException
			if stage == "AWSPENDING" && errors.As(err, &nf) {
				continue // no rotation in progress
			}
			if err != nil {
				return cachedToken{}, err
			}
			if c.token != token {
				s.cached = c
				return c, nil
			}
		}
	}
	return cachedToken{}, fmt.Errorf("clickwrap token source: Clickwrap rejected the token in secret %s and the secret holds no other: check the secret's rotation (rotatorctl status)", s.secretID)
}

// read reads one stage of the secret; readAt is the time the read started.
// The caller holds s.mu.
func (s *TokenSource) read(ctx context.Context, stage string) (cachedToken, error) {
	readAt := s.now()
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
		token:   sec.AccessToken,
		apiHost: u.Host,
		readAt:  readAt,
		expiry:  expiryOf(readAt, s.opts.MaxAge, sec.ExpiresAt),
	}, nil
}

// Transport is an http.RoundTripper for calling the Clickwrap API with the
// token from a TokenSource. It sends the token only over https:// and only
// to the host of the secret's api_url (a request or redirect anywhere else
// fails without it). It sets Authorization: Bearer and, when
// Clickwrap answers 401, asks the source for the replacement and sends the
// request again, up to MaxReplacements times (default 3: during rotations in
// quick succession a replacement can itself be superseded before it is
// used). A request whose body cannot be replayed is not resent.
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
		if req.Body != nil && req.GetBody == nil {
			return resp, nil
		}
		fresh, rerr := t.Source.rejected(req.Context(), tok)
		if rerr != nil || allowed(req, fresh.apiHost) != nil {
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
