package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/clickwrap-rotator/clickwrap-rotator/internal/operator"
	"github.com/clickwrap-rotator/clickwrap-rotator/rotation"
)

const stuckAfterUsage = "a rotation pending for longer than this `duration` counts as stuck, not in progress " +
	"(0s: stuck at once); a pending token Clickwrap rejects is stuck whatever its age"

// stuckAfter turns the flag into Diagnose's StuckAfter: 0s means "at once".
func stuckAfter(d time.Duration) time.Duration {
	if d == 0 {
		return time.Nanosecond
	}
	return d
}

var statusCommand = command{
	name:     "status",
	synopsis: "rotatorctl status SECRET [--verify] [--json] [--stuck-after D]",
	exits:    statusExits,
	help: `Shows whether rotation is enabled, its schedule and window, the last and next
rotation dates, every labelled version with its stages and creation date, the
token's fields (present or absent, the token as its fingerprint) and expiry,
where the client credentials are kept, and a diagnosis in plain words with
the exact command that fixes it.

Client credentials: the client_id of the application that minted the current
token, never a client_secret. In the inline form the token secret holds the
client_secret, so anyone who can read the token can also mint tokens. In the
split form (docs/credentials-secret.md) status reads the credentials secret
once to check it, and shows its applications' client_ids and the one the next
rotation mints with.

Diagnoses:
  secret-empty             no version holds AWSCURRENT: put the client
                           credentials in (from a file, never on the
                           command line)
  healthy                  nothing to do
  rotation-in-progress     a rotation is running; check again shortly
  stuck                    AWSPENDING is left on a version that is not
                           AWSCURRENT, and that rotation failed (or rotation
                           is off, so none is running); every rotation fails
                           until it is removed
  secret-malformed         a field of the secret is wrong (the field is named)
  credentials-secret-unusable
                           split form: the credentials secret is missing or
                           malformed (the field is named); every rotation
                           would fail (one rotatorctl may not read, access
                           denied or KMS, is check-failed)
  rotation-not-enabled     nothing rotates the secret
  credential-rejected      (--verify) Clickwrap refuses the AWSCURRENT token
  credential-expired       the AWSCURRENT token is past its expires_at
  no-credential            the secret has no token yet: rotate to mint one
  expires-before-rotation  the token expires before the next scheduled
                           rotation: shorten the schedule
  check-failed             a value could not be read or a check could not be
                           made (network, permissions, HTTP 5xx)
`,
	flags: func(fs *pflag.FlagSet) func(context.Context, *cli, string) int {
		verify := fs.Bool("verify", false, "also make the Bearer check with the AWSCURRENT token, and with the AWSPENDING one when there is one")
		asJSON := fs.Bool("json", false, "print the report as one JSON object, for scripts")
		after := fs.Duration("stuck-after", operator.DefaultStuckAfter, stuckAfterUsage)
		return func(ctx context.Context, c *cli, secret string) int {
			return c.status(ctx, secret, *verify, *asJSON, stuckAfter(*after))
		}
	},
}

func (c *cli) status(ctx context.Context, secret string, verify, asJSON bool, after time.Duration) int {
	r, err := c.op.Inspect(ctx, secret, operator.InspectOptions{VerifyCurrent: verify, VerifyPending: verify, StuckAfter: after})
	if err != nil || ctx.Err() != nil {
		// Interrupted during a check: what it found is no report.
		return c.failed(ctx, err)
	}
	if asJSON {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(r); err != nil {
			return c.failed(ctx, err)
		}
	} else {
		writeReport(c.stdout, r, c.secret)
		if !verify && r.Diagnosis.State == operator.StateInProgress && r.Pending != nil && r.Pending.Value == operator.ValueOK {
			fmt.Fprintf(c.stdout, "\nTo tell a failed rotation from a running one now: %s status %s --verify\n", program, c.secret)
		}
	}
	return exitFor(r.Diagnosis)
}

