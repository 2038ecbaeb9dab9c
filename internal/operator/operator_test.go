package operator_test

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"

	"github.com/clickwrap-rotator/clickwrap-rotator/clickwrap"
	"github.com/clickwrap-rotator/clickwrap-rotator/internal/localrun"
	"github.com/clickwrap-rotator/clickwrap-rotator/internal/operator"
	"github.com/clickwrap-rotator/clickwrap-rotator/rotation"
)

const (
	clientID     = "op-app"
	clientSecret = "op-client-secret-4e2a"
)

// env is one test's rig (the emulator rotating asynchronously, as the
// service does, the sandbox and the rotation function) and operator.
type env struct {
	*localrun.InProcess
	t  *testing.T
	op *operator.Operator

	mu   sync.Mutex
	hook func(ctx context.Context, ev rotation.Event) error
}

func newEnv(t *testing.T) *env {
	t.Helper()
	p, err := localrun.NewInProcess(localrun.InProcessOptions{
		ClientID: clientID, ClientSecret: clientSecret, SecretName: "op/token", TokenURLQuery: "debug=1",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	p.Clickwrap.Retry.MaxAttempts = 1
	e := &env{InProcess: p, t: t}
	e.Secrets.SetInvoker(func(ctx context.Context, ev rotation.Event) error {
		e.mu.Lock()
		hook := e.hook
		e.mu.Unlock()
		if hook != nil {
			if err := hook(ctx, ev); err != nil {
				return err
			}
		}
		return p.Rotator.Handle(ctx, ev)
	})
	e.op = &operator.Operator{Secrets: e.Secrets.Client(), Clickwrap: p.Clickwrap}
	return e
}

func (e *env) setHook(h func(ctx context.Context, ev rotation.Event) error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.hook = h
}

// rotate starts a rotation (configuring it the first time) and waits for the
// emulator to finish running it.
func (e *env) rotate() string {
	e.t.Helper()
	v, err := e.RotateSecret(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.Secrets.Wait(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	return v
}

// stuckRotation runs a rotation that stays stuck: Clickwrap rejects its
// token, and the function's removal of AWSPENDING is refused.
func (e *env) stuckRotation() string {
	e.t.Helper()
	e.setHook(e.revokePendingBeforeTest)
	defer e.setHook(nil)
	e.Secrets.FailNext("UpdateSecretVersionStage", 1, "AccessDeniedException")
	defer e.Secrets.FailNext("UpdateSecretVersionStage", 0, "")
	v := e.rotate()
	// Inspected later than operator.RejectionSettles after it started: the
	// refusal is final, not a credential that is not live yet.
	e.op.Now = func() time.Time { return time.Now().Add(operator.RejectionSettles) }
	return v
}

// revokePendingBeforeTest makes Clickwrap reject the pending token.
func (e *env) revokePendingBeforeTest(_ context.Context, ev rotation.Event) error {
	if ev.Step == string(rotation.TestSecret) {
		v, _ := e.Secrets.Value(e.ARN, ev.ClientRequestToken)
		s, err := clickwrap.ParseSecret(v)
		if err != nil {
			return err
		}
		e.Sandbox.Revoke(s.AccessToken)
	}
	return nil
}

func (e *env) removePending(ctx context.Context, version string) error {
	_, err := e.Secrets.Client().UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
		SecretId: aws.String(e.ARN), VersionStage: aws.String("AWSPENDING"), RemoveFromVersionId: aws.String(version),
	})
	return err
}

// TestWait follows rotations to each way they can end, and checks the
// phases reported on the way.
func TestWait(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		hook   func(e *env) hook // what the rotation function does besides its steps
		sm     func(e *env) operator.SecretsManager
		opts   operator.WaitOptions
		phases []operator.Phase // phases that must be seen; the last one ends the wait
		detail string
		during string // in the detail of some progress report before the end
	}{
		{
			name:   "finished",
			hook:   func(*env) hook { return sleepAt(150*time.Millisecond, rotation.CreateSecret, rotation.TestSecret) },
			phases: []operator.Phase{operator.PhaseStarted, operator.PhaseCreated, operator.PhaseFinished},
			detail: "is AWSCURRENT and AWSPENDING is gone",
		},
		{
			name:   "AWSPENDING left on the new AWSCURRENT version",
			sm:     func(e *env) operator.SecretsManager { return pendingStaysOnCurrent{e.Secrets.Client()} },
			opts:   operator.WaitOptions{Timeout: 500 * time.Millisecond},
			phases: []operator.Phase{operator.PhasePromoted, operator.PhaseFinished},
			detail: "AWSPENDING is still on it too",
		},
		{
			name:   "values unreadable: the stages alone",
			hook:   func(*env) hook { return sleepAt(100*time.Millisecond, rotation.TestSecret) },
			sm:     func(e *env) operator.SecretsManager { return denyValues{e.Secrets.Client()} },
			phases: []operator.Phase{operator.PhaseFinished},
			detail: "is AWSCURRENT and AWSPENDING is gone",
			during: "its value cannot be read (api error AccessDeniedException",
		},
		{
			name: "pending token rejected",
			hook: func(e *env) hook {
				e.Secrets.FailNext("UpdateSecretVersionStage", 1, "AccessDeniedException") // the function cannot abandon it
				return e.revokePendingBeforeTest
			},
			phases: []operator.Phase{operator.PhaseCreated, operator.PhaseCannotPass},
			opts:   operator.WaitOptions{CheckEvery: 50 * time.Millisecond},
			detail: "Clickwrap rejects the pending token",
		},
		{
			name:   "abandoned",
			hook:   (*env).removePendingAtSetSecret,
			phases: []operator.Phase{operator.PhaseAbandoned},
			detail: "lost AWSPENDING without becoming AWSCURRENT",
		},
		{
			name:   "superseded",
			hook:   (*env).supersedeAtSetSecret,
			phases: []operator.Phase{operator.PhaseAbandoned},
			detail: "another rotation replaced this one",
		},
		{
			name: "timed out",
			hook: func(*env) hook {
				return failAt(rotation.CreateSecret, errors.New("the token endpoint is unreachable (test)"))
			},
			opts:   operator.WaitOptions{Timeout: 300 * time.Millisecond},
			phases: []operator.Phase{operator.PhaseStarted, operator.PhaseTimedOut},
			detail: "not finished after 300ms",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.rotate() // configure, mint the first token
			if tt.hook != nil {
				e.setHook(tt.hook(e))
			}
			op := *e.op
			if tt.sm != nil {
				op.Secrets = tt.sm(e)
			}
			v, err := op.StartRotation(context.Background(), e.ARN)
			if err != nil {
				t.Fatal(err)
			}
			opts := tt.opts
			opts.Interval = 20 * time.Millisecond
			var seen []operator.Progress
			final, err := op.Wait(context.Background(), e.ARN, v, opts, func(p operator.Progress) { seen = append(seen, p) })
			if err != nil {
				t.Fatal(err)
			}
			var phases []operator.Phase
			for i, p := range seen {
				if p.Version != v || (i > 0 && p.Elapsed < seen[i-1].Elapsed) {
					t.Errorf("progress %+v", p)
				}
				if len(phases) == 0 || phases[len(phases)-1] != p.Phase {
					phases = append(phases, p.Phase)
					if i > 0 && !p.Changed {
						t.Errorf("a new phase not marked changed: %+v", p)
					}
				} else if p.Changed {
					t.Errorf("an unchanged phase marked changed: %+v", p)
				}
			}
			// The phases come in the order a rotation goes through them; how
			// many of the early ones a look catches depends on timing.
			order := []operator.Phase{operator.PhaseStarted, operator.PhaseCreated, operator.PhasePromoted}
			for i := 1; i < len(phases)-1; i++ {
				if slices.Index(order, phases[i]) < slices.Index(order, phases[i-1]) {
					t.Errorf("phases out of order: %v", phases)
				}
			}
			for _, want := range tt.phases {
				if !slices.Contains(phases, want) {
					t.Errorf("phases %v lack %s", phases, want)
				}
			}
			if len(phases) == 0 || phases[len(phases)-1] != tt.phases[len(tt.phases)-1] {
				t.Errorf("phases %v, want them to end in %s", phases, tt.phases[len(tt.phases)-1])
			}
			if final != seen[len(seen)-1] || !final.Phase.Done() || !strings.Contains(final.Detail, tt.detail) {
				t.Errorf("final %+v", final)
			}
			if tt.during != "" && !slices.ContainsFunc(seen, func(p operator.Progress) bool { return strings.Contains(p.Detail, tt.during) }) {
				t.Errorf("no progress says %q: %+v", tt.during, seen)
			}
			if final.Phase.Succeeded() != (final.Phase == operator.PhaseFinished) {
				t.Error("Succeeded disagrees with the phase")
			}
		})
	}
}

