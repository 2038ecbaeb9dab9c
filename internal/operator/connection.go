package operator

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/aws/smithy-go"
)

// Connection says where the operator's Secrets Manager calls go, for the
// messages of the errors that depend on it: no credentials, credentials
// refused, an endpoint that cannot be reached. The zero value names nothing.
type Connection struct {
	// Region is the AWS region of the calls.
	Region string
	// Endpoint is the Secrets Manager endpoint URL when one is configured,
	// and EndpointSource says where it comes from (e.g.
	// "AWS_ENDPOINT_URL_SECRETS_MANAGER"); empty: the region's default.
	Endpoint, EndpointSource string
}

// Problem is the kind of an error that is about the connection to AWS rather
// than about the secret.
type Problem int

// The problems [ProblemOf] tells.
const (
	ProblemNone          Problem = iota
	ProblemNoCredentials         // no AWS credentials could be found
	ProblemCredentials           // Secrets Manager refused the credentials (expired, invalid)
	ProblemAccessDenied          // the credentials' identity may not make the call
	ProblemConnection            // the endpoint could not be reached (DNS, refused, TLS, timeout)
)

// ProblemOf tells whether err, from a Secrets Manager call, is about the
// connection or the credentials. An interruption is none.
func ProblemOf(err error) Problem {
	if err == nil || errors.Is(err, context.Canceled) {
		return ProblemNone
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "UnrecognizedClientException", "InvalidClientTokenId", "InvalidSignatureException", "SignatureDoesNotMatch",
			"IncompleteSignature", "ExpiredToken", "ExpiredTokenException", "MissingAuthenticationToken",
			"MissingAuthenticationTokenException", "AuthFailure":
			return ProblemCredentials
		case "AccessDeniedException", "AccessDenied":
			// "Secrets Manager cannot invoke the specified Lambda
			// function" is the service's own access, which its message
			// explains; the caller's identity is not at fault.
			if strings.Contains(strings.ToLower(ae.ErrorMessage()), "lambda") {
				return ProblemNone
			}
			return ProblemAccessDenied
		}
		return ProblemNone
	}
	// The SDK resolves the credentials before it sends anything, and says
	// "get identity" when that fails; this comes before the network checks,
	// since a failure to reach an instance's metadata service is no
	// Secrets Manager endpoint problem.
	if msg := err.Error(); strings.Contains(msg, "get identity: ") || strings.Contains(msg, "failed to refresh cached credentials") {
		return ProblemNoCredentials
	}
	var (
		dns     *net.DNSError
		op      *net.OpError
		ue      *url.Error
		unknown x509.UnknownAuthorityError
		host    x509.HostnameError
		rec     tls.RecordHeaderError
	)
	if errors.As(err, &dns) || errors.As(err, &op) || errors.As(err, &ue) || errors.As(err, &unknown) ||
		errors.As(err, &host) || errors.As(err, &rec) || errors.Is(err, context.DeadlineExceeded) {
		return ProblemConnection
	}
	return ProblemNone
}

// Where says which region and endpoint the calls go to, e.g. "region
// us-east-1, endpoint https://secretsmanager.us-east-1.amazonaws.com", or
// "" when c is the zero Connection.
func (c Connection) Where() string {
	return c.where("")
}

// where is Where with the endpoint an error shows was used, when known.
func (c Connection) where(used string) string {
	if c == (Connection{}) && used == "" {
		return ""
	}
	region := c.Region
	if region == "" {
		region = "(none set)"
	}
	var endpoint string
	switch {
	case used != "":
		endpoint = used
	case c.Endpoint != "" && c.EndpointSource != "":
		endpoint = c.Endpoint + " from " + c.EndpointSource
	case c.Endpoint != "":
		endpoint = c.Endpoint
	case c.Region != "":
		domain := "amazonaws.com"
		if strings.HasPrefix(c.Region, "cn-") {
			domain = "amazonaws.com.cn"
		}
		endpoint = fmt.Sprintf("https://secretsmanager.%s.%s", c.Region, domain)
	default:
		endpoint = "(unknown)"
	}
	return fmt.Sprintf("region %s, endpoint %s", region, endpoint)
}

// CredentialsHint says what to check when no AWS credentials were found.
func (c Connection) CredentialsHint() string {
	return fmt.Sprintf("No AWS credentials were found%s. Configure AWS credentials: AWS_PROFILE naming a profile "+
		"in ~/.aws/config or ~/.aws/credentials (for SSO, run 'aws sso login --profile NAME' first), or AWS_ACCESS_KEY_ID "+
		"and AWS_SECRET_ACCESS_KEY, or run where an instance or task role applies. 'aws sts get-caller-identity' shows "+
		"which identity the default chain finds.", paren(c.Where()))
}

// Hint says what to check about err, naming the region and the endpoint,
// or "" when err is not about the connection or the credentials.
func (c Connection) Hint(err error) string {
	switch ProblemOf(err) {
	case ProblemNoCredentials:
		return c.CredentialsHint()
	case ProblemCredentials:
		return fmt.Sprintf("Secrets Manager refused the AWS credentials%s: they may have expired (with SSO, run "+
			"'aws sso login'), belong to another AWS partition, or the clock may be off. 'aws sts get-caller-identity' "+
			"checks them.", paren(c.Where()))
	case ProblemAccessDenied:
		return fmt.Sprintf("Access was denied%s: the AWS identity rotatorctl runs as may not make this call, or a key or "+
			"resource policy refuses it. 'aws sts get-caller-identity' shows which identity it is; the permissions rotatorctl "+
			"needs are in the README, \"Operating it\".", paren(c.Where()))
	case ProblemConnection:
		used := ""
		var ue *url.Error
		if errors.As(err, &ue) {
			if u, perr := url.Parse(ue.URL); perr == nil && u.Host != "" {
				used = u.Scheme + "://" + u.Host
			}
		}
		msg := fmt.Sprintf("Could not reach Secrets Manager%s. ", paren(c.where(used)))
		if c.EndpointSource != "" {
			msg += fmt.Sprintf("Check the endpoint URL, which comes from %s: unset it to use the region's default endpoint.", c.EndpointSource)
		} else {
			msg += "Check the region (AWS_REGION, or the profile's region): this is its default endpoint, and a misspelt " +
				"region names a host that does not exist. AWS_ENDPOINT_URL_SECRETS_MANAGER is not set."
		}
		return msg + " Check the network path too: a proxy (HTTPS_PROXY), a firewall, a VPC endpoint, a private CA (SSL_CERT_FILE)."
	}
	return ""
}

func paren(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}

// HintedError is an error with what to check about it, in words for a
// person ([Connection.Hint]).
type HintedError struct {
	Err  error
	Hint string
}

func (e *HintedError) Error() string { return e.Err.Error() }
func (e *HintedError) Unwrap() error { return e.Err }

// HintOf returns the hint of the first [HintedError] in err's chain, or "".
func HintOf(err error) string {
	var h *HintedError
	if errors.As(err, &h) {
		return h.Hint
	}
	return ""
}

// explain gives err, from a Secrets Manager call, the hint of its
// connection problem, if it has one.
func (o *Operator) explain(err error) error {
	if err == nil || HintOf(err) != "" {
		return err
	}
	if h := o.Conn.Hint(err); h != "" {
		return &HintedError{Err: err, Hint: h}
	}
	return err
}
