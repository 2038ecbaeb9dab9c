package rotation

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

// description is what check learned from DescribeSecret.
type description struct {
	arn            string
	alreadyCurrent bool
	currentVersion string // the version holding AWSCURRENT, "" if none
}

// check runs the checks every step starts with, in the order of the AWS
// rotation template: rotation enabled; the version known to the secret; the
// version already AWSCURRENT (a finished rotation: every step is a no-op);
// the version AWSPENDING.
func (r *Rotator) check(ctx context.Context, ev Event) (description, error) {
	out, err := r.secrets.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(ev.SecretID)})
	if err != nil {
		return description{}, fmt.Errorf("describing the secret: %w", err)
	}
	d := description{arn: aws.ToString(out.ARN)}
	if d.arn == "" {
		d.arn = ev.SecretID
	}
	for id, stages := range out.VersionIdsToStages {
		if slices.Contains(stages, StageCurrent) {
			d.currentVersion = id
		}
	}
	if !aws.ToBool(out.RotationEnabled) {
		return d, errors.New("secret is not enabled for rotation: turn rotation on for it (RotateSecret or the console) so that Secrets Manager invokes this function")
	}
	stages, ok := out.VersionIdsToStages[ev.ClientRequestToken]
	if !ok {
		return d, errors.New("version has no stage for rotation: the secret has no labelled version with this id. Rotation must start with RotateSecret " +
			"(or \"Rotate secret immediately\" in the console), which creates the pending version; a hand-made test event cannot. " +
			"A version abandoned by an earlier testSecret also ends here: the next rotation starts afresh")
	}
	if slices.Contains(stages, StageCurrent) {
		d.alreadyCurrent = true
		return d, nil
	}
	if !slices.Contains(stages, StagePending) {
		return d, fmt.Errorf("version is not AWSPENDING (its stages: %s): only the version RotateSecret created can be rotated to; start rotation with RotateSecret (a console test event must name that pending version)", strings.Join(stages, ", "))
	}
	return d, nil
}

// createSecret makes the pending version.
//
// Cases:
//   - the pending version already has a value (a retried rotation, or a
//     concurrent invocation that got there first): nothing is minted;
//   - AWSCURRENT is missing, or is not a usable SecretString: error, nothing
//     minted, nothing written;
//   - PutSecretValue answers ResourceExistsException: another invocation
//     stored a different value for this version between our read and our
//     write; its value stands, ours is discarded (and logged as such);
//   - PutSecretValue fails otherwise (throttled on every SDK attempt, say):
//     the minted value is kept in memory, and the service's retry in this
//     container stores it instead of minting another credential, as long
//     as AWSCURRENT is still the version it was made from.
func (r *Rotator) createSecret(ctx context.Context, arn string, ev Event) (string, error) {
	cur, err := r.secrets.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{
		SecretId:     aws.String(ev.SecretID),
		VersionStage: aws.String(StageCurrent),
	})
	if err != nil {
		return "", fmt.Errorf("reading AWSCURRENT: %w", err)
	}
	if cur.SecretString == nil {
		return "", errors.New("AWSCURRENT has no SecretString (binary secrets are not supported): store the JSON object as the secret's SecretString")
	}
	has, err := r.pendingHasValue(ctx, ev.SecretID, ev.ClientRequestToken)
	if err != nil {
		return "", err
	}
	if has {
		r.unstored.remove(arn, ev.ClientRequestToken) // stored after all
		return "nothing to do: the pending version already has a value", nil
	}
	source := aws.ToString(cur.VersionId)
	pending, reused := r.unstoredValue(arn, ev.ClientRequestToken, source)
	if !reused {
		// Keep time to store what is minted: a token minted with no time
		// left to store it would be lost (and valid at the service).
		mintCtx, cancel := withReserve(ctx, storeReserve)
		pending, err = r.credentials.NewPending(mintCtx, *cur.SecretString)
		cancel()
		if err != nil {
			return "", fmt.Errorf("making the pending credential from AWSCURRENT: %w", err)
		}
	}
	in := &secretsmanager.PutSecretValueInput{
		SecretId:           aws.String(ev.SecretID),
		ClientRequestToken: aws.String(ev.ClientRequestToken),
		SecretString:       aws.String(pending),
		VersionStages:      []string{StagePending},
	}
	if ev.RotationToken != "" {
		in.RotationToken = aws.String(ev.RotationToken)
	}
	_, err = r.secrets.PutSecretValue(ctx, in)
	var exists *types.ResourceExistsException
	if errors.As(err, &exists) {
		// A concurrent invocation won the race: use its value if it is there.
		r.unstored.remove(arn, ev.ClientRequestToken)
		has, rerr := r.pendingHasValue(ctx, ev.SecretID, ev.ClientRequestToken)
		if rerr == nil && has {
			r.log.Warn("another invocation stored the pending value first; the credential minted here was discarded",
				"secret", ev.SecretID, "version", ev.ClientRequestToken)
			return "pending value stored by a concurrent invocation", nil
		}
		return "", fmt.Errorf("storing the pending version: %w", err)
	}
	if err != nil {
		r.unstored.set(arn, ev.ClientRequestToken, source+"\x00"+pending)
		return "", fmt.Errorf("storing the pending version (the credential minted is kept in memory for the retry): %w", err)
	}
	r.unstored.remove(arn, ev.ClientRequestToken)
	r.sources.set(arn, ev.ClientRequestToken, source)
	if reused {
		return "pending version stored (the credential minted by an earlier attempt)", nil
	}
	return "pending version stored", nil
}