// hook is what the rotation function does before a step; an error fails
// the step.
type hook = func(ctx context.Context, ev rotation.Event) error

// sleepAt makes each of steps take d longer.
func sleepAt(d time.Duration, steps ...rotation.Step) hook {
	return func(_ context.Context, ev rotation.Event) error {
		if slices.Contains(steps, rotation.Step(ev.Step)) {
			time.Sleep(d)
		}
		return nil
	}
}

// failAt fails step with err.
func failAt(step rotation.Step, err error) hook {
	return func(_ context.Context, ev rotation.Event) error {
		if ev.Step == string(step) {
			return err
		}
		return nil
	}
}

// removePendingAtSetSecret removes AWSPENDING from the rotation's version
// at setSecret, as someone clearing it by hand would.
func (e *env) removePendingAtSetSecret() hook {
	return func(ctx context.Context, ev rotation.Event) error {
		if ev.Step == string(rotation.SetSecret) {
			return e.removePending(ctx, ev.ClientRequestToken)
		}
		return nil
	}
}

// supersedeAtSetSecret moves AWSPENDING from the rotation's version to
// AWSPREVIOUS's at setSecret, as another rotation replacing it would.
func (e *env) supersedeAtSetSecret() hook {
	return func(ctx context.Context, ev rotation.Event) error {
		if ev.Step != string(rotation.SetSecret) {
			return nil
		}
		prev := operator.VersionWithStage(e.Secrets.Stages(e.ARN), "AWSPREVIOUS")
		_, err := e.Secrets.Client().UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
			SecretId: aws.String(e.ARN), VersionStage: aws.String("AWSPENDING"),
			RemoveFromVersionId: aws.String(ev.ClientRequestToken), MoveToVersionId: aws.String(prev),
		})
		return err
	}
}

