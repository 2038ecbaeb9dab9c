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
	// secret is read again (default 5 minutes). A rotation is picked up at
	// the latest after MaxAge, or at once when Clickwrap answers 401.
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
// from the secret's AWSCURRENT version, caches it, and re-reads the secret
// when Clickwrap rejects the cached token. It is an [oauth2.TokenSource],
// so it also plugs into oauth2.Transport; [Transport] adds the re-read and
// retry on 401. Safe for concurrent use; concurrent 401s cause one read.
type TokenSource struct {
	secrets  SecretReader
	secretID string
	opts     TokenSourceOptions
	now      func() time.Time

	mu      sync.Mutex
	token   string
	apiHost string // host of the secret's api_url: where Transport may send the token
	readAt  time.Time
}

// NewTokenSource returns a TokenSource for the secret secretID.
func NewTokenSource(sm SecretReader, secretID string, opts TokenSourceOptions) *TokenSource {
	if opts.MaxAge <= 0 {
		opts.MaxAge = 5 * time.Minute
	}
	return &TokenSource{secrets: sm, secretID: secretID, opts: opts, now: time.Now}
}

// Token implements [oauth2.TokenSource] with a 10-second bound on the read.
func (s *TokenSource) Token() (*oauth2.Token, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tok, err := s.AccessToken(ctx)
	if err != nil {
		return nil, err
	}
	return &oauth2.Token{AccessToken: tok, TokenType: "Bearer"}, nil
}

// AccessToken returns the cached token, reading AWSCURRENT when there is
// none or it is older than MaxAge.
func (s *TokenSource) AccessToken(ctx context.Context) (string, error) {
	tok, _, err := s.tokenAndHost(ctx)
	return tok, err
}

func (s *TokenSource) tokenAndHost(ctx context.Context) (string, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token != "" && s.now().Sub(s.readAt) < s.opts.MaxAge {
		return s.token, s.apiHost, nil
	}
	tok, host, err := s.read(ctx, "AWSCURRENT")
	if err != nil {
		return "", "", err
	}
	s.token, s.apiHost, s.readAt = tok, host, s.now()
	return tok, host, nil
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
	tok, _, err := s.rejected(ctx, token)
	return tok, err
}

// rejected is Rejected, also returning the host of the replacement's api_url.
func (s *TokenSource) rejected(ctx context.Context, token string) (string, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token != "" && s.token != token {
		return s.token, s.apiHost, nil // another caller already replaced it
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
				return "", "", ctx.Err()
			case <-t.C:
			}
		}
		stages := []string{"AWSCURRENT"}
		if s.opts.FallbackToPending {
			stages = append(stages, "AWSPENDING")
		}
		for _, stage := range stages {
			tok, host, err := s.read(ctx, stage)
			var nf *types.ResourceNotFoundException
			if stage == "AWSPENDING" && errors.As(err, &nf) {
				continue // no rotation in progress
			}
			if err != nil {
				return "", "", err
			}
			if tok != token {
				s.token, s.apiHost, s.readAt = tok, host, s.now()
				return tok, host, nil
			}
		}
	}
	return "", "", fmt.Errorf("clickwrap token source: Clickwrap rejected the token in secret %s and the secret holds no other: check the secret's rotation (rotatorctl status)", s.secretID)
}

// read returns the token of one stage and the host of its api_url.
func (s *TokenSource) read(ctx context.Context, stage string) (string, string, error) {
	out, err := s.secrets.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{
		SecretId:     aws.String(s.secretID),
		VersionStage: aws.String(stage),
	})
	if err != nil {
		return "", "", fmt.Errorf("clickwrap token source: reading %s of secret %s: %w", stage, s.secretID, err)
	}
	sec, err := ParseSecret(aws.ToString(out.SecretString))
	if err != nil {
		return "", "", fmt.Errorf("clickwrap token source: %s of secret %s: %w", stage, s.secretID, err)
	}
	if sec.AccessToken == "" {
		return "", "", fmt.Errorf("clickwrap token source: %s of secret %s: %w", stage, s.secretID,
			&FieldError{Field: FieldAccessToken, Problem: "is missing: the secret has not been rotated yet"})
	}
	u, err := url.Parse(sec.APIEndpoint()) // ParseSecret checked it is https://host
	if err != nil {
		return "", "", err
	}
	return sec.AccessToken, u.Host, nil
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
	tok, host, err := t.Source.tokenAndHost(req.Context())
	if err != nil {
		closeBody(req)
		return nil, err
	}
	if err := allowed(req, host); err != nil {
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
		fresh, freshHost, rerr := t.Source.rejected(req.Context(), tok)
		if rerr != nil || allowed(req, freshHost) != nil {
			return resp, nil // the caller sees Clickwrap's 401
		}
		retry := withBearer(req, fresh)
		if req.GetBody != nil {
			if retry.Body, err = req.GetBody(); err != nil {
				return resp, nil
			}
		}
		resp.Body.Close()
		tok = fresh
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
