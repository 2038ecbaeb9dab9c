package secretsmanagertest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"
)

const testLambdaARN = "arn:aws:lambda:us-east-1:123456789012:function:rotator"

var fixedNow = time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)

// newServer starts an emulator that is closed when the test ends.
func newServer(t *testing.T, opts Options) (*Server, *secretsmanager.Client) {
	t.Helper()
	s := New(opts)
	t.Cleanup(s.Close)
	return s, s.Client()
}

// errorAs asserts that err matches E with errors.As and returns it.
func errorAs[E error](t *testing.T, err error) E {
	t.Helper()
	var target E
	if !errors.As(err, &target) {
		t.Fatalf("error = %v, want %T", err, target)
	}
	return target
}

// errorCode asserts that err is an API error with the given code.
func errorCode(t *testing.T, err error, code string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error = %v, want API error %s", err, code)
	}
	if ae.ErrorCode() != code {
		t.Fatalf("error code = %s (%v), want %s", ae.ErrorCode(), err, code)
	}
}

// equalStages compares versionId -> stages maps ignoring label order.
func equalStages(got, want map[string][]string) bool {
	if len(got) != len(want) {
		return false
	}
	for id, w := range want {
		g, ok := got[id]
		if !ok {
			return false
		}
		g, w = slices.Sorted(slices.Values(g)), slices.Sorted(slices.Values(w))
		if !slices.Equal(g, w) {
			return false
		}
	}
	return true
}

func assertStages(t *testing.T, s *Server, secretID string, want map[string][]string) {
	t.Helper()
	if got := s.Stages(secretID); !equalStages(got, want) {
		t.Fatalf("stages = %v, want %v", got, want)
	}
}

// rotator is a minimal rotation Lambda written against the contract: every
// step checks the version's stages, createSecret stores a value once,
// finishSecret moves AWSCURRENT.
func rotator(c *secretsmanager.Client, newValue func(token string) string) Invoker {
	return func(ctx context.Context, ev events.SecretsManagerSecretRotationEvent) error {
		d, err := c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: &ev.SecretID})
		if err != nil {
			return err
		}
		if !aws.ToBool(d.RotationEnabled) {
			return errors.New("secret is not enabled for rotation")
		}
		stages, ok := d.VersionIdsToStages[ev.ClientRequestToken]
		if !ok {
			return errors.New("version has no stage for rotation")
		}
		if slices.Contains(stages, stageCurrent) {
			return nil
		}
		if !slices.Contains(stages, stagePending) {
			return errors.New("version is not AWSPENDING")
		}
		switch ev.Step {
		case StepCreateSecret:
			if _, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: &ev.SecretID, VersionStage: aws.String(stageCurrent)}); err != nil {
				return err
			}
			_, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{
				SecretId: &ev.SecretID, VersionId: &ev.ClientRequestToken, VersionStage: aws.String(stagePending),
			})
			if err == nil {
				return nil
			}
			var nf *types.ResourceNotFoundException
			if !errors.As(err, &nf) {
				return err
			}
			_, err = c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
				SecretId:           &ev.SecretID,
				ClientRequestToken: &ev.ClientRequestToken,
				SecretString:       aws.String(newValue(ev.ClientRequestToken)),
				VersionStages:      []string{stagePending},
				RotationToken:      &ev.RotationToken,
			})
			return err
		case StepSetSecret:
			return nil
		case StepTestSecret:
			_, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{
				SecretId: &ev.SecretID, VersionId: &ev.ClientRequestToken, VersionStage: aws.String(stagePending),
			})
			return err
		case StepFinishSecret:
			current := ""
			for id, st := range d.VersionIdsToStages {
				if slices.Contains(st, stageCurrent) {
					current = id
				}
			}
			_, err := c.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
				SecretId:            &ev.SecretID,
				VersionStage:        aws.String(stageCurrent),
				MoveToVersionId:     &ev.ClientRequestToken,
				RemoveFromVersionId: aws.String(current),
			})
			return err
		}
		return fmt.Errorf("unknown step %q", ev.Step)
	}
}

func valueFor(token string) string { return "token-for-" + token }

// eventLog records the events an Invoker received.
type eventLog struct {
	mu     sync.Mutex
	events []events.SecretsManagerSecretRotationEvent
}

func (l *eventLog) wrap(inv Invoker) Invoker {
	return func(ctx context.Context, ev events.SecretsManagerSecretRotationEvent) error {
		l.mu.Lock()
		l.events = append(l.events, ev)
		l.mu.Unlock()
		return inv(ctx, ev)
	}
}

func (l *eventLog) all() []events.SecretsManagerSecretRotationEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.events)
}

func (l *eventLog) steps() []string {
	var out []string
	for _, ev := range l.all() {
		out = append(out, ev.Step)
	}
	return out
}

// stepNames lists the steps of a rotation record.
func stepNames(r Rotation) []string {
	var out []string
	for _, st := range r.Steps {
		out = append(out, st.Step)
	}
	return out
}

var allSteps = []string{StepCreateSecret, StepSetSecret, StepTestSecret, StepFinishSecret}
