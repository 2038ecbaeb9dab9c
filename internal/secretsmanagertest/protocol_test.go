package secretsmanagertest

import (
	"encoding/json"
	"maps"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

func TestWireProtocol(t *testing.T) {
	t.Parallel()
	s, _ := newServer(t, Options{Now: func() time.Time { return fixedNow }})
	s.CreateSecret("wire", "wire-value")

	const auth = "AWS4-HMAC-SHA256 Credential=AKID/20250304/us-east-1/secretsmanager/aws4_request, SignedHeaders=host, Signature=00"
	tests := []struct {
		name                string
		method, target      string
		contentType, auth   string
		body                string
		wantStatus          int
		wantCode            string // X-Amzn-ErrorType and __type; "" for success
		wantBodyContains    []string
		wantBodyNotContains []string
	}{
		{name: "success", method: "POST", target: "secretsmanager.DescribeSecret", contentType: jsonContentType, auth: auth,
			body: `{"SecretId":"wire"}`, wantStatus: 200,
			wantBodyContains: []string{`"Name":"wire"`, `"CreatedDate":1741064767`}, wantBodyNotContains: []string{"wire-value"}},
		{name: "missing auth", method: "POST", target: "secretsmanager.DescribeSecret", contentType: jsonContentType,
			body: `{"SecretId":"wire"}`, wantStatus: 400, wantCode: "MissingAuthenticationTokenException"},
		{name: "other auth scheme", method: "POST", target: "secretsmanager.DescribeSecret", contentType: jsonContentType, auth: "Bearer x",
			body: `{"SecretId":"wire"}`, wantStatus: 400, wantCode: "MissingAuthenticationTokenException"},
		{name: "unknown operation", method: "POST", target: "secretsmanager.DeleteEverything", contentType: jsonContentType, auth: auth,
			body: `{}`, wantStatus: 400, wantCode: "UnknownOperationException"},
		{name: "no target", method: "POST", contentType: jsonContentType, auth: auth,
			body: `{}`, wantStatus: 400, wantCode: "UnknownOperationException"},
		{name: "GET", method: "GET", target: "secretsmanager.DescribeSecret", auth: auth, wantStatus: 400, wantCode: "UnknownOperationException"},
		{name: "bad JSON", method: "POST", target: "secretsmanager.PutSecretValue", contentType: jsonContentType, auth: auth,
			body: `{"SecretId":"wire","SecretString":`, wantStatus: 400, wantCode: "SerializationException"},
		{name: "wrong content type", method: "POST", target: "secretsmanager.DescribeSecret", contentType: "text/plain", auth: auth,
			body: `{"SecretId":"wire"}`, wantStatus: 400, wantCode: "SerializationException"},
		{name: "modeled error", method: "POST", target: "secretsmanager.GetSecretValue", contentType: jsonContentType, auth: auth,
			body: `{"SecretId":"nope"}`, wantStatus: 400, wantCode: "ResourceNotFoundException",
			wantBodyContains: []string{`"message":"Secrets Manager can't find the specified secret."`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequest(tt.method, "/", strings.NewReader(tt.body))
			if tt.target != "" {
				req.Header.Set("X-Amz-Target", tt.target)
			}
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, req)

			if rec.Code != tt.wantStatus {
				t.Errorf("status = %d, want %d (%s)", rec.Code, tt.wantStatus, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); ct != jsonContentType {
				t.Errorf("Content-Type = %q", ct)
			}
			if rec.Header().Get("x-amzn-RequestId") == "" {
				t.Error("no x-amzn-RequestId")
			}
			var body map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("body is not JSON: %v", err)
			}
			if tt.wantCode != "" {
				if got := rec.Header().Get("X-Amzn-ErrorType"); got != tt.wantCode {
					t.Errorf("X-Amzn-ErrorType = %q, want %q", got, tt.wantCode)
				}
				if body["__type"] != tt.wantCode || body["message"] == "" {
					t.Errorf("error body = %v", body)
				}
			}
			for _, want := range tt.wantBodyContains {
				if !strings.Contains(rec.Body.String(), want) {
					t.Errorf("body %s does not contain %s", rec.Body, want)
				}
			}
			for _, bad := range tt.wantBodyNotContains {
				if strings.Contains(rec.Body.String(), bad) {
					t.Errorf("body contains %s", bad)
				}
			}
		})
	}
}

