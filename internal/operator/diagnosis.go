package operator

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/clickwrap-rotator/clickwrap-rotator/rotation"
)

// State is the condition [Diagnose] finds a rotated secret in. Its value is
// what `rotatorctl status --json` prints.
type State string

// The states, from the most urgent to the least: a [Diagnosis] names the most
// urgent one it found.
const (
	// StateStuck: AWSPENDING is on a version that is not AWSCURRENT, and the
	// rotation that put it there failed (its credential can never pass, or
	// it has been pending for longer than a rotation takes). Every
	// RotateSecret fails with "A previous rotation isn't complete" until the
	// label is removed.
	StateStuck State = "stuck"
	// StateEmpty: no version holds AWSCURRENT: the secret was created
	// without a value, or its only version is one a rotation left
	// AWSPENDING on without a value. Nothing can be rotated or read from it
	// until the client credentials are put in. It outranks StateStuck: a
	// pending version is then a consequence, and cannot pass until the
	// credentials are in.
	StateEmpty State = "secret-empty"
	// StateMalformed: the AWSCURRENT value is malformed; no rotation can
	// start from it.
	StateMalformed State = "secret-malformed"
	// StateCredentialsUnusable: the AWSCURRENT token secret is in the split
	// form and its credentials secret is missing or malformed: createSecret
	// would mint nothing. One the caller's AWS credentials may not read
	// (access denied, KMS) is StateCheckFailed: the rotation function's
	// role may well read it.
	StateCredentialsUnusable State = "credentials-secret-unusable"
	// StateNotEnabled: rotation is not turned on for the secret.
	StateNotEnabled State = "rotation-not-enabled"
	// StateRejected: the service refused the AWSCURRENT credential.
	StateRejected State = "credential-rejected"
	// StateExpired: the AWSCURRENT credential is past its expiry.
	StateExpired State = "credential-expired"
	// StateNoCredential: AWSCURRENT holds no credential yet (a first
	// secret, before its first rotation).
	StateNoCredential State = "no-credential"
	// StateExpiresBeforeRotation: the AWSCURRENT credential expires before
	// the next scheduled rotation replaces it.
	StateExpiresBeforeRotation State = "expires-before-rotation"
	// StateCheckFailed: a value could not be read or a credential could not
	// be checked (network, permissions, a 5xx), so health is unknown.
	StateCheckFailed State = "check-failed"
	// StateInProgress: AWSPENDING is on a version that is not AWSCURRENT
	// and the rotation may still be running.
	StateInProgress State = "rotation-in-progress"
	// StateHealthy: nothing to do.
	StateHealthy State = "healthy"
)

// severity orders the states, most urgent first.
var severity = []State{
	StateEmpty, StateStuck, StateMalformed, StateCredentialsUnusable, StateNotEnabled, StateRejected, StateExpired,
	StateNoCredential, StateExpiresBeforeRotation, StateCheckFailed,
	StateInProgress, StateHealthy,
}

// DefaultStuckAfter is how long a pending version may stay pending before
// Diagnose calls the rotation stuck rather than in progress, when nothing
// proves sooner that it failed. A rotation by this function takes seconds,
// and each of its four steps is bounded by the function's timeout; Lambda's
// longest timeout is 15 minutes.
const DefaultStuckAfter = 15 * time.Minute

// Value is what the caller learned about the value of one version, in terms
// of the credential it holds. The zero Value (Kind [ValueNotRead]) means
// nothing is known.
type Value struct {
	Kind ValueKind
	// Err says why the value is unreadable or malformed.
	Err error
	// ExpiresAt is when the credential expires; zero when not known.
	ExpiresAt time.Time
	// Checked reports that the credential was proved against its service,
	// with CheckErr as the outcome. A CheckErr that is permanent
	// ([rotation.IsPermanent]: a 401 or 403) means the service rejects the
	// credential; any other error means the check could not be made.
	Checked  bool
	CheckErr error
}

