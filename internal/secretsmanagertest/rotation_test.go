package secretsmanagertest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

func rotate(ctx context.Context, c *secretsmanager.Client, secretID string, optFns ...func(*secretsmanager.RotateSecretInput)) (*secretsmanager.RotateSecretOutput, error) {
	in := &secretsmanager.RotateSecretInput{SecretId: aws.String(secretID), RotationLambdaARN: aws.String(testLambdaARN)}
	for _, fn := range optFns {
		fn(in)
	}
	return c.RotateSecret(ctx, in)
}

func withToken(token string) func(*secretsmanager.RotateSecretInput) {
	return func(in *secretsmanager.RotateSecretInput) { in.ClientRequestToken = aws.String(token) }
}

func TestRotation(t *testing.T) {
	t.Parallel()
	for _, syncMode := range []bool{false, true} {
		t.Run(fmt.Sprintf("sync=%v", syncMode), func(t *testing.T) {
			t.Parallel()
			s, c := newServer(t, Options{Sync: syncMode, Now: func() time.Time { return fixedNow }})
			ctx := t.Context()
			arn := s.CreateSecret("rot", "initial")
			old := onlyVersion(t, s, "rot")
			var log eventLog
			s.SetInvoker(log.wrap(rotator(s.Client(), valueFor)))

			out, err := rotate(ctx, c, "rot", func(in *secretsmanager.RotateSecretInput) {
				in.RotationRules = &types.RotationRulesType{AutomaticallyAfterDays: aws.Int64(30)}
			})
			if err != nil {
				t.Fatal(err)
			}
			token := aws.ToString(out.VersionId)
			if token == "" || aws.ToString(out.ARN) != arn || aws.ToString(out.Name) != "rot" {
				t.Fatalf("RotateSecret = %s %s %s", aws.ToString(out.ARN), aws.ToString(out.Name), token)
			}
			if err := s.Wait(ctx); err != nil {
				t.Fatal(err)
			}

			assertStages(t, s, "rot", map[string][]string{token: {stageCurrent}, old: {stagePrevious}})
			if v, ok := s.Value("rot", token); !ok || v != valueFor(token) {
				t.Errorf("new value = %q, %v", v, ok)
			}
			got, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("rot")})
			if err != nil || aws.ToString(got.SecretString) != valueFor(token) {
				t.Errorf("GetSecretValue = %v, %v", got, err)
			}

			evs := log.all()
			if got := log.steps(); !slices.Equal(got, allSteps) {
				t.Fatalf("steps = %v, want %v", got, allSteps)
			}
			for _, ev := range evs {
				if ev.SecretID != arn || ev.ClientRequestToken != token || ev.RotationToken == "" || ev.RotationToken != evs[0].RotationToken {
					t.Errorf("event %s: SecretId=%s token=%s rotationTokenSet=%v", ev.Step, ev.SecretID, ev.ClientRequestToken, ev.RotationToken != "")
				}
			}

			rots := s.Rotations(arn)
			if len(rots) != 1 {
				t.Fatalf("Rotations = %d, want 1", len(rots))
			}
			r := rots[0]
			if !r.Done || r.Err != nil || r.SecretARN != arn || r.VersionID != token || !slices.Equal(stepNames(r), allSteps) {
				t.Errorf("rotation = %+v", r)
			}
			for _, st := range r.Steps {
				if st.Err != nil || st.Duration <= 0 {
					t.Errorf("step %s: err=%v duration=%v", st.Step, st.Err, st.Duration)
				}
			}

			d, err := c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(arn)})
			if err != nil {
				t.Fatal(err)
			}
			if !aws.ToBool(d.RotationEnabled) || aws.ToString(d.RotationLambdaARN) != testLambdaARN ||
				d.RotationRules == nil || aws.ToInt64(d.RotationRules.AutomaticallyAfterDays) != 30 {
				t.Errorf("rotation config = %v %v %+v", d.RotationEnabled, d.RotationLambdaARN, d.RotationRules)
			}
			if !aws.ToTime(d.LastRotatedDate).Equal(fixedNow) || !aws.ToTime(d.NextRotationDate).Equal(fixedNow.AddDate(0, 0, 30)) {
				t.Errorf("LastRotatedDate, NextRotationDate = %v, %v", d.LastRotatedDate, d.NextRotationDate)
			}
		})
	}
}

// onlyVersion returns the id of the single version of a secret.
func onlyVersion(t *testing.T, s *Server, secretID string) string {
	t.Helper()
	st := s.Stages(secretID)
	if len(st) != 1 {
		t.Fatalf("stages = %v, want one version", st)
	}
	for id := range st {
		return id
	}
	return ""
}