// unstoredValue returns the pending value an earlier createSecret in this
// process made for version but could not store, if it was made from the
// AWSCURRENT version source.
func (r *Rotator) unstoredValue(arn, version, source string) (string, bool) {
	v, ok := r.unstored.get(arn, version)
	if !ok {
		return "", false
	}
	from, pending, _ := strings.Cut(v, "\x00")
	if from != source {
		r.unstored.remove(arn, version)
		r.log.Warn("AWSCURRENT changed since an earlier attempt minted a credential it could not store; that credential is discarded",
			"secret", arn, "version", version)
		return "", false
	}
	return pending, true
}

// storeReserve is the time createSecret keeps after minting for
// PutSecretValue.
const storeReserve = 3 * time.Second

// withReserve returns a context whose deadline ends reserve before ctx's (or
// a third of the time left before it, if that is less).
func withReserve(ctx context.Context, reserve time.Duration) (context.Context, context.CancelFunc) {
	dl, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	return context.WithDeadline(ctx, dl.Add(-min(reserve, time.Until(dl)/3)))
}

// pendingHasValue reports whether the pending version already has a value:
// GetSecretValue by VersionId and AWSPENDING answers ResourceNotFoundException
// while it has none.
func (r *Rotator) pendingHasValue(ctx context.Context, secretID, version string) (bool, error) {
	_, err := r.getPending(ctx, secretID, version)
	var nf *types.ResourceNotFoundException
	if errors.As(err, &nf) {
		return false, nil
	}
	return err == nil, err
}

func (r *Rotator) getPending(ctx context.Context, secretID, version string) (*secretsmanager.GetSecretValueOutput, error) {
	out, err := r.secrets.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{
		SecretId:     aws.String(secretID),
		VersionId:    aws.String(version),
		VersionStage: aws.String(StagePending),
	})
	if err != nil {
		var nf *types.ResourceNotFoundException
		if errors.As(err, &nf) {
			return nil, err
		}
		return nil, fmt.Errorf("reading the AWSPENDING version: %w", err)
	}
	return out, nil
}

// setSecret has nothing to apply for a minted credential: the service made it
// live when it issued it. The checks have run; the step is logged.
func (r *Rotator) setSecret() (string, error) {
	return "nothing to apply: the credential is live once minted", nil
}

