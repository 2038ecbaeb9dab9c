package operator

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/clickwrap-rotator/clickwrap-rotator/clickwrap"
	"github.com/clickwrap-rotator/clickwrap-rotator/rotation"
)

// Following a rotation that StartRotation began, until it ends or times out.

// Phase is how far a rotation has got, as seen from outside.
type Phase string

// The phases Wait reports. Started, Created and Promoted are on the way;
// Finished is success; Abandoned, CannotPass and TimedOut are failures.
const (
	// PhaseStarted: the version is AWSPENDING without a value.
	PhaseStarted Phase = "started"
	// PhaseCreated: createSecret stored the pending value.
	PhaseCreated Phase = "created"
	// PhasePromoted: finishSecret made the version AWSCURRENT; Secrets
	// Manager has not removed AWSPENDING from it yet.
	PhasePromoted Phase = "promoted"
	// PhaseFinished: the version is AWSCURRENT and AWSPENDING is gone (or,
	// at the timeout, left on the AWSCURRENT version, which blocks nothing).
	PhaseFinished Phase = "finished"
	// PhaseAbandoned: the version lost AWSPENDING without becoming
	// AWSCURRENT.
	PhaseAbandoned Phase = "abandoned"
	// PhaseCannotPass: the pending value is malformed or Clickwrap rejects
	// its token, so testSecret fails on every retry.
	PhaseCannotPass Phase = "cannot-pass"
	// PhaseTimedOut: not finished by the timeout.
	PhaseTimedOut Phase = "timed-out"
)

// Done reports whether the wait ends in this phase.
func (p Phase) Done() bool {
	return p == PhaseFinished || p == PhaseAbandoned || p == PhaseCannotPass || p == PhaseTimedOut
}

// Succeeded reports whether the phase is a finished rotation.
func (p Phase) Succeeded() bool { return p == PhaseFinished }

// Progress is one observation of a rotation.
type Progress struct {
	Version string
	Phase   Phase
	// Changed reports that Phase differs from the previous observation.
	Changed bool
	// Elapsed is the time since Wait started.
	Elapsed time.Duration
	// Detail says in words what was seen.
	Detail string
	// Slow reports that the phase is taking far longer than it normally
	// does (Detail then says what may be wrong).
	Slow bool
}

// WaitOptions tune Wait. Zero values take the defaults.
type WaitOptions struct {
	// Interval between two looks (DescribeSecret, and GetSecretValue of
	// the pending version until it has a value). Default 2 s.
	Interval time.Duration
	// Timeout bounds the whole wait. Default 5 min.
	Timeout time.Duration
	// CheckEvery: once the pending value has been stored this long without
	// being promoted, its token is checked with Clickwrap, and again at this
	// interval. Default five intervals (10 s with the default interval),
	// and never less than RejectionSettles: within
	// rotation.DefaultPropagationGrace the function itself still retries a
	// rejected new token, which may not be live yet, so a 401 then is no
	// verdict (and status, judging the same version, would say it is in
	// progress).
	CheckEvery time.Duration
}

// Default wait options.
const (
	DefaultInterval = 2 * time.Second
	DefaultTimeout  = 5 * time.Minute
)

