package rotation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// Step names one of the four rotation steps, as Secrets Manager sends it.
type Step string

// The four steps, in the order Secrets Manager runs them.
const (
	CreateSecret Step = "createSecret"
	SetSecret    Step = "setSecret"
	TestSecret   Step = "testSecret"
	FinishSecret Step = "finishSecret"
)

// Steps lists the four steps in order.
var Steps = []Step{CreateSecret, SetSecret, TestSecret, FinishSecret}

// The staging labels rotation works with.
const (
	StageCurrent  = "AWSCURRENT"
	StagePending  = "AWSPENDING"
	StagePrevious = "AWSPREVIOUS"
)

// SecretsManager is the part of the Secrets Manager API a rotation uses.
// *secretsmanager.Client satisfies it.
type SecretsManager interface {
	DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error)
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
	PutSecretValue(ctx context.Context, in *secretsmanager.PutSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error)
	UpdateSecretVersionStage(ctx context.Context, in *secretsmanager.UpdateSecretVersionStageInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.UpdateSecretVersionStageOutput, error)
}

// CredentialService makes and proves the credential a secret holds.
//
// Errors must not contain secret values. An error that can never succeed on
// retry for the same value (for example the service answering 401 for the
// pending token, or a malformed value) should have a method
// Permanent() bool returning true: once the pending version is older than
// [Rotator.PropagationGrace], the rotation then abandons it (removes its
// AWSPENDING label) instead of leaving it for retries that cannot pass.
// Verify reports a well-formed value that holds no credential yet with an
// error wrapping [ErrNoCredential].
type CredentialService interface {
	// NewPending makes a new credential from the current SecretString and
	// returns the SecretString to store as the pending version.
	NewPending(ctx context.Context, current string) (string, error)
	// Verify proves that the credential in a SecretString works.
	Verify(ctx context.Context, secretString string) error
}

// ErrNoCredential is what a [CredentialService]'s Verify returns, wrapped so
// that errors.Is finds it, when the SecretString is well formed but holds no
// credential yet: a first secret before its first rotation, which holds only
// what is needed to mint one (for Clickwrap, client_id and client_secret and
// no access_token).
//
// testSecret lets such a value pass in one case only: the service's
// configuration test (RotateImmediately=false), whose pending version is a
// copy of AWSCURRENT's value; the version is not counted as verified. Anywhere
// else a pending value with no credential can never pass: it is a permanent
// failure (whether or not the error also reports Permanent), it gets no
// PropagationGrace, and the version is abandoned, never promoted.
var ErrNoCredential = errors.New("the secret holds no credential yet")

// SourceMatcher is implemented by a CredentialService that can tell whether
// a pending SecretString was made from a current one: everything but the
// credential alike. Without it, a stale pending version is found only in
// the container that made it.
type SourceMatcher interface {
	MadeFrom(pending, current string) bool
}

// ConfigurationChecker is implemented by a CredentialService that can check,
// without making or proving a credential, that a secret's configuration lets
// a rotation make one: for Clickwrap, that a secret in the split form names
// a credentials secret that can be read and is well formed. testSecret calls
// it in the service's configuration test (RotateImmediately=false) alone,
// with the copy of AWSCURRENT's SecretString, so that a configuration that
// cannot rotate fails when rotation is turned on, not at the first rotation.
// Its error must say what to fix and hold no secret value.
//
// testSecret knows the configuration test by its pending value being
// AWSCURRENT's, so it must have AWSCURRENT's value at hand: always when the
// CredentialService is also a [SourceMatcher] (the Clickwrap one is);
// without one, only when Verify finds no credential or refuses it for good,
// so a configuration test whose credential passes is not checked.
type ConfigurationChecker interface {
	CheckConfiguration(ctx context.Context, secretString string) error
}

// Rotator runs rotation steps. Build it once per process (per Lambda
// container) with [New]; it is safe for concurrent use.
type Rotator struct {
	secrets     SecretsManager
	credentials CredentialService
	log         *slog.Logger
	// DeadlineMargin is kept free before the invocation's deadline, so that a
	// step that runs out of time returns (and logs) its error instead of
	// being killed by Lambda.
	DeadlineMargin time.Duration
	// PropagationGrace is how long after a pending version was created a
	// permanent Verify failure is taken to mean "not live yet" rather than
	// "rejected": many services accept a new credential only a moment after
	// issuing it. Within the grace, testSecret (and finishSecret when it
	// verifies) tries again, waiting 250 ms, then twice as long each time
	// (jittered down to half, at most 2 s). It never waits past the end of
	// the grace (the last try falls at its end), nor when less than 1 s of
	// the invocation's time would be left after the wait: then the step
	// fails without abandoning anything, and Secrets Manager's retry tries
	// again. Once the version is older than the grace, the failure stands
	// and the version is abandoned. The age is measured from the
	// CreatedDate that GetSecretValue returns for the pending version; a
	// version without one counts as old, and so does a pending value known
	// to be identical to AWSCURRENT's (its credential is not new).
	// ErrNoCredential gets no grace.
	//
	// A malformed value is retried within the grace like a rejection:
	// through CredentialService the two look the same (both permanent), and
	// the costs are uneven. Waiting costs at most PropagationGrace and a few
	// Verify calls, and only for a version created moments ago (createSecret
	// stores only what NewPending made, so a malformed one is rare);
	// abandoning a credential that was about to go live leaves it valid and
	// unrecorded at the service and fails the rotation.
	//
	// New sets 5 s; zero or less turns the grace off. Set it before the
	// first step runs.
	PropagationGrace time.Duration

	verified *versionMemo[struct{}]      // versions that passed Verify here
	sources  *versionMemo[string]        // pending version -> the AWSCURRENT version it was made from (stored here, or compared here)
	unstored *versionMemo[unstoredValue] // pending version -> a minted value PutSecretValue did not take
	minted   *versionMemo[time.Time]     // pending version -> when its credential was minted here
	copies   *versionMemo[string]        // pending version -> the AWSCURRENT version whose value it holds exactly (compared here)

	// The clock, for tests: now tells the time, sleep waits (returning
	// early with ctx's error), jitter spreads a backoff delay.
	now    func() time.Time
	sleep  func(ctx context.Context, d time.Duration) error
	jitter func(d time.Duration) time.Duration
}