// testSecret proves the pending credential works. A failure that can never
// pass for this version (the service rejects the credential, or the value is
// malformed) abandons the version (see abandon) and says so; any other
// failure is left for Secrets Manager to retry.
func (r *Rotator) testSecret(ctx context.Context, arn, version string) (string, error) {
	if err := r.verifyPending(ctx, arn, version); err != nil {
		return "", err
	}
	return "pending credential verified", nil
}

func (r *Rotator) verifyPending(ctx context.Context, arn, version string) error {
	out, err := r.getPending(ctx, arn, version)
	var nf *types.ResourceNotFoundException
	if errors.As(err, &nf) {
		return errors.New("the AWSPENDING version has no value yet: createSecret has not stored it; let Secrets Manager retry the rotation (it runs createSecret first)")
	}
	if err != nil {
		return err
	}
	if out.SecretString == nil {
		return r.abandon(ctx, arn, version, errors.New("the AWSPENDING version has no SecretString"))
	}
	if err := r.credentials.Verify(ctx, *out.SecretString); err != nil {
		var p interface{ Permanent() bool }
		if errors.As(err, &p) && p.Permanent() {
			return r.abandon(ctx, arn, version, err)
		}
		return fmt.Errorf("verifying the pending credential: %w", err)
	}
	r.verified.set(arn, version, "")
	return nil
}

// abandon handles a pending version that no retry can cure (Clickwrap
// rejects its token, or its value is malformed): versions are immutable, so
// AWSPENDING is removed from it at once. The secret is then no longer stuck:
// the service's remaining retries of this rotation fail fast ("no stage for
// rotation") and the next RotateSecret, scheduled or by hand, starts afresh.
// Left in place, the label would block every rotation until someone removed
// it by hand. If the removal fails, the error gives the command to run.
func (r *Rotator) abandon(ctx context.Context, arn, version string, cause error) error {
	_, err := r.secrets.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
		SecretId:            aws.String(arn),
		VersionStage:        aws.String(StagePending),
		RemoveFromVersionId: aws.String(version),
	})
	if err != nil {
		return fmt.Errorf("%w. This version can never pass (secret versions are immutable), and removing AWSPENDING from it failed (%v): "+
			"run `%s`, fix the cause, then rotate again", cause, err, RemovePendingCommand(arn, version))
	}
	r.log.Warn("abandoned the pending version: AWSPENDING removed so that the next rotation starts afresh",
		"secret", arn, "version", version)
	return fmt.Errorf("%w. This version can never pass (secret versions are immutable), so AWSPENDING was removed from it: "+
		"fix the cause; the next rotation starts afresh", cause)
}

// finishSecret promotes the pending version with one UpdateSecretVersionStage
// call; Secrets Manager moves AWSPREVIOUS itself and removes AWSPENDING after
// the step succeeds.
//
// Nothing is promoted that testSecret has not passed: when this process did
// not verify the version itself (testSecret ran in another Lambda container,
// or the event was not sent by a rotation), it verifies it again first.
func (r *Rotator) finishSecret(ctx context.Context, d description, version string) (string, error) {
	if _, ok := r.verified.get(d.arn, version); !ok {
		if err := r.verifyPending(ctx, d.arn, version); err != nil {
			return "", fmt.Errorf("not promoting an unverified version: %w", err)
		}
	}
	if err := r.checkSource(ctx, d, version); err != nil {
		return "", fmt.Errorf("not promoting a version made from an older AWSCURRENT: %w", err)
	}
	in := &secretsmanager.UpdateSecretVersionStageInput{
		SecretId:        aws.String(d.arn),
		VersionStage:    aws.String(StageCurrent),
		MoveToVersionId: aws.String(version),
	}
	if d.currentVersion != "" {
		in.RemoveFromVersionId = aws.String(d.currentVersion)
	}
	if _, err := r.secrets.UpdateSecretVersionStage(ctx, in); err != nil {
		// Two containers finishing the same rotation both pass the checks;
		// the second move is refused because AWSCURRENT has already left
		// RemoveFromVersionId. If this version holds it now, we are done.
		if d2, derr := r.check(ctx, Event{SecretID: d.arn, ClientRequestToken: version}); derr == nil && d2.alreadyCurrent {
			return "AWSCURRENT already moved here by a concurrent invocation", nil
		}
		return "", fmt.Errorf("moving AWSCURRENT to this version: %w", err)
	}
	r.verified.remove(d.arn, version)
	r.sources.remove(d.arn, version)
	return fmt.Sprintf("AWSCURRENT moved from version %s", d.currentVersion), nil
}