// Facts is what Diagnose judges a secret by: what Secrets Manager says about
// it, and what the caller learned about the credentials in it.
type Facts struct {
	// Secret is DescribeSecret's answer. Required.
	Secret *secretsmanager.DescribeSecretOutput
	// Versions is ListSecretVersionIds' answer. It dates the versions; without
	// it the pending version's age is taken from the secret's
	// LastChangedDate, which is never earlier.
	Versions []types.SecretVersionsListEntry
	// Current and Pending are what the caller learned about the values of the
	// AWSCURRENT version and of the AWSPENDING version (when that is another
	// version).
	Current, Pending Value
	// Credentials is where the AWSCURRENT value keeps its client
	// credentials, and in the split form what reading its credentials
	// secret found; nil when not known.
	Credentials *CredentialsInfo
	// Now is the time to judge ages and expiries by; zero means time.Now().
	Now time.Time
	// StuckAfter is how long a pending version may stay pending before it
	// counts as stuck when nothing shows sooner that it failed; zero or
	// negative means DefaultStuckAfter.
	StuckAfter time.Duration
}

// Finding is one thing Diagnose found: its state, what it means in plain
// words, and the exact command that fixes it (empty when there is nothing to
// run).
type Finding struct {
	State   State  `json:"state"`
	Message string `json:"message"`
	Fix     string `json:"fix,omitempty"`
}

// Diagnosis is Diagnose's verdict. The embedded Finding is the most urgent
// finding; More holds the others, most urgent first.
type Diagnosis struct {
	Finding
	More []Finding `json:"more,omitempty"`
	// CurrentVersion holds AWSCURRENT ("" when no version does).
	CurrentVersion string `json:"current_version,omitempty"`
	// PendingVersion holds AWSPENDING, when that is not the AWSCURRENT
	// version; PendingSince is when it was created (zero when unknown).
	PendingVersion string    `json:"pending_version,omitempty"`
	PendingSince   time.Time `json:"pending_since,omitzero"`
	// StuckAfter is the age past which the diagnosis called a pending
	// version stuck (Facts.StuckAfter, or DefaultStuckAfter): a command
	// that acts on the verdict, unstick, must be given the same.
	StuckAfter time.Duration `json:"-"`
}

// Findings returns every finding, most urgent first.
func (d Diagnosis) Findings() []Finding {
	return append([]Finding{d.Finding}, d.More...)
}

// Has reports whether any finding is in state s.
func (d Diagnosis) Has(s State) bool {
	return slices.ContainsFunc(d.Findings(), func(f Finding) bool { return f.State == s })
}

// StackNameTag is the tag Secrets Manager puts on a secret that CloudFormation
// created, naming its stack (DescribeSecret returns it in Tags). Its rotation
// configuration is the stack's: for this project's template.yaml, the
// EnableRotation and RotationScheduleExpression parameters.
const StackNameTag = "aws:cloudformation:stack-name"

// StackName returns the name of the CloudFormation stack that created the
// secret (its [StackNameTag] tag), "" when none did: a secret made by hand,
// or one given to the stack as ExistingSecretArn.
func StackName(sec *secretsmanager.DescribeSecretOutput) string {
	if sec == nil {
		return ""
	}
	for _, t := range sec.Tags {
		if aws.ToString(t.Key) == StackNameTag {
			return aws.ToString(t.Value)
		}
	}
	return ""
}

// stackFix is the fix that changes a stack's rotation parameter: in
// samconfig.toml, where `sam deploy --guided` saved the parameters (a
// --parameter-overrides on the command line would replace all of them),
// then a deploy of that stack. A value with a space is quoted as it is
// inside that TOML string.
func stackFix(stack, param, value string) string {
	if strings.ContainsRune(value, ' ') {
		value = `\"` + value + `\"`
	}
	return fmt.Sprintf("set %s=%s in samconfig.toml's parameter_overrides, then run: sam deploy --stack-name %s", param, value, stack)
}

