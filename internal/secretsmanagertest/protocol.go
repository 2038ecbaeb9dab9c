package secretsmanagertest

// This file holds the wire protocol: AWS JSON 1.1 routing, request and
// response shapes, and error encoding.

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
)

const (
	jsonContentType = "application/x-amz-json-1.1"
	targetPrefix    = "secretsmanager."
	maxBodyBytes    = 1 << 20
)

// apiError is a Secrets Manager error as sent on the wire.
type apiError struct {
	code    string
	message string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

// status is the HTTP status code the service uses for the error code.
func (e *apiError) status() int {
	switch e.code {
	case "InternalServiceError", "InternalFailure":
		return http.StatusInternalServerError
	case "ServiceUnavailable", "ServiceUnavailableException":
		return http.StatusServiceUnavailable
	}
	return http.StatusBadRequest
}

func newError(code, message string) *apiError {
	return &apiError{code: code, message: message}
}

// Error codes used by the emulator.
const (
	codeResourceNotFound = "ResourceNotFoundException"
	codeResourceExists   = "ResourceExistsException"
	codeInvalidRequest   = "InvalidRequestException"
	codeInvalidParameter = "InvalidParameterException"
	codeAccessDenied     = "AccessDeniedException"
	codeUnknownOperation = "UnknownOperationException"
	codeSerialization    = "SerializationException"
	codeMissingAuth      = "MissingAuthenticationTokenException"
	codeInternal         = "InternalServiceError"
)

// operations maps the operation name of X-Amz-Target to its implementation.
var operations = map[string]func(*Server, []byte) (any, error){
	"CreateSecret":             decodeThen((*Server).createSecret),
	"DescribeSecret":           decodeThen((*Server).describeSecret),
	"GetSecretValue":           decodeThen((*Server).getSecretValue),
	"PutSecretValue":           decodeThen((*Server).putSecretValue),
	"UpdateSecretVersionStage": decodeThen((*Server).updateSecretVersionStage),
	"ListSecretVersionIds":     decodeThen((*Server).listSecretVersionIds),
	"RotateSecret":             decodeThen((*Server).rotateSecret),
}

// decodeThen adapts a typed operation to the router: it decodes the JSON body
// into In and calls fn.
func decodeThen[In, Out any](fn func(*Server, *In) (*Out, error)) func(*Server, []byte) (any, error) {
	return func(s *Server, body []byte) (any, error) {
		in := new(In)
		if len(bytes.TrimSpace(body)) > 0 {
			// The decoder's message is not returned: it could quote input.
			if err := json.Unmarshal(body, in); err != nil {
				return nil, newError(codeSerialization, "The request body could not be decoded as the operation's input.")
			}
		}
		out, err := fn(s, in)
		if err != nil {
			return nil, err
		}
		return out, nil
	}
}

// serveHTTP routes one AWS JSON 1.1 request.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("x-amzn-RequestId", newUUID())

	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), targetPrefix)
	if r.Method != http.MethodPost || (r.URL.Path != "/" && r.URL.Path != "") || !ok || op == "" {
		writeError(w, newError(codeUnknownOperation, "Expected POST / with header X-Amz-Target: secretsmanager.<Operation>."))
		return
	}

	s.mu.Lock()
	s.calls[op]++
	s.mu.Unlock()

	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256") {
		writeError(w, newError(codeMissingAuth, "Missing Authentication Token"))
		return
	}
	handle, ok := operations[op]
	if !ok {
		writeError(w, newError(codeUnknownOperation, "The operation "+op+" is not supported by secretsmanagertest."))
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != jsonContentType {
		writeError(w, newError(codeSerialization, "Content-Type must be "+jsonContentType+"."))
		return
	}

	s.mu.Lock()
	injected := s.takeFaultLocked(op)
	s.mu.Unlock()
	if injected != nil {
		writeError(w, injected)
		return
	}

	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes))
	if err != nil {
		writeError(w, newError(codeSerialization, "The request body could not be read."))
		return
	}
	out, err := handle(s, body)
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			ae = newError(codeInternal, "An error occurred on the server side.")
		}
		writeError(w, ae)
		return
	}
	b, err := json.Marshal(out)
	if err != nil {
		writeError(w, newError(codeInternal, "An error occurred on the server side."))
		return
	}
	w.Header().Set("Content-Type", jsonContentType)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// writeError sends an AWS JSON error response.
