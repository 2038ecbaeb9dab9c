// Package lambdarie runs a real Lambda bootstrap binary under the real AWS
// Lambda Runtime Interface Emulator (RIE), for end-to-end tests, benchmarks
// and local demos.
//
// Typical use:
//
//	bin, err := lambdarie.Build(ctx, "./cmd/rotator", t.TempDir())
//	fn, err := lambdarie.Start(ctx, lambdarie.Config{Bootstrap: bin, Env: []string{"AWS_REGION=us-east-1"}})
//	defer fn.Close()
//	out, err := fn.Invoke(ctx, []byte(`{"Step":"createSecret"}`))
//
// The emulator is the one pinned in go.mod as a tool and is run with
// `go tool aws-lambda-rie` from the module root (the first run compiles it,
// which takes tens of seconds; later runs use the build cache). Without
// AWS_LAMBDA_MAX_CONCURRENCY in its environment it runs its classic
// single-environment mode (internal/lambda/rie), which is what this package
// relies on. The findings below come from reading that source
// (github.com/aws/aws-lambda-runtime-interface-emulator,
// v0.0.0-20261030222936-bef5c4ba774d) and were checked against it.
//
// # Lifecycle
//
// The emulator does not start the bootstrap on its own start-up: it binds the
// Runtime API address and the invoke address, and starts (initialises) the
// bootstrap on the first invocation, so the first Invoke pays the cold start.
// Only one invocation runs at a time (a second concurrent one would get HTTP
// 400 from the emulator), so [Function.Invoke] serialises its callers. The
// bootstrap runs in its own process group (the emulator sets Setpgid), with the
// emulator's working directory (here, the module root) as its cwd.
//
// # Environment
//
// The emulator forwards its whole environment to the function (as the
// "customer" variables) and adds AWS_LAMBDA_RUNTIME_API (the
// --runtime-api-address), AWS_LAMBDA_FUNCTION_NAME=test_function,
// AWS_LAMBDA_FUNCTION_VERSION=$LATEST, AWS_LAMBDA_FUNCTION_MEMORY_SIZE=3008,
// AWS_LAMBDA_LOG_GROUP_NAME and AWS_LAMBDA_LOG_STREAM_NAME (each only if not
// already set), and AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
// AWS_SESSION_TOKEN copied from its own environment (empty when unset). It
// does not set AWS_REGION. The request id and the deadline are not environment
// variables: they reach the runtime per invocation as the
// Lambda-Runtime-Aws-Request-Id and Lambda-Runtime-Deadline-Ms headers of
// /runtime/invocation/next, and aws-lambda-go turns them into the
// lambdacontext and the context deadline. The emulator reads
// AWS_LAMBDA_FUNCTION_TIMEOUT (whole seconds, default 300) from its own
// environment. So [Start] passes [Config.Env] (and the timeout) to the
// emulator process, from where they reach the function.
//
// # Responses, errors and timeouts
//
// The emulator drops every header a response would carry (its response
// writer proxy hands out a throw-away header map), so there is no
// X-Amz-Function-Error header and the Content-Type is whatever net/http
// sniffs (text/plain). What it answers on
// POST /2015-03-31/functions/function/invocations:
//
//   - success: HTTP 200, the function's response bytes as the body;
//   - the handler returned an error (the runtime posted
//     /runtime/invocation/{id}/error): HTTP 200 as well, body
//     {"errorMessage":"…","errorType":"…"} (aws-lambda-go may add
//     "stackTrace");
//   - the runtime crashed or exited during the invocation (os.Exit, a
//     panic, which aws-lambda-go reports and then exits): HTTP 502, body
//     {"errorType":"Runtime.ExitError","errorMessage":"RequestId: … Error:
//     Runtime exited with error: exit status N"}, or the runtime's own error
//     payload if it posted one before exiting (a panic gives
//     {"errorMessage":"…","errorType":"…","stackTrace":[…]}); an
//     initialisation failure is also HTTP 502 with the error body;
//   - timeout (AWS_LAMBDA_FUNCTION_TIMEOUT elapsed, counted from the start of
//     the invocation including a cold init): HTTP 200 with the plain text
//     body "Task timed out after N.00 seconds"; the emulator SIGKILLs the
//     runtime and the next invocation starts (initialises) a fresh bootstrap;
//   - emulator-level failures: HTTP 400 (invocation already in progress), 500
//     or 504, with an empty body.
//
// [Function.Invoke] maps this back: an error payload (on 200, a JSON object
// with exactly the error keys; on 502, any JSON object with errorType or
// errorMessage) becomes a [*FunctionError], the timeout text becomes a
// [*FunctionError] with Type [TimeoutErrorType] that matches [ErrTimeout]
// under errors.Is, and any other non-200 status is a plain error. Because the
// header is gone, a successful response that is itself exactly an
// {"errorMessage","errorType"} object is indistinguishable from a handler
// error and is reported as one.
//
// # Processes
//
// [Start] runs `go tool` in a new process group; `go tool` runs the emulator
// as its child in that group, and the emulator runs the bootstrap in a
// process group of its own. [Function.Close] freezes the group (SIGSTOP, so
// the emulator cannot start another bootstrap), finds every descendant
// through /proc, SIGKILLs the group and the descendants' groups, and waits.
// The /proc parts ([Function.BootstrapPID], [Function.EmulatorPID] and the
// descendant sweep in Close) are Linux-only; elsewhere Close only kills the
// group started by Start.
package lambdarie