// stackNote says why the fix goes through the stack.
func stackNote(stack, param string) string {
	return fmt.Sprintf(" The secret belongs to the CloudFormation stack %s (its %s tag): change the stack's %s parameter "+
		"and deploy, not the secret with rotate-secret, which would put it out of step with the stack (and drop the "+
		"stack's rotation window). A stack from another template: change its RotationSchedule instead.", stack, StackNameTag, param)
}

// rotateNowCommand starts a rotation with the rotation configuration the
// secret already has.
func rotateNowCommand(arn string) string {
	return "aws secretsmanager rotate-secret --secret-id " + arn
}

// Diagnose says in plain words what state a rotated secret is in and what to
// do about it. It makes no calls: the caller gathers the facts.
//
// A rotation is stuck when AWSPENDING is on a version that is not AWSCURRENT
// and either the pending value can never pass (it is malformed, or the
// service rejects its credential: secret versions are immutable), or the
// version has been pending for longer than StuckAfter. A younger pending
// version is a rotation in progress, unless rotation is off (then no
// rotation can be running: the label is left over) or no version holds
// AWSCURRENT and the pending one has no value (createSecret reads the client
// credentials from AWSCURRENT, so it cannot store one). AWSPENDING on the
// AWSCURRENT version is what a finished rotation may leave, and blocks
// nothing.
//
// A secret no version of which holds AWSCURRENT is [StateEmpty]; that takes
// f.Secret, since without it nothing is known.
func Diagnose(f Facts) Diagnosis {
	now := f.Now
	if now.IsZero() {
		now = time.Now()
	}
	stuckAfter := f.StuckAfter
	if stuckAfter <= 0 {
		stuckAfter = DefaultStuckAfter
	}
	sec := f.Secret
	if sec == nil {
		sec = &secretsmanager.DescribeSecretOutput{}
	}
	arn := aws.ToString(sec.ARN)
	if arn == "" {
		arn = aws.ToString(sec.Name)
	}
	d := Diagnosis{CurrentVersion: VersionWithStage(sec.VersionIdsToStages, rotation.StageCurrent), StuckAfter: stuckAfter}
	var found []Finding

	enabled := aws.ToBool(sec.RotationEnabled)
	empty := f.Secret != nil && d.CurrentVersion == ""
	if p := VersionWithStage(sec.VersionIdsToStages, rotation.StagePending); p != "" && p != d.CurrentVersion {
		d.PendingVersion = p
		d.PendingSince = created(f.Versions, p)
		found = append(found, pendingFinding(arn, p, d.PendingSince, sec.LastChangedDate, f.Pending, now, stuckAfter, enabled, empty))
	}
	if empty {
		found = append(found, emptyFinding(arn, d.PendingVersion))
	}

	if !enabled {
		nf := Finding{
			State: StateNotEnabled,
			Message: "Rotation is not enabled for this secret: nothing rotates it on a schedule, and it cannot be " +
				"rotated on demand until rotation is configured with a rotation function and a schedule.",
			Fix: enableCommand(arn, sec),
		}
		if stack := StackName(sec); stack != "" {
			nf.Message += stackNote(stack, "EnableRotation") + " Deploying with EnableRotation true rotates at once."
			nf.Fix = stackFix(stack, "EnableRotation", "true")
		}
		found = append(found, nf)
	}
	found = append(found, currentFindings(arn, d.CurrentVersion, sec, f, now, enabled)...)
	if c, ok := credentialsFinding(f.Credentials); ok {
		found = append(found, c)
	}

	if len(found) == 0 {
		found = append(found, Finding{State: StateHealthy, Message: healthyMessage(sec, f.Current, d.CurrentVersion, now)})
	}
	slices.SortStableFunc(found, func(a, b Finding) int {
		return slices.Index(severity, a.State) - slices.Index(severity, b.State)
	})
	d.Finding, d.More = found[0], found[1:]
	if len(d.More) == 0 {
		d.More = nil
	}
	return d
}

