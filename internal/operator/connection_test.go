package operator_test

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/smithy-go"

	"github.com/clickwrap-rotator/clickwrap-rotator/internal/operator"
)

// sendFailed is a request that did not reach url, wrapped as the SDK wraps it.
func sendFailed(u string, err error) error {
	return fmt.Errorf("operation error Secrets Manager: DescribeSecret, exceeded maximum number of attempts, 3, request send failed: %w",
		&url.Error{Op: "Post", URL: u, Err: err})
}

// TestConnectionHint: errors about the credentials or the connection say
// what to check, naming the region and the endpoint; others get no hint.
func TestConnectionHint(t *testing.T) {
	t.Parallel()
	const misspelt = "https://secretsmanager.eu-wst-1.amazonaws.com/"
	dns := &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "secretsmanager.eu-wst-1.amazonaws.com", IsNotFound: true}}
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}
	tests := []struct {
		name    string
		conn    operator.Connection
		err     error
		problem operator.Problem
		words   []string
	}{
		{"DNS error at the region's default endpoint", operator.Connection{Region: "eu-wst-1"}, sendFailed(misspelt, dns), operator.ProblemConnection,
			[]string{"Could not reach Secrets Manager (region eu-wst-1, endpoint https://secretsmanager.eu-wst-1.amazonaws.com)",
				"a misspelt region names a host that does not exist", "AWS_ENDPOINT_URL_SECRETS_MANAGER is not set"}},
		{"connection refused at a configured endpoint", operator.Connection{Region: "us-east-1", Endpoint: "http://127.0.0.1:4566", EndpointSource: "AWS_ENDPOINT_URL_SECRETS_MANAGER"},
			sendFailed("http://127.0.0.1:4566/", refused), operator.ProblemConnection,
			[]string{"(region us-east-1, endpoint http://127.0.0.1:4566)", "which comes from AWS_ENDPOINT_URL_SECRETS_MANAGER: unset it"}},
		{"certificate not trusted", operator.Connection{Region: "us-east-1", Endpoint: "https://vpce.example", EndpointSource: "AWS_ENDPOINT_URL"},
			sendFailed("https://vpce.example/", x509.UnknownAuthorityError{}), operator.ProblemConnection,
			[]string{"endpoint https://vpce.example)", "SSL_CERT_FILE"}},
		{"no credentials", operator.Connection{Region: "cn-north-1"},
			fmt.Errorf("operation error Secrets Manager: DescribeSecret, get identity: get credentials: failed to refresh cached credentials, %w", refused),
			operator.ProblemNoCredentials,
			[]string{"No AWS credentials were found (region cn-north-1, endpoint https://secretsmanager.cn-north-1.amazonaws.com.cn)",
				"AWS_PROFILE", "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY", "aws sts get-caller-identity"}},
		{"credentials refused", operator.Connection{Region: "us-east-1"},
			&smithy.GenericAPIError{Code: "UnrecognizedClientException", Message: "The security token included in the request is invalid."},
			operator.ProblemCredentials, []string{"refused the AWS credentials (region us-east-1,", "aws sso login"}},
		{"credentials expired", operator.Connection{Region: "us-east-1"},
			&smithy.GenericAPIError{Code: "ExpiredTokenException", Message: "The security token included in the request is expired"},
			operator.ProblemCredentials, []string{"may have expired"}},
		{"access denied", operator.Connection{Region: "us-east-1"},
			&smithy.GenericAPIError{Code: "AccessDeniedException", Message: "User: arn:aws:iam::1:user/x is not authorized"},
			operator.ProblemAccessDenied, []string{"Access was denied (region us-east-1,", "README"}},
		{"Secrets Manager may not invoke the function", operator.Connection{Region: "us-east-1"},
			&smithy.GenericAPIError{Code: "AccessDeniedException", Message: "Secrets Manager cannot invoke the specified Lambda function."},
			operator.ProblemNone, nil},
		{"not found", operator.Connection{Region: "us-east-1"},
			&smithy.GenericAPIError{Code: "ResourceNotFoundException", Message: "Secrets Manager can't find the specified secret."},
			operator.ProblemNone, nil},
		{"interrupted", operator.Connection{Region: "us-east-1"}, fmt.Errorf("x: %w", context.Canceled), operator.ProblemNone, nil},
		{"zero Connection", operator.Connection{}, sendFailed("http://127.0.0.1:1/", refused), operator.ProblemConnection,
			[]string{"(region (none set), endpoint http://127.0.0.1:1)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if p := operator.ProblemOf(tt.err); p != tt.problem {
				t.Errorf("ProblemOf = %d, want %d", p, tt.problem)
			}
			hint := tt.conn.Hint(tt.err)
			if (hint == "") != (tt.problem == operator.ProblemNone) {
				t.Fatalf("hint %q", hint)
			}
			for _, w := range tt.words {
				if !strings.Contains(hint, w) {
					t.Errorf("hint lacks %q:\n%s", w, hint)
				}
			}
			if hint != "" {
				wrapped := fmt.Errorf("describing: %w", &operator.HintedError{Err: tt.err, Hint: hint})
				if operator.HintOf(wrapped) != hint || !errors.Is(wrapped, tt.err) {
					t.Errorf("HintOf(%v) = %q", wrapped, operator.HintOf(wrapped))
				}
			}
		})
	}
}

// TestConnectionWhere: the zero Connection names nothing, so that messages
// about a secret not found stay as they were without one.
func TestConnectionWhere(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		conn operator.Connection
		want string
	}{
		{"zero", operator.Connection{}, ""},
		{"default endpoint", operator.Connection{Region: "eu-west-1"}, "region eu-west-1, endpoint https://secretsmanager.eu-west-1.amazonaws.com"},
		{"configured endpoint", operator.Connection{Region: "eu-west-1", Endpoint: "http://localhost:4566", EndpointSource: "AWS_ENDPOINT_URL_SECRETS_MANAGER"},
			"region eu-west-1, endpoint http://localhost:4566 from AWS_ENDPOINT_URL_SECRETS_MANAGER"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.conn.Where(); got != tt.want {
				t.Errorf("Where() = %q, want %q", got, tt.want)
			}
		})
	}
}