// SourceMatcher is implemented by a CredentialService that can tell whether
// a pending SecretString was made from a current one: everything but the
// credential alike.
type SourceMatcher interface {
	MadeFrom(pending, current string) bool
}

// checkSource refuses a pending version made from an AWSCURRENT that has
// since been replaced (someone ran put-secret-value while a failed rotation
// waited for its retry): promoting it would silently undo that change, for
// example put back an old client_secret. Such a version is abandoned, and
// the next rotation starts from the new AWSCURRENT.
//
// When this process stored the version from the AWSCURRENT that is still
// current, that is the whole check (no extra call). Otherwise, if the
// CredentialService is a SourceMatcher, both values are read and compared
// (two more GetSecretValue calls, only on that path), so that a re-put of
// the same fields does not cost the rotation; without one, a moved
// AWSCURRENT abandons the version.
func (r *Rotator) checkSource(ctx context.Context, d description, version string) error {
	src, known := r.sources.get(d.arn, version)
	if known && src == d.currentVersion {
		return nil
	}
	m, canCompare := r.credentials.(SourceMatcher)
	if !canCompare || d.currentVersion == "" {
		if known {
			return r.abandon(ctx, d.arn, version, fmt.Errorf(
				"AWSCURRENT moved from version %s, which this pending version was made from, to version %s (a put-secret-value?)", src, d.currentVersion))
		}
		return nil
	}
	// Unknown source, or AWSCURRENT moved: compare the values, so that a
	// re-put of the same fields does not cost the rotation.
	cur, err := r.secrets.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{
		SecretId: aws.String(d.arn), VersionId: aws.String(d.currentVersion),
	})
	if err != nil {
		return fmt.Errorf("reading AWSCURRENT: %w", err)
	}
	pending, err := r.getPending(ctx, d.arn, version)
	if err != nil {
		return err
	}
	if !m.MadeFrom(aws.ToString(pending.SecretString), aws.ToString(cur.SecretString)) {
		return r.abandon(ctx, d.arn, version, fmt.Errorf(
			"the pending version's fields differ from AWSCURRENT (version %s) beyond the credential: AWSCURRENT was changed after this version was made", d.currentVersion))
	}
	return nil
}

// versionMemo is a small per-process memory about pending versions, keyed
// by secret ARN and version id, bounded: the oldest entries go first. The
// Rotator keeps two: which versions passed testSecret here (so that
// finishSecret in the same warm container need not call the service again),
// and which AWSCURRENT version each pending version was made from.
type versionMemo struct {
	mu    sync.Mutex
	limit int
	keys  []string
	vals  map[string]string
}

func newVersionMemo(limit int) *versionMemo {
	return &versionMemo{limit: limit, vals: map[string]string{}}
}

func memoKey(arn, version string) string { return arn + "\x00" + version }

func (m *versionMemo) set(arn, version, value string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := memoKey(arn, version)
	if _, ok := m.vals[k]; !ok {
		if len(m.keys) >= m.limit {
			delete(m.vals, m.keys[0])
			m.keys = m.keys[1:]
		}
		m.keys = append(m.keys, k)
	}
	m.vals[k] = value
}

func (m *versionMemo) get(arn, version string) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.vals[memoKey(arn, version)]
	return v, ok
}

func (m *versionMemo) remove(arn, version string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := memoKey(arn, version)
	delete(m.vals, k)
	m.keys = slices.DeleteFunc(m.keys, func(x string) bool { return x == k })
}
