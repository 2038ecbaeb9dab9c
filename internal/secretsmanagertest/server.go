// Package secretsmanagertest is an in-process emulator of AWS Secrets Manager
// for tests and local demos.
//
// It speaks the real wire protocol (AWS JSON 1.1 over plain HTTP), so the real
// aws-sdk-go-v2 secretsmanager client talks to it and receives the real typed
// errors (*types.ResourceNotFoundException, *types.ResourceExistsException,
// ...) and retries injected throttling with its standard retryer.
//
// The emulator models secrets, versions and staging labels (AWSCURRENT,
// AWSPENDING, AWSPREVIOUS) and the rotation protocol: RotateSecret creates a
// pending version without a value and invokes an [Invoker] (the rotation
// Lambda) for the createSecret, setSecret, testSecret and finishSecret steps,
// then removes AWSPENDING itself, as the service does. With
// RotateImmediately=false it tests the rotation configuration instead: the
// pending version holds a copy of AWSCURRENT's value, only testSecret is
// invoked, and the emulator then removes that version.
//
// For the eventual consistency of the real service, [Server.SetReadLagAfterPut]
// makes reads of a freshly stored version fail for a while.
//
// Secret values and rotation tokens never appear in the emulator's error
// messages; the emulator does not log.
package secretsmanagertest

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// Invoker runs one rotation step as Secrets Manager invokes the rotation
// Lambda; a non-nil error fails the step.
type Invoker func(ctx context.Context, event events.SecretsManagerSecretRotationEvent) error

// Options configures a Server. The zero value is usable.
type Options struct {
	// Region and AccountID appear in secret ARNs. Defaults: us-east-1 and
	// 123456789012.
	Region, AccountID string
	// Invoke is the rotation Lambda. It may also be set later with SetInvoker.
	Invoke Invoker
	// Sync makes RotateSecret return only after the rotation has finished.
	// By default rotation runs asynchronously, like the real service; use
	// Wait to wait for it.
	Sync bool
	// AllowMissingRotationToken turns off the check that PutSecretValue on a
	// rotation's pending version carries the RotationToken issued for that
	// rotation.
	AllowMissingRotationToken bool
	// Now is the clock used for all timestamps. Default: time.Now.
	Now func() time.Time
}

// Server is a running emulator. All methods are safe for concurrent use.
type Server struct {
	opts    Options
	ts      *httptest.Server
	handler http.Handler

	// baseCtx is the parent of the contexts given to the Invoker for
	// rotations started over the wire; Close cancels it.
	baseCtx   context.Context
	cancel    context.CancelFunc
	closeOnce sync.Once

	mu        sync.Mutex
	invoker   Invoker
	secrets   map[string]*secret // by name
	calls     map[string]int
	faults    map[string]*fault
	readLag   int                    // stale reads armed by each successful PutSecretValue (SetReadLagAfterPut)
	rotations map[string][]*Rotation // by secret ARN, in start order
	running   int                    // rotations in progress
	idle      chan struct{}          // closed when running drops to 0
}

// fault is an error injected with FailNext.
type fault struct {
	remaining int
	code      string
}

const (
	defaultRegion    = "us-east-1"
	defaultAccountID = "123456789012"
	// closeWait bounds how long Close waits for running rotations.
	closeWait = 10 * time.Second
)

// New starts an emulator on an httptest.Server listening on 127.0.0.1
// (plain HTTP). Call Close when done.
func New(opts Options) *Server {
	if opts.Region == "" {
		opts.Region = defaultRegion
	}
	if opts.AccountID == "" {
		opts.AccountID = defaultAccountID
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		opts:      opts,
		baseCtx:   ctx,
		cancel:    cancel,
		invoker:   opts.Invoke,
		secrets:   map[string]*secret{},
		calls:     map[string]int{},
		faults:    map[string]*fault{},
		rotations: map[string][]*Rotation{},
	}
	s.handler = http.HandlerFunc(s.serveHTTP)
	s.ts = httptest.NewServer(s.handler)
	return s
}

// URL returns the base URL of the emulator, e.g. http://127.0.0.1:12345.
func (s *Server) URL() string { return s.ts.URL }

// Close cancels the contexts of running rotations, waits (bounded) for them
// to end and shuts the HTTP server down. It is safe to call more than once.
// Do not call it from inside an Invoker.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.cancel()
		ctx, cancel := context.WithTimeout(context.Background(), closeWait)
		defer cancel()
		_ = s.Wait(ctx)
		s.ts.Close()
	})
}

// Handler returns the emulator's HTTP handler (the one served at URL), for
// use without httptest.
func (s *Server) Handler() http.Handler { return s.handler }