// DefaultPropagationGrace is the PropagationGrace New sets.
const DefaultPropagationGrace = 5 * time.Second

// New returns a Rotator. A nil logger means slog.Default().
func New(sm SecretsManager, cs CredentialService, logger *slog.Logger) *Rotator {
	if logger == nil {
		logger = slog.Default()
	}
	return &Rotator{
		secrets:          sm,
		credentials:      cs,
		log:              logger,
		DeadlineMargin:   time.Second,
		PropagationGrace: DefaultPropagationGrace,
		verified:         newVersionMemo[struct{}](256),
		sources:          newVersionMemo[string](256),
		unstored:         newVersionMemo[unstoredValue](64),
		minted:           newVersionMemo[time.Time](256),
		copies:           newVersionMemo[string](64),
		now:              time.Now,
		sleep:            sleepCtx,
		jitter:           equalJitter,
	}
}

// Event is what Secrets Manager invokes the rotation function with.
type Event = events.SecretsManagerSecretRotationEvent

// Handle runs the step the event names. It is the Lambda handler.
//
// It checks the event first (a known Step, a SecretId, a
// ClientRequestToken) and changes nothing when one is missing. Then it logs
// one line for the outcome with the secret, step, version, duration and, in
// Lambda, the request id.
func (r *Rotator) Handle(ctx context.Context, ev Event) error {
	start := time.Now()
	step := Step(ev.Step)
	log := r.log.With("secret", ev.SecretID, "step", ev.Step, "version", ev.ClientRequestToken)
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		log = log.With("request_id", lc.AwsRequestID)
	}
	if err := checkEvent(ev); err != nil {
		log.Error("rotation step refused", "error", err.Error())
		return err
	}
	ctx, cancel := r.withMargin(ctx)
	defer cancel()

	outcome, err := r.run(ctx, step, ev)
	took := time.Since(start)
	if err != nil {
		err = &StepError{Step: step, SecretID: ev.SecretID, VersionID: ev.ClientRequestToken, Err: err}
		log.Error("rotation step failed", "duration_ms", took.Milliseconds(), "error", err.Error())
		return err
	}
	log.Info("rotation step finished", "outcome", outcome, "duration_ms", took.Milliseconds())
	return nil
}

func checkEvent(ev Event) error {
	if !slices.Contains(Steps, Step(ev.Step)) {
		if ev.Step == "" {
			return errors.New(`event has no "Step": expected createSecret, setSecret, testSecret or finishSecret; rotation must be started by Secrets Manager (RotateSecret or "Rotate secret immediately")`)
		}
		return fmt.Errorf(`event has an unknown "Step" %.40q: expected createSecret, setSecret, testSecret or finishSecret`, ev.Step)
	}
	if ev.SecretID == "" {
		return errors.New(`event has no "SecretId": rotation must be started by Secrets Manager (RotateSecret or "Rotate secret immediately")`)
	}
	if ev.ClientRequestToken == "" {
		return errors.New(`event has no "ClientRequestToken": rotation must be started by Secrets Manager (RotateSecret or "Rotate secret immediately"), which names the pending version`)
	}
	return nil
}

// withMargin shortens the context's deadline by DeadlineMargin (or by half
// the time left, when that is smaller).
func (r *Rotator) withMargin(ctx context.Context) (context.Context, context.CancelFunc) {
	if r.DeadlineMargin <= 0 {
		return context.WithCancel(ctx)
	}
	return deadlineBefore(ctx, r.DeadlineMargin, 2)
}

// deadlineBefore returns a context whose deadline ends keep before ctx's,
// or 1/share of the time left before it when that is less; without a
// deadline, a plain cancellable context.
func deadlineBefore(ctx context.Context, keep time.Duration, share int) (context.Context, context.CancelFunc) {
	dl, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	return context.WithDeadline(ctx, dl.Add(-min(keep, time.Until(dl)/time.Duration(share))))
}

func (r *Rotator) run(ctx context.Context, step Step, ev Event) (string, error) {
	desc, err := r.check(ctx, ev)
	if err != nil {
		return "", err
	}
	if desc.alreadyCurrent {
		return "nothing to do: version is already AWSCURRENT", nil
	}
	switch step {
	case CreateSecret:
		return r.createSecret(ctx, desc.arn, ev)
	case SetSecret:
		return r.setSecret()
	case TestSecret:
		return r.testSecret(ctx, desc, ev.ClientRequestToken)
	default:
		return r.finishSecret(ctx, desc, ev.ClientRequestToken)
	}
}

// StepError is the error a failed step returns: the step, the secret and
// the version, the cause, and what to do about it.
type StepError struct {
	Step      Step
	SecretID  string
	VersionID string
	Err       error
}

func (e *StepError) Error() string {
	return fmt.Sprintf("%s for version %s of secret %s: %v", e.Step, e.VersionID, e.SecretID, e.Err)
}

func (e *StepError) Unwrap() error { return e.Err }