// emptyFinding says that no version holds AWSCURRENT, and what to put in.
// pending is the version AWSPENDING is on, if any.
func emptyFinding(arn, pending string) Finding {
	msg := "The secret has no AWSCURRENT value: it was created without one. Nothing can be rotated or read until it " +
		"holds the client credentials, and a rotation now would fail at createSecret and leave AWSPENDING behind. "
	if pending != "" {
		msg += fmt.Sprintf("Version %s holds only AWSPENDING, left by a rotation that could not start: remove that label "+
			"first (see below). ", pending)
	}
	msg += "Put the credentials in from a file (then delete it), never on the command line: the inline form " +
		`{"client_id": "...", "client_secret": "..."}, or the split form {"credentials_secret": "ARN of a secret ` +
		`holding the applications"} (docs/credentials-secret.md). Then rotate.`
	return Finding{State: StateEmpty, Message: msg, Fix: fmt.Sprintf("aws secretsmanager put-secret-value --secret-id %s --secret-string file://clickwrap-secret.json", arn)}
}

// RejectionSettles is how old a pending version must be before the
// service's refusal of its credential counts as final: the rotation
// function's own rotation.DefaultPropagationGrace, in which it takes a
// refusal as "not live yet" and tries again, plus a margin for testSecret
// to run. Younger, a refused pending credential is a rotation in progress,
// which status reports and unstick will not touch, unless the operator's
// stuck-after is shorter (--stuck-after 0s: "I know it has failed").
const RejectionSettles = rotation.DefaultPropagationGrace + 10*time.Second

// pendingFinding judges a version that holds AWSPENDING but not AWSCURRENT.
// enabled is whether rotation is on; empty, whether no version holds
// AWSCURRENT.
func pendingFinding(arn, version string, since time.Time, lastChanged *time.Time, v Value, now time.Time, stuckAfter time.Duration, enabled, empty bool) Finding {
	// Without the version's creation date, the secret's last change (which
	// RotateSecret makes) bounds its age from below.
	ageFrom := since
	if ageFrom.IsZero() && lastChanged != nil {
		ageFrom = *lastChanged
	}
	where := fmt.Sprintf("AWSPENDING is on version %s", version)
	if !since.IsZero() {
		where += fmt.Sprintf(", created %s (%s ago)", stamp(since), ShortDuration(now.Sub(since)))
	}
	where += ", which is not AWSCURRENT"
	blocked := `Until the label is removed, every rotation of this secret fails with "A previous rotation isn't complete".`
	fix := rotation.RemovePendingCommand(arn, version)

	var never string
	switch {
	case v.Kind == ValueMalformed:
		never = fmt.Sprintf("its value is malformed (%v)", v.Err)
	case v.Checked && rotation.IsPermanent(v.CheckErr) && enabled && !ageFrom.IsZero() && now.Sub(ageFrom) < min(RejectionSettles, stuckAfter):
		// The rotation function itself takes a refusal this early as "not
		// live yet" and tries again (rotation.PropagationGrace): it is not
		// a verdict, and the label must not be removed under it.
		return Finding{
			State: StateInProgress,
			Message: fmt.Sprintf("A rotation is in progress: %s. The service refuses its credential for now (%v), but the version "+
				"is younger than %s: a new credential may take a moment to go live, and the rotation function tries it again "+
				"meanwhile. Check again after %s.", where, v.CheckErr, ShortDuration(RejectionSettles), stamp(ageFrom.Add(RejectionSettles))),
		}
	case v.Checked && rotation.IsPermanent(v.CheckErr):
		never = fmt.Sprintf("the service rejects its credential (%v)", v.CheckErr)
	}
	if never == "" && empty && v.Kind != ValueOK {
		lost := ""
		if v.Kind == ValueNoValue {
			lost = " (nothing is lost: it has no value)"
		}
		return Finding{
			State: StateStuck,
			Message: fmt.Sprintf("A rotation cannot finish: %s, and the secret has no AWSCURRENT value, from which createSecret "+
				"reads the client credentials, so it can store nothing. %s Remove AWSPENDING from that version%s, put the "+
				"credentials in, then rotate.", where, blocked, lost),
			Fix: fix,
		}
	}
	if never != "" {
		return Finding{
			State: StateStuck,
			Message: fmt.Sprintf("A rotation failed and cannot recover: %s, and %s. Secret versions are immutable, so no retry "+
				"can make it pass. %s Remove AWSPENDING from that version (AWSCURRENT is not touched), fix the cause, then rotate again.",
				where, never, blocked),
			Fix: fix,
		}
	}

	if !enabled {
		return Finding{
			State: StateStuck,
			Message: fmt.Sprintf("A rotation's label is left over: %s, and rotation is off for this secret, so no rotation is running "+
				"(it failed or was cancelled, or the label was set by hand). Until the label is removed, turning rotation on and every "+
				`rotation of this secret fail with "A previous rotation isn't complete". Removing AWSPENDING abandons that version; `+
				"AWSCURRENT is not touched.", where),
			Fix: fix,
		}
	}
	if ageFrom.IsZero() || now.Sub(ageFrom) < stuckAfter {
		msg := fmt.Sprintf("A rotation is in progress: %s yet.", where)
		if v.Kind == ValueNoValue {
			msg += " createSecret has not stored its value yet."
		}
		if !ageFrom.IsZero() {
			msg += fmt.Sprintf(" If it is still pending at %s (%s after it started), it counts as stuck.", stamp(ageFrom.Add(stuckAfter)), ShortDuration(stuckAfter))
		}
		return Finding{State: StateInProgress, Message: msg}
	}

	msg := fmt.Sprintf("A rotation is stuck: %s.", where)
	if stuckAfter >= time.Second {
		msg = fmt.Sprintf("A rotation is stuck: %s, and it has been pending for longer than a rotation takes (%s).", where, ShortDuration(stuckAfter))
	}
	msg += " " + blocked
	switch {
	case v.Kind == ValueNoValue:
		msg += " createSecret never stored a value: the function failed before or while making the new credential " +
			"(wrong client credentials, no route to the service: its logs say why)."
	case v.Kind == ValueOK && v.Checked && v.CheckErr == nil:
		msg += " Its credential works, so the failure was probably passing (the network or the service): Secrets Manager " +
			"reattempts a failed rotation on its own, or remove the label and rotate again."
	}
	msg += " Removing AWSPENDING abandons that version; AWSCURRENT is not touched."
	return Finding{State: StateStuck, Message: msg, Fix: fix}
}

