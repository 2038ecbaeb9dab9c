package secretsmanagertest

// This file holds rotation: RotateSecret, the step runner that calls the
// Invoker, schedules, and the rotation records.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// Rotation step names, as sent in the event's Step field.
const (
	StepCreateSecret = "createSecret"
	StepSetSecret    = "setSecret"
	StepTestSecret   = "testSecret"
	StepFinishSecret = "finishSecret"
)

// stepTimeout is the deadline of the context each Invoker call gets (the
// maximum Lambda timeout is 15 minutes; rotation steps are expected to be
// much shorter).
const stepTimeout = 5 * time.Minute

// Rotation records one run of the rotation steps for a secret.
type Rotation struct {
	// SecretARN is the rotated secret.
	SecretARN string
	// VersionID is the pending version (the ClientRequestToken of the steps).
	VersionID string
	// Steps are the steps run so far, in order.
	Steps []StepResult
	// Err is the first failing step's error. It is also set when every step
	// succeeded but finishSecret did not leave AWSCURRENT on the pending
	// version (AWSPENDING then stays, as an unfinished rotation).
	Err error
	// Done is true once the rotation has ended, successfully or not.
	Done bool
}

// StepResult is the outcome of one Invoker call.
type StepResult struct {
	// Step is the step name, e.g. "createSecret".
	Step string
	// Err is the error the Invoker returned (nil on success).
	Err error
	// Duration is how long the Invoker call took.
	Duration time.Duration
}

// rotationJob is a rotation ready to run without the mutex.
type rotationJob struct {
	rec       *Rotation
	invoke    Invoker
	event     events.SecretsManagerSecretRotationEvent // Step is filled per step
	immediate bool                                     // false: a configuration test (testSecret only)
	// testVersion is the pending version a configuration test created (a
	// copy of AWSCURRENT) and removes when it ends; nil for a rotation, and
	// for a configuration test that reused an existing pending version.
	testVersion *version
}

func (s *Server) rotateSecret(in *rotateSecretInput) (*rotateSecretOutput, error) {
	job, out, err := s.startRotation(in)
	if err != nil {
		return nil, err
	}
	if job != nil {
		if s.opts.Sync {
			s.runRotation(s.baseCtx, job)
		} else {
			go s.runRotation(s.baseCtx, job)
		}
	}
	return out, nil
}

// startRotation validates a RotateSecret request, updates the rotation
// configuration, creates (or reuses) the pending version and registers the
// rotation. A nil job with a nil error means there is nothing to run (the
// token names a version that exists and is not pending: an idempotent retry
// of a RotateSecret that already happened).
//
// With RotateImmediately=false the request is a configuration test, as the
// service runs it: a new pending version holds a copy of AWSCURRENT's value
// (SecretString or SecretBinary; no value when the secret has no AWSCURRENT
// value, so testSecret's GetSecretValue of it answers
// ResourceNotFoundException), only testSecret is invoked, and finishLocked
// then removes that version.
func (s *Server) startRotation(in *rotateSecretInput) (*rotationJob, *rotateSecretOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, err := s.lookupLocked(deref(in.SecretId))
	if err != nil {
		return nil, nil, err
	}
	lambdaARN := sec.lambdaARN
	if a := deref(in.RotationLambdaARN); a != "" {
		lambdaARN = a
	}
	if lambdaARN == "" {
		return nil, nil, newError(codeInvalidRequest, "No Lambda rotation function ARN is associated with this secret.")
	}
	rules := sec.rules
	if in.RotationRules != nil {
		if rules, err = parseRules(in.RotationRules); err != nil {
			return nil, nil, err
		}
	}
	if s.invoker == nil {
		return nil, nil, newError(codeInvalidRequest, "secretsmanagertest: no rotation Invoker is set; pass Options.Invoke or call SetInvoker.")
	}
	token := deref(in.ClientRequestToken)
	if token == "" {
		token = newUUID()
	}
	immediate := in.RotateImmediately == nil || *in.RotateImmediately

	var created *version // the configuration test's own pending version
	v := sec.pendingVersion()
	switch {
	case v != nil && v.id != token:
		return nil, nil, newError(codeInvalidRequest, "A previous rotation isn't complete. That rotation will be reattempted.")
	case v != nil:
		// Same token: run the steps again on the pending version.
		if v.rotationToken == "" {
			v.rotationToken = newRotationToken()
		}
	case sec.versions[token] != nil:
		// The token names a finished version: an idempotent retry of a
		// RotateSecret that already ran. Nothing to run (v stays nil).
	default:
		v = &version{id: token, created: s.opts.Now(), rotationToken: newRotationToken()}
		if !immediate {
			created = v
			if cur := sec.versionWithStage(stageCurrent); cur != nil {
				v.value = cur.value.clone()
			}
		}
		sec.addVersion(v)
		sec.attachStage(stagePending, v)
	}

	now := s.opts.Now()
	sec.lambdaARN = lambdaARN
	sec.rules = rules
	sec.rotationEnabled = true
	sec.lastChanged = now
	if !immediate {
		sec.nextRotation = nextRotation(now, rules)
	}
	out := &rotateSecretOutput{ARN: sec.arn, Name: sec.name, VersionId: token}
	if v == nil {
		return nil, out, nil
	}
	job := s.newJobLocked(sec, v, immediate)
	job.testVersion = created
	return job, out, nil
}