func TestFailNextRetriedBySDK(t *testing.T) {
	t.Parallel()
	tests := []struct {
		code      string
		n         int
		wantCalls int
	}{
		{"ThrottlingException", 2, 3},
		{"InternalServiceError", 1, 2},
		{"ServiceUnavailable", 1, 2},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			t.Parallel()
			s, c := newServer(t, Options{})
			s.CreateSecret("f", "v")
			s.FailNext("GetSecretValue", tt.n, tt.code)
			out, err := c.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("f")})
			if err != nil {
				t.Fatalf("GetSecretValue = %v, want success after retries", err)
			}
			if aws.ToString(out.SecretString) != "v" {
				t.Errorf("value = %q", aws.ToString(out.SecretString))
			}
			if got := s.Calls()["GetSecretValue"]; got != tt.wantCalls {
				t.Errorf("GetSecretValue calls = %d, want %d", got, tt.wantCalls)
			}
		})
	}
}

func TestFailNextSurfacesAndChangesNothing(t *testing.T) {
	t.Parallel()
	noRetry := func(o *secretsmanager.Options) {
		o.Retryer = retry.AddWithMaxAttempts(retry.NewStandard(), 1)
	}
	t.Run("ThrottlingException", func(t *testing.T) {
		t.Parallel()
		s, c := newServer(t, Options{})
		s.CreateSecret("f", "v")
		before := s.Stages("f")
		s.FailNext("PutSecretValue", 1, "ThrottlingException")
		_, err := c.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{SecretId: aws.String("f"), SecretString: aws.String("new")}, noRetry)
		errorCode(t, err, "ThrottlingException")
		if !equalStages(s.Stages("f"), before) {
			t.Errorf("stages changed: %v", s.Stages("f"))
		}
		// The fault is used up.
		if _, err := c.PutSecretValue(t.Context(), &secretsmanager.PutSecretValueInput{SecretId: aws.String("f"), SecretString: aws.String("new")}, noRetry); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("InternalServiceError", func(t *testing.T) {
		t.Parallel()
		s, c := newServer(t, Options{})
		s.CreateSecret("f", "v")
		s.FailNext("DescribeSecret", 5, "InternalServiceError")
		_, err := c.DescribeSecret(t.Context(), &secretsmanager.DescribeSecretInput{SecretId: aws.String("f")}, noRetry)
		errorAs[*types.InternalServiceError](t, err)
		s.FailNext("DescribeSecret", 0, "")
		if _, err := c.DescribeSecret(t.Context(), &secretsmanager.DescribeSecretInput{SecretId: aws.String("f")}, noRetry); err != nil {
			t.Fatalf("after clearing the fault: %v", err)
		}
	})
}

func TestCalls(t *testing.T) {
	t.Parallel()
	s, c := newServer(t, Options{})
	s.CreateSecret("k", "v") // the shortcut is not a request
	if got := s.Calls(); len(got) != 0 {
		t.Errorf("Calls = %v, want none", got)
	}
	ctx := t.Context()
	_, _ = c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("k")})
	_, _ = c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("missing")})
	_, _ = c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("k")})
	_, _ = c.ListSecretVersionIds(ctx, &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String("k")})
	want := map[string]int{"DescribeSecret": 2, "GetSecretValue": 1, "ListSecretVersionIds": 1}
	if got := s.Calls(); !maps.Equal(got, want) {
		t.Errorf("Calls = %v, want %v", got, want)
	}
	// The returned map is a copy.
	s.Calls()["DescribeSecret"] = 100
	if s.Calls()["DescribeSecret"] != 2 {
		t.Error("Calls returned the internal map")
	}
	s.ResetCalls()
	if got := s.Calls(); len(got) != 0 {
		t.Errorf("after ResetCalls: %v", got)
	}
	_, _ = c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("k")})
	if got := s.Calls(); !maps.Equal(got, map[string]int{"GetSecretValue": 1}) {
		t.Errorf("Calls = %v", got)
	}
}

func TestClose(t *testing.T) {
	t.Parallel()
	s := New(Options{})
	c := s.Client()
	s.CreateSecret("x", "v")
	if _, err := c.DescribeSecret(t.Context(), &secretsmanager.DescribeSecretInput{SecretId: aws.String("x")}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s.Close()
	if _, err := c.DescribeSecret(t.Context(), &secretsmanager.DescribeSecretInput{SecretId: aws.String("x")}, func(o *secretsmanager.Options) {
		o.Retryer = retry.AddWithMaxAttempts(retry.NewStandard(), 1)
	}); err == nil {
		t.Error("request after Close succeeded")
	}
}