func TestRotationTwiceMovesPrevious(t *testing.T) {
	t.Parallel()
	s, c := newServer(t, Options{Sync: true})
	s.CreateSecret("twice", "v0")
	first := onlyVersion(t, s, "twice")
	s.SetInvoker(rotator(s.Client(), valueFor))
	var tokens []string
	for range 2 {
		out, err := rotate(t.Context(), c, "twice")
		if err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, aws.ToString(out.VersionId))
	}
	assertStages(t, s, "twice", map[string][]string{tokens[1]: {stageCurrent}, tokens[0]: {stagePrevious}})
	if _, ok := s.Value("twice", first); !ok {
		t.Error("the first version should still exist, without labels")
	}
	// The stored Lambda ARN is reused when the request has none.
	out, err := c.RotateSecret(t.Context(), &secretsmanager.RotateSecretInput{SecretId: aws.String("twice")})
	if err != nil {
		t.Fatal(err)
	}
	assertStages(t, s, "twice", map[string][]string{aws.ToString(out.VersionId): {stageCurrent}, tokens[1]: {stagePrevious}})
}

// failingAt wraps inv so that step fails while *fail is true.
func failingAt(step string, fail *atomic.Bool, inv Invoker) Invoker {
	return func(ctx context.Context, ev events.SecretsManagerSecretRotationEvent) error {
		if ev.Step == step && fail.Load() {
			return errors.New("injected step failure")
		}
		return inv(ctx, ev)
	}
}

func TestFailedRotation(t *testing.T) {
	t.Parallel()

	// start runs a rotation whose testSecret fails and checks the stuck state.
	start := func(t *testing.T) (s *Server, c *secretsmanager.Client, old, token string, fail *atomic.Bool, log *eventLog) {
		s, c = newServer(t, Options{})
		s.CreateSecret("f", "old-value")
		old = onlyVersion(t, s, "f")
		fail, log = new(atomic.Bool), new(eventLog)
		fail.Store(true)
		s.SetInvoker(log.wrap(failingAt(StepTestSecret, fail, rotator(s.Client(), valueFor))))
		out, err := rotate(t.Context(), c, "f")
		if err != nil {
			t.Fatal(err)
		}
		token = aws.ToString(out.VersionId)
		if err := s.Wait(t.Context()); err != nil {
			t.Fatal(err)
		}
		rots := s.Rotations("f")
		if len(rots) != 1 || !rots[0].Done || rots[0].Err == nil || rots[0].Err.Error() != "injected step failure" {
			t.Fatalf("rotations = %+v", rots)
		}
		if got, want := stepNames(rots[0]), allSteps[:3]; !slices.Equal(got, want) {
			t.Fatalf("steps = %v, want %v", got, want)
		}
		if rots[0].Steps[2].Err == nil || rots[0].Steps[1].Err != nil {
			t.Errorf("step errors = %+v", rots[0].Steps)
		}
		assertStages(t, s, "f", map[string][]string{old: {stageCurrent}, token: {stagePending}})

		// The next rotation is refused while AWSPENDING is stuck.
		_, err = rotate(t.Context(), c, "f")
		ir := errorAs[*types.InvalidRequestException](t, err)
		if !strings.Contains(ir.ErrorMessage(), "A previous rotation isn't complete") {
			t.Errorf("message = %q", ir.ErrorMessage())
		}
		return s, c, old, token, fail, log
	}

	check := func(t *testing.T, s *Server, old, token string, log *eventLog, wantRotations int) {
		t.Helper()
		assertStages(t, s, "f", map[string][]string{token: {stageCurrent}, old: {stagePrevious}})
		if v, _ := s.Value("f", token); v != valueFor(token) {
			t.Errorf("value = %q", v)
		}
		// Every attempt used the same token and RotationToken.
		evs := log.all()
		for _, ev := range evs {
			if ev.ClientRequestToken != token || ev.RotationToken != evs[0].RotationToken {
				t.Errorf("event %s used a different token", ev.Step)
			}
		}
		// The first attempt stored the value; the retry did not mint again.
		if got := s.Calls()["PutSecretValue"]; got != 1 {
			t.Errorf("PutSecretValue calls = %d, want 1", got)
		}
		rots := s.Rotations("f")
		last := rots[len(rots)-1]
		if len(rots) != wantRotations || last.Err != nil || !last.Done || !slices.Equal(stepNames(last), allSteps) {
			t.Errorf("rotations = %+v", rots)
		}
	}

	t.Run("RetryRotation", func(t *testing.T) {
		t.Parallel()
		s, _, old, token, fail, log := start(t)
		if err := s.RetryRotation(t.Context(), "f"); err == nil || err.Error() != "injected step failure" {
			t.Fatalf("RetryRotation while still failing = %v", err)
		}
		fail.Store(false)
		if err := s.RetryRotation(t.Context(), "f"); err != nil {
			t.Fatal(err)
		}
		if err := s.RetryRotation(t.Context(), "f"); err == nil {
			t.Error("RetryRotation with nothing pending should fail")
		}
		check(t, s, old, token, log, 3)
	})

	t.Run("RotateSecret with the same token", func(t *testing.T) {
		t.Parallel()
		s, c, old, token, fail, log := start(t)
		fail.Store(false)
		out, err := rotate(t.Context(), c, "f", withToken(token))
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(out.VersionId) != token {
			t.Errorf("VersionId = %s, want %s", aws.ToString(out.VersionId), token)
		}
		if err := s.Wait(t.Context()); err != nil {
			t.Fatal(err)
		}
		check(t, s, old, token, log, 2)
	})

	t.Run("remove AWSPENDING then rotate again", func(t *testing.T) {
		t.Parallel()
		s, c, old, token, fail, _ := start(t)
		fail.Store(false)
		if _, err := c.UpdateSecretVersionStage(t.Context(), &secretsmanager.UpdateSecretVersionStageInput{
			SecretId: aws.String("f"), VersionStage: aws.String(stagePending), RemoveFromVersionId: aws.String(token),
		}); err != nil {
			t.Fatal(err)
		}
		out, err := rotate(t.Context(), c, "f")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Wait(t.Context()); err != nil {
			t.Fatal(err)
		}
		assertStages(t, s, "f", map[string][]string{aws.ToString(out.VersionId): {stageCurrent}, old: {stagePrevious}})
	})
}

