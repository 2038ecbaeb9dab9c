package rotation_test

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/clickwrap-rotator/clickwrap-rotator/rotation"
)

// What the tests do with Secrets Manager's own API: the calls they make on
// the emulator behind the rotator's back, and the stand-ins that wrap its
// client to bend what the rotator sees.

// configTest makes what Secrets Manager makes for a configuration test
// (RotateImmediately=false): a pending version holding value (a copy of
// AWSCURRENT's, in the service), and returns its testSecret event.
func (w *world) configTest(value string) rotation.Event {
	w.t.Helper()
	ev := w.pendingEvent(string(rotation.TestSecret))
	if _, err := w.sm.Client().PutSecretValue(context.Background(), &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(w.arn), ClientRequestToken: aws.String(ev.ClientRequestToken), SecretString: aws.String(value),
		VersionStages: []string{"AWSPENDING"}, RotationToken: aws.String(ev.RotationToken),
	}); err != nil {
		w.t.Fatal(err)
	}
	return ev
}

// removePending removes AWSPENDING from version, as the command a stuck
// rotation's error gives does.
func (w *world) removePending(version string) {
	w.t.Helper()
	if _, err := w.sm.Client().UpdateSecretVersionStage(context.Background(), &secretsmanager.UpdateSecretVersionStageInput{
		SecretId: aws.String(w.arn), VersionStage: aws.String("AWSPENDING"), RemoveFromVersionId: aws.String(version),
	}); err != nil {
		w.t.Fatal(err)
	}
}

// isInvalidRequest reports whether err is Secrets Manager's
// InvalidRequestException.
func isInvalidRequest(err error) bool {
	var invalid *types.InvalidRequestException
	return errors.As(err, &invalid)
}

// racingPut makes the race of two createSecret invocations deterministic: just
// before our PutSecretValue reaches the emulator, "another invocation" stores
// a different value for the same version.
type racingPut struct {
	rotation.SecretsManager
	winner string
}

func (r racingPut) PutSecretValue(ctx context.Context, in *secretsmanager.PutSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error) {
	other := *in
	other.SecretString = aws.String(r.winner)
	if _, err := r.SecretsManager.PutSecretValue(ctx, &other, opts...); err != nil {
		return nil, err
	}
	return r.SecretsManager.PutSecretValue(ctx, in, opts...)
}

// laggingReads stands for Secrets Manager's eventual consistency: after each
// successful PutSecretValue, the next lagAfterPut GetSecretValue calls naming
// that version answer ResourceNotFoundException, as a replica that has not
// seen the write does. staleNext arms more such answers by hand.
type laggingReads struct {
	rotation.SecretsManager
	mu          sync.Mutex
	lagAfterPut int
	version     string
	left        int
	stale       int // stale answers given
}

func (l *laggingReads) staleNext(version string, n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.version, l.left = version, n
}

func (l *laggingReads) PutSecretValue(ctx context.Context, in *secretsmanager.PutSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error) {
	out, err := l.SecretsManager.PutSecretValue(ctx, in, opts...)
	if err == nil {
		l.staleNext(aws.ToString(in.ClientRequestToken), l.lagAfterPut)
	}
	return out, err
}

func (l *laggingReads) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	l.mu.Lock()
	if l.left > 0 && aws.ToString(in.VersionId) == l.version {
		l.left--
		l.stale++
		l.mu.Unlock()
		return nil, &types.ResourceNotFoundException{Message: aws.String("Secrets Manager can't find the specified secret value for VersionId: " + l.version)}
	}
	l.mu.Unlock()
	return l.SecretsManager.GetSecretValue(ctx, in, opts...)
}

// agedVersions rewrites the CreatedDate GetSecretValue returns: shifted by
// age, or removed when drop is set.
type agedVersions struct {
	rotation.SecretsManager
	age  time.Duration
	drop bool
}

func (a agedVersions) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	out, err := a.SecretsManager.GetSecretValue(ctx, in, opts...)
	if err == nil && out.CreatedDate != nil {
		if a.drop {
			out.CreatedDate = nil
		} else {
			out.CreatedDate = aws.Time(out.CreatedDate.Add(-a.age))
		}
	}
	return out, err
}