// currentFindings judges the AWSCURRENT value and its credential.
func currentFindings(arn, version string, sec *secretsmanager.DescribeSecretOutput, f Facts, now time.Time, enabled bool) []Finding {
	v := f.Current
	rotateNow := rotateNowCommand(arn)
	if !enabled {
		rotateNow = "" // turning rotation on (the NotEnabled fix) rotates at once
	}
	var out []Finding
	switch v.Kind {
	case ValueUnreadable:
		return []Finding{{State: StateCheckFailed, Message: fmt.Sprintf("Could not read the AWSCURRENT value: %v", v.Err)}}
	case ValueNoValue:
		return []Finding{{State: StateMalformed, Message: fmt.Sprintf("The AWSCURRENT version %s has no value.", version), Fix: putValueCommand(arn)}}
	case ValueMalformed:
		return []Finding{{
			State: StateMalformed,
			Message: fmt.Sprintf("The AWSCURRENT value (version %s) is malformed: %v. No rotation can start from it "+
				"(createSecret refuses it before minting anything): store a corrected value.", version, v.Err),
			Fix: putValueCommand(arn),
		}}
	case ValueNoToken:
		return []Finding{{
			State:   StateNoCredential,
			Message: "AWSCURRENT holds no credential yet, as a first secret does before its first rotation: rotate to make one.",
			Fix:     rotateNow,
		}}
	case ValueNotRead:
		return nil
	}

	expired := !v.ExpiresAt.IsZero() && !now.Before(v.ExpiresAt)
	switch {
	case expired:
		msg := fmt.Sprintf("The credential in AWSCURRENT expired at %s (%s ago): applications using it are refused. Rotate now, then make the schedule shorter than the credential's lifetime.",
			stamp(v.ExpiresAt), ShortDuration(now.Sub(v.ExpiresAt)))
		out = append(out, Finding{State: StateExpired, Message: msg, Fix: rotateNow})
	case v.Checked && rotation.IsPermanent(v.CheckErr):
		out = append(out, Finding{
			State:   StateRejected,
			Message: fmt.Sprintf("The service rejects the credential in AWSCURRENT (%v): applications using it are refused. Rotate now to replace it.", v.CheckErr),
			Fix:     rotateNow,
		})
	case v.Checked && v.CheckErr != nil:
		out = append(out, Finding{
			State:   StateCheckFailed,
			Message: fmt.Sprintf("Could not check the credential in AWSCURRENT: %v. Its health is unknown; try again.", v.CheckErr),
		})
	}
	if !expired && enabled && !v.ExpiresAt.IsZero() && sec.NextRotationDate != nil && v.ExpiresAt.Before(*sec.NextRotationDate) {
		out = append(out, expiresBeforeRotation(arn, StackName(sec), version, v.ExpiresAt, *sec.NextRotationDate, f.Versions, sec.LastRotatedDate, now))
	}
	return out
}

