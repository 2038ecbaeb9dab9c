// Package faults runs whole rotations of the real rotator under injected
// faults and reports what each one left behind: a fault-injection matrix.
//
// Every scenario gets a fresh local stack from [localrun]: the built
// bootstrap under the AWS Lambda Runtime Interface Emulator, the Secrets
// Manager emulator that invokes it (RotateSecret, then RetryRotation for the
// service's retries), and the Clickwrap sandbox over TLS. The fault is
// injected through the emulator (FailNext, OnCall hooks), the sandbox
// (FailNext, RateLimitNext, SetRevokeOnMint, Revoke), the function's
// environment (SSL_CERT_FILE) or the process itself (SIGKILL of the
// bootstrap). The secret is in the inline form (client_id and client_secret
// in it), or, for the rows with Scenario.Split, in the split form with two
// API applications that alternate. Then [Run] measures, for each scenario: whether the rotation
// succeeded and with what error, whether AWSCURRENT's token is accepted by
// Clickwrap (at the end, and while the rotation ran), whether every
// non-token field of the secret was kept, whether AWSPENDING was left on a
// version that is not AWSCURRENT and whether a retry clears it once the
// fault is gone, how many minted tokens were never stored, and how many
// Secrets Manager calls and Clickwrap requests it took.
//
// TestFaultMatrix asserts each scenario's [Expect]; `go run
// ./internal/faults/report` prints the table and rewrites it in
// docs/faults.md.
package faults

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// ServiceRetries is how many times the emulated service retries a failed
// rotation (RetryRotation) after RotateSecret. The real service documents no
// number; the expectations assume this one.
const ServiceRetries = 2

// Options configure Run.
type Options struct {
	// Bootstrap is the rotator built once with localrun.BuildOnce. Required.
	Bootstrap string
	// Dir holds each scenario's files (CA certificates). Required.
	Dir string
	// Parallel is how many scenarios run at once; zero means 4.
	Parallel int
	// Only selects scenarios by ID; empty means all.
	Only []string
}

// Stuck says whether, and how, AWSPENDING was left on a version that is not
// AWSCURRENT ("A previous rotation isn't complete").
type Stuck int

const (
	// NotStuck: no version has AWSPENDING without AWSCURRENT.
	NotStuck Stuck = iota
	// StuckEmpty: AWSPENDING is on the pending version, which has no value
	// (createSecret never stored one).
	StuckEmpty
	// StuckWithValue: AWSPENDING is on a pending version that has a value.
	StuckWithValue
)

func (s Stuck) String() string {
	switch s {
	case NotStuck:
		return "no"
	case StuckEmpty:
		return "yes, no value"
	case StuckWithValue:
		return "yes, with value"
	}
	return fmt.Sprintf("Stuck(%d)", int(s))
}

// Heal is what one more retry does once the fault is removed, for a
// scenario that left AWSPENDING stuck.
type Heal int

const (
	// HealNotNeeded: nothing was stuck (or the scenario has no fix to apply).
	HealNotNeeded Heal = iota
	// HealClears: the retry completes the rotation.
	HealClears
	// HealFails: the retry fails too: an operator has to act.
	HealFails
)

func (h Heal) String() string {
	switch h {
	case HealNotNeeded:
		return "—"
	case HealClears:
		return "clears it"
	case HealFails:
		return "does NOT clear it"
	}
	return fmt.Sprintf("Heal(%d)", int(h))
}

// Calls counts the rotator's Secrets Manager calls by operation, including
// calls that failed or were throttled.
type Calls struct {
	Describe, Get, Put, Update int
}

// Total is the sum of the four.
func (c Calls) Total() int { return c.Describe + c.Get + c.Put + c.Update }

// String formats the calls as "total (Describe/Get/Put/Update)".
func (c Calls) String() string {
	return fmt.Sprintf("%d (%d/%d/%d/%d)", c.Total(), c.Describe, c.Get, c.Put, c.Update)
}

// Expect is a scenario's expected row. Count fields set to -1 (or a nil
// Calls) are not checked.
type Expect struct {
	Succeeded bool
	// ErrContains must occur in the first error; empty means no error at all.
	ErrContains string
	// CurrentValid: AWSCURRENT's token is accepted by Clickwrap at the end.
	CurrentValid bool
	// CurrentRejected: at some moment during the rotation AWSCURRENT's token
	// was rejected. NoneAccepted: at some moment neither AWSCURRENT's nor
	// AWSPENDING's token was accepted.
	CurrentRejected, NoneAccepted bool
	FieldsKept                    bool
	Stuck                         Stuck
	Heal                          Heal
	// Orphans is the number of minted tokens stored in no version.
	Orphans int
	// Died and TimedOut count invocations whose process died or that hit
	// the function timeout.
	Died, TimedOut int
	Calls          *Calls
	// Mints and Verifies are the sandbox's token-endpoint and API request
	// counts.
	Mints, Verifies int
}

