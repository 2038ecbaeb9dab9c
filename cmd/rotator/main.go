// Command rotator is the AWS Lambda function that Secrets Manager invokes to
// rotate a Clickwrap API access token. It only wires the pieces together:
// the AWS configuration from the default chain (AWS_ENDPOINT_URL_SECRETS_MANAGER
// is honoured, as the SDK supports), one Secrets Manager client and one
// Clickwrap client per container (which reads a credentials secret, when the
// token secret names one, with that Secrets Manager client), and the
// rotation handler.
//
// Build it as Lambda runs it (see the Makefile):
//
//	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 go build -tags lambda.norpc -trimpath -o bootstrap ./cmd/rotator
package main

import (
	"context"
	"log/slog"
	"os"
	"strings"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/clickwrap-rotator/clickwrap-rotator/clickwrap"
	"github.com/clickwrap-rotator/clickwrap-rotator/rotation"
)

func main() {
	logger := newLogger(os.Getenv)
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		logger.Error("loading the AWS configuration failed", "error", err.Error())
		os.Exit(1)
	}
	sm := secretsmanager.NewFromConfig(cfg)
	cw := clickwrap.NewClient(nil)
	cw.Secrets = sm // reads the credentials secret of a token secret in the split form
	rotator := rotation.New(sm, cw, logger)
	lambda.Start(rotator.Handle)
}

// The Clickwrap client is the rotation's CredentialService; a
// SourceMatcher, so that a stale pending version is told apart in any
// container; and a ConfigurationChecker, so that the configuration test
// checks the credentials secret.
var (
	_ rotation.CredentialService    = (*clickwrap.Client)(nil)
	_ rotation.SourceMatcher        = (*clickwrap.Client)(nil)
	_ rotation.ConfigurationChecker = (*clickwrap.Client)(nil)
)

// newLogger logs JSON lines on stdout, the format Lambda's JSON log setting
// expects, at the level of AWS_LAMBDA_LOG_LEVEL (set by the function's
// LoggingConfig) or LOG_LEVEL, default INFO.
func newLogger(getenv func(string) string) *slog.Logger {
	var level slog.Level
	for _, name := range []string{"AWS_LAMBDA_LOG_LEVEL", "LOG_LEVEL"} {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			if err := level.UnmarshalText([]byte(v)); err == nil {
				break
			}
		}
	}
	return slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{
		Level:       level,
		ReplaceAttr: lambdacontext.ReplaceAttr,
	}))
}
