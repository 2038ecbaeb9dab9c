// Command invoke sends one hand-made rotation event to the real bootstrap
// under the AWS Lambda Runtime Interface Emulator, against the local
// stand-ins (the Secrets Manager emulator and the Clickwrap sandbox), and
// prints the function's log lines and its answer: what a test event from the
// Lambda console, or `sam local invoke -e`, gets before anything is
// deployed. It needs nothing but Go.
//
//	make invoke EVENT=events/createSecret.json            # invoke events/createSecret.json
//	make invoke EVENT=events/createSecret.json PENDING=1  # invoke --pending events/createSecret.json
//
// events/ holds one sample event per step, as `sam local invoke -e` takes
// them. The program creates a local secret holding the sandbox's client_id
// and client_secret, turns rotation on for it as a deployed secret has it
// (RotateSecret with RotateImmediately=false, Secrets Manager's
// configuration test, answered here without calling the function, so that
// no version is left over), and sends the event file as written but for its
// SecretId, which becomes the local secret's ARN (it says so; an event
// without one is sent without one). A hand-made event names a version that
// no rotation created, so the function refuses it ("version has no stage for
// rotation") and changes nothing, as it does in AWS.
//
// With --pending (PENDING=1 for make) it first starts a rotation the way
// Secrets Manager does: RotateSecret creates a pending version (AWSPENDING,
// no value yet) and a RotationToken, and the invocation Secrets Manager
// would then make is held back. The event's ClientRequestToken becomes that
// version's id and its RotationToken that token (it says so), so a
// createSecret event succeeds: the function mints a token at the sandbox and
// stores it in the pending version. testSecret and finishSecret need the
// value createSecret stores, so sent alone they fail and say why.
//
// The exit status is 0 when the function succeeded; 1 when it returned an
// error (or crashed, or timed out); 2 for a usage error (no event file, or
// one that is not a JSON object); 3 when the stand-ins could not be started
// or the emulator failed; 130, 143 or 129 after SIGINT, SIGTERM or SIGHUP,
// 141 when the output was closed. In every case the emulator and the
// bootstrap are stopped, and the working folder removed, before it exits.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/clickwrap-rotator/clickwrap-rotator/internal/lambdarie"
	"github.com/clickwrap-rotator/clickwrap-rotator/internal/localcmd"
	"github.com/clickwrap-rotator/clickwrap-rotator/internal/localrun"
)

// Exit statuses besides 0 and the signals' (see localcmd.Session.Close).
const (
	exitFunctionError = 1
	exitUsage         = 2
	exitStandIns      = 3
)

// defaultSecretName names the local secret when the event's SecretId names
// none.
const defaultSecretName = "clickwrap/api-token"

// reportWait bounds the wait for the emulator's REPORT line after the
// invocation; only a runtime that crashed gets none.
const reportWait = 10 * time.Second

func main() { os.Exit(invoke(os.Args[1:])) }

func invoke(args []string) int {
	fs := flag.NewFlagSet("invoke", flag.ContinueOnError)
	pending := fs.Bool("pending", false, "start a rotation first (RotateSecret creates a pending version and a RotationToken) and send the event for that version")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: invoke [--pending] EVENT.json   (make invoke EVENT=events/createSecret.json [PENDING=1])")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return exitUsage
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return exitUsage
	}
	path := fs.Arg(0)
	b, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "invoke:", err)
		return exitUsage
	}
	ev, err := parseEvent(b)
	if err != nil {
		fmt.Fprintf(os.Stderr, "invoke: %s: %v\n", path, err)
		return exitUsage
	}

	s, err := localcmd.Start("invoke", "clickwrap-rotator-invoke-*")
	if err != nil {
		fmt.Fprintln(os.Stderr, "invoke:", err)
		return exitStandIns
	}
	err = run(s.Context(), s.Stdout, s.Dir, path, ev, *pending)
	// run has stopped the stand-ins (its deferred Close); now the folder.
	if code := s.Close(); code != 0 {
		return code
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errFunction):
		return exitFunctionError
	default:
		fmt.Fprintln(os.Stderr, "invoke:", err)
		return exitStandIns
	}
}

// errFunction is what run returns when the function answered with an error
// (already printed).
var errFunction = errors.New("the function returned an error")