func writeError(w http.ResponseWriter, e *apiError) {
	b, _ := json.Marshal(struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}{e.code, e.message})
	w.Header().Set("Content-Type", jsonContentType)
	w.Header().Set("X-Amzn-ErrorType", e.code)
	w.WriteHeader(e.status())
	_, _ = w.Write(b)
}

// epochTime is a timestamp encoded as epoch seconds (with milliseconds as
// fraction), the AWS JSON default.
type epochTime time.Time

// MarshalJSON implements json.Marshaler.
func (t epochTime) MarshalJSON() ([]byte, error) {
	ms := time.Time(t).UnixMilli()
	return strconv.AppendFloat(nil, float64(ms)/1000, 'f', -1, 64), nil
}

// optTime returns nil for the zero time.
func optTime(t time.Time) *epochTime {
	if t.IsZero() {
		return nil
	}
	e := epochTime(t)
	return &e
}

// newUUID returns a random version 4 UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// Request and response shapes. Field names follow the service model;
// unmodelled input members (Tags, MaxResults, ...) are ignored.

type rotationRulesJSON struct {
	AutomaticallyAfterDays *int64  `json:",omitempty"`
	Duration               *string `json:",omitempty"`
	ScheduleExpression     *string `json:",omitempty"`
}

type createSecretInput struct {
	Name               *string
	ClientRequestToken *string
	Description        *string
	KmsKeyId           *string
	SecretString       *string
	SecretBinary       []byte
	Tags               []tagJSON
}

// tagJSON is a Tag of CreateSecret's input and DescribeSecret's output. Keys
// starting with aws: are accepted, unlike the service (which reserves them
// for itself), so that a test can make a secret as CloudFormation does, with
// aws:cloudformation:stack-name.
type tagJSON struct {
	Key   *string `json:",omitempty"`
	Value *string `json:",omitempty"`
}

type createSecretOutput struct {
	ARN       string
	Name      string
	VersionId string `json:",omitempty"`
}

type secretIDInput struct {
	SecretId *string
}

type describeSecretOutput struct {
	ARN                string
	Name               string
	Description        *string `json:",omitempty"`
	KmsKeyId           *string `json:",omitempty"`
	RotationEnabled    bool
	RotationLambdaARN  string             `json:",omitempty"`
	RotationRules      *rotationRulesJSON `json:",omitempty"`
	CreatedDate        *epochTime         `json:",omitempty"`
	LastChangedDate    *epochTime         `json:",omitempty"`
	LastRotatedDate    *epochTime         `json:",omitempty"`
	NextRotationDate   *epochTime         `json:",omitempty"`
	Tags               []tagJSON          `json:",omitempty"`
	VersionIdsToStages map[string][]string
}

type getSecretValueInput struct {
	SecretId     *string
	VersionId    *string
	VersionStage *string
}

type getSecretValueOutput struct {
	ARN           string
	Name          string
	VersionId     string
	SecretString  *string `json:",omitempty"`
	SecretBinary  []byte  `json:",omitempty"`
	VersionStages []string
	CreatedDate   *epochTime `json:",omitempty"`
}

type putSecretValueInput struct {
	SecretId           *string
	ClientRequestToken *string
	SecretString       *string
	SecretBinary       []byte
	VersionStages      []string
	RotationToken      *string
}

type putSecretValueOutput struct {
	ARN           string
	Name          string
	VersionId     string
	VersionStages []string
}

type updateSecretVersionStageInput struct {
	SecretId            *string
	VersionStage        *string
	MoveToVersionId     *string
	RemoveFromVersionId *string
}

type arnNameOutput struct {
	ARN  string
	Name string
}

type listSecretVersionIdsInput struct {
	SecretId          *string
	IncludeDeprecated *bool
}

type versionsListEntry struct {
	VersionId     string
	VersionStages []string
	CreatedDate   *epochTime `json:",omitempty"`
}

type listSecretVersionIdsOutput struct {
	ARN      string
	Name     string
	Versions []versionsListEntry
}

type rotateSecretInput struct {
	SecretId           *string
	ClientRequestToken *string
	RotationLambdaARN  *string
	RotationRules      *rotationRulesJSON
	RotateImmediately  *bool
}

type rotateSecretOutput struct {
	ARN       string
	Name      string
	VersionId string
}

// deref returns the string p points to, or "".
func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
