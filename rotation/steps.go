package rotation

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
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
//   - the read of the pending version finds no value, but this container
//     stored (or has read) one for it: the read lags the write (Secrets
//     Manager's reads are eventually consistent), and since versions are
//     immutable the value is there: nothing is minted, nothing written;
//   - AWSCURRENT is missing, or is not a usable SecretString: error, nothing
//     minted, nothing written;
//   - PutSecretValue answers ResourceExistsException: another invocation
//     stored a different value for this version between our read and our
//     write; its value stands, ours is discarded (and logged as such). The
//     value re-read is compared with AWSCURRENT's (SourceMatcher, no extra
//     call), so that the later steps here need not read it again;
//   - PutSecretValue fails otherwise (throttled on every SDK attempt, say):
//     the minted value is kept in memory, and the service's retry in this
//     container stores it instead of minting another credential, as long
//     as AWSCURRENT is still the version it was made from, or (with a
//     SourceMatcher) a version whose fields are the same (the owner re-put
//     them); after a real edit it is discarded and a new one minted.
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
	if _, seen := r.sources.get(arn, ev.ClientRequestToken); seen {
		// Never mint twice for a version this container knows has a value:
		// the read lags the write, and a second credential would be
		// refused by PutSecretValue and left valid and unrecorded.
		r.log.Warn("the pending version reads as empty, but this container stored or read its value: the read lags the write; nothing minted",
			"secret", arn, "version", ev.ClientRequestToken)
		return "nothing to do: this container already stored (or read) the pending version's value; the read that found none lags the write", nil
	}
	source := aws.ToString(cur.VersionId)
	pending, reused := r.unstoredValue(arn, ev.ClientRequestToken, source, *cur.SecretString)
	if !reused {
		// Keep time to store what is minted: a token minted with no time
		// left to store it would be lost (and valid at the service).
		mintCtx, cancel := deadlineBefore(ctx, storeReserve, 3)
		pending, err = r.credentials.NewPending(mintCtx, *cur.SecretString)
		cancel()
		if err != nil {
			return "", fmt.Errorf("making the pending credential from AWSCURRENT: %w", err)
		}
		r.minted.set(arn, ev.ClientRequestToken, r.now())
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
		won, rerr := r.getPending(ctx, ev.SecretID, ev.ClientRequestToken)
		if rerr == nil {
			if m, ok := r.credentials.(SourceMatcher); ok && won.SecretString != nil && m.MadeFrom(*won.SecretString, *cur.SecretString) {
				r.sources.set(arn, ev.ClientRequestToken, source)
			}
			r.log.Warn("another invocation stored the pending value first; the credential minted here was discarded",
				"secret", ev.SecretID, "version", ev.ClientRequestToken)
			return "pending value stored by a concurrent invocation", nil
		}
		return "", fmt.Errorf("storing the pending version: %w", err)
	}
	if err != nil {
		r.unstored.set(arn, ev.ClientRequestToken, unstoredValue{source: source, value: pending})
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
// AWSCURRENT version source, or from one whose value current (AWSCURRENT's
// now) matches but for the credential (a SourceMatcher says so: an owner
// re-put the same fields meanwhile). Otherwise the value is discarded.
func (r *Rotator) unstoredValue(arn, version, source, current string) (string, bool) {
	v, ok := r.unstored.get(arn, version)
	if !ok {
		return "", false
	}
	if m, canCompare := r.credentials.(SourceMatcher); v.source != source && canCompare && m.MadeFrom(v.value, current) {
		r.unstored.set(arn, version, unstoredValue{source: source, value: v.value})
		return v.value, true
	}
	if v.source != source {
		r.unstored.remove(arn, version)
		r.log.Warn("AWSCURRENT changed since an earlier attempt minted a credential it could not store; that credential is discarded",
			"secret", arn, "version", version)
		return "", false
	}
	return v.value, true
}

// storeReserve is the time createSecret keeps after minting for
// PutSecretValue.
const storeReserve = 3 * time.Second

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

// testSecret proves the pending credential works.
//
// Cases:
//   - the pending version has no value yet: createSecret has not stored it,
//     or (when this container stored or read it) the read lags the write:
//     error, left for Secrets Manager's retry, which mints nothing again;
//   - the value is not a SecretString: abandoned (see abandon);
//   - the version was made from an AWSCURRENT that has since been replaced
//     (a put-secret-value while a failed rotation waited for its retry, for
//     example to fix a wrong api_url): abandoned before anything is
//     verified, with an error saying so; the next rotation starts from the
//     new AWSCURRENT (see checkSource). No extra call when this container
//     stored the version from the AWSCURRENT that is still current;
//   - the value is identical to AWSCURRENT's (compared by checkSource, now
//     or in an earlier testSecret here, or read when Verify finds no
//     credential or refuses it for good in a container that did not mint
//     the version): the service's configuration test
//     (RotateImmediately=false), judged by configurationTest: the
//     configuration is checked, a first secret with no credential passes, a
//     rejected AWSCURRENT credential is abandoned with an error that says to
//     rotate now; nothing is remembered as verified, and a copy gets no
//     PropagationGrace;
//   - Verify passes: success, remembered so that finishSecret here need not
//     verify again;
//   - Verify finds no credential: a permanent failure: abandoned;
//   - Verify fails permanently: tried again while the version is younger
//     than PropagationGrace (see verifyWithGrace); then the failure stands
//     and the version is abandoned. If the invocation runs out of time
//     within the grace: error, nothing abandoned;
//   - any other failure (the service unreachable, a 5xx, a 404): error,
//     left for Secrets Manager to retry.
func (r *Rotator) testSecret(ctx context.Context, d description, version string) (string, error) {
	pending, err := r.readPending(ctx, d.arn, version)
	if err != nil {
		return "", err
	}
	current, err := r.checkSource(ctx, d, version, pending, TestSecret)
	if err != nil {
		return "", err
	}
	return r.verifyPending(ctx, d, version, pending, current, TestSecret)
}

// readPending reads the pending version's value, for testSecret and for
// finishSecret when it verifies. A version with no SecretString is
// abandoned.
func (r *Rotator) readPending(ctx context.Context, arn, version string) (*secretsmanager.GetSecretValueOutput, error) {
	out, err := r.getPending(ctx, arn, version)
	var nf *types.ResourceNotFoundException
	if errors.As(err, &nf) {
		if _, seen := r.sources.get(arn, version); seen {
			return nil, errors.New("the AWSPENDING version reads as having no value, though this container stored (or read) its value moments ago: " +
				"Secrets Manager's reads can lag a write. Let Secrets Manager retry the rotation; nothing will be minted again")
		}
		return nil, errors.New("the AWSPENDING version has no value yet: createSecret has not stored it; let Secrets Manager retry the rotation (it runs createSecret first)")
	}
	if err != nil {
		return nil, err
	}
	if out.SecretString == nil {
		return nil, r.abandon(ctx, arn, version, errors.New("the AWSPENDING version has no SecretString"))
	}
	return out, nil
}

// verifyPending proves the credential in the pending value, with
// PropagationGrace (see verifyWithGrace), and handles the outcome for step:
// testSecret, or finishSecret verifying a version this container did not.
// current is AWSCURRENT's value when the caller has read it already, else
// nil; it is read here only to tell the configuration test (a copy of
// AWSCURRENT, see configurationTest) from a pending version whose
// credential is missing or refused for good.
func (r *Rotator) verifyPending(ctx context.Context, d description, version string, pending *secretsmanager.GetSecretValueOutput, current *string, step Step) (string, error) {
	value := aws.ToString(pending.SecretString)
	// The credential is as new as the later of the version (RotateSecret
	// made it) and the mint here: a retried rotation mints into an older
	// version.
	created := aws.ToTime(pending.CreatedDate)
	if minted, ok := r.minted.get(d.arn, version); ok && minted.After(created) {
		created = minted
	}
	copyOfCurrent := current != nil && *current == value
	if src, ok := r.copies.get(d.arn, version); ok && src == d.currentVersion {
		copyOfCurrent = true // compared here before: a retried testSecret
	}
	if copyOfCurrent {
		created = time.Time{} // its credential is not new: no grace
	}
	res := r.verifyWithGrace(ctx, value, created)
	err := res.err
	if !copyOfCurrent && current == nil && r.mayBeConfigurationTest(d, version, step, err) {
		cur, rerr := r.getCurrent(ctx, d)
		if rerr != nil {
			return "", fmt.Errorf("verifying the pending credential: %w; and telling whether this is the service's configuration test failed: %w; "+
				"let Secrets Manager retry", err, rerr)
		}
		copyOfCurrent = cur.SecretString != nil && *cur.SecretString == value
	}
	if copyOfCurrent && step == TestSecret && d.currentVersion != "" {
		return r.configurationTest(ctx, d, version, value, err)
	}
	switch {
	case err == nil:
		r.verified.set(d.arn, version, struct{}{})
		if res.tries > 1 {
			return fmt.Sprintf("pending credential verified on try %d: the new credential took a moment to go live", res.tries), nil
		}
		return "pending credential verified", nil
	case errors.Is(err, ErrNoCredential):
		return "", r.abandon(ctx, d.arn, version, err)
	case IsPermanent(err):
		if res.tries > 1 {
			err = fmt.Errorf("%w (refused on each of %d tries within the %s PropagationGrace after the version was created)",
				err, res.tries, r.PropagationGrace)
		}
		return "", r.abandon(ctx, d.arn, version, err)
	default:
		return "", fmt.Errorf("verifying the pending credential: %w", err)
	}
}

// mayBeConfigurationTest reports whether, AWSCURRENT's value not being at
// hand, testSecret must read it to tell the service's configuration test:
// when Verify found no credential or refused it for good, unless this
// container minted the version (the configuration test mints nothing).
// verr is Verify's result.
func (r *Rotator) mayBeConfigurationTest(d description, version string, step Step, verr error) bool {
	if step != TestSecret || d.currentVersion == "" {
		return false
	}
	if _, minted := r.minted.get(d.arn, version); minted {
		return false
	}
	return errors.Is(verr, ErrNoCredential) || IsPermanent(verr)
}

// configurationTest is testSecret's verdict on a pending version that holds
// a copy of AWSCURRENT's value: the service's configuration test
// (RotateImmediately=false), which the service removes afterwards, or a copy
// someone labelled AWSPENDING by hand. verr is Verify's result for that
// value. What is tested is whether rotation can work, so the configuration
// is checked too (ConfigurationChecker), and a failure says what to fix:
//   - the configuration check fails: an error, the checker's, saying what
//     (a fault that can be fixed without a new version: nothing abandoned);
//   - Verify passes: success;
//   - no credential yet (a first secret): success, the version not counted
//     as verified, so a finishSecret for it verifies again and refuses it;
//   - Verify rejects AWSCURRENT's credential: the copy can never pass, so it
//     is abandoned as any such version is (a copy left under AWSPENDING
//     would block every rotation, the one that fixes this included), with
//     an error saying that whoever reads the secret is failing now and that
//     a rotation, which mints afresh, replaces the credential;
//   - any other failure: an error, for Secrets Manager to retry.
func (r *Rotator) configurationTest(ctx context.Context, d description, version, value string, verr error) (string, error) {
	checked := ""
	if c, ok := r.credentials.(ConfigurationChecker); ok {
		if err := c.CheckConfiguration(ctx, value); err != nil {
			return "", fmt.Errorf("configuration test: the configuration check failed: %w", err)
		}
		checked = "; the configuration it rotates with checked"
	}
	switch {
	case verr == nil:
		return "configuration test: pending credential verified (a copy of AWSCURRENT's)" + checked, nil
	case errors.Is(verr, ErrNoCredential):
		return "configuration test: the secret is readable and well formed and holds no credential yet; the first rotation mints one " +
			"(the version is not counted as verified)" + checked, nil
	case IsPermanent(verr):
		return "", r.abandon(ctx, d.arn, version, fmt.Errorf("configuration test: AWSCURRENT's credential is rejected (%w), so whoever reads "+
			"the secret is failing now. The configuration itself can rotate%s: rotate now to replace the credential "+
			"(aws secretsmanager rotate-secret --secret-id %s, without --no-rotate-immediately)", verr, checked, d.arn))
	default:
		return "", fmt.Errorf("configuration test: verifying AWSCURRENT's credential: %w", verr)
	}
}

// getCurrent reads the value of the AWSCURRENT version check found.
func (r *Rotator) getCurrent(ctx context.Context, d description) (*secretsmanager.GetSecretValueOutput, error) {
	out, err := r.secrets.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{
		SecretId: aws.String(d.arn), VersionId: aws.String(d.currentVersion),
	})
	if err != nil {
		return nil, fmt.Errorf("reading AWSCURRENT (version %s): %w", d.currentVersion, err)
	}
	return out, nil
}

