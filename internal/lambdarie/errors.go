package lambdarie

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
)

// TimeoutErrorType is the [FunctionError.Type] reported when the function ran
// past its timeout. It is the type AWS Lambda itself reports for timeouts; the
// emulator only answers with the text "Task timed out after N.00 seconds",
// which becomes the Message.
const TimeoutErrorType = "Sandbox.Timedout"

// ErrTimeout matches (under errors.Is) the [*FunctionError] that
// [Function.Invoke] returns when the function timed out.
var ErrTimeout = errors.New("lambdarie: function timed out")

// ErrClosed is returned by [Function.Invoke] after [Function.Close].
var ErrClosed = errors.New("lambdarie: function closed")

// FunctionError is the error [Function.Invoke] returns when the function
// failed: the handler returned an error, the runtime crashed, or the
// invocation timed out. Type and Message come from the
// {"errorType","errorMessage"} payload the emulator answers with (see the
// package documentation for how the emulator reports each case).
type FunctionError struct {
	// Type is the errorType, e.g. "errorString" for an errors.New error
	// returned by an aws-lambda-go handler, "Runtime.ExitError" when the
	// runtime process exited, or TimeoutErrorType.
	Type string
	// Message is the errorMessage.
	Message string
	// StatusCode is the emulator's HTTP status: 200 for an error the handler
	// returned and for a timeout, 502 when the runtime crashed or exited.
	StatusCode int
	// Payload is the raw response body (with aws-lambda-go, it may hold a
	// "stackTrace" too).
	Payload []byte
}

// Error returns "lambda function error: <Type>: <Message>".
func (e *FunctionError) Error() string {
	switch {
	case e.Type == "":
		return "lambda function error: " + e.Message
	case e.Message == "":
		return "lambda function error: " + e.Type
	default:
		return "lambda function error: " + e.Type + ": " + e.Message
	}
}

// Is reports whether target is [ErrTimeout] and e is a timeout.
func (e *FunctionError) Is(target error) bool {
	return target == ErrTimeout && e.Type == TimeoutErrorType
}

// timeoutBody is what rie.InvokeHandler writes on rapidcore.ErrInvokeTimeout.
var timeoutBody = regexp.MustCompile(`^Task timed out after [0-9]+(\.[0-9]+)? seconds$`)

// errorPayloadKeys are the keys an error payload may have: those of
// aws-lambda-go's messages.InvokeResponse_Error and of the emulator's own
// interop.FunctionError, plus what other runtimes add.
var errorPayloadKeys = map[string]bool{
	"errorMessage": true,
	"errorType":    true,
	"stackTrace":   true,
	"requestId":    true,
	"trace":        true,
	"cause":        true,
}

// parseErrorPayload decodes body as an {"errorType","errorMessage"} object.
// When strict, both keys must be present and no key outside errorPayloadKeys
// may be; otherwise one of the two suffices.
func parseErrorPayload(body []byte, strict bool) (typ, msg string, ok bool) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil || m == nil {
		return "", "", false
	}
	rawType, hasType := m["errorType"]
	rawMsg, hasMsg := m["errorMessage"]
	if strict {
		if !hasType || !hasMsg {
			return "", "", false
		}
		for k := range m {
			if !errorPayloadKeys[k] {
				return "", "", false
			}
		}
	} else if !hasType && !hasMsg {
		return "", "", false
	}
	if hasType && json.Unmarshal(rawType, &typ) != nil {
		return "", "", false
	}
	if hasMsg && json.Unmarshal(rawMsg, &msg) != nil {
		return "", "", false
	}
	return typ, msg, true
}

// classify turns the emulator's answer into Invoke's result.
func classify(status int, body []byte) ([]byte, error) {
	switch status {
	case http.StatusOK:
		if timeoutBody.Match(body) {
			return nil, &FunctionError{Type: TimeoutErrorType, Message: string(body), StatusCode: status, Payload: body}
		}
		if typ, msg, ok := parseErrorPayload(body, true); ok {
			return nil, &FunctionError{Type: typ, Message: msg, StatusCode: status, Payload: body}
		}
		return body, nil
	case http.StatusBadGateway:
		if typ, msg, ok := parseErrorPayload(body, false); ok {
			return nil, &FunctionError{Type: typ, Message: msg, StatusCode: status, Payload: body}
		}
	}
	detail := strings.TrimSpace(string(body))
	if detail == "" {
		detail = "empty body"
	}
	if len(detail) > 512 {
		detail = detail[:512] + "…"
	}
	return nil, fmt.Errorf("lambdarie: emulator answered HTTP %d %s (%s)", status, http.StatusText(status), detail)
}