// newJobLocked records a new rotation of v and counts it as running.
func (s *Server) newJobLocked(sec *secret, v *version, immediate bool) *rotationJob {
	rec := &Rotation{SecretARN: sec.arn, VersionID: v.id}
	s.rotations[sec.arn] = append(s.rotations[sec.arn], rec)
	s.running++
	if s.running == 1 {
		s.idle = make(chan struct{})
	}
	return &rotationJob{
		rec:    rec,
		invoke: s.invoker,
		event: events.SecretsManagerSecretRotationEvent{
			SecretID:           sec.arn,
			ClientRequestToken: v.id,
			RotationToken:      v.rotationToken,
		},
		immediate: immediate,
	}
}

// runRotation calls the Invoker for each step, without holding the mutex
// (the Lambda calls back into the server), then applies the outcome.
func (s *Server) runRotation(parent context.Context, job *rotationJob) {
	steps := []string{StepCreateSecret, StepSetSecret, StepTestSecret, StepFinishSecret}
	if !job.immediate {
		steps = []string{StepTestSecret}
	}
	var failed error
	for _, step := range steps {
		ev := job.event
		ev.Step = step
		start := time.Now()
		err := invokeStep(parent, job.invoke, ev)
		res := StepResult{Step: step, Err: err, Duration: time.Since(start)}
		s.mu.Lock()
		job.rec.Steps = append(job.rec.Steps, res)
		s.mu.Unlock()
		if err != nil {
			failed = err
			break
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	s.finishLocked(job, failed)
	s.running--
	if s.running == 0 {
		close(s.idle)
	}
}

// invokeStep calls the Invoker with a deadline, turning a panic into an error.
func invokeStep(parent context.Context, inv Invoker, ev events.SecretsManagerSecretRotationEvent) (err error) {
	ctx, cancel := context.WithTimeout(parent, stepTimeout)
	defer cancel()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("secretsmanagertest: Invoker panicked in step %s: %v", ev.Step, r)
		}
	}()
	return inv(ctx, ev)
}

// finishLocked does what the service does after the steps: on success it
// removes AWSPENDING and records the rotation date; a configuration test
// (RotateImmediately=false) removes the pending version it created, whatever
// the outcome, and touches no other version.
func (s *Server) finishLocked(job *rotationJob, failed error) {
	defer func() {
		job.rec.Err = failed
		job.rec.Done = true
	}()
	sec, _ := s.lookupLocked(job.rec.SecretARN)
	if sec == nil {
		return
	}
	id := job.rec.VersionID
	v := sec.versions[id]
	if !job.immediate {
		if v != nil && v == job.testVersion {
			dropTestVersion(sec, v)
		}
		return
	}
	if failed != nil {
		return
	}
	switch {
	case v == nil:
		failed = fmt.Errorf("secretsmanagertest: version %s disappeared during rotation", id)
	case !v.hasStage(stageCurrent):
		failed = fmt.Errorf("secretsmanagertest: finishSecret succeeded but version %s does not have AWSCURRENT; AWSPENDING stays on it", id)
	default:
		v.removeStage(stagePending)
		now := s.opts.Now()
		sec.lastRotated = now
		sec.lastChanged = now
		sec.nextRotation = nextRotation(now, sec.rules)
	}
}

// dropTestVersion removes the pending version of a configuration test. If
// the Invoker moved another label onto it (AWSCURRENT, say), the version
// stays with that label and only AWSPENDING is removed, so no label vanishes.
func dropTestVersion(sec *secret, v *version) {
	if slices.ContainsFunc(v.stages, func(st string) bool { return st != stagePending }) {
		v.removeStage(stagePending)
		return
	}
	sec.deleteVersion(v.id)
}