// errHeldBack is what the invoker answers for the createSecret invocation
// that RotateSecret makes in --pending mode.
var errHeldBack = errors.New("held back by invoke --pending: the event file is sent instead")

func run(ctx context.Context, out io.Writer, dir, path string, ev *event, pending bool) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	st, lines, err := localcmd.StartStack(ctx, out, dir, functionLine(out))
	if err != nil {
		return err
	}
	defer st.Close()

	// The secret a deployed stack holds once its credentials are in, here
	// for the sandbox.
	const clientID, clientSecret = "invoke-api-app", "invoke-client-secret"
	st.Sandbox.AddClient(clientID, clientSecret)
	value := fmt.Sprintf(`{"client_id":%q,"client_secret":%q,"token_url":%q,"api_url":%q}`,
		clientID, clientSecret, st.Sandbox.TokenURL(), st.Sandbox.APIURL())
	id, _ := ev.stringValue("SecretId")
	arn := st.Secrets.CreateSecret(secretName(id), value)

	var sent *event // the event as sent
	shown := ev.clone()
	var notes []string
	if pending {
		h, err := startRotation(ctx, st, arn)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "Local secret %s\n  holds the sandbox's client_id and client_secret. RotateSecret started a rotation: it turned rotation on,\n  created the pending version %s (AWSPENDING, no value yet) and a RotationToken;\n  the createSecret invocation that follows in AWS is held back.\n", arn, h.ClientRequestToken)
		notes = append(notes,
			fmt.Sprintf("SecretId %s -> the local secret's ARN", ev.str("SecretId")),
			fmt.Sprintf("ClientRequestToken %s -> %s, the pending version", ev.str("ClientRequestToken"), h.ClientRequestToken),
			fmt.Sprintf("RotationToken %s -> the one RotateSecret issued for it (not shown)", ev.str("RotationToken")))
		sent = ev.clone()
		sent.set("SecretId", arn)
		sent.set("ClientRequestToken", h.ClientRequestToken)
		sent.set("RotationToken", h.RotationToken)
		shown.set("SecretId", arn)
		shown.set("ClientRequestToken", h.ClientRequestToken)
		shown.set("RotationToken", "(issued by RotateSecret)")
	} else {
		if err := turnRotationOn(ctx, st, arn); err != nil {
			return err
		}
		fmt.Fprintf(out, "Local secret %s\n  holds the sandbox's client_id and client_secret, rotation on; no rotation is under way.\n", arn)
		sent = ev.clone()
		if ev.has("SecretId") {
			notes = append(notes, fmt.Sprintf("SecretId %s -> the local secret's ARN", ev.str("SecretId")))
			sent.set("SecretId", arn)
			shown.set("SecretId", arn)
		} else {
			notes = append(notes, "no SecretId in the event: sent without one")
		}
	}
	before := versions(st, arn)
	fmt.Fprintf(out, "  Versions:\n%s", before)

	body, err := json.Marshal(sent)
	if err != nil {
		return err
	}
	display, err := json.MarshalIndent(shown, "  ", "  ")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\nSending %s to the function:\n", path)
	for _, n := range notes {
		fmt.Fprintf(out, "  %s\n", n)
	}
	fmt.Fprintf(out, "  %s\n\nFunction log:\n", display)

	answer, err := st.Function.Invoke(ctx, body)
	if !lines.WaitReports(ctx, 1, reportWait) && ctx.Err() != nil {
		return ctx.Err()
	}
	var fe *lambdarie.FunctionError
	switch {
	case err == nil:
		fmt.Fprintf(out, "\nAnswer: success (%s)\n", answer)
	case errors.As(err, &fe):
		fmt.Fprintf(out, "\nAnswer: error\n  errorType:    %s\n  errorMessage: %s\n", fe.Type, fe.Message)
	case ctx.Err() != nil:
		return ctx.Err()
	default:
		return err
	}
	fmt.Fprintln(out)
	if after := versions(st, arn); after == before {
		fmt.Fprintln(out, "  Versions of the local secret afterwards: unchanged.")
	} else {
		fmt.Fprintf(out, "  Versions of the local secret afterwards:\n%s", after)
	}
	if err != nil {
		return errFunction
	}
	return ctx.Err()
}