func TestRetryRotationErrors(t *testing.T) {
	t.Parallel()
	s, _ := newServer(t, Options{})
	s.CreateSecret("r", "v")
	if err := s.RetryRotation(t.Context(), "missing"); err == nil {
		t.Error("unknown secret: want error")
	}
	if err := s.RetryRotation(t.Context(), "r"); err == nil || !strings.Contains(err.Error(), "no pending rotation") {
		t.Errorf("nothing pending: %v", err)
	}
}

func TestPendingOnCurrentCountsAsNothingPending(t *testing.T) {
	t.Parallel()
	s, c := newServer(t, Options{Sync: true})
	s.CreateSecret("pc", "v")
	cur := onlyVersion(t, s, "pc")
	if _, err := c.UpdateSecretVersionStage(t.Context(), &secretsmanager.UpdateSecretVersionStageInput{
		SecretId: aws.String("pc"), VersionStage: aws.String(stagePending), MoveToVersionId: aws.String(cur),
	}); err != nil {
		t.Fatal(err)
	}
	s.SetInvoker(rotator(s.Client(), valueFor))
	out, err := rotate(t.Context(), c, "pc")
	if err != nil {
		t.Fatal(err)
	}
	assertStages(t, s, "pc", map[string][]string{aws.ToString(out.VersionId): {stageCurrent}, cur: {stagePrevious}})
}

func TestFinishWithoutMovingCurrent(t *testing.T) {
	t.Parallel()
	s, c := newServer(t, Options{Sync: true})
	s.CreateSecret("lazy", "v")
	inner := rotator(s.Client(), valueFor)
	s.SetInvoker(func(ctx context.Context, ev events.SecretsManagerSecretRotationEvent) error {
		if ev.Step == StepFinishSecret {
			return nil // forgets to move AWSCURRENT
		}
		return inner(ctx, ev)
	})
	out, err := rotate(t.Context(), c, "lazy")
	if err != nil {
		t.Fatal(err)
	}
	r := s.Rotations("lazy")[0]
	if r.Err == nil || !strings.Contains(r.Err.Error(), "AWSCURRENT") {
		t.Errorf("Err = %v", r.Err)
	}
	if st := s.Stages("lazy")[aws.ToString(out.VersionId)]; !slices.Equal(st, []string{stagePending}) {
		t.Errorf("pending stages = %v", st)
	}
}

func TestRotationToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		allowMissing bool
		token        func(issued string) *string
		wantDenied   bool
	}{
		{"issued token", false, func(issued string) *string { return &issued }, false},
		{"missing token", false, func(string) *string { return nil }, true},
		{"wrong token", false, func(string) *string { return aws.String("forged") }, true},
		{"missing token allowed", true, func(string) *string { return nil }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, c := newServer(t, Options{Sync: true, AllowMissingRotationToken: tt.allowMissing})
			s.CreateSecret("tok", "v")
			sc := s.Client()
			s.SetInvoker(func(ctx context.Context, ev events.SecretsManagerSecretRotationEvent) error {
				if ev.Step != StepCreateSecret {
					return nil
				}
				_, err := sc.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
					SecretId: &ev.SecretID, ClientRequestToken: &ev.ClientRequestToken, SecretString: aws.String("pending-value"),
					VersionStages: []string{stagePending}, RotationToken: tt.token(ev.RotationToken),
				})
				return err
			})
			out, err := rotate(t.Context(), c, "tok")
			if err != nil {
				t.Fatal(err)
			}
			token := aws.ToString(out.VersionId)
			r := s.Rotations("tok")[0]
			_, stored := s.Value("tok", token)
			if !tt.wantDenied {
				if !stored || len(r.Steps) == 0 || r.Steps[0].Err != nil {
					t.Fatalf("stored=%v steps=%+v", stored, r.Steps)
				}
				return
			}
			if stored {
				t.Error("value stored despite a bad RotationToken")
			}
			errorCode(t, r.Err, "AccessDeniedException")
			msg := r.Err.Error()
			if !strings.Contains(msg, "Pending secret version "+token+" for Secret tok was not created by Lambda "+testLambdaARN) {
				t.Errorf("message = %q", msg)
			}
			if strings.Contains(msg, "pending-value") || strings.Contains(msg, "forged") {
				t.Errorf("message leaks a value: %q", msg)
			}
		})
	}
}

