// Package localrun starts the whole rotator locally on its stand-ins: the real
// bootstrap binary under the AWS Lambda Runtime Interface Emulator, the
// Secrets Manager emulator (which invokes that function for RotateSecret, as
// the service does), and the Clickwrap sandbox, trusted by the function
// through SSL_CERT_FILE. The end-to-end tests, the benchmarks and `make demo`
// use it. None of it is linked into the Lambda binary.
package localrun

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/clickwrap-rotator/clickwrap-rotator/clickwrap/clickwraptest"
	"github.com/clickwrap-rotator/clickwrap-rotator/internal/lambdarie"
	"github.com/clickwrap-rotator/clickwrap-rotator/internal/secretsmanagertest"
	"github.com/clickwrap-rotator/clickwrap-rotator/internal/syncbuf"
	"github.com/clickwrap-rotator/clickwrap-rotator/rotation"
)

// RotatorPackage is the main package of the Lambda function.
const RotatorPackage = "./cmd/rotator"

// LambdaARN is the function ARN the demo and tests configure rotation with.
const LambdaARN = "arn:aws:lambda:us-east-1:123456789012:function:clickwrap-rotator"

// RotateSecretInput is the RotateSecret call the demo, the benchmarks, the
// fault matrix and the end-to-end tests make: it turns rotation on for
// secretID (the function LambdaARN, rate(30 days), a 3-hour window) and
// starts one.
func RotateSecretInput(secretID string) *secretsmanager.RotateSecretInput {
	return &secretsmanager.RotateSecretInput{
		SecretId:          aws.String(secretID),
		RotationLambdaARN: aws.String(LambdaARN),
		RotationRules:     &types.RotationRulesType{ScheduleExpression: aws.String("rate(30 days)"), Duration: aws.String("3h")},
	}
}

// Options configure Start.
type Options struct {
	// Dir holds the CA file (and the bootstrap when it is built here).
	Dir string
	// Bootstrap is a bootstrap already built with lambdarie.Build; empty
	// means build it into Dir.
	Bootstrap string
	// Output receives everything the emulator and the function print, as
	// well as being kept in Stack.Logs.
	Output io.Writer
	// Timeout is the function timeout (default 30 s).
	Timeout time.Duration
	// Env is extra environment for the function.
	Env []string
}

// Stack is a running local deployment.
type Stack struct {
	Sandbox  *clickwraptest.Server
	Secrets  *secretsmanagertest.Server
	Function *lambdarie.Function
	// CAFile is the sandbox CA, as given to the function in SSL_CERT_FILE.
	CAFile string
	logs   *syncbuf.Buffer
}

// Start builds (when needed) and starts everything. Close stops it.
func Start(ctx context.Context, opts Options) (_ *Stack, err error) {
	if opts.Dir == "" {
		return nil, fmt.Errorf("localrun: Options.Dir is required")
	}
	s := &Stack{logs: &syncbuf.Buffer{}}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	bootstrap := opts.Bootstrap
	if bootstrap == "" {
		if bootstrap, err = lambdarie.Build(ctx, RotatorPackage, opts.Dir); err != nil {
			return nil, err
		}
	}
	s.Sandbox = clickwraptest.NewServer()
	if s.CAFile, err = s.Sandbox.WriteCAFile(opts.Dir); err != nil {
		return nil, err
	}
	s.Secrets = secretsmanagertest.New(secretsmanagertest.Options{})
	out := io.Writer(s.logs)
	if opts.Output != nil {
		out = io.MultiWriter(s.logs, opts.Output)
	}
	env := append([]string{
		"AWS_ENDPOINT_URL_SECRETS_MANAGER=" + s.Secrets.URL(),
		"SSL_CERT_FILE=" + s.CAFile,
		"AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=AKIDLOCALRUN",
		"AWS_SECRET_ACCESS_KEY=local-run-not-a-secret",
		"AWS_CONFIG_FILE=" + os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE=" + os.DevNull,
		"AWS_EC2_METADATA_DISABLED=true",
	}, opts.Env...)
	s.Function, err = lambdarie.Start(ctx, lambdarie.Config{
		Bootstrap: bootstrap,
		Env:       env,
		Timeout:   opts.Timeout,
		Output:    out,
	})
	if err != nil {
		return nil, err
	}
	s.Secrets.SetInvoker(s.Invoke)
	return s, nil
}

// Invoke sends one rotation step to the function through the runtime
// emulator, as Secrets Manager does.
func (s *Stack) Invoke(ctx context.Context, ev rotation.Event) error {
	payload, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	_, err = s.Function.Invoke(ctx, payload)
	return err
}

// Logs returns everything the emulator and the function printed so far.
func (s *Stack) Logs() string { return s.logs.String() }

// Close stops the function, the emulator and the sandbox.
func (s *Stack) Close() {
	if s.Function != nil {
		s.Function.Close()
	}
	if s.Secrets != nil {
		s.Secrets.Close()
	}
	if s.Sandbox != nil {
		s.Sandbox.Close()
	}
}

// BuildOnce builds the bootstrap into dir the first time it is called and
// returns the same path afterwards: tests in one package share one build.
func BuildOnce(ctx context.Context, dir string) (string, error) {
	buildOnce.Do(func() {
		builtPath, buildErr = lambdarie.Build(ctx, RotatorPackage, dir)
	})
	return builtPath, buildErr
}

var (
	buildOnce sync.Once
	builtPath string
	buildErr  error
)

// TempDir makes a directory for a Stack outside any test's own temp dir, for
// BuildOnce, whose result outlives single tests.
func TempDir() (string, error) {
	return os.MkdirTemp("", "clickwrap-rotator-*")
}
