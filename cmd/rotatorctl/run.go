package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"strings"

	"github.com/spf13/pflag"

	"github.com/clickwrap-rotator/clickwrap-rotator/internal/operator"
)

const program = "rotatorctl"

// Exit codes. They are documented in the usage text and docs/operating.md ("Exit codes").
const (
	exitOK          = 0   // healthy, rotation in progress, or the command did what was asked
	exitUnhealthy   = 1   // a problem to fix; verify: the token was not accepted
	exitUsage       = 2   // bad command line
	exitStuck       = 3   // stuck rotation; rotate: the rotation failed or did not finish in time
	exitError       = 4   // could not check: an AWS or Clickwrap call failed
	exitRefused     = 5   // refused or not confirmed: nothing was changed
	exitInterrupted = 130 // interrupted (Ctrl-C)
)

const exitCodesHelp = `Exit codes:
  0    healthy, or a rotation is in progress; the command did what was asked
  1    unhealthy: a problem to fix (secret empty or malformed, rotation not
       enabled, credentials secret unusable, token rejected, expired or
       missing, token expires before the next rotation); verify: Clickwrap
       did not accept the token
  2    usage error
  3    stuck: AWSPENDING is left on a version that is not AWSCURRENT;
       rotate: the rotation failed or did not finish in time
  4    could not check: an AWS or Clickwrap call failed (secret not found,
       access denied, no AWS credentials, network, HTTP 5xx)
  5    refused, nothing changed: unstick found nothing stuck or was not
       confirmed; rotate found a rotation already running
  130  interrupted
`

// Each command's exit codes, for its help.
const (
	statusExits = `Exit codes:
  0    healthy, or a rotation is in progress
  1    unhealthy: a problem to fix (secret empty or malformed, rotation not
       enabled, credentials secret unusable, token rejected, expired or
       missing, token expires before the next rotation)
  2    usage error
  3    stuck: AWSPENDING is left on a version that is not AWSCURRENT
  4    could not check: an AWS or Clickwrap call failed (secret not found,
       access denied, no AWS credentials, network, HTTP 5xx)
  130  interrupted
`
	rotateExits = `Exit codes:
  0    the rotation started; with --wait, it finished
  1    refused, nothing changed: rotation not enabled, the secret empty or
       malformed, or its credentials secret unusable
  2    usage error
  3    refused, nothing changed: a rotation is stuck; with --wait: the
       rotation failed, or did not finish by --timeout
  4    an AWS call failed (secret not found, access denied, no AWS
       credentials, network); if RotateSecret itself failed, the message
       says whether it left AWSPENDING behind
  5    refused, nothing changed: a rotation is already running
  130  interrupted (the rotation goes on in Secrets Manager)
`
	verifyExits = `Exit codes:
  0    Clickwrap accepted the token
  1    Clickwrap rejected it (HTTP 401/403), or there is no token to check
  2    usage error
  4    could not check: an AWS or Clickwrap call failed (secret not found,
       access denied, no AWS credentials, network, HTTP 5xx)
  130  interrupted
`
	unstickExits = `Exit codes:
  0    AWSPENDING removed
  2    usage error
  4    an AWS call failed (secret not found, access denied, no AWS
       credentials, network)
  5    refused, nothing changed: nothing is stuck, AWSPENDING is on the
       AWSCURRENT version, the rotation may still be running, or the
       change was not confirmed
  130  interrupted
`
)

const mainHelp = `rotatorctl checks and operates the rotation of an Ironclad Clickwrap API
access token kept in AWS Secrets Manager by the clickwrap-rotator Lambda.

Usage:
  rotatorctl status  SECRET [--verify] [--json] [--stuck-after D]
  rotatorctl rotate  SECRET [--wait] [--timeout D] [--interval D]
  rotatorctl verify  SECRET [--stage S]
  rotatorctl unstick SECRET [--yes] [--stuck-after D]
  rotatorctl help [COMMAND]
  rotatorctl --version

Commands:
  status   rotation configuration, versions and stages, the token's expiry,
           and a plain-words diagnosis with the exact fix
  rotate   start a rotation now (rotation must already be configured);
           --wait follows it until it finishes or fails
  verify   the Bearer check alone: does Clickwrap accept the token?
  unstick  remove AWSPENDING from a version a failed rotation left it on,
           after showing the change and asking for confirmation

SECRET is the secret's name or ARN. AWS credentials and region come from the
default chain (AWS_PROFILE, AWS_REGION, environment, SSO, instance roles);
AWS_ENDPOINT_URL_SECRETS_MANAGER overrides the Secrets Manager endpoint.
No secret value is ever printed: fields show as present or absent, a token
at most as its fingerprint (the first 8 hex digits of its SHA-256), and
API applications by their client_id, which is not a secret.

Run 'rotatorctl COMMAND --help' for a command's flags and exit codes.

` + exitCodesHelp