// startRotation starts a rotation of the secret as Secrets Manager does
// (RotateSecret: rotation on, a pending version without a value, a
// RotationToken) and holds back the createSecret invocation that follows.
// It returns the event of that invocation.
func startRotation(ctx context.Context, st *localrun.Stack, arn string) (events.SecretsManagerSecretRotationEvent, error) {
	held := make(chan events.SecretsManagerSecretRotationEvent, 1)
	st.Secrets.SetInvoker(func(_ context.Context, e events.SecretsManagerSecretRotationEvent) error {
		select {
		case held <- e:
		default:
		}
		return errHeldBack
	})
	var h events.SecretsManagerSecretRotationEvent
	if _, err := st.Secrets.Client().RotateSecret(ctx, localrun.RotateSecretInput(arn)); err != nil {
		return h, fmt.Errorf("RotateSecret: %w", err)
	}
	if err := st.Secrets.Wait(ctx); err != nil {
		return h, err
	}
	select {
	case h = <-held:
		return h, nil
	default:
		return h, errors.New("RotateSecret invoked no step")
	}
}

// turnRotationOn turns rotation on for the secret as a deployed secret has
// it, through RotateSecret with RotateImmediately=false (the configuration
// test), which is answered without the function: nothing else changes.
func turnRotationOn(ctx context.Context, st *localrun.Stack, arn string) error {
	st.Secrets.SetInvoker(func(context.Context, events.SecretsManagerSecretRotationEvent) error { return nil })
	in := localrun.RotateSecretInput(arn)
	in.RotateImmediately = aws.Bool(false)
	if _, err := st.Secrets.Client().RotateSecret(ctx, in); err != nil {
		return fmt.Errorf("RotateSecret: %w", err)
	}
	return st.Secrets.Wait(ctx)
}

// functionLine returns a localcmd.Lines callback that prints, indented,
// what the function and the emulator log for the invocation (from the
// emulator's START line), as CloudWatch Logs shows it, without the
// emulator's own [INFO] lines.
func functionLine(out io.Writer) func(string) {
	started := false // Lines calls this one line at a time
	return func(line string) {
		if strings.HasPrefix(line, "START RequestId: ") {
			started = true
		}
		if started && !emulatorInfo.MatchString(line) {
			fmt.Fprintf(out, "  %s\n", line)
		}
	}
}

// emulatorInfo matches the emulator's own informational lines, e.g.
// "30 Nov 2026 15:21:18,131 [INFO] (rapid) INVOKE START(requestId: …)".
var emulatorInfo = regexp.MustCompile(`^\d+ \w+ \d+ [\d:,.]+ \[(INFO|DEBUG)\] \(rapid\) `)

// versions describes the secret's versions, their stages and whether they
// hold a value (never the value), one line each.
func versions(st *localrun.Stack, arn string) string {
	stages := st.Secrets.Stages(arn)
	ids := slices.Sorted(maps.Keys(stages))
	var b strings.Builder
	for _, id := range ids {
		v, ok := st.Secrets.Value(arn, id)
		has := "no value"
		if ok {
			has = "a value"
			var m map[string]any
			if json.Unmarshal([]byte(v), &m) == nil {
				if _, tok := m["access_token"]; tok {
					has = "a value with an access_token"
				}
			}
		}
		fmt.Fprintf(&b, "    %s  %-24s %s\n", id, strings.Join(stages[id], ","), has)
	}
	return b.String()
}

// secretName is the name for the local secret: the one the event's SecretId
// names (a name, or an ARN whose name ends in Secrets Manager's six-character
// suffix), else defaultSecretName.
func secretName(id string) string {
	name := id
	if strings.HasPrefix(id, "arn:") {
		parts := strings.SplitN(id, ":", 7) // arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-XXXXXX
		if len(parts) != 7 || parts[2] != "secretsmanager" || parts[5] != "secret" {
			return defaultSecretName
		}
		name = parts[6]
		if i := strings.LastIndexByte(name, '-'); i > 0 && len(name)-i == 7 {
			name = name[:i]
		}
	}
	if !validName.MatchString(name) {
		return defaultSecretName
	}
	return name
}

// validName is what Secrets Manager accepts as a secret name.
var validName = regexp.MustCompile(`^[A-Za-z0-9/_+=.@-]{1,512}$`)