// Wait blocks until no rotation is running or ctx is done. Do not call it
// from inside an Invoker.
func (s *Server) Wait(ctx context.Context) error {
	for {
		s.mu.Lock()
		if s.running == 0 {
			s.mu.Unlock()
			return nil
		}
		idle := s.idle
		s.mu.Unlock()
		select {
		case <-idle:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// RetryRotation does what the service does after a failed rotation: it runs
// all four steps again on the pending version with the same ClientRequestToken
// and RotationToken, synchronously, and returns the rotation's error. The
// Invoker's contexts derive from ctx. It fails if no rotation is pending
// (no version has AWSPENDING without AWSCURRENT) or no Invoker is set.
func (s *Server) RetryRotation(ctx context.Context, secretID string) error {
	s.mu.Lock()
	sec, aerr := s.lookupLocked(secretID)
	if aerr != nil {
		s.mu.Unlock()
		return fmt.Errorf("secretsmanagertest: RetryRotation: %w", aerr)
	}
	v := sec.pendingVersion()
	if v == nil {
		s.mu.Unlock()
		return fmt.Errorf("secretsmanagertest: RetryRotation: secret %s has no pending rotation", sec.name)
	}
	if s.invoker == nil {
		s.mu.Unlock()
		return errors.New("secretsmanagertest: RetryRotation: no rotation Invoker is set")
	}
	if v.rotationToken == "" {
		v.rotationToken = newRotationToken()
	}
	job := s.newJobLocked(sec, v, true)
	s.mu.Unlock()

	s.runRotation(ctx, job)

	s.mu.Lock()
	defer s.mu.Unlock()
	return job.rec.Err
}

// newRotationToken mints an opaque rotation token.
func newRotationToken() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// parseRules validates RotationRules as the service documents them.
func parseRules(in *rotationRulesJSON) (*rotationRules, *apiError) {
	r := &rotationRules{afterDays: in.AutomaticallyAfterDays, duration: in.Duration, schedule: in.ScheduleExpression}
	if d := r.afterDays; d != nil && (*d < 1 || *d > 1000) {
		return nil, newError(codeInvalidParameter, "AutomaticallyAfterDays must be between 1 and 1000.")
	}
	if r.schedule != nil {
		if _, _, err := parseSchedule(*r.schedule); err != nil {
			return nil, err
		}
	}
	if r.duration != nil {
		d, err := time.ParseDuration(*r.duration)
		if err != nil || d < time.Hour || d > 24*time.Hour || d%time.Hour != 0 {
			return nil, newError(codeInvalidParameter, "Duration must be a whole number of hours from 1h to 24h, for example 3h.")
		}
	}
	return r, nil
}

var rateRE = regexp.MustCompile(`^rate\((\d+) (day|days|hour|hours)\)$`)

// parseSchedule parses a ScheduleExpression: rate(N days), rate(N hours)
// (at least 4) or cron(...) with minute 0. For a rate it returns the
// interval; cron reports true.
func parseSchedule(expr string) (interval time.Duration, cron bool, err *apiError) {
	if m := rateRE.FindStringSubmatch(expr); m != nil {
		n, convErr := strconv.Atoi(m[1])
		if convErr != nil || n < 1 {
			return 0, false, newError(codeInvalidParameter, "Invalid ScheduleExpression rate value.")
		}
		if strings.HasPrefix(m[2], "day") {
			if n > 1000 {
				return 0, false, newError(codeInvalidParameter, "A rate() schedule can't be longer than 1000 days.")
			}
			return time.Duration(n) * 24 * time.Hour, false, nil
		}
		if n < 4 {
			return 0, false, newError(codeInvalidParameter, "A rate() schedule can't be shorter than 4 hours.")
		}
		return time.Duration(n) * time.Hour, false, nil
	}
	if inner, ok := strings.CutPrefix(expr, "cron("); ok && strings.HasSuffix(inner, ")") {
		fields := strings.Fields(strings.TrimSuffix(inner, ")"))
		if len(fields) != 6 || fields[0] != "0" {
			return 0, false, newError(codeInvalidParameter, "A cron() schedule must have 6 fields and a minute of 0.")
		}
		return 0, true, nil
	}
	return 0, false, newError(codeInvalidParameter, "ScheduleExpression must be rate(N days), rate(N hours) or cron(...).")
}

// nextRotation returns the next rotation date after from, or the zero time
// when there is no interval schedule (no rules, or cron).
func nextRotation(from time.Time, r *rotationRules) time.Time {
	if r == nil {
		return time.Time{}
	}
	if r.schedule != nil {
		interval, cron, err := parseSchedule(*r.schedule)
		if err != nil || cron {
			return time.Time{}
		}
		return from.Add(interval)
	}
	if r.afterDays != nil {
		return from.AddDate(0, 0, int(*r.afterDays))
	}
	return time.Time{}
}