// pendingStaysOnCurrent shows AWSPENDING on the AWSCURRENT version, as
// Secrets Manager may leave it after a successful rotation.
type pendingStaysOnCurrent struct{ operator.SecretsManager }

func (p pendingStaysOnCurrent) DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error) {
	out, err := p.SecretsManager.DescribeSecret(ctx, in, opts...)
	if err != nil {
		return nil, err
	}
	m := maps.Clone(out.VersionIdsToStages)
	if cur := operator.VersionWithStage(m, "AWSCURRENT"); cur != "" && operator.VersionWithStage(m, "AWSPENDING") == "" {
		m[cur] = append(slices.Clone(m[cur]), "AWSPENDING")
	}
	out.VersionIdsToStages = m
	return out, nil
}

// denyValues is a Secrets Manager client without secretsmanager:GetSecretValue.
type denyValues struct{ operator.SecretsManager }

func (denyValues) GetSecretValue(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	return nil, &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "not authorized to perform secretsmanager:GetSecretValue"}
}

// TestWaitInterrupted: ending ctx ends the wait with its error.
func TestWaitInterrupted(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.rotate()
	release := make(chan struct{})
	t.Cleanup(func() { close(release); _ = e.Secrets.Wait(context.Background()) })
	e.setHook(func(ctx context.Context, ev rotation.Event) error {
		if ev.Step == string(rotation.TestSecret) {
			select {
			case <-release:
			case <-ctx.Done():
			}
		}
		return nil
	})
	v, err := e.op.StartRotation(context.Background(), e.ARN)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := e.op.Wait(ctx, e.ARN, v, operator.WaitOptions{Interval: 10 * time.Millisecond}, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait = %v, want the context's error", err)
	}
}

// TestStartRotation maps Secrets Manager's refusals to errors the CLI can
// tell apart.
func TestStartRotation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if _, err := e.op.StartRotation(context.Background(), e.ARN); !errors.Is(err, operator.ErrNotConfigured) {
		t.Errorf("unconfigured: %v", err)
	}
	e.rotate()
	e.stuckRotation()
	if _, err := e.op.StartRotation(context.Background(), e.ARN); !errors.Is(err, operator.ErrPreviousIncomplete) {
		t.Errorf("stuck: %v", err)
	}
}

func TestRotationBlocker(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		states  []operator.State
		blocked operator.State
	}{
		{[]operator.State{operator.StateHealthy}, ""},
		{[]operator.State{operator.StateRejected}, ""},
		{[]operator.State{operator.StateExpired}, ""},
		{[]operator.State{operator.StateNoCredential}, ""},
		{[]operator.State{operator.StateExpiresBeforeRotation, operator.StateCheckFailed}, ""},
		{[]operator.State{operator.StateStuck, operator.StateRejected}, operator.StateStuck},
		{[]operator.State{operator.StateCheckFailed, operator.StateInProgress}, operator.StateInProgress},
		{[]operator.State{operator.StateNotEnabled, operator.StateNoCredential}, operator.StateNotEnabled},
		{[]operator.State{operator.StateMalformed}, operator.StateMalformed},
		{[]operator.State{operator.StateCredentialsUnusable, operator.StateNotEnabled}, operator.StateCredentialsUnusable},
		{[]operator.State{operator.StateEmpty, operator.StateStuck}, operator.StateEmpty},
		{[]operator.State{operator.StateEmpty, operator.StateNotEnabled}, operator.StateEmpty},
	} {
		d := operator.Diagnosis{Finding: operator.Finding{State: tt.states[0]}}
		for _, s := range tt.states[1:] {
			d.More = append(d.More, operator.Finding{State: s})
		}
		f, blocked := operator.RotationBlocker(d)
		if blocked != (tt.blocked != "") || f.State != tt.blocked {
			t.Errorf("RotationBlocker(%v) = %s, %v; want %q", tt.states, f.State, blocked, tt.blocked)
		}
	}
}