var rotateCommand = command{
	name:     "rotate",
	synopsis: "rotatorctl rotate SECRET [--wait] [--timeout D] [--interval D]",
	exits:    rotateExits,
	help: `Starts a rotation now with RotateSecret, using the rotation function and
schedule the secret already has: rotatorctl never configures rotation. It
refuses, changing nothing, when rotation is not enabled (exit 1), when the
secret has no AWSCURRENT value, or it is malformed, or, in the split form,
its credentials secret is missing or malformed (the rotation would fail and
leave AWSPENDING stuck; exit 1), when a rotation is stuck (exit 3) or still
running (exit 5). rotatorctl never mints a token itself.

If RotateSecret itself fails (it makes the new AWSPENDING version, then
invokes the rotation function), it says whether AWSPENDING was left behind,
and how to clear it.

With --wait it follows the rotation, every --interval, until:
  finished     the new version is AWSCURRENT and AWSPENDING is gone (exit 0);
               AWSPENDING still on the new AWSCURRENT version at the timeout
               also counts: Secrets Manager may leave it there, it blocks nothing
  failed       the new version lost AWSPENDING without becoming AWSCURRENT, or
               its value is stored but not promoted for five intervals and
               15 s and is malformed or Clickwrap rejects its token (testSecret
               can never pass), or it is still AWSPENDING at --timeout (exit 3,
               with the diagnosis).
Secrets Manager may still reattempt a failed rotation on its own later.
In a terminal the progress is one updating line; otherwise one line per step.
`,
	flags: func(fs *pflag.FlagSet) func(context.Context, *cli, string) int {
		wait := fs.Bool("wait", false, "follow the rotation until it finishes or fails")
		timeout := fs.Duration("timeout", operator.DefaultTimeout, "with --wait: give up after this `duration`")
		interval := fs.Duration("interval", operator.DefaultInterval, "with --wait: look at the secret this often (`duration`)")
		return func(ctx context.Context, c *cli, secret string) int {
			return c.rotate(ctx, secret, *wait, operator.WaitOptions{Timeout: *timeout, Interval: *interval})
		}
	},
}

