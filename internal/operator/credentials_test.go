package operator_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"

	"github.com/clickwrap-rotator/clickwrap-rotator/internal/operator"
	"github.com/clickwrap-rotator/clickwrap-rotator/internal/secretsmanagertest"
)

const (
	secondClientID     = "op-app-2"
	secondClientSecret = "op-second-client-secret-8d17"
)

// split puts the token secret in the split form: a credentials secret
// holding both applications (known to the sandbox), and a token secret that
// names it by ARN and holds no client credentials. It returns the ARN.
func (e *env) split() string {
	e.t.Helper()
	e.Sandbox.AddClient(secondClientID, secondClientSecret)
	b, err := json.Marshal(map[string]any{"token_url": e.Sandbox.TokenURL(), "applications": []map[string]string{
		{"client_id": clientID, "client_secret": clientSecret},
		{"client_id": secondClientID, "client_secret": secondClientSecret},
	}})
	if err != nil {
		e.t.Fatal(err)
	}
	creds := e.Secrets.CreateSecret("op-credentials/applications", string(b))
	// The token secret names the credentials secret and leaves the token
	// endpoint to it (the split form sends the client secrets only there).
	v, err := e.SecretJSON("", "", map[string]any{"client_id": nil, "client_secret": nil, "credentials_secret": creds, "token_url": nil})
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.Secrets.Client().PutSecretValue(context.Background(), &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(e.ARN), SecretString: aws.String(v),
	}); err != nil {
		e.t.Fatal(err)
	}
	return creds
}

// TestInspectCredentials: Inspect reports where the client credentials are
// kept; in the split form it checks the credentials secret with one
// GetSecretValue, and reports it unusable, naming it, when it cannot be
// read. It never mints.
func TestInspectCredentials(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("inline", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.rotate()
		e.Secrets.ResetCalls()
		r, err := e.op.Inspect(ctx, e.ARN, operator.InspectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		c := r.Credentials
		if c == nil || c.Form != operator.FormInline || c.ClientID != clientID || c.NextClientID != clientID || !c.ClientSecretInTokenSecret ||
			!strings.Contains(c.Warning, "can also mint") || c.Secret != "" || c.Value != "" {
			t.Errorf("credentials = %+v", c)
		}
		if n := e.Secrets.Calls()["GetSecretValue"]; n != 1 {
			t.Errorf("GetSecretValue calls = %d, want 1", n)
		}
	})
	t.Run("split", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		creds := e.split()
		e.rotate()
		e.Secrets.ResetCalls()
		e.Sandbox.ResetStats()
		var (
			mu    sync.Mutex
			reads []string
		)
		remove := e.Secrets.OnCall("GetSecretValue", func(c secretsmanagertest.Call) error {
			var in struct{ SecretId, VersionStage string }
			_ = json.Unmarshal(c.Input, &in)
			mu.Lock()
			defer mu.Unlock()
			reads = append(reads, in.SecretId+" "+in.VersionStage)
			return nil
		})
		defer remove()
		r, err := e.op.Inspect(ctx, e.ARN, operator.InspectOptions{VerifyCurrent: true})
		if err != nil {
			t.Fatal(err)
		}
		c := r.Credentials
		if c == nil || c.Form != operator.FormSplit || c.Secret != creds || c.Value != operator.ValueOK || c.ClientSecretInTokenSecret ||
			!slices.Equal(c.Applications, []string{clientID, secondClientID}) || c.ClientID != clientID || c.NextClientID != secondClientID {
			t.Errorf("credentials = %+v", c)
		}
		mu.Lock()
		if want := []string{e.ARN + " AWSCURRENT", creds + " AWSCURRENT"}; !slices.Equal(reads, want) {
			t.Errorf("GetSecretValue reads %v, want %v", reads, want)
		}
		mu.Unlock()
		if st := e.Sandbox.Stats(); st.TokenRequests != 0 || st.APIRequests != 1 {
			t.Errorf("Clickwrap requests %+v: Inspect must never mint", st)
		}
		if r.Diagnosis.State != operator.StateHealthy {
			t.Errorf("diagnosis %+v", r.Diagnosis)
		}
		js, _ := json.Marshal(r)
		for _, s := range []string{clientSecret, secondClientSecret} {
			if strings.Contains(string(js), s) {
				t.Error("a client secret is in the report")
			}
		}
	})
	t.Run("access denied", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		creds := e.split()
		e.rotate()
		// Deny the read that follows the token secret's: the credentials
		// secret's.
		remove := e.Secrets.OnCall("GetSecretValue", func(c secretsmanagertest.Call) error {
			var in struct{ SecretId string }
			if json.Unmarshal(c.Input, &in) == nil && in.SecretId == e.ARN {
				e.Secrets.FailNext("GetSecretValue", 1, "AccessDeniedException")
			}
			return nil
		})
		defer remove()
		r, err := e.op.Inspect(ctx, e.ARN, operator.InspectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		c := r.Credentials
		if c == nil || c.Value != operator.ValueUnreadable || !strings.Contains(c.Problem, creds) || !strings.Contains(c.Problem, "AccessDeniedException") ||
			c.NextClientID != "" || c.Applications != nil {
			t.Errorf("credentials = %+v", c)
		}
		// rotatorctl's credentials are not the function's role: could not check.
		if r.Diagnosis.State != operator.StateCheckFailed || !strings.Contains(r.Diagnosis.Message, creds) {
			t.Errorf("diagnosis %+v", r.Diagnosis)
		}
		if _, blocked := operator.RotationBlocker(r.Diagnosis); blocked {
			t.Error("rotation blocked")
		}
	})
	t.Run("missing", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.split()
		v, err := e.SecretJSON("", "", map[string]any{"client_id": nil, "client_secret": nil, "credentials_secret": "op-credentials/none"})
		if err != nil {
			t.Fatal(err)
		}
		e.Secrets.CreateSecret("op/split-missing", v)
		r, err := e.op.Inspect(ctx, "op/split-missing", operator.InspectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if c := r.Credentials; c == nil || c.Value != operator.ValueMissing || c.Secret != "op-credentials/none" || !strings.Contains(c.Problem, "op-credentials/none") {
			t.Errorf("credentials = %+v", c)
		}
		if r.Diagnosis.State != operator.StateCredentialsUnusable {
			t.Errorf("diagnosis %+v", r.Diagnosis)
		}
	})
	t.Run("read failing", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		creds := e.split()
		e.rotate()
		op := *e.op
		op.Secrets = failReads{SecretsManager: e.Secrets.Client(), id: creds}
		r, err := op.Inspect(ctx, e.ARN, operator.InspectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if c := r.Credentials; c == nil || c.Value != operator.ValueReadFailed || !strings.Contains(c.Problem, "InternalServiceError") {
			t.Errorf("credentials = %+v", c)
		}
		if r.Diagnosis.State != operator.StateCheckFailed {
			t.Errorf("diagnosis %+v", r.Diagnosis)
		}
		if _, blocked := operator.RotationBlocker(r.Diagnosis); blocked {
			t.Error("a passing failure to read blocks rotation")
		}
	})
}

// failReads is a Secrets Manager client whose reads of the secret id fail
// as the service does when it is failing (after the SDK's retries).
type failReads struct {
	operator.SecretsManager
	id string
}

func (f failReads) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	if aws.ToString(in.SecretId) == f.id {
		return nil, &smithy.GenericAPIError{Code: "InternalServiceError", Message: "the service is failing (test)"}
	}
	return f.SecretsManager.GetSecretValue(ctx, in, opts...)
}