// expiresBeforeRotation says that the credential will lapse before the next
// rotation, and suggests a schedule that keeps up with its lifetime: through
// the stack when one created the secret (stack is its name), else with
// rotate-secret.
func expiresBeforeRotation(arn, stack, version string, expires, next time.Time, versions []types.SecretVersionsListEntry, lastRotated *time.Time, now time.Time) Finding {
	issued := created(versions, version)
	if issued.IsZero() && lastRotated != nil {
		issued = *lastRotated
	}
	if issued.IsZero() || !issued.Before(expires) {
		issued = now
	}
	// The version is dated when RotateSecret made it, a moment before the
	// credential was issued: a lifetime is only ever "about".
	lifetime := expires.Sub(issued).Round(time.Minute)
	msg := fmt.Sprintf("The credential in AWSCURRENT expires at %s (in %s), before the next scheduled rotation (on or before %s): "+
		"applications will be refused between the two.", stamp(expires), ShortDuration(expires.Sub(now)), stamp(next))
	expr, ok := SuggestSchedule(lifetime)
	if !ok {
		return Finding{
			State: StateExpiresBeforeRotation,
			Message: msg + fmt.Sprintf(" The credential lives about %s, less than the shortest schedule Secrets Manager allows can keep up with "+
				"(rate(4 hours) with its one-hour window): rotate now, and ask the service for longer-lived credentials.", ShortDuration(lifetime)),
			Fix: rotateNowCommand(arn),
		}
	}
	if stack != "" {
		return Finding{
			State: StateExpiresBeforeRotation,
			Message: msg + fmt.Sprintf(" The credential lives about %s: shorten the schedule to %s.", ShortDuration(lifetime), expr) +
				stackNote(stack, "RotationScheduleExpression") + " The deploy also rotates now (RotateImmediatelyOnUpdate).",
			Fix: stackFix(stack, "RotationScheduleExpression", expr),
		}
	}
	rules, _ := json.Marshal(map[string]string{"ScheduleExpression": expr})
	return Finding{
		State: StateExpiresBeforeRotation,
		Message: msg + fmt.Sprintf(" The credential lives about %s: shorten the schedule to %s (this also rotates now).",
			ShortDuration(lifetime), expr),
		Fix: fmt.Sprintf("aws secretsmanager rotate-secret --secret-id %s --rotation-rules '%s'", arn, rules),
	}
}