func (c *cli) rotate(ctx context.Context, secret string, wait bool, opts operator.WaitOptions) int {
	// Checking the pending token (when a rotation left one) tells a failed
	// rotation from a running one.
	r, err := c.op.Inspect(ctx, secret, operator.InspectOptions{VerifyPending: true})
	if err != nil {
		return c.failed(ctx, err)
	}
	if f, blocked := operator.RotationBlocker(r.Diagnosis); blocked {
		fmt.Fprintf(c.stdout, "Not rotating %s: nothing was changed.\n\n", r.Secret.Name)
		writeDiagnosis(c.stdout, r.Diagnosis, c.secret)
		switch f.State {
		case operator.StateStuck:
			return exitStuck
		case operator.StateInProgress:
			return exitRefused
		}
		return exitUnhealthy
	}
	arn := r.Secret.ARN
	version, err := c.op.StartRotation(ctx, arn)
	switch {
	case errors.Is(err, operator.ErrPreviousIncomplete), errors.Is(err, operator.ErrNotConfigured):
		fmt.Fprintf(c.stdout, "Secrets Manager refused to start the rotation: %v\n\n", err)
		code := exitUnhealthy
		if errors.Is(err, operator.ErrPreviousIncomplete) {
			code = exitStuck
			if again, err := c.op.Inspect(ctx, arn, operator.InspectOptions{}); err == nil {
				writeDiagnosis(c.stdout, again.Diagnosis, c.secret)
				if again.Diagnosis.State == operator.StateInProgress {
					code = exitRefused
				}
			}
		}
		return code
	case err != nil:
		code := c.failed(ctx, err)
		if re := (*operator.RotateError)(nil); errors.As(err, &re) && code != exitInterrupted {
			c.rotateFailed(re)
		}
		return code
	}
	if version == "" {
		// Secrets Manager always names the version; should it not, say so
		// rather than print an empty id, and do not follow it blind.
		fmt.Fprintf(c.stdout, "Rotation of %s started; Secrets Manager did not say which version is AWSPENDING.\n", r.Secret.Name)
		fmt.Fprintf(c.stdout, "Follow it with: %s status %s\n", program, c.secret)
		return exitOK
	}
	fmt.Fprintf(c.stdout, "Rotation of %s started: version %s is AWSPENDING.\n", r.Secret.Name, version)
	if !wait {
		fmt.Fprintf(c.stdout, "Secrets Manager runs it now. Follow it with: %s status %s\n", program, c.secret)
		return exitOK
	}

	pp := newProgressPrinter(c.stdout, c.deps.terminal(c.stdout))
	final, err := c.op.Wait(ctx, arn, version, opts, pp.update)
	pp.done()
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintf(c.stderr, "%s: interrupted; the rotation goes on in Secrets Manager: %s status %s\n", program, program, c.secret)
			return exitInterrupted
		}
		return c.failed(ctx, err)
	}
	if final.Phase.Succeeded() {
		fmt.Fprintf(c.stdout, "Rotation finished in %s: %s.\n", elapsed(final.Elapsed), final.Detail)
		if after, err := c.op.Inspect(ctx, arn, operator.InspectOptions{}); err == nil {
			if t := after.Current; t != nil && t.Fingerprint != "" {
				exp := "unknown"
				if !t.ExpiresAt.IsZero() {
					exp = t.ExpiresAt.Format(time.RFC3339)
				}
				fmt.Fprintf(c.stdout, "AWSCURRENT token: fingerprint %s, expires_at %s.\n", t.Fingerprint, exp)
			}
			if after.Diagnosis.State != operator.StateHealthy {
				fmt.Fprintln(c.stdout)
				writeDiagnosis(c.stdout, after.Diagnosis, c.secret)
			}
		}
		return exitOK
	}

	// The diagnosis status gives, with both tokens checked: a pending token
	// that Clickwrap rejects proves the rotation stuck.
	after, err := c.op.Inspect(ctx, arn, operator.InspectOptions{VerifyCurrent: true, VerifyPending: true})
	if final.Phase == operator.PhaseTimedOut {
		fmt.Fprintf(c.stdout, "Gave up waiting after %s: %s.\n", elapsed(final.Elapsed), final.Detail)
	} else {
		fmt.Fprintf(c.stdout, "Rotation failed after %s: %s.\n", elapsed(final.Elapsed), final.Detail)
	}
	if err != nil {
		fmt.Fprintf(c.stderr, "%s: reading the secret after the failure: %v\n", program, err)
		return exitStuck
	}
	if final.Phase == operator.PhaseAbandoned && after.Diagnosis.PendingVersion == "" {
		fmt.Fprintf(c.stdout, "Its version holds no label now, so nothing is stuck: fix the cause, then rotate again.\n")
	}
	fmt.Fprintln(c.stdout)
	writeReport(c.stdout, after, c.secret)
	if final.Phase == operator.PhaseTimedOut && after.Diagnosis.Has(operator.StateInProgress) {
		fmt.Fprintf(c.stdout, "\nThe rotation may still finish, or Secrets Manager may reattempt it later. If you know it failed "+
			"(the rotation function's logs say why), abandon it now: %s unstick %s --stuck-after 0s\n", program, c.secret)
	}
	return exitStuck
}

// rotateFailed says, after RotateSecret failed, whether it left AWSPENDING
// behind (it makes the new version before it invokes the function), and how
// to see and clear it.
func (c *cli) rotateFailed(re *operator.RotateError) {
	see := fmt.Sprintf("%s status %s", program, c.secret)
	unstick := fmt.Sprintf("%s unstick %s --stuck-after 0s", program, c.secret)
	var msg string
	switch {
	case !re.Checked:
		msg = fmt.Sprintf("RotateSecret makes the new version, labelled AWSPENDING, before it invokes the rotation function, so it may have "+
			"left AWSPENDING behind; until that is removed every rotation fails with \"A previous rotation isn't complete\". "+
			"See the stages with: %s. If the function's logs show no run for it, clear it with: %s", see, unstick)
	case re.Pending != "":
		msg = fmt.Sprintf("RotateSecret left AWSPENDING on version %s (it makes the new version before it invokes the rotation function); "+
			"until it is removed every rotation fails with \"A previous rotation isn't complete\". See it with: %s. "+
			"Fix the cause above; if the function's logs show no run for it, clear it with: %s", re.Pending, see, unstick)
	default:
		msg = "No version holds AWSPENDING: the failed RotateSecret left nothing to clear. Fix the cause above, then rotate again."
	}
	writeWrapped(c.stderr, "  ", msg)
}