// abandon handles a pending version that no retry can cure (the service
// rejects its credential past PropagationGrace, it holds no credential, or
// its value is malformed): versions are immutable, so AWSPENDING is removed
// from it at once. The secret is then no longer stuck: the service's
// remaining retries of this rotation fail fast ("no stage for rotation") and
// the next RotateSecret, scheduled or by hand, starts afresh. Left in place,
// the label would block every rotation until someone removed it by hand. If
// the removal fails, the error gives the command to run.
func (r *Rotator) abandon(ctx context.Context, arn, version string, cause error) error {
	if err := r.removePending(ctx, arn, version); err != nil {
		return fmt.Errorf("%w. This version can never pass (secret versions are immutable), and removing AWSPENDING from it failed (%v): "+
			"run `%s`, fix the cause, then rotate again", cause, err, RemovePendingCommand(arn, version))
	}
	r.log.Warn("abandoned the pending version: AWSPENDING removed so that the next rotation starts afresh",
		"secret", arn, "version", version)
	return fmt.Errorf("%w. This version can never pass (secret versions are immutable), so AWSPENDING was removed from it: "+
		"fix the cause; the next rotation starts afresh", cause)
}

// abandonStale is abandon for a pending version made from an AWSCURRENT that
// has since been replaced (see checkSource): there is nothing to fix, the
// edit stands and the next rotation starts from it.
func (r *Rotator) abandonStale(ctx context.Context, arn, version string, cause error) error {
	if err := r.removePending(ctx, arn, version); err != nil {
		return fmt.Errorf("%w. AWSCURRENT changed after this version was made (a put-secret-value?), so it must not be used, "+
			"and removing AWSPENDING from it failed (%v): run `%s`; the next rotation then starts from the new value",
			cause, err, RemovePendingCommand(arn, version))
	}
	r.log.Warn("abandoned a pending version made from an older AWSCURRENT: AWSPENDING removed so that the next rotation starts from the new value",
		"secret", arn, "version", version)
	return fmt.Errorf("%w. AWSCURRENT changed after this version was made (a put-secret-value?), so the version was abandoned "+
		"(AWSPENDING removed from it): nothing to fix; the next rotation starts from the new value", cause)
}

