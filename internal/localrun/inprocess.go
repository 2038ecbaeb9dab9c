package localrun

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/clickwrap-rotator/clickwrap-rotator/clickwrap"
	"github.com/clickwrap-rotator/clickwrap-rotator/clickwrap/clickwraptest"
	"github.com/clickwrap-rotator/clickwrap-rotator/internal/secretsmanagertest"
	"github.com/clickwrap-rotator/clickwrap-rotator/rotation"
)

// InProcess is the rotator wired in one process, for tests and benchmarks
// that need no Lambda runtime: the Clickwrap sandbox with one API client,
// the Secrets Manager emulator invoking the rotation handler directly, and
// a secret holding that client's credentials and the sandbox's endpoints.
type InProcess struct {
	Sandbox   *clickwraptest.Server
	Secrets   *secretsmanagertest.Server
	Clickwrap *clickwrap.Client
	Rotator   *rotation.Rotator
	// ARN is the secret's.
	ARN string

	tokenURL string // the sandbox's, as the secret holds it
}

// InProcessOptions configure NewInProcess. The zero value works.
type InProcessOptions struct {
	// ClientID and ClientSecret are the API client's (defaults given).
	ClientID, ClientSecret string
	// SecretName defaults to clickwrap/api-token.
	SecretName string
	// Fields are added to (or, with a nil value, removed from) the secret.
	Fields map[string]any
	// TokenURLQuery, when set, is the query of the secret's token_url (a
	// URL that reports must show without it).
	TokenURLQuery string
	// Sync makes RotateSecret return after the rotation (the emulator's
	// Options.Sync).
	Sync bool
	// Retry replaces the Clickwrap client's retry policy.
	Retry *clickwrap.RetryPolicy
	// Logger is the rotator's; nil discards its lines.
	Logger *slog.Logger
}

// NewInProcess starts the parts, as httptest.NewServer starts a server;
// Close stops them. The emulator invokes Rotator.Handle; a test that needs a
// hook sets its own invoker.
func NewInProcess(o InProcessOptions) (*InProcess, error) {
	if o.ClientID == "" {
		o.ClientID = "api-app-1"
	}
	if o.ClientSecret == "" {
		o.ClientSecret = "client-secret-7f3a9c1e5b"
	}
	if o.SecretName == "" {
		o.SecretName = "clickwrap/api-token"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
	}
	p := &InProcess{}
	p.Sandbox = clickwraptest.NewServer()
	p.Sandbox.AddClient(o.ClientID, o.ClientSecret)
	p.tokenURL = p.Sandbox.TokenURL()
	if o.TokenURLQuery != "" {
		p.tokenURL += "?" + o.TokenURLQuery
	}
	p.Secrets = secretsmanagertest.New(secretsmanagertest.Options{Sync: o.Sync})
	p.Clickwrap = clickwrap.NewClient(p.Sandbox.Client())
	p.Clickwrap.Secrets = p.Secrets.Client() // for token secrets that name a credentials_secret
	if o.Retry != nil {
		p.Clickwrap.Retry = *o.Retry
	}
	p.Rotator = rotation.New(p.Secrets.Client(), p.Clickwrap, o.Logger)
	p.Secrets.SetInvoker(p.Rotator.Handle)
	secret, err := p.SecretJSON(o.ClientID, o.ClientSecret, o.Fields)
	if err != nil {
		p.Close()
		return nil, err
	}
	p.ARN = p.Secrets.CreateSecret(o.SecretName, secret)
	return p, nil
}

// Close stops the emulator and the sandbox.
func (p *InProcess) Close() {
	p.Secrets.Close()
	p.Sandbox.Close()
}

// SecretJSON is a SecretString with the given credentials, the sandbox's
// endpoints, and fields added (or, with a nil value, removed).
func (p *InProcess) SecretJSON(clientID, clientSecret string, fields map[string]any) (string, error) {
	m := map[string]any{
		"client_id":     clientID,
		"client_secret": clientSecret,
		"token_url":     p.tokenURL,
		"api_url":       p.Sandbox.APIURL(),
	}
	maps.Copy(m, fields)
	maps.DeleteFunc(m, func(_ string, v any) bool { return v == nil })
	b, err := json.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("localrun: the secret's fields: %w", err)
	}
	return string(b), nil
}

// RotateSecret starts a rotation of the secret, turning rotation on (the
// function LambdaARN, every 30 days) as the tests configure it, and returns
// the pending version's id. Without Sync the rotation goes on after it
// returns: Secrets.Wait waits for it, LastRotation tells how it ended.
func (p *InProcess) RotateSecret(ctx context.Context) (string, error) {
	out, err := p.Secrets.Client().RotateSecret(ctx, &secretsmanager.RotateSecretInput{
		SecretId:          aws.String(p.ARN),
		RotationLambdaARN: aws.String(LambdaARN),
		RotationRules:     &types.RotationRulesType{AutomaticallyAfterDays: aws.Int64(30)},
	})
	if err != nil {
		return "", err
	}
	return aws.ToString(out.VersionId), nil
}

// LastRotation is the emulator's record of the secret's latest rotation
// (the zero Rotation before the first).
func (p *InProcess) LastRotation() secretsmanagertest.Rotation {
	rs := p.Secrets.Rotations(p.ARN)
	if len(rs) == 0 {
		return secretsmanagertest.Rotation{}
	}
	return rs[len(rs)-1]
}