var verifyCommand = command{
	name:     "verify",
	synopsis: "rotatorctl verify SECRET [--stage S]",
	exits:    verifyExits,
	help: `Makes the Bearer check alone: GET {api_url}/sites with the token of the
version that holds the stage, as the rotation's testSecret does. Exits 0 only
when Clickwrap accepts the token; 1 when it rejects it (HTTP 401/403) or there
is no token to check; 4 when the check could not be made.
`,
	flags: func(fs *pflag.FlagSet) func(context.Context, *cli, string) int {
		stage := fs.String("stage", rotation.StageCurrent, "check the token of the version with this staging `label` (AWSCURRENT, AWSPENDING, AWSPREVIOUS, ...; any case)")
		return func(ctx context.Context, c *cli, secret string) int {
			return c.verify(ctx, secret, *stage)
		}
	},
}

func (c *cli) verify(ctx context.Context, secret, stage string) int {
	r, err := c.op.Verify(ctx, secret, stage)
	if err != nil || ctx.Err() != nil {
		return c.failed(ctx, err)
	}
	subject := fmt.Sprintf("%s of %s", r.Stage, r.Name)
	if r.VersionID != "" {
		subject += " (version " + r.VersionID
		if r.Fingerprint != "" {
			subject += ", token " + r.Fingerprint
		}
		subject += ")"
	}
	switch r.Outcome {
	case operator.CheckAccepted:
		fmt.Fprintf(c.stdout, "%s: accepted by Clickwrap (%s).\n", subject, r.Endpoint)
		return exitOK
	case operator.CheckRejected:
		fmt.Fprintf(c.stdout, "%s: REJECTED: %s.\n", subject, r.Detail)
		switch r.Stage {
		case rotation.StageCurrent:
			fmt.Fprintf(c.stdout, "Replace it: %s rotate %s --wait\n", program, c.secret)
		case rotation.StagePending:
			fmt.Fprintf(c.stdout, "This rotation can never pass: %s unstick %s\n", program, c.secret)
		}
		return exitUnhealthy
	case operator.VerifyNoToken:
		fmt.Fprintf(c.stdout, "%s: no token to check: %s.\n", subject, r.Detail)
		if r.Stage == rotation.StageCurrent && r.VersionID == "" {
			fmt.Fprintf(c.stdout, "Put the client credentials in: %s status %s says how.\n", program, c.secret)
		}
		return exitUnhealthy
	default:
		fmt.Fprintf(c.stdout, "%s: could not check: %s.\n", subject, r.Detail)
		return exitError
	}
}

var unstickCommand = command{
	name:     "unstick",
	synopsis: "rotatorctl unstick SECRET [--yes] [--stuck-after D]",
	exits:    unstickExits,
	help: `Clears a stuck rotation: when AWSPENDING is on a version that is not
AWSCURRENT and that rotation failed, it shows the exact change, asks for
confirmation on stdin (or takes --yes), removes the label with one
UpdateSecretVersionStage call (VersionStage AWSPENDING, RemoveFromVersionId
that version) and prints the stages afterwards. AWSCURRENT is never touched.

It refuses, changing nothing (exit 5), when nothing is stuck, when AWSPENDING
is on the AWSCURRENT version, when the rotation may still be running, and when
the change is not confirmed (no --yes and no "y" on stdin). When rotation is
off for the secret no rotation can be running, so a pending version counts
as stuck whatever its age.
`,
	flags: func(fs *pflag.FlagSet) func(context.Context, *cli, string) int {
		yes := fs.Bool("yes", false, "make the change without asking")
		after := fs.Duration("stuck-after", operator.DefaultStuckAfter, stuckAfterUsage)
		return func(ctx context.Context, c *cli, secret string) int {
			return c.unstick(ctx, *yes, stuckAfter(*after))
		}
	},
}