// Wait follows the rotation that made version pending, until it finishes or
// fails, calling report after every look. The rule:
//
//   - finished: the version holds AWSCURRENT and no version holds AWSPENDING.
//     A version that holds AWSCURRENT at the timeout but still has
//     AWSPENDING also counts as finished: Secrets Manager may leave the label
//     there after a successful rotation, and it blocks nothing;
//   - failed at once: the version lost AWSPENDING without becoming AWSCURRENT
//     (abandoned, or superseded by another rotation), or its value is stored,
//     has not been promoted for CheckEvery, and is malformed or its token is
//     rejected by Clickwrap (HTTP 401/403): testSecret can then never pass;
//   - failed at the timeout: the version is still AWSPENDING and not
//     AWSCURRENT. Secrets Manager may still reattempt a failed rotation later
//     on its own; the diagnosis says what it left behind.
//
// The returned Progress is the last one. An error means Secrets Manager could
// not be asked (after the SDK's own retries) or ctx ended; the rotation goes
// on regardless.
func (o *Operator) Wait(ctx context.Context, arn, version string, opts WaitOptions, report func(Progress)) (Progress, error) {
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.CheckEvery <= 0 {
		opts.CheckEvery = max(5*opts.Interval, RejectionSettles)
	}
	start := time.Now()
	deadline := start.Add(opts.Timeout)
	wctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()

	last := Progress{Version: version, Phase: PhaseStarted}
	var (
		pending   *clickwrap.Secret // the stored pending value, once seen
		createdAt time.Time         // when it was first seen
		checkedAt time.Time
		readable  = true // GetSecretValue works for the pending version
	)
	emit := func(p Progress) Progress {
		p.Version, p.Elapsed = version, time.Since(start)
		p.Changed = p.Phase != last.Phase
		last = p
		if report != nil {
			report(p)
		}
		return p
	}
	for first := true; ; first = false {
		all, err := o.versionStages(wctx, arn)
		if err != nil {
			if ctx.Err() != nil {
				return last, ctx.Err()
			}
			if wctx.Err() != nil {
				return emit(atDeadline(version, last.Phase, opts.Timeout)), nil
			}
			return last, o.explain(fmt.Errorf("following the rotation: %w", err))
		}
		stages := all[version]
		holder := VersionWithStage(all, rotation.StagePending)
		p := Progress{Phase: last.Phase, Detail: last.Detail}
		switch {
		case slices.Contains(stages, rotation.StageCurrent) && !slices.Contains(stages, rotation.StagePending):
			return emit(Progress{Phase: PhaseFinished, Detail: fmt.Sprintf("version %s is AWSCURRENT and AWSPENDING is gone", version)}), nil
		case slices.Contains(stages, rotation.StageCurrent):
			p = Progress{Phase: PhasePromoted, Detail: fmt.Sprintf("finishSecret made version %s AWSCURRENT; waiting for Secrets Manager to remove AWSPENDING", version)}
		case !slices.Contains(stages, rotation.StagePending):
			detail := fmt.Sprintf("version %s lost AWSPENDING without becoming AWSCURRENT: the rotation failed and its version was abandoned "+
				"(the rotation function does this when the new token can never pass; the function's logs say why), or someone removed the label", version)
			if holder != "" {
				detail = fmt.Sprintf("AWSPENDING moved from version %s to version %s: another rotation replaced this one", version, holder)
			}
			return emit(Progress{Phase: PhaseAbandoned, Detail: detail}), nil
		case pending == nil && readable:
			s, err := o.readSecret(wctx, arn, version, rotation.StagePending)
			if err == nil && s.AccessToken == "" {
				err = &malformedError{clickwrap.ErrNoAccessToken}
			}
			var bad *malformedError
			switch {
			case errors.As(err, &bad):
				return emit(Progress{Phase: PhaseCannotPass, Detail: fmt.Sprintf("the pending value is malformed (%v): testSecret can never pass", bad.err)}), nil
			case err != nil && !notFound(err):
				// Without the value, follow the stages alone.
				readable = false
				p = Progress{Phase: last.Phase, Detail: fmt.Sprintf("version %s is AWSPENDING; its value cannot be read (%v), so only its stages are followed", version, err)}
			case err == nil:
				pending, createdAt = s, time.Now()
				p = Progress{Phase: PhaseCreated, Detail: "createSecret stored the new value; waiting for testSecret and finishSecret"}
			case first:
				p = Progress{Phase: PhaseStarted, Detail: fmt.Sprintf("version %s is AWSPENDING; waiting for createSecret to store its value", version)}
			case time.Since(start) >= stalled(opts.Interval):
				p = Progress{Phase: PhaseStarted, Slow: true, Detail: fmt.Sprintf("version %s still has no value after %s, though createSecret takes seconds: "+
					"if it failed (wrong client_id or client_secret, no route to Clickwrap), the rotation function's logs say why",
					version, ShortDuration(time.Since(start)))}
			}
		case pending != nil && time.Since(createdAt) >= opts.CheckEvery && time.Since(checkedAt) >= opts.CheckEvery:
			checkedAt = time.Now()
			if err := o.Clickwrap.Check(wctx, pending.APIEndpoint(), pending.AccessToken); rotation.IsPermanent(err) {
				return emit(Progress{Phase: PhaseCannotPass, Detail: fmt.Sprintf("Clickwrap rejects the pending token (%v): testSecret can never pass", err)}), nil
			}
		}
		if time.Now().After(deadline) || wctx.Err() != nil {
			return emit(atDeadline(version, p.Phase, opts.Timeout)), nil
		}
		emit(p)
		t := time.NewTimer(min(opts.Interval, time.Until(deadline)))
		select {
		case <-ctx.Done():
			t.Stop()
			return last, ctx.Err()
		case <-t.C:
		}
	}
}

// stalled is how long a pending version may stay without a value before the
// progress says it is slow: ten looks.
func stalled(interval time.Duration) time.Duration { return 10 * interval }

// atDeadline is the outcome at the timeout, in the phase last seen: a
// promoted version has finished (AWSPENDING left on it blocks nothing);
// anything else timed out.
func atDeadline(version string, seen Phase, timeout time.Duration) Progress {
	if seen == PhasePromoted {
		return Progress{Phase: PhaseFinished, Detail: fmt.Sprintf("version %s is AWSCURRENT; AWSPENDING is still on it too, "+
			"which Secrets Manager allows after a successful rotation and which blocks nothing", version)}
	}
	return Progress{
		Phase: PhaseTimedOut,
		Detail: fmt.Sprintf("not finished after %s: version %s is still AWSPENDING and not AWSCURRENT (last seen: %s)",
			ShortDuration(timeout), version, seen),
	}
}
