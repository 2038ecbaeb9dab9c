package secretsmanagertest

// This file holds OnCall, the hook that lets a test act at the moment an
// operation reaches the emulator: hold it back, look at its input, or kill
// the process that sent it ("the Lambda died after minting and before
// PutSecretValue").
//
// It is kept apart from the protocol code: init wraps every entry of the
// operations table once, before any Server exists, so serveHTTP calls the
// hooks without knowing about them. Hooks are kept per Server in a small
// registry, since Server has no field for them.

import (
	"slices"
	"sync"
)

// Call is an operation as a hook sees it, just before the emulator applies it.
type Call struct {
	// Operation is the operation name, e.g. "PutSecretValue".
	Operation string
	// Input is the request's JSON body as the client sent it. It may hold
	// secret values and rotation tokens: never log it.
	Input []byte
}

// OnCall registers fn to run every time operation (e.g. "PutSecretValue")
// is about to be applied: after the request was authenticated, counted in
// Calls and let through by FailNext (an injected fault answers first and
// skips the hook), and before the operation reads or changes anything.
//
// fn runs on the request's own goroutine, without the Server's lock: it may
// block (to hold the request back), call the Server's methods, or act on the
// caller (for example kill the process that sent it). Hooks registered for
// the same operation run in registration order.
//
// If fn returns an error, the remaining hooks do not run, the operation is
// not applied (nothing changes) and the caller receives an
// InternalServiceError (HTTP 500), which the SDK retries like a real one.
// The error's text is not sent.
//
// OnCall returns a function that removes this hook; removing it twice is
// harmless. Remove hooks when done (t.Cleanup(remove)): until then the
// registry keeps the Server.
func (s *Server) OnCall(operation string, fn func(Call) error) (remove func()) {
	h := &hook{fn: fn}
	hooks.Lock()
	defer hooks.Unlock()
	if hooks.m == nil {
		hooks.m = map[*Server]map[string][]*hook{}
	}
	if hooks.m[s] == nil {
		hooks.m[s] = map[string][]*hook{}
	}
	hooks.m[s][operation] = append(hooks.m[s][operation], h)
	var once sync.Once
	return func() {
		once.Do(func() {
			hooks.Lock()
			defer hooks.Unlock()
			byOp := hooks.m[s]
			byOp[operation] = slices.DeleteFunc(byOp[operation], func(x *hook) bool { return x == h })
			if len(byOp[operation]) == 0 {
				delete(byOp, operation)
			}
			if len(byOp) == 0 {
				delete(hooks.m, s)
			}
		})
	}
}

type hook struct {
	fn func(Call) error
}

// hooks is the registry of OnCall hooks, per Server and operation.
var hooks struct {
	sync.Mutex
	m map[*Server]map[string][]*hook
}

// hooksFor returns a snapshot of the hooks of s for op.
func hooksFor(s *Server, op string) []*hook {
	hooks.Lock()
	defer hooks.Unlock()
	return slices.Clone(hooks.m[s][op])
}

func init() {
	// Replacing the values of existing keys while ranging is allowed; this
	// runs once, before any request can read the table.
	for op, apply := range operations {
		operations[op] = withHooks(op, apply)
	}
}

// withHooks runs the hooks of op, then (unless one failed) the operation.
func withHooks(op string, apply func(*Server, []byte) (any, error)) func(*Server, []byte) (any, error) {
	return func(s *Server, body []byte) (any, error) {
		for _, h := range hooksFor(s, op) {
			if err := h.fn(Call{Operation: op, Input: body}); err != nil {
				return nil, newError(codeInternal, "The operation was stopped by a test hook (secretsmanagertest.OnCall).")
			}
		}
		return apply(s, body)
	}
}