// Scenario is one row of the matrix.
type Scenario struct {
	// ID is the row's number, e.g. "7b".
	ID string
	// Name says what fails, in a few words.
	Name string
	// Fault says how the fault is injected.
	Fault string
	// Verdict is the reading of the row: "ok", or what is wrong with it.
	Verdict string
	// Want is the row TestFaultMatrix asserts.
	Want Expect

	// Timeout is the function timeout; zero means 20 s.
	Timeout time.Duration
	// Concurrent: the attempts ran at the same time, not one after another.
	Concurrent bool
	// Split: the secret is in the split form with two API applications,
	// both registered in the sandbox. A credentials secret lists them
	// ({"applications": [first, second]}); the token secret names it in
	// credentials_secret and holds the first application's client_id and a
	// token minted by it, and no client_secret. Each rotation then mints
	// with the second application.
	Split bool

	fnEnv func(e *env) ([]string, error)            // extra function environment, before the stack starts
	urls  func(e *env) (token, api string, _ error) // endpoints in the secret; nil: the sandbox
	setup func(ctx context.Context, e *env) error   // inject the fault, after the secret exists
	drive func(ctx context.Context, e *env) driven  // nil: RotateSecret, then RetryRotation while failing
	heal  func(ctx context.Context, e *env) error   // remove the fault
}

// driven is what a scenario's drive did.
type driven struct {
	attempts []error // each rotation run, in order; nil means it succeeded
	other    []error // failures outside the rotation runs (e.g. a refused RotateSecret)
	note     string
}

// Result is one measured row.
type Result struct {
	Scenario Scenario

	// Attempts are the rotation runs (RotateSecret, then RetryRotation).
	Attempts int
	// Failures counts the runs that failed.
	Failures int
	// Succeeded: AWSCURRENT moved to a new version.
	Succeeded bool
	// Err is the first error, shortened for the table; FullErr is the same
	// error in full. Neither ever holds a secret value.
	Err, FullErr string
	// Died and TimedOut count invocations whose process died or that hit
	// the function timeout.
	Died, TimedOut int

	CurrentValid bool
	// CurrentRejected is how long AWSCURRENT's token was rejected while the
	// rotation ran, NoneAccepted how long neither AWSCURRENT's nor
	// AWSPENDING's was accepted (sampled every few milliseconds and at
	// every Secrets Manager call, so approximate). The Seen flags are exact:
	// at least one sample saw it.
	CurrentRejected, NoneAccepted         time.Duration
	CurrentRejectedSeen, NoneAcceptedSeen bool

	FieldsKept bool
	// FieldsNote says which field was lost or changed.
	FieldsNote string

	Stuck Stuck
	Heal  Heal
	// HealErr is the error of the retry after the fix, shortened.
	HealErr string

	// Minted is the number of tokens the sandbox issued; Stored how many of
	// them are in some version of the secret; Orphans the difference.
	Minted, Stored, Orphans int
	// KnownOrphans are the orphans whose value the harness saw (in a
	// PutSecretValue that was not applied, or lost a race); LiveOrphans
	// those of them that Clickwrap still accepts at the end.
	KnownOrphans, LiveOrphans int

	Calls                      Calls
	TokenRequests, APIRequests int

	// Duration is the time from the first RotateSecret to the end of the
	// last run (the fix and its retry excluded).
	Duration time.Duration
	// Note holds details of the run (races, concurrent runs).
	Note string
	// Logs is everything the function and the emulator printed.
	Logs string
	// Secrets are the secret values the harness saw (the client secret, and
	// in the split form both applications' client secrets; every token
	// stored or sent to PutSecretValue; the RotationTokens): what must occur
	// in no error or log line.
	Secrets []string
	// HarnessErr is set when the harness itself failed: the row says
	// nothing about the rotator then.
	HarnessErr error
}