func TestRotateImmediatelyFalse(t *testing.T) {
	t.Parallel()
	for _, fail := range []bool{false, true} {
		t.Run(fmt.Sprintf("testSecret fails=%v", fail), func(t *testing.T) {
			t.Parallel()
			s, c := newServer(t, Options{Now: func() time.Time { return fixedNow }})
			s.CreateSecret("later", "v")
			cur := onlyVersion(t, s, "later")
			sc := s.Client()
			var log eventLog
			var sawPending atomic.Bool
			s.SetInvoker(log.wrap(func(ctx context.Context, ev events.SecretsManagerSecretRotationEvent) error {
				d, err := sc.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: &ev.SecretID})
				if err != nil {
					return err
				}
				sawPending.Store(slices.Equal(d.VersionIdsToStages[ev.ClientRequestToken], []string{stagePending}))
				if fail {
					return errors.New("test failed")
				}
				return nil
			}))
			out, err := rotate(t.Context(), c, "later", func(in *secretsmanager.RotateSecretInput) {
				in.RotateImmediately = aws.Bool(false)
				in.RotationRules = &types.RotationRulesType{ScheduleExpression: aws.String("rate(10 days)"), Duration: aws.String("3h")}
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Wait(t.Context()); err != nil {
				t.Fatal(err)
			}
			if got := log.steps(); !slices.Equal(got, []string{StepTestSecret}) {
				t.Errorf("steps = %v, want [testSecret]", got)
			}
			if !sawPending.Load() {
				t.Error("testSecret did not see the pending version")
			}
			assertStages(t, s, "later", map[string][]string{cur: {stageCurrent}})
			lv, err := c.ListSecretVersionIds(t.Context(), &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String("later"), IncludeDeprecated: aws.Bool(true)})
			if err != nil {
				t.Fatal(err)
			}
			if len(lv.Versions) != 1 {
				t.Errorf("pending version %s not deleted: %d versions", aws.ToString(out.VersionId), len(lv.Versions))
			}
			if r := s.Rotations("later"); len(r) != 1 || !r[0].Done || (r[0].Err != nil) != fail {
				t.Errorf("rotations = %+v", r)
			}
			d, err := c.DescribeSecret(t.Context(), &secretsmanager.DescribeSecretInput{SecretId: aws.String("later")})
			if err != nil {
				t.Fatal(err)
			}
			if !aws.ToBool(d.RotationEnabled) || d.LastRotatedDate != nil || !aws.ToTime(d.NextRotationDate).Equal(fixedNow.AddDate(0, 0, 10)) ||
				aws.ToString(d.RotationRules.ScheduleExpression) != "rate(10 days)" || aws.ToString(d.RotationRules.Duration) != "3h" {
				t.Errorf("DescribeSecret = enabled %v last %v next %v rules %+v", d.RotationEnabled, d.LastRotatedDate, d.NextRotationDate, d.RotationRules)
			}
		})
	}
}