func (c *cli) unstick(ctx context.Context, yes bool, after time.Duration) int {
	plan, err := c.op.PlanUnstick(ctx, c.secret, after)
	if err != nil {
		return c.failed(ctx, err)
	}
	name := plan.Report.Secret.Name
	if plan.Refusal != "" {
		fmt.Fprintf(c.stdout, "Not changing %s:\n", name)
		writeWrapped(c.stdout, "  ", plan.Refusal)
		return exitRefused
	}
	fmt.Fprintf(c.stdout, "Stuck rotation on %s:\n", name)
	for _, f := range plan.Report.Diagnosis.Findings() {
		if f.State == operator.StateStuck {
			writeWrapped(c.stdout, "  ", f.Message)
		}
	}
	fmt.Fprintf(c.stdout, "\nThe change: one UpdateSecretVersionStage call removes the label AWSPENDING from version\n%s, the same as\n  %s\n",
		plan.Version, plan.Command)
	if plan.Current != "" {
		fmt.Fprintf(c.stdout, "AWSCURRENT stays on version %s. Nothing else changes.\n", plan.Current)
	} else {
		fmt.Fprintln(c.stdout, "No version holds AWSCURRENT (the secret has no value yet). Nothing else changes.")
	}
	if yes {
		fmt.Fprintln(c.stdout, "Confirmed by --yes.")
	} else if ok, why := c.confirm(ctx, fmt.Sprintf("Remove AWSPENDING from version %s?", plan.Version)); !ok {
		fmt.Fprintf(c.stdout, "%s Nothing was changed.\n", why)
		if ctx.Err() != nil {
			return exitInterrupted
		}
		return exitRefused
	}
	versions, err := c.op.Unstick(ctx, plan)
	switch {
	case errors.Is(err, operator.ErrStagesChanged):
		fmt.Fprintf(c.stdout, "Not changed: %v. Run '%s status %s' to see why.\n", err, program, c.secret)
		return exitRefused
	case errors.Is(err, operator.ErrRemovedUnread):
		// The change was made: report success, so a script does not retry
		// into "nothing is stuck".
		fmt.Fprintf(c.stdout, "\nRemoved AWSPENDING from version %s.\n", plan.Version)
		fmt.Fprintf(c.stderr, "warning: %v; run '%s status %s' to see the stages.\n", err, program, c.secret)
		return exitOK
	case err != nil:
		return c.failed(ctx, err)
	}
	fmt.Fprintf(c.stdout, "\nRemoved AWSPENDING from version %s. The stages now:\n", plan.Version)
	writeVersions(c.stdout, versions, plan.Report.CheckedAt)
	switch {
	case plan.Current == "":
		fmt.Fprintf(c.stdout, "The secret has no AWSCURRENT value: put the client credentials in (%s status %s says how), then rotate.\n", program, c.secret)
	case !plan.Report.Rotation.Enabled:
		fmt.Fprintf(c.stdout, "Rotation is off for this secret: turn it on when it should rotate (%s status %s gives the command).\n", program, c.secret)
	default:
		fmt.Fprintf(c.stdout, "Fix what made the rotation fail, then rotate again: %s rotate %s --wait\n", program, c.secret)
	}
	return exitOK
}

// confirm asks question on stderr and reads the answer from stdin: only
// "y" or "yes" confirms. No stdin, or stdin at its end, is a refusal.
func (c *cli) confirm(ctx context.Context, question string) (bool, string) {
	const hint = "pass --yes to confirm without a prompt."
	if c.stdin == nil {
		return false, "No confirmation: there is no stdin to ask on; " + hint
	}
	fmt.Fprintf(c.stderr, "%s [y/N] ", question)
	type answer struct {
		line string
		eof  bool
	}
	ch := make(chan answer, 1)
	go func() {
		line, err := bufio.NewReader(c.stdin).ReadString('\n')
		ch <- answer{line: line, eof: err != nil && line == ""}
	}()
	select {
	case <-ctx.Done():
		fmt.Fprintln(c.stderr)
		return false, "Interrupted."
	case a := <-ch:
		if a.eof {
			fmt.Fprintln(c.stderr)
			return false, "No confirmation: stdin ended without an answer; " + hint
		}
		switch strings.ToLower(strings.TrimSpace(a.line)) {
		case "y", "yes":
			return true, ""
		}
		return false, "Not confirmed."
	}
}