// Client returns a new real SDK client pointed at the emulator: BaseEndpoint
// is URL, credentials are static dummies, the region is Options.Region and
// retries use the SDK's standard retryer.
func (s *Server) Client() *secretsmanager.Client {
	return secretsmanager.New(secretsmanager.Options{
		Region:       s.opts.Region,
		BaseEndpoint: aws.String(s.URL()),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDSECRETSMANAGERTEST", "secretsmanagertest-dummy", ""),
	})
}

// SetInvoker sets (or, with nil, clears) the rotation Lambda used by later
// rotations.
func (s *Server) SetInvoker(inv Invoker) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.invoker = inv
}

// CreateSecret is a test setup shortcut for the CreateSecret operation: it
// creates secret name with a first version (a random VersionId) holding
// secretString under AWSCURRENT and returns the secret's ARN. It panics if
// the secret already exists.
func (s *Server) CreateSecret(name, secretString string) (arn string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, _, err := s.createSecretLocked(name, &secretValue{str: &secretString}, newUUID(), nil, nil, nil)
	if err != nil {
		panic(fmt.Sprintf("secretsmanagertest: CreateSecret(%q): %v", name, err))
	}
	return sec.arn
}

// Stages returns versionId -> staging labels of the secret (name or ARN),
// like DescribeSecret's VersionIdsToStages: versions without labels are not
// included. It returns nil for an unknown secret.
func (s *Server) Stages(secretID string) map[string][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, err := s.lookupLocked(secretID)
	if err != nil {
		return nil
	}
	return sec.versionIDsToStages()
}

// Value returns the stored SecretString of a version (a binary value is
// returned as a string of its bytes). It returns false when the secret or
// version does not exist or the version has no value (a rotation's pending
// version before createSecret stores one, or the pending version of a
// RotateImmediately=false configuration test of a secret without an
// AWSCURRENT value).
func (s *Server) Value(secretID, versionID string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, err := s.lookupLocked(secretID)
	if err != nil {
		return "", false
	}
	v := sec.versions[versionID]
	if v == nil || v.value == nil {
		return "", false
	}
	if v.value.str != nil {
		return *v.value.str, true
	}
	return string(v.value.bin), true
}

// Calls returns the number of requests per operation name since New or the
// last ResetCalls, including requests that failed or answered an injected
// fault.
func (s *Server) Calls() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.calls)
}

// ResetCalls sets all call counts to zero.
func (s *Server) ResetCalls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.calls)
}

// FailNext makes the next n requests of operation (e.g. "GetSecretValue")
// fail with the error code code and change nothing. "InternalServiceError"
// and "InternalFailure" are sent as HTTP 500, "ServiceUnavailable" as 503,
// anything else (e.g. "ThrottlingException") as 400. n <= 0 removes a
// pending fault.
func (s *Server) FailNext(operation string, n int, code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n <= 0 {
		delete(s.faults, operation)
		return
	}
	s.faults[operation] = &fault{remaining: n, code: code}
}

// SetReadLagAfterPut makes the next n GetSecretValue calls that name a
// version stored by a PutSecretValue (by VersionId, or by a stage that
// version holds) answer ResourceNotFoundException as if the version had no
// value yet, after each successful PutSecretValue from now on, as a stale
// replica would. n <= 0 (the default) turns it off. DescribeSecret and
// ListSecretVersionIds are not affected.
//
// Each successful PutSecretValue (an idempotent retry that changes nothing
// included) sets the stale reads left for its version to n; other versions
// are not affected. A GetSecretValue without VersionId and VersionStage
// names AWSCURRENT. A stale read is counted in Calls as usual; a request
// answered by FailNext, or one that fails for another reason (an unknown
// version, a stage the version does not hold), does not use one up. Turning
// the lag off (n <= 0) also drops the stale reads still armed. The Value
// shortcut is not affected.
func (s *Server) SetReadLagAfterPut(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.readLag = max(n, 0)
	if n > 0 {
		return
	}
	for _, sec := range s.secrets {
		for _, v := range sec.versions {
			v.staleReads = 0
		}
	}
}

// takeFaultLocked consumes one injected fault for op, if any.
func (s *Server) takeFaultLocked(op string) *apiError {
	f := s.faults[op]
	if f == nil {
		return nil
	}
	f.remaining--
	if f.remaining <= 0 {
		delete(s.faults, op)
	}
	return newError(f.code, "injected fault (secretsmanagertest.FailNext)")
}

// Rotations returns copies of the finished and running rotations of a secret
// (name or ARN) in start order; nil for an unknown secret.
func (s *Server) Rotations(secretID string) []Rotation {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, err := s.lookupLocked(secretID)
	if err != nil {
		return nil
	}
	var out []Rotation
	for _, r := range s.rotations[sec.arn] {
		c := *r
		c.Steps = slices.Clone(r.Steps)
		out = append(out, c)
	}
	return out
}