func TestRotateSecretErrors(t *testing.T) {
	t.Parallel()
	noop := func(context.Context, events.SecretsManagerSecretRotationEvent) error { return nil }
	tests := []struct {
		name    string
		invoker Invoker
		in      func(*secretsmanager.RotateSecretInput)
		check   func(*testing.T, error)
	}{
		{"no Lambda ARN", noop, func(in *secretsmanager.RotateSecretInput) { in.RotationLambdaARN = nil },
			func(t *testing.T, err error) { errorAs[*types.InvalidRequestException](t, err) }},
		{"no Invoker", nil, nil,
			func(t *testing.T, err error) {
				ir := errorAs[*types.InvalidRequestException](t, err)
				if !strings.Contains(ir.ErrorMessage(), "Invoker") {
					t.Errorf("message = %q", ir.ErrorMessage())
				}
			}},
		{"AutomaticallyAfterDays out of range", noop, func(in *secretsmanager.RotateSecretInput) {
			in.RotationRules = &types.RotationRulesType{AutomaticallyAfterDays: aws.Int64(1001)}
		}, func(t *testing.T, err error) { errorAs[*types.InvalidParameterException](t, err) }},
		{"rate too short", noop, func(in *secretsmanager.RotateSecretInput) {
			in.RotationRules = &types.RotationRulesType{ScheduleExpression: aws.String("rate(2 hours)")}
		}, func(t *testing.T, err error) { errorAs[*types.InvalidParameterException](t, err) }},
		{"bad expression", noop, func(in *secretsmanager.RotateSecretInput) {
			in.RotationRules = &types.RotationRulesType{ScheduleExpression: aws.String("every day")}
		}, func(t *testing.T, err error) { errorAs[*types.InvalidParameterException](t, err) }},
		{"bad duration", noop, func(in *secretsmanager.RotateSecretInput) {
			in.RotationRules = &types.RotationRulesType{AutomaticallyAfterDays: aws.Int64(1), Duration: aws.String("90m")}
		}, func(t *testing.T, err error) { errorAs[*types.InvalidParameterException](t, err) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, c := newServer(t, Options{Invoke: tt.invoker})
			s.CreateSecret("e", "v")
			var opts []func(*secretsmanager.RotateSecretInput)
			if tt.in != nil {
				opts = append(opts, tt.in)
			}
			_, err := rotate(t.Context(), c, "e", opts...)
			tt.check(t, err)
			if st := s.Stages("e"); len(st) != 1 || len(s.Rotations("e")) != 0 {
				t.Errorf("a refused RotateSecret changed state: %v", st)
			}
		})
	}
}

func TestNextRotationDate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		rules types.RotationRulesType
		want  time.Time // zero: unset
	}{
		{"days", types.RotationRulesType{AutomaticallyAfterDays: aws.Int64(7)}, fixedNow.AddDate(0, 0, 7)},
		{"rate days", types.RotationRulesType{ScheduleExpression: aws.String("rate(10 days)")}, fixedNow.AddDate(0, 0, 10)},
		{"rate one day", types.RotationRulesType{ScheduleExpression: aws.String("rate(1 day)")}, fixedNow.AddDate(0, 0, 1)},
		{"rate hours", types.RotationRulesType{ScheduleExpression: aws.String("rate(6 hours)")}, fixedNow.Add(6 * time.Hour)},
		{"cron", types.RotationRulesType{ScheduleExpression: aws.String("cron(0 16 1,15 * ? *)"), Duration: aws.String("2h")}, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, c := newServer(t, Options{Sync: true, Now: func() time.Time { return fixedNow }})
			s.CreateSecret("n", "v")
			s.SetInvoker(rotator(s.Client(), valueFor))
			if _, err := rotate(t.Context(), c, "n", func(in *secretsmanager.RotateSecretInput) { in.RotationRules = &tt.rules }); err != nil {
				t.Fatal(err)
			}
			d, err := c.DescribeSecret(t.Context(), &secretsmanager.DescribeSecretInput{SecretId: aws.String("n")})
			if err != nil {
				t.Fatal(err)
			}
			if got := aws.ToTime(d.NextRotationDate); !got.Equal(tt.want) {
				t.Errorf("NextRotationDate = %v, want %v", got, tt.want)
			}
			if !aws.ToTime(d.LastRotatedDate).Equal(fixedNow) {
				t.Errorf("LastRotatedDate = %v", d.LastRotatedDate)
			}
		})
	}
}

func TestConcurrentRotations(t *testing.T) {
	t.Parallel()
	s, c := newServer(t, Options{})
	s.SetInvoker(rotator(s.Client(), valueFor))
	const n = 8
	olds := make([]string, n)
	for i := range n {
		s.CreateSecret(fmt.Sprintf("c%d", i), "v")
		olds[i] = onlyVersion(t, s, fmt.Sprintf("c%d", i))
	}
	tokens := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			out, err := rotate(t.Context(), c, fmt.Sprintf("c%d", i))
			if err != nil {
				t.Error(err)
				return
			}
			tokens[i] = aws.ToString(out.VersionId)
		})
	}
	wg.Wait()
	if err := s.Wait(t.Context()); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		assertStages(t, s, fmt.Sprintf("c%d", i), map[string][]string{tokens[i]: {stageCurrent}, olds[i]: {stagePrevious}})
	}
}