// removePending removes AWSPENDING from version, and forgets what this
// process knew about it.
func (r *Rotator) removePending(ctx context.Context, arn, version string) error {
	_, err := r.secrets.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
		SecretId:            aws.String(arn),
		VersionStage:        aws.String(StagePending),
		RemoveFromVersionId: aws.String(version),
	})
	if err == nil {
		r.verified.remove(arn, version)
		r.sources.remove(arn, version)
		r.copies.remove(arn, version)
	}
	return err
}

// finishSecret promotes the pending version with one UpdateSecretVersionStage
// call; Secrets Manager moves AWSPREVIOUS itself and removes AWSPENDING after
// the step succeeds.
//
// Cases:
//   - this container verified the version (testSecret ran here): the source
//     check (checkSource; no call when AWSCURRENT has not moved), then the
//     move;
//   - it did not (testSecret ran in another Lambda container, or the event
//     was not sent by a rotation): nothing is promoted unverified: the
//     pending value is read, checked against AWSCURRENT (checkSource,
//     reusing that read) and verified (with PropagationGrace) first; a
//     failure is handled as in testSecret, except that a value with no
//     credential is never a configuration test here: it is abandoned;
//   - the version was made from a replaced AWSCURRENT: abandoned, not
//     promoted, so the edit is not undone;
//   - the move is refused because a concurrent finishSecret made it
//     already: success.
func (r *Rotator) finishSecret(ctx context.Context, d description, version string) (string, error) {
	if _, ok := r.verified.get(d.arn, version); ok {
		if _, err := r.checkSource(ctx, d, version, nil, FinishSecret); err != nil {
			return "", err
		}
	} else {
		pending, err := r.readPending(ctx, d.arn, version)
		if err != nil {
			return "", fmt.Errorf("not promoting an unverified version: %w", err)
		}
		current, err := r.checkSource(ctx, d, version, pending, FinishSecret)
		if err != nil {
			return "", err
		}
		if _, err := r.verifyPending(ctx, d, version, pending, current, FinishSecret); err != nil {
			return "", fmt.Errorf("not promoting an unverified version: %w", err)
		}
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
	r.copies.remove(d.arn, version)
	return fmt.Sprintf("AWSCURRENT moved from version %s", d.currentVersion), nil
}

// checkSource refuses a pending version made from an AWSCURRENT that has
// since been replaced (someone ran put-secret-value while a failed rotation
// waited for its retry): testing it is pointless, since the service's retries
// would keep testing the stale copy, and promoting it would silently undo
// that change, for example put back an old client_secret or a wrong api_url.
// Such a version is abandoned (abandonStale), and the next rotation starts
// from the new AWSCURRENT. step (testSecret or finishSecret) words the error.
//
// Cases:
//   - this process stored the version (or compared it already) from the
//     AWSCURRENT that is still current: passes, no call;
//   - otherwise, with a CredentialService that is a SourceMatcher:
//     AWSCURRENT's value is read (one GetSecretValue) and compared with the
//     pending value (read too, unless the caller passes it): identical
//     values, or values alike but for the credential (MadeFrom), pass and
//     are remembered, so that a re-put of the same fields does not cost the
//     rotation; values that differ abandon the version;
//   - without a SourceMatcher: a version this process made from an
//     AWSCURRENT that has moved is abandoned; a version of unknown source
//     passes (nothing to compare with).
//
// It returns AWSCURRENT's value when it read it, for the caller to reuse.
func (r *Rotator) checkSource(ctx context.Context, d description, version string, pending *secretsmanager.GetSecretValueOutput, step Step) (*string, error) {
	src, known := r.sources.get(d.arn, version)
	if known && src == d.currentVersion {
		return nil, nil
	}
	verb := "promoting"
	if step == TestSecret {
		verb = "testing"
	}
	m, canCompare := r.credentials.(SourceMatcher)
	if !canCompare || d.currentVersion == "" {
		if known {
			return nil, fmt.Errorf("not %s a version made from an older AWSCURRENT: %w", verb, r.abandonStale(ctx, d.arn, version, fmt.Errorf(
				"AWSCURRENT moved from version %s, which this pending version was made from, to version %s", src, d.currentVersion)))
		}
		return nil, nil
	}
	cur, err := r.getCurrent(ctx, d)
	if err != nil {
		return nil, fmt.Errorf("checking that the pending version was made from AWSCURRENT: %w", err)
	}
	if pending == nil {
		if pending, err = r.getPending(ctx, d.arn, version); err != nil {
			return nil, fmt.Errorf("checking that the pending version was made from AWSCURRENT: %w", err)
		}
	}
	p, c := aws.ToString(pending.SecretString), aws.ToString(cur.SecretString)
	if p != c && !m.MadeFrom(p, c) {
		return nil, fmt.Errorf("not %s a version made from an older AWSCURRENT: %w", verb, r.abandonStale(ctx, d.arn, version, fmt.Errorf(
			"the pending version's fields differ from AWSCURRENT (version %s) beyond the credential", d.currentVersion)))
	}
	r.sources.set(d.arn, version, d.currentVersion)
	if p == c {
		r.copies.set(d.arn, version, d.currentVersion)
	}
	return cur.SecretString, nil
}
