// Command echo is a tiny Lambda function used by the lambdarie tests.
//
// It echoes its input back, with a few knobs driven by the input:
//
//   - "fail": a non-empty string makes the handler return an error with that message;
//   - "sleepMs": the handler sleeps that long first, ignoring its context
//     (to exercise the emulator's timeout path);
//   - "env": the value of that environment variable is reported in the output;
//   - "print": a line written to stdout (to check log capture);
//   - "exit": the process exits with that code (a runtime crash);
//   - "panic": the handler panics with that value.
//
// The response also reports the invocation's request id and remaining time,
// as seen through the Lambda context.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

type request struct {
	Message string `json:"message,omitempty"`
	Fail    string `json:"fail,omitempty"`
	SleepMs int    `json:"sleepMs,omitempty"`
	Env     string `json:"env,omitempty"`
	Print   string `json:"print,omitempty"`
	Exit    *int   `json:"exit,omitempty"`
	Panic   string `json:"panic,omitempty"`
}

type response struct {
	Echo        request `json:"echo"`
	EnvValue    *string `json:"envValue,omitempty"`
	RequestID   string  `json:"requestId"`
	RemainingMs int64   `json:"remainingMs"`
	PID         int     `json:"pid"`
}

func handle(ctx context.Context, req request) (response, error) {
	if req.Print != "" {
		fmt.Println(req.Print)
	}
	if req.SleepMs > 0 {
		// Deliberately deaf to ctx: a stuck handler, for the emulator's
		// timeout to deal with.
		time.Sleep(time.Duration(req.SleepMs) * time.Millisecond)
	}
	if req.Exit != nil {
		os.Exit(*req.Exit)
	}
	if req.Panic != "" {
		panic(req.Panic)
	}
	if req.Fail != "" {
		return response{}, errors.New(req.Fail)
	}
	resp := response{Echo: req, PID: os.Getpid()}
	if req.Env != "" {
		if v, ok := os.LookupEnv(req.Env); ok {
			resp.EnvValue = &v
		}
	}
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		resp.RequestID = lc.AwsRequestID
	}
	if dl, ok := ctx.Deadline(); ok {
		resp.RemainingMs = time.Until(dl).Milliseconds()
	}
	return resp, nil
}

func main() {
	lambda.Start(handle)
}