func TestInvokerContextAndWait(t *testing.T) {
	t.Parallel()
	s, c := newServer(t, Options{})
	s.CreateSecret("w", "v")
	release := make(chan struct{})
	var deadlineOK atomic.Bool
	s.SetInvoker(func(ctx context.Context, ev events.SecretsManagerSecretRotationEvent) error {
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) > time.Minute && time.Until(dl) <= stepTimeout {
			deadlineOK.Store(true)
		}
		<-release
		return errors.New("stop")
	})
	if _, err := rotate(t.Context(), c, "w"); err != nil {
		t.Fatal(err)
	}
	// RotateSecret returned while the rotation is still running.
	if r := s.Rotations("w"); len(r) != 1 || r[0].Done {
		t.Fatalf("rotations = %+v", r)
	}
	short, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := s.Wait(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait = %v, want deadline exceeded", err)
	}
	close(release)
	if err := s.Wait(t.Context()); err != nil {
		t.Fatal(err)
	}
	if !deadlineOK.Load() {
		t.Error("the Invoker's context has no deadline of a few minutes")
	}
	if r := s.Rotations("w"); !r[0].Done || r[0].Err == nil {
		t.Errorf("rotation = %+v", r[0])
	}
}

func TestIdempotentRotateSecretRetry(t *testing.T) {
	t.Parallel()
	s, c := newServer(t, Options{Sync: true})
	s.CreateSecret("i", "v")
	s.SetInvoker(rotator(s.Client(), valueFor))
	out, err := rotate(t.Context(), c, "i")
	if err != nil {
		t.Fatal(err)
	}
	// The same ClientRequestToken again (an SDK retry) does not rotate twice.
	again, err := rotate(t.Context(), c, "i", withToken(aws.ToString(out.VersionId)))
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(again.VersionId) != aws.ToString(out.VersionId) || len(s.Rotations("i")) != 1 {
		t.Errorf("VersionId = %s, rotations = %d", aws.ToString(again.VersionId), len(s.Rotations("i")))
	}
}

// sharesMemory reports whether two values share memory that a change to one
// would show in the other (the same value, string pointer or bytes).
func sharesMemory(a, b *secretValue) bool {
	switch {
	case a == nil || b == nil:
		return false
	case a == b:
		return true
	case a.str != nil && a.str == b.str:
		return true
	case len(a.bin) > 0 && len(b.bin) > 0 && &a.bin[0] == &b.bin[0]:
		return true
	}
	return false
}

// versionSnapshot is a version as the SDK sees it.
type versionSnapshot struct {
	stages []string
	str    *string
	bin    []byte
	found  bool // GetSecretValue by VersionId answered a value
}

func (a versionSnapshot) equal(b versionSnapshot) bool {
	return slices.Equal(slices.Sorted(slices.Values(a.stages)), slices.Sorted(slices.Values(b.stages))) &&
		(a.str == nil) == (b.str == nil) && aws.ToString(a.str) == aws.ToString(b.str) &&
		(a.bin == nil) == (b.bin == nil) && slices.Equal(a.bin, b.bin) && a.found == b.found
}

// snapshotVersions lists every version of a secret (deprecated ones too)
// with its labels and value, through the SDK.
func snapshotVersions(t *testing.T, c *secretsmanager.Client, secretID string) map[string]versionSnapshot {
	t.Helper()
	lv, err := c.ListSecretVersionIds(t.Context(), &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String(secretID), IncludeDeprecated: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]versionSnapshot{}
	for _, v := range lv.Versions {
		snap := versionSnapshot{stages: v.VersionStages}
		got, err := c.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(secretID), VersionId: v.VersionId})
		switch {
		case err == nil:
			snap.str, snap.bin, snap.found = got.SecretString, got.SecretBinary, true
		default:
			errorAs[*types.ResourceNotFoundException](t, err)
		}
		out[aws.ToString(v.VersionId)] = snap
	}
	return out
}