// command is one subcommand.
type command struct {
	name, synopsis, help string
	exits                string // its exit codes, for its help
	flags                func(fs *pflag.FlagSet) func(ctx context.Context, c *cli, secret string) int
}

var commands = []command{statusCommand, rotateCommand, verifyCommand, unstickCommand}

// cli is one invocation's input, output and dependencies.
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	deps           deps
	op             *operator.Operator
	secret         string // as the operator typed it
}

// run is rotatorctl: it parses args (without the program name), runs the
// command and returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, d deps) int {
	if len(args) == 0 {
		fmt.Fprintf(stderr, "%s: no command given\n\n%s", program, mainHelp)
		return exitUsage
	}
	name := args[0]
	switch name {
	case "-h", "-help", "--help":
		fmt.Fprint(stdout, mainHelp)
		return exitOK
	case "--version", "-version", "version":
		fmt.Fprintln(stdout, versionLine(d.buildInfo))
		return exitOK
	case "help":
		if len(args) == 1 {
			fmt.Fprint(stdout, mainHelp)
			return exitOK
		}
		if cmd, ok := findCommand(args[1]); ok {
			writeCommandHelp(stdout, cmd)
			return exitOK
		}
		fmt.Fprintf(stderr, "%s: unknown command %q\nRun '%s --help' for the commands.\n", program, args[1], program)
		return exitUsage
	}
	cmd, ok := findCommand(name)
	if !ok {
		fmt.Fprintf(stderr, "%s: unknown command %q\nRun '%s --help' for the commands.\n", program, name, program)
		return exitUsage
	}
	// Flags go before or after SECRET; "--" ends them.
	fs := pflag.NewFlagSet(program+" "+cmd.name, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	action := cmd.flags(fs)
	err := fs.Parse(args[1:])
	positional := fs.Args()
	switch {
	case errors.Is(err, pflag.ErrHelp):
		writeCommandHelp(stdout, cmd)
		return exitOK
	case err != nil:
		return usageError(stderr, cmd, flagProblem(fs, err))
	case len(positional) == 0:
		return usageError(stderr, cmd, "no SECRET given")
	case len(positional) > 1:
		return usageError(stderr, cmd, fmt.Sprintf("one SECRET expected, got %d arguments: %s", len(positional), strings.Join(positional, " ")))
	case strings.TrimSpace(positional[0]) == "":
		return usageError(stderr, cmd, "SECRET is empty")
	}
	c := &cli{stdin: stdin, stdout: stdout, stderr: stderr, deps: d, secret: positional[0]}
	if code, ok := c.checkFlags(fs, cmd); !ok {
		return code
	}
	op, err := d.operator(ctx)
	if err != nil {
		return c.failed(ctx, err)
	}
	c.op = op
	return action(ctx, c, positional[0])
}

