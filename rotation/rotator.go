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
// Permanent() bool returning true: testSecret then tells the operator to
// abandon the pending version.
type CredentialService interface {
	// NewPending makes a new credential from the current SecretString and
	// returns the SecretString to store as the pending version.
	NewPending(ctx context.Context, current string) (string, error)
	// Verify proves that the credential in a SecretString works.
	Verify(ctx context.Context, secretString string) error
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
	verified       *versionMemo // versions that passed testSecret here
	sources        *versionMemo // pending version -> the AWSCURRENT version it was made from
	unstored       *versionMemo // pending version -> source + "\x00" + a minted value PutSecretValue did not take
}

// New returns a Rotator. A nil logger means slog.Default().
func New(sm SecretsManager, cs CredentialService, logger *slog.Logger) *Rotator {
	if logger == nil {
		logger = slog.Default()
	}
	return &Rotator{
		secrets:        sm,
		credentials:    cs,
		log:            logger,
		DeadlineMargin: time.Second,
		verified:       newVersionMemo(256),
		sources:        newVersionMemo(256),
		unstored:       newVersionMemo(64),
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
	dl, ok := ctx.Deadline()
	if !ok || r.DeadlineMargin <= 0 {
		return context.WithCancel(ctx)
	}
	margin := min(r.DeadlineMargin, time.Until(dl)/2)
	return context.WithDeadline(ctx, dl.Add(-margin))
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
		return r.testSecret(ctx, desc.arn, ev.ClientRequestToken)
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