// TestRotateImmediatelyFalseTestsACopyOfCurrent checks the configuration
// test RotateSecret runs with RotateImmediately=false: the pending version
// holds a copy of AWSCURRENT's value, only testSecret sees it, and the
// version is removed afterwards without touching the others.
func TestRotateImmediatelyFalseTestsACopyOfCurrent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		binary      bool // values are SecretBinary
		withCurrent bool // false: the secret has no AWSCURRENT value
		fail        bool // testSecret returns an error
		sync        bool // Options.Sync
	}{
		{name: "string value", withCurrent: true},
		{name: "string value, sync", withCurrent: true, sync: true},
		{name: "binary value", binary: true, withCurrent: true},
		{name: "testSecret fails", withCurrent: true, fail: true},
		{name: "binary value, testSecret fails, sync", binary: true, withCurrent: true, fail: true, sync: true},
		{name: "no AWSCURRENT value", withCurrent: false},
		{name: "no AWSCURRENT value, testSecret fails", withCurrent: false, fail: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, c := newServer(t, Options{Sync: tt.sync})
			ctx := t.Context()
			const name = "cfg"
			value := func(v string) (*string, []byte) {
				if tt.binary {
					return nil, []byte{0, 'b', 'i', 'n', 0xff, v[len(v)-1]}
				}
				return aws.String("value-" + v), nil
			}
			put := func(id string, stages ...string) {
				t.Helper()
				str, bin := value(id)
				if _, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
					SecretId: aws.String(name), ClientRequestToken: aws.String(id), SecretString: str, SecretBinary: bin, VersionStages: stages,
				}); err != nil {
					t.Fatal(err)
				}
			}
			// With a current value: v3 AWSCURRENT, v2 AWSPREVIOUS, v1 without
			// labels, v4 STAGING. Without: v4 STAGING alone.
			in := &secretsmanager.CreateSecretInput{Name: aws.String(name)}
			if tt.withCurrent {
				in.ClientRequestToken = aws.String("v1")
				in.SecretString, in.SecretBinary = value("v1")
			}
			if _, err := c.CreateSecret(ctx, in); err != nil {
				t.Fatal(err)
			}
			if tt.withCurrent {
				put("v2")
				put("v3")
			}
			put("v4", "STAGING")
			before := snapshotVersions(t, c, name)
			var current *secretsmanager.GetSecretValueOutput
			if tt.withCurrent {
				var err error
				if current, err = c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(name)}); err != nil {
					t.Fatal(err)
				}
			}

			// The Invoker reads the pending version by VersionId and
			// AWSPENDING, and by AWSPENDING alone, during testSecret.
			type read struct {
				out *secretsmanager.GetSecretValueOutput
				err error
			}
			var (
				mu          sync.Mutex
				byID, bySt  read
				aliased     bool
				sawPendingV bool
			)
			sc := s.Client()
			var log eventLog
			s.SetInvoker(log.wrap(func(ctx context.Context, ev events.SecretsManagerSecretRotationEvent) error {
				if ev.Step != StepTestSecret {
					return fmt.Errorf("unexpected step %s", ev.Step)
				}
				out1, err1 := sc.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{
					SecretId: &ev.SecretID, VersionId: &ev.ClientRequestToken, VersionStage: aws.String(stagePending),
				})
				out2, err2 := sc.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: &ev.SecretID, VersionStage: aws.String(stagePending)})
				// White box: the pending value shares no memory with AWSCURRENT's.
				s.mu.Lock()
				sec := s.secrets[name]
				pending := sec.versions[ev.ClientRequestToken]
				shares := false
				if cur := sec.versionWithStage(stageCurrent); cur != nil && pending != nil {
					shares = sharesMemory(pending.value, cur.value)
				}
				s.mu.Unlock()
				mu.Lock()
				byID, bySt, aliased, sawPendingV = read{out1, err1}, read{out2, err2}, shares, pending != nil
				mu.Unlock()
				if tt.fail {
					return errors.New("configuration test failed")
				}
				return nil
			}))

			out, err := rotate(ctx, c, name, func(in *secretsmanager.RotateSecretInput) { in.RotateImmediately = aws.Bool(false) })
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Wait(ctx); err != nil {
				t.Fatal(err)
			}
			token := aws.ToString(out.VersionId)

			// Only testSecret was invoked, with the pending version's token.
			if got := log.steps(); !slices.Equal(got, []string{StepTestSecret}) {
				t.Fatalf("steps = %v, want [testSecret]", got)
			}
			if ev := log.all()[0]; ev.SecretID != aws.ToString(out.ARN) || ev.ClientRequestToken != token || ev.RotationToken == "" {
				t.Errorf("event: SecretId=%s token=%s (want %s) rotationTokenSet=%v", ev.SecretID, ev.ClientRequestToken, token, ev.RotationToken != "")
			}
			r := s.Rotations(name)
			if len(r) != 1 || !r[0].Done || r[0].VersionID != token || !slices.Equal(stepNames(r[0]), []string{StepTestSecret}) || (r[0].Err != nil) != tt.fail {
				t.Errorf("rotations = %+v", r)
			}

			mu.Lock()
			reads := map[string]read{"by VersionId and AWSPENDING": byID, "by AWSPENDING": bySt}
			if !sawPendingV {
				t.Error("the pending version did not exist during testSecret")
			}
			if aliased {
				t.Error("the pending version's value shares memory with AWSCURRENT's")
			}
			mu.Unlock()
			for how, rd := range reads {
				if !tt.withCurrent {
					// Nothing to copy: the pending version has no value.
					if rd.err == nil {
						t.Errorf("read %s: got a value, want ResourceNotFoundException", how)
						continue
					}
					errorAs[*types.ResourceNotFoundException](t, rd.err)
					continue
				}
				if rd.err != nil {
					t.Errorf("read %s: %v", how, rd.err)
					continue
				}
				if aws.ToString(rd.out.VersionId) != token || !slices.Equal(rd.out.VersionStages, []string{stagePending}) {
					t.Errorf("read %s: VersionId %s stages %v, want %s [AWSPENDING]", how, aws.ToString(rd.out.VersionId), rd.out.VersionStages, token)
				}
				// Values are compared, never printed.
				if (rd.out.SecretString == nil) != (current.SecretString == nil) || aws.ToString(rd.out.SecretString) != aws.ToString(current.SecretString) ||
					(rd.out.SecretBinary == nil) != (current.SecretBinary == nil) || !slices.Equal(rd.out.SecretBinary, current.SecretBinary) {
					t.Errorf("read %s: the value differs from AWSCURRENT's", how)
				}
			}

			// The version is gone; every other version is as it was.
			after := snapshotVersions(t, c, name)
			if _, ok := after[token]; ok {
				t.Errorf("ListSecretVersionIds still lists the test version %s", token)
			}
			if len(after) != len(before) {
				t.Errorf("versions after = %d, before = %d", len(after), len(before))
			}
			for id, b := range before {
				if a, ok := after[id]; !ok || !a.equal(b) {
					t.Errorf("version %s changed (labels after: %v, before: %v)", id, a.stages, b.stages)
				}
			}
			d, err := c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := d.VersionIdsToStages[token]; ok {
				t.Errorf("DescribeSecret still lists the test version %s", token)
			}
			_, err = c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(name), VersionId: aws.String(token)})
			errorAs[*types.ResourceNotFoundException](t, err)
			_, err = c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(name), VersionStage: aws.String(stagePending)})
			errorAs[*types.ResourceNotFoundException](t, err)
			// No rotation is left pending: a new one may start.
			if _, err := rotate(ctx, c, name, func(in *secretsmanager.RotateSecretInput) { in.RotateImmediately = aws.Bool(false) }); err != nil {
				t.Errorf("a second configuration test was refused: %v", err)
			}
		})
	}
}