func findCommand(name string) (command, bool) {
	for _, c := range commands {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// flagProblem says what is wrong with the flags in the words rotatorctl has
// always used (those of the standard flag package), and points out a long
// flag given with one dash.
func flagProblem(fs *pflag.FlagSet, err error) string {
	var (
		unknown *pflag.NotExistError
		noValue *pflag.ValueRequiredError
		invalid *pflag.InvalidValueError
	)
	switch {
	case errors.As(err, &unknown):
		given := unknown.GetSpecifiedName()
		if group := unknown.GetSpecifiedShortnames(); group != "" {
			given = group // -verify, not -v
			if long, _, _ := strings.Cut(group, "="); len(long) > 1 && fs.Lookup(long) != nil {
				return fmt.Sprintf("flag provided but not defined: -%s (flags take two dashes: --%s)", group, long)
			}
		}
		return "flag provided but not defined: -" + given
	case errors.As(err, &noValue):
		return "flag needs an argument: -" + noValue.GetSpecifiedName()
	case errors.As(err, &invalid) && invalid.GetFlag().Value.Type() == "bool":
		return fmt.Sprintf("invalid boolean value %q for -%s: parse error", invalid.GetValue(), invalid.GetFlag().Name)
	case errors.As(err, &invalid) && invalid.GetFlag().Value.Type() == "duration":
		return fmt.Sprintf("invalid value %q for flag -%s: a duration is a number with a unit, e.g. 15m, 90s or 1h30m",
			invalid.GetValue(), invalid.GetFlag().Name)
	case errors.As(err, &invalid):
		return fmt.Sprintf("invalid value %q for flag -%s: parse error", invalid.GetValue(), invalid.GetFlag().Name)
	}
	return err.Error()
}

// checkFlags applies the rules flag parsing does not: no negative duration,
// no empty string, and rotate's wait flags only with --wait.
func (c *cli) checkFlags(fs *pflag.FlagSet, cmd command) (int, bool) {
	var problem string
	fs.VisitAll(func(f *pflag.Flag) {
		if problem != "" {
			return
		}
		switch f.Value.Type() {
		case "duration":
			if d, err := fs.GetDuration(f.Name); err == nil && d < 0 {
				problem = fmt.Sprintf("--%s must not be negative", f.Name)
			}
		case "string":
			if strings.TrimSpace(f.Value.String()) == "" {
				problem = fmt.Sprintf("--%s must not be empty", f.Name)
			}
		}
	})
	if cmd.name == "rotate" && !fs.Changed("wait") {
		for _, name := range []string{"timeout", "interval"} {
			if fs.Changed(name) && problem == "" {
				problem = fmt.Sprintf("--%s needs --wait", name)
			}
		}
	}
	if problem != "" {
		return usageError(c.stderr, cmd, problem), false
	}
	return 0, true
}

func usageError(w io.Writer, cmd command, problem string) int {
	fmt.Fprintf(w, "%s %s: %s\nUsage: %s\nRun '%s %s --help' for details.\n", program, cmd.name, problem, cmd.synopsis, program, cmd.name)
	return exitUsage
}

func writeCommandHelp(w io.Writer, cmd command) {
	fmt.Fprintf(w, "Usage: %s\n\n%s\n", cmd.synopsis, cmd.help)
	fs := pflag.NewFlagSet(cmd.name, pflag.ContinueOnError)
	cmd.flags(fs)
	fmt.Fprintln(w, "Flags:")
	fs.VisitAll(func(f *pflag.Flag) {
		name, usage := pflag.UnquoteUsage(f)
		line := "  --" + f.Name
		if name != "" {
			line += " " + name
		}
		fmt.Fprintf(w, "%s\n        %s", line, usage)
		if f.DefValue != "" && f.DefValue != "false" {
			fmt.Fprintf(w, " (default %s)", f.DefValue)
		}
		fmt.Fprintln(w)
	})
	fmt.Fprintf(w, "  --help\n        show this help\n\n%s", cmd.exits)
}

// versionLine is what --version prints: the module version the command was
// built at, or, built from a work tree, "(devel)" and what that means.
func versionLine(info func() (*debug.BuildInfo, bool)) string {
	if info == nil {
		info = debug.ReadBuildInfo
	}
	bi, ok := info()
	if !ok {
		return program + " (version unknown: built without module information)"
	}
	v := bi.Main.Version
	if v != "" && v != "(devel)" {
		return fmt.Sprintf("%s %s (%s)", program, v, bi.GoVersion)
	}
	line := fmt.Sprintf("%s (devel) (%s): built from a work tree, so it has no module version", program, bi.GoVersion)
	var rev string
	var modified bool
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if rev != "" {
		line += "; commit " + rev[:min(len(rev), 12)]
		if modified {
			line += ", with uncommitted changes"
		}
	}
	return line
}

// exitFor is the exit code of a diagnosis.
func exitFor(d operator.Diagnosis) int {
	switch d.State {
	case operator.StateHealthy, operator.StateInProgress:
		return exitOK
	case operator.StateStuck:
		return exitStuck
	case operator.StateCheckFailed:
		return exitError
	default:
		return exitUnhealthy
	}
}

// failed reports an error from Secrets Manager or Clickwrap, or the
// interruption, and returns its exit code.
func (c *cli) failed(ctx context.Context, err error) int {
	if ctx.Err() != nil {
		fmt.Fprintf(c.stderr, "%s: interrupted\n", program)
		return exitInterrupted
	}
	fmt.Fprintf(c.stderr, "%s: %v\n", program, err)
	if h := operator.HintOf(err); h != "" {
		writeWrapped(c.stderr, "  ", h)
	}
	return exitError
}