// TestUnstickChecksBeforeChanging: if the stages change between the plan
// and the change, Unstick changes nothing.
func TestUnstickChecksBeforeChanging(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.rotate()
	stuck := e.stuckRotation()
	plan, err := e.op.PlanUnstick(context.Background(), e.ARN, 0)
	if err != nil || plan.Refusal != "" || plan.Version != stuck || plan.Command != rotation.RemovePendingCommand(e.ARN, stuck) {
		t.Fatalf("plan %+v, %v", plan, err)
	}
	if err := e.removePending(context.Background(), stuck); err != nil { // someone else was quicker
		t.Fatal(err)
	}
	e.Secrets.ResetCalls()
	if _, err := e.op.Unstick(context.Background(), plan); !errors.Is(err, operator.ErrStagesChanged) {
		t.Errorf("Unstick after the stages changed: %v", err)
	}
	if n := e.Secrets.Calls()["UpdateSecretVersionStage"]; n != 0 {
		t.Errorf("UpdateSecretVersionStage called %d times", n)
	}

	refused, err := e.op.PlanUnstick(context.Background(), e.ARN, 0)
	if err != nil || refused.Refusal == "" {
		t.Fatalf("plan with nothing stuck: %+v, %v", refused, err)
	}
	if _, err := e.op.Unstick(context.Background(), refused); err == nil {
		t.Error("Unstick carried out a refused plan")
	}
}

// TestInspectDegrades: a failing ListSecretVersionIds or GetSecretValue
// leaves a report that says so; only DescribeSecret is required.
func TestInspectDegrades(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.rotate()
	ctx := context.Background()

	e.Secrets.FailNext("ListSecretVersionIds", 1, "AccessDeniedException")
	r, err := e.op.Inspect(ctx, e.ARN, operator.InspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], "could not list the versions") || len(r.Versions) != 2 {
		t.Errorf("warnings %v, versions %+v", r.Warnings, r.Versions)
	}

	e.Secrets.FailNext("GetSecretValue", 1, "AccessDeniedException")
	r, err = e.op.Inspect(ctx, e.ARN, operator.InspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Current.Value != operator.ValueUnreadable || r.Diagnosis.State != operator.StateCheckFailed {
		t.Errorf("current %+v, diagnosis %+v", r.Current, r.Diagnosis)
	}

	e.Secrets.FailNext("DescribeSecret", 1, "AccessDeniedException")
	if _, err := e.op.Inspect(ctx, e.ARN, operator.InspectOptions{}); err == nil || !strings.Contains(err.Error(), "AccessDenied") {
		t.Errorf("DescribeSecret failing: %v", err)
	}
	if _, err := e.op.Inspect(ctx, "op/missing", operator.InspectOptions{}); err == nil || !strings.Contains(err.Error(), `secret "op/missing" not found`) {
		t.Errorf("missing secret: %v", err)
	}
}

// TestReportShowsNoSecret: the report shows fields as present or absent,
// the token as its fingerprint, URLs without their query. rotatorctl prints
// it as this JSON, or as text made from these fields alone (cmd/rotatorctl's
// TestStatusTextShowsNoSecret).
func TestReportShowsNoSecret(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.rotate()
	e.stuckRotation()
	r, err := e.op.Inspect(context.Background(), e.ARN, operator.InspectOptions{VerifyCurrent: true, VerifyPending: true})
	if err != nil {
		t.Fatal(err)
	}
	js, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	out := string(js)
	secrets := []string{clientSecret}
	for id := range e.Secrets.Stages(e.ARN) {
		v, _ := e.Secrets.Value(e.ARN, id)
		if s, err := clickwrap.ParseSecret(v); err == nil && s.AccessToken != "" {
			secrets = append(secrets, s.AccessToken)
			if !strings.Contains(out, clickwrap.Fingerprint(s.AccessToken)) {
				t.Errorf("the fingerprint of version %s is not shown", id)
			}
		}
	}
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Error("a secret value is in the report")
		}
	}
	if strings.Contains(out, "debug=1") || !strings.Contains(out, e.Sandbox.TokenURL()) || !strings.Contains(out, e.Sandbox.APIURL()) {
		t.Error("token_url shown with its query, or an endpoint not shown")
	}
	if r.Diagnosis.State != operator.StateStuck || r.Current.Check.Result != operator.CheckAccepted || r.Pending.Check.Result != operator.CheckRejected {
		t.Errorf("diagnosis %s, checks: current %+v, pending %+v", r.Diagnosis.State, r.Current.Check, r.Pending.Check)
	}
}