// TestRotateImmediatelyFalseKeepsWhatItDidNotCreate covers the edges of the
// configuration test's clean-up: it removes only the version it created, and
// no label vanishes with it.
func TestRotateImmediatelyFalseKeepsWhatItDidNotCreate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		run  func(t *testing.T, s *Server, c *secretsmanager.Client, old string)
	}{
		{"AWSCURRENT moved onto the test version keeps it", func(t *testing.T, s *Server, c *secretsmanager.Client, old string) {
			sc := s.Client()
			s.SetInvoker(func(ctx context.Context, ev events.SecretsManagerSecretRotationEvent) error {
				_, err := sc.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
					SecretId: &ev.SecretID, VersionStage: aws.String(stageCurrent), MoveToVersionId: &ev.ClientRequestToken, RemoveFromVersionId: aws.String(old),
				})
				return err
			})
			out, err := rotate(t.Context(), c, "k", func(in *secretsmanager.RotateSecretInput) { in.RotateImmediately = aws.Bool(false) })
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Wait(t.Context()); err != nil {
				t.Fatal(err)
			}
			// The service removes AWSPENDING; the version stays as AWSCURRENT.
			assertStages(t, s, "k", map[string][]string{aws.ToString(out.VersionId): {stageCurrent}, old: {stagePrevious}})
		}},
		{"an unfinished rotation's pending version is not removed", func(t *testing.T, s *Server, c *secretsmanager.Client, old string) {
			inner := rotator(s.Client(), valueFor)
			s.SetInvoker(func(ctx context.Context, ev events.SecretsManagerSecretRotationEvent) error {
				if ev.Step == StepSetSecret {
					return errors.New("stop after createSecret")
				}
				return inner(ctx, ev)
			})
			out, err := rotate(t.Context(), c, "k")
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Wait(t.Context()); err != nil {
				t.Fatal(err)
			}
			token := aws.ToString(out.VersionId)
			// A configuration test with the same token runs testSecret on
			// that version but leaves it (and its minted value) in place.
			var log eventLog
			s.SetInvoker(log.wrap(func(context.Context, events.SecretsManagerSecretRotationEvent) error { return nil }))
			if _, err := rotate(t.Context(), c, "k", withToken(token), func(in *secretsmanager.RotateSecretInput) { in.RotateImmediately = aws.Bool(false) }); err != nil {
				t.Fatal(err)
			}
			if err := s.Wait(t.Context()); err != nil {
				t.Fatal(err)
			}
			if got := log.steps(); !slices.Equal(got, []string{StepTestSecret}) {
				t.Errorf("steps = %v, want [testSecret]", got)
			}
			assertStages(t, s, "k", map[string][]string{old: {stageCurrent}, token: {stagePending}})
			if v, ok := s.Value("k", token); !ok || v != valueFor(token) {
				t.Error("the pending version lost its value")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, c := newServer(t, Options{})
			s.CreateSecret("k", "v")
			tt.run(t, s, c, onlyVersion(t, s, "k"))
		})
	}
}