// SuggestSchedule returns the longest rate() schedule that replaces a
// credential living lifetime before it expires, or false when none is short
// enough. Secrets Manager rotates any time within the window of the due date:
// up to a day late for a schedule in days, an hour for one in hours (their
// default windows), so that much is kept in hand, plus as much again.
func SuggestSchedule(lifetime time.Duration) (string, bool) {
	if days := int(lifetime/(24*time.Hour)) - 2; days >= 1 {
		days = min(days, 1000)
		if days == 1 {
			return "rate(1 day)", true
		}
		return fmt.Sprintf("rate(%d days)", days), true
	}
	if hours := int(lifetime/time.Hour) - 2; hours >= 4 {
		return fmt.Sprintf("rate(%d hours)", hours), true
	}
	return "", false
}

func healthyMessage(sec *secretsmanager.DescribeSecretOutput, v Value, version string, now time.Time) string {
	var b strings.Builder
	b.WriteString("Healthy: rotation is enabled")
	if sec.NextRotationDate != nil {
		fmt.Fprintf(&b, " and the next rotation is due on or before %s", stamp(*sec.NextRotationDate))
	}
	b.WriteString(".")
	if v.Kind == ValueOK {
		fmt.Fprintf(&b, " AWSCURRENT (version %s) holds a credential", version)
		if v.Checked {
			b.WriteString(" that the service accepted just now")
		}
		if !v.ExpiresAt.IsZero() {
			fmt.Fprintf(&b, ", expiring at %s (in %s), after the next rotation", stamp(v.ExpiresAt), ShortDuration(v.ExpiresAt.Sub(now)))
		}
		b.WriteString(".")
	}
	if p := VersionWithStage(sec.VersionIdsToStages, rotation.StagePending); p != "" && p == version {
		b.WriteString(" AWSPENDING is also on the AWSCURRENT version, as a finished rotation may leave it; it blocks nothing.")
	}
	return b.String()
}

func enableCommand(arn string, sec *secretsmanager.DescribeSecretOutput) string {
	fn := aws.ToString(sec.RotationLambdaARN)
	if fn == "" {
		fn = "FUNCTION_ARN"
	}
	rules := map[string]any{"ScheduleExpression": "rate(30 days)"}
	if r := sec.RotationRules; r != nil && (r.ScheduleExpression != nil || r.AutomaticallyAfterDays != nil) {
		rules = map[string]any{}
		if r.ScheduleExpression != nil {
			rules["ScheduleExpression"] = *r.ScheduleExpression
		} else {
			rules["AutomaticallyAfterDays"] = *r.AutomaticallyAfterDays
		}
		if r.Duration != nil {
			rules["Duration"] = *r.Duration
		}
	}
	b, _ := json.Marshal(rules)
	return fmt.Sprintf("aws secretsmanager rotate-secret --secret-id %s --rotation-lambda-arn %s --rotation-rules '%s'", arn, fn, b)
}

func putValueCommand(arn string) string {
	return fmt.Sprintf("aws secretsmanager put-secret-value --secret-id %s --secret-string file://corrected-secret.json", arn)
}

// created returns the creation date of a version, zero when not listed.
func created(versions []types.SecretVersionsListEntry, id string) time.Time {
	for _, v := range versions {
		if aws.ToString(v.VersionId) == id && v.CreatedDate != nil {
			return *v.CreatedDate
		}
	}
	return time.Time{}
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// ShortDuration formats a duration coarsely, in its two largest units, the
// way the diagnosis messages and the progress of a wait do: "29d23h",
// "2h5m", "15m", "4m10s", "12s", "350ms". Negative durations count as zero.
func ShortDuration(d time.Duration) string {
	d = max(d, 0)
	if d < time.Second {
		return d.Truncate(time.Millisecond).String()
	}
	units := []struct {
		size time.Duration
		name string
	}{{24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}}
	for i, u := range units {
		if d < u.size {
			continue
		}
		s := fmt.Sprintf("%d%s", d/u.size, u.name)
		if i+1 < len(units) {
			if n := (d % u.size) / units[i+1].size; n > 0 {
				s += fmt.Sprintf("%d%s", n, units[i+1].name)
			}
		}
		return s
	}
	return d.String()
}
