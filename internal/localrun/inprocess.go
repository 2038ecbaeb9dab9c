package localrun

import (
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"testing"

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
}

// InProcessOptions configure NewInProcess. The zero value works.
type InProcessOptions struct {
	// ClientID and ClientSecret are the API client's (defaults given).
	ClientID, ClientSecret string
	// SecretName defaults to clickwrap/api-token.
	SecretName string
	// Fields are added to (or, with a nil value, removed from) the secret.
	Fields map[string]any
	// Sync makes RotateSecret return after the rotation (the emulator's
	// Options.Sync).
	Sync bool
	// Retry replaces the Clickwrap client's retry policy.
	Retry *clickwrap.RetryPolicy
	// Logger is the rotator's; nil discards its lines.
	Logger *slog.Logger
}

// NewInProcess starts the parts and stops them when tb ends. The emulator
// invokes Rotator.Handle; a test that needs a hook sets its own invoker.
func NewInProcess(tb testing.TB, o InProcessOptions) *InProcess {
	tb.Helper()
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
	tb.Cleanup(p.Sandbox.Close)
	p.Sandbox.AddClient(o.ClientID, o.ClientSecret)
	p.Secrets = secretsmanagertest.New(secretsmanagertest.Options{Sync: o.Sync})
	tb.Cleanup(p.Secrets.Close)
	p.Clickwrap = clickwrap.NewClient(p.Sandbox.Client())
	if o.Retry != nil {
		p.Clickwrap.Retry = *o.Retry
	}
	p.Rotator = rotation.New(p.Secrets.Client(), p.Clickwrap, o.Logger)
	p.Secrets.SetInvoker(p.Rotator.Handle)
	p.ARN = p.Secrets.CreateSecret(o.SecretName, p.SecretJSON(tb, o.ClientID, o.ClientSecret, o.Fields))
	return p
}

// SecretJSON is a SecretString with the given credentials, the sandbox's
// endpoints, and fields added (or, with a nil value, removed).
func (p *InProcess) SecretJSON(tb testing.TB, clientID, clientSecret string, fields map[string]any) string {
	tb.Helper()
	m := map[string]any{
		"client_id":     clientID,
		"client_secret": clientSecret,
		"token_url":     p.Sandbox.TokenURL(),
		"api_url":       p.Sandbox.APIURL(),
	}
	maps.Copy(m, fields)
	maps.DeleteFunc(m, func(_ string, v any) bool { return v == nil })
	b, err := json.Marshal(m)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}
