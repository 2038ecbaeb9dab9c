// Command demo runs one full rotation, then a second, on the local stand-ins:
// the real bootstrap under the AWS Lambda Runtime Interface Emulator, the
// Secrets Manager emulator (which invokes it for RotateSecret) and the
// Clickwrap sandbox. It prints each step and the final version stages, then
// what to do next. `make demo` runs it; it needs nothing but Go.
//
// Each rotation's stages table is printed only once the emulator's REPORT
// line of its last step has passed (see localcmd.Lines), so the step lines
// come before it however loaded the machine is. When the demo ends, and on
// Ctrl-C (SIGINT), SIGTERM, SIGHUP or a closed standard output
// (`make demo | head -3`), the emulator and the bootstrap are stopped and
// the working folder (the Go toolchain's temporary folders included) is
// removed before the process exits; after a signal or a closed output the
// exit status is 130, 143, 129 or 141.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/clickwrap-rotator/clickwrap-rotator/clickwrap"
	"github.com/clickwrap-rotator/clickwrap-rotator/internal/localcmd"
	"github.com/clickwrap-rotator/clickwrap-rotator/internal/localrun"
)

func main() {
	s, err := localcmd.Start("demo", "clickwrap-rotator-demo-*")
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo failed:", err)
		os.Exit(1)
	}
	err = run(s.Context(), s.Stdout, s.Dir)
	// run has stopped the stand-ins (its deferred Close); now the folder.
	if code := s.Close(); code != 0 {
		os.Exit(code)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo failed:", err)
		os.Exit(1)
	}
}

// reportWait bounds the wait for the emulator's REPORT line after an
// invocation; only a runtime that crashed gets none.
const reportWait = 10 * time.Second

func run(ctx context.Context, out io.Writer, dir string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	st, lines, err := localcmd.StartStack(ctx, out, dir, stepLine(out))
	if err != nil {
		return err
	}
	defer st.Close()
	fmt.Fprintf(out, "  Clickwrap sandbox        %s (its CA given to the function as SSL_CERT_FILE)\n", st.Sandbox.URL)
	fmt.Fprintf(out, "  Secrets Manager emulator %s (AWS_ENDPOINT_URL_SECRETS_MANAGER)\n", st.Secrets.URL())
	fmt.Fprintf(out, "  Lambda runtime emulator  %s\n\n", st.Function.InvokeURL())

	// Demo credentials for the sandbox only.
	const clientID, clientSecret = "demo-api-app", "demo-client-secret"
	st.Sandbox.AddClient(clientID, clientSecret)
	initial := fmt.Sprintf(`{"client_id":%q,"client_secret":%q,"token_url":%q,"api_url":%q,"owner":"platform-team"}`,
		clientID, clientSecret, st.Sandbox.TokenURL(), st.Sandbox.APIURL())
	arn := st.Secrets.CreateSecret("clickwrap/api-token", initial)
	fmt.Fprintf(out, "Created %s holding client_id and client_secret only.\n", arn)
	printStages(out, st, arn)

	sm := st.Secrets.Client()
	invocations := 0
	for i := 1; i <= 2; i++ {
		fmt.Fprintf(out, "\nRotation %d: RotateSecret (schedule rate(30 days), window 3h); the function logs one line per step:\n", i)
		rot, err := sm.RotateSecret(ctx, localrun.RotateSecretInput(arn))
		if err != nil {
			return err
		}
		if err := st.Secrets.Wait(ctx); err != nil {
			return err
		}
		rs := st.Secrets.Rotations(arn)
		last := rs[len(rs)-1]
		// Each step was one invocation; its lines are all printed once the
		// emulator's REPORT line for it has passed.
		invocations += len(last.Steps)
		if !lines.WaitReports(ctx, invocations, reportWait) {
			if err := ctx.Err(); err != nil {
				return err
			}
			invocations = lines.Reports()
		}
		if last.Err != nil {
			return fmt.Errorf("rotation of version %s failed: %w", aws.ToString(rot.VersionId), last.Err)
		}
		printStages(out, st, arn)
	}
	s := st.Sandbox.Stats()
	fmt.Fprintf(out, "\nClickwrap sandbox saw %d token requests, %d API requests and %d TLS handshake(s) for both rotations.\n",
		s.TokenRequests, s.APIRequests, s.Handshakes)
	fmt.Fprintln(out, "Demo finished: AWSCURRENT holds a token the sandbox accepts, AWSPREVIOUS the one before it.")
	fmt.Fprint(out, nextSteps)
	return ctx.Err()
}

// nextSteps is what the demo ends with: the README's Quickstart in brief.
const nextSteps = `
Next, on AWS (the README's Quickstart):
  1. sam build && sam deploy --guided
  2. put client_id and client_secret into the secret from a file, then turn rotation on
  3. make rotatorctl && bin/rotatorctl status clickwrap/api-token --verify
To see what a hand-made event gets from the function first: make invoke EVENT=events/createSecret.json
`

// printStages prints each version, its stages, and its token as a
// fingerprint with whether the sandbox accepts it: never the token itself.
func printStages(out io.Writer, st *localrun.Stack, arn string) {
	stages := st.Secrets.Stages(arn)
	ids := slices.Sorted(func(yield func(string) bool) {
		for id := range stages {
			if !yield(id) {
				return
			}
		}
	})
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  VERSION\tSTAGES\tACCESS TOKEN\tACCEPTED BY CLICKWRAP\tOTHER FIELDS KEPT")
	for _, id := range ids {
		value, _ := st.Secrets.Value(arn, id)
		var m map[string]any
		_ = json.Unmarshal([]byte(value), &m)
		tok, _ := m["access_token"].(string)
		fp, accepted := "absent", "-"
		if tok != "" {
			fp = "sha256:" + clickwrap.Fingerprint(tok)
			accepted = fmt.Sprint(st.Sandbox.Valid(tok))
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%v\n", id, strings.Join(stages[id], ","), fp, accepted, m["owner"] == "platform-team")
	}
	tw.Flush()
}

// stepLine returns a localcmd.Lines callback that prints only the
// function's JSON log lines about steps, shortened to what a person reads.
func stepLine(out io.Writer) func(string) {
	return func(line string) {
		i := strings.IndexByte(line, '{')
		if i < 0 || !strings.Contains(line, `"step"`) {
			return
		}
		var rec map[string]any
		if json.Unmarshal([]byte(line[i:]), &rec) != nil {
			return
		}
		detail := rec["outcome"]
		if detail == nil {
			detail = rec["error"]
		}
		fmt.Fprintf(out, "  %-13v %-6v %4vms  %v\n", rec["step"], strings.ToLower(fmt.Sprint(rec["level"])), rec["duration_ms"], detail)
	}
}