// Outcome renders the result's outcome column.
func (r Result) Outcome() string {
	var s string
	switch {
	case r.Scenario.Concurrent && r.Succeeded:
		s = fmt.Sprintf("succeeded (%d of %d concurrent runs failed)", r.Failures, r.Attempts)
	case r.Scenario.Concurrent:
		s = fmt.Sprintf("failed (%d of %d concurrent runs failed)", r.Failures, r.Attempts)
	case r.Succeeded && r.Failures == 0:
		s = "succeeded"
	case r.Succeeded:
		s = fmt.Sprintf("succeeded on retry %d", r.Failures)
	default:
		s = fmt.Sprintf("failed ×%d", r.Attempts)
	}
	var how []string
	if r.Died > 0 {
		how = append(how, fmt.Sprintf("%d process death", r.Died))
	}
	if r.TimedOut > 0 {
		how = append(how, fmt.Sprintf("%d timeout", r.TimedOut))
	}
	if len(how) > 0 {
		s += ", " + strings.Join(how, ", ")
	} else if !r.Succeeded || r.Failures > 0 {
		s += ", cleanly"
	}
	return s
}

// Check compares a result with its scenario's expectation and returns the
// differences; none means the row is as expected.
func Check(r Result) []string {
	if r.HarnessErr != nil {
		return []string{"harness: " + r.HarnessErr.Error()}
	}
	w := r.Scenario.Want
	var bad []string
	diff := func(what string, got, want any) {
		if got != want {
			bad = append(bad, fmt.Sprintf("%s = %v, want %v", what, got, want))
		}
	}
	diff("succeeded", r.Succeeded, w.Succeeded)
	switch {
	case w.ErrContains == "" && r.FullErr != "":
		bad = append(bad, fmt.Sprintf("error %q, want none", r.FullErr))
	case w.ErrContains != "" && !strings.Contains(r.FullErr, w.ErrContains):
		bad = append(bad, fmt.Sprintf("error %q, want it to contain %q", r.FullErr, w.ErrContains))
	}
	diff("AWSCURRENT valid", r.CurrentValid, w.CurrentValid)
	diff("AWSCURRENT rejected during the rotation", r.CurrentRejectedSeen, w.CurrentRejected)
	diff("no stored token accepted during the rotation", r.NoneAcceptedSeen, w.NoneAccepted)
	if r.FieldsKept != w.FieldsKept {
		bad = append(bad, fmt.Sprintf("fields kept = %v (%s), want %v", r.FieldsKept, r.FieldsNote, w.FieldsKept))
	}
	diff("AWSPENDING stuck", r.Stuck, w.Stuck)
	if r.Heal != w.Heal {
		bad = append(bad, fmt.Sprintf("retry after the fix: %v (%s), want %v", r.Heal, r.HealErr, w.Heal))
	}
	diff("orphaned tokens", r.Orphans, w.Orphans)
	diff("process deaths", r.Died, w.Died)
	diff("timeouts", r.TimedOut, w.TimedOut)
	if w.Calls != nil {
		diff("Secrets Manager calls", r.Calls, *w.Calls)
	}
	if w.Mints >= 0 {
		diff("token requests", r.TokenRequests, w.Mints)
	}
	if w.Verifies >= 0 {
		diff("API requests", r.APIRequests, w.Verifies)
	}
	return bad
}

// Run runs the scenarios (all, or those in opts.Only) and returns their
// results in matrix order. The error joins the harness failures, if any;
// the results are returned either way.
func Run(ctx context.Context, opts Options) ([]Result, error) {
	if opts.Bootstrap == "" || opts.Dir == "" {
		return nil, errors.New("faults: Options.Bootstrap and Options.Dir are required")
	}
	if opts.Parallel <= 0 {
		opts.Parallel = 4
	}
	var scenarios []Scenario
	for _, sc := range Scenarios() {
		if len(opts.Only) == 0 || slices.Contains(opts.Only, sc.ID) {
			scenarios = append(scenarios, sc)
		}
	}
	if len(scenarios) == 0 {
		return nil, fmt.Errorf("faults: no scenario matches %v", opts.Only)
	}
	results := make([]Result, len(scenarios))
	sem := make(chan struct{}, opts.Parallel)
	var wg sync.WaitGroup
	for i, sc := range scenarios {
		wg.Go(func() {
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
			case <-ctx.Done():
				results[i] = Result{Scenario: sc, HarnessErr: ctx.Err()}
				return
			}
			results[i] = runScenario(ctx, opts, sc)
		})
	}
	wg.Wait()
	var errs []error
	for _, r := range results {
		if r.HarnessErr != nil {
			errs = append(errs, fmt.Errorf("scenario %s (%s): %w", r.Scenario.ID, r.Scenario.Name, r.HarnessErr))
		}
	}
	return results, errors.Join(errs...)
}
