// Command rotatorctl answers "is my Clickwrap token healthy, and if not, why
// and what do I do", and makes the fix safely. It works on the secret that
// the rotation function (cmd/rotator) rotates, through Secrets Manager and the
// Clickwrap Bearer check, with the default AWS credential chain and region
// (AWS_ENDPOINT_URL_SECRETS_MANAGER is honoured).
//
//	rotatorctl status SECRET [--verify] [--json]
//	rotatorctl rotate SECRET [--wait] [--timeout D]
//	rotatorctl verify SECRET [--stage S]
//	rotatorctl unstick SECRET [--yes]
//	rotatorctl --version
//
// It is its own command so that the Lambda artifact keeps its size. The
// logic is in internal/operator; this file is wiring.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"golang.org/x/term"

	"github.com/clickwrap-rotator/clickwrap-rotator/clickwrap"
	"github.com/clickwrap-rotator/clickwrap-rotator/internal/operator"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, defaultDeps())
	stop()
	os.Exit(code)
}

// deps is what run needs from the outside world; tests replace it.
type deps struct {
	// operator builds the Operator; it is called only once the command line
	// is known to be valid, so that --help and usage errors need no AWS
	// configuration.
	operator func(ctx context.Context) (*operator.Operator, error)
	// terminal reports whether w is a terminal (for the live progress line).
	terminal func(w io.Writer) bool
	// buildInfo is debug.ReadBuildInfo (nil: that), for --version.
	buildInfo func() (*debug.BuildInfo, bool)
}

func defaultDeps() deps {
	return deps{operator: newOperator, terminal: isTerminal, buildInfo: debug.ReadBuildInfo}
}

// newOperator loads the AWS configuration from the default chain and builds
// the real clients. It finds the credentials before any call, so that their
// absence is told as such, with the region and endpoint. The Clickwrap
// client verifies certificates against the system roots (SSL_CERT_FILE adds
// a private CA).
func newOperator(ctx context.Context) (*operator.Operator, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, &operator.HintedError{
			Err: fmt.Errorf("loading the AWS configuration: %w", err),
			Hint: "Check AWS_PROFILE (the profile must exist in ~/.aws/config or ~/.aws/credentials), " +
				"AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE.",
		}
	}
	if cfg.Region == "" {
		return nil, fmt.Errorf("no AWS region: set AWS_REGION, or AWS_PROFILE to a profile with a region")
	}
	conn := connection(cfg)
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &operator.HintedError{Err: fmt.Errorf("no AWS credentials: %w", err), Hint: conn.CredentialsHint()}
	}
	cw := clickwrap.NewClient(nil)
	cw.UserAgent = "rotatorctl"
	return &operator.Operator{Secrets: secretsmanager.NewFromConfig(cfg), Clickwrap: cw, Conn: conn}, nil
}

// connection says where the Secrets Manager calls go: the region, and the
// endpoint when one is configured (AWS_ENDPOINT_URL_SECRETS_MANAGER, or the
// global AWS_ENDPOINT_URL or a profile's endpoint_url), as the SDK chooses
// it, unless AWS_IGNORE_CONFIGURED_ENDPOINT_URLS is set.
func connection(cfg aws.Config) operator.Connection {
	c := operator.Connection{Region: cfg.Region}
	if v, _ := strconv.ParseBool(os.Getenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")); v {
		return c
	}
	switch {
	case os.Getenv("AWS_ENDPOINT_URL_SECRETS_MANAGER") != "":
		c.Endpoint, c.EndpointSource = os.Getenv("AWS_ENDPOINT_URL_SECRETS_MANAGER"), "AWS_ENDPOINT_URL_SECRETS_MANAGER"
	case os.Getenv("AWS_ENDPOINT_URL") != "":
		c.Endpoint, c.EndpointSource = os.Getenv("AWS_ENDPOINT_URL"), "AWS_ENDPOINT_URL"
	case cfg.BaseEndpoint != nil:
		c.Endpoint, c.EndpointSource = *cfg.BaseEndpoint, "the profile's endpoint_url"
	}
	return c
}

// isTerminal reports whether w is a terminal, one that can redraw a line:
// not a file, a pipe or /dev/null (a character device, but no terminal), nor
// a terminal with TERM=dumb.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("TERM") == "dumb" {
		return false
	}
	return term.IsTerminal(int(f.Fd()))
}
