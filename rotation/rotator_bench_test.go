package rotation_test

// Benchmarks of the in-process cost of each rotation step and of a whole
// rotation, against the Secrets Manager emulator (real SDK client, AWS JSON
// 1.1 over loopback HTTP) and the Clickwrap sandbox (HTTPS over loopback).
// The figures include the emulator's and the sandbox's own work, which runs
// in the same process: they are an upper bound on the rotator's own cost.
// `make bench` runs them and puts them in docs/benchmarks.md.
//
//	go test -run '^$' -bench . -benchmem ./rotation/

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/clickwrap-rotator/clickwrap-rotator/internal/localrun"
	"github.com/clickwrap-rotator/clickwrap-rotator/rotation"
)

const (
	benchClientID     = "bench-app"
	benchClientSecret = "bench-client-secret-0d9e"
)

// errBenchPause stops the emulator's own run of a rotation before
// createSecret, leaving the pending version for the benchmark to drive.
var errBenchPause = errors.New("paused: the benchmark runs the steps itself")

// benchRig is a secret on the emulator with a rotator (one per benchmark
// run, like one warm Lambda container) and the sandbox.
type benchRig struct {
	*localrun.InProcess

	mu    sync.Mutex
	event rotation.Event // the last event the emulator sent
}

func newBenchRig(b *testing.B) *benchRig {
	b.Helper()
	r := &benchRig{InProcess: newInProcess(b, localrun.InProcessOptions{
		ClientID: benchClientID, ClientSecret: benchClientSecret, SecretName: "clickwrap/bench", Sync: true,
		Fields: map[string]any{"owner": "platform-team"},
	})}
	// A first full rotation mints the first token and warms the connections.
	r.rotateSecret(b)
	if err := r.LastRotation().Err; err != nil {
		b.Fatalf("warm-up rotation: %v", err)
	}
	return r
}

func (r *benchRig) rotateSecret(b *testing.B) {
	b.Helper()
	if _, err := r.RotateSecret(context.Background()); err != nil {
		b.Fatal(err)
	}
}

// pendingEvent starts a rotation whose emulator run stops at once, and
// returns the event (SecretId, ClientRequestToken, RotationToken) of its
// pending version, which has no value yet.
func (r *benchRig) pendingEvent(b *testing.B) rotation.Event {
	b.Helper()
	r.rotateSecret(b)
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.event
}

// benchStep measures one step of a rotation. Each iteration starts a new
// rotation (untimed) and runs its four steps in order, exactly as Secrets
// Manager sends them, with the timer running only for step. Each step so
// works on the state a real rotation leaves it: createSecret mints and
// stores, testSecret reads and verifies, finishSecret promotes a version
// this rotator verified.
func benchStep(b *testing.B, step rotation.Step) {
	r := newBenchRig(b)
	r.Secrets.SetInvoker(func(_ context.Context, ev rotation.Event) error {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.event = ev
		return errBenchPause
	})
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.StopTimer()
	for range b.N {
		ev := r.pendingEvent(b)
		for _, s := range rotation.Steps {
			ev.Step = string(s)
			if s == step {
				b.StartTimer()
			}
			err := r.Rotator.Handle(ctx, ev)
			if s == step {
				b.StopTimer()
			}
			if err != nil {
				b.Fatalf("%s: %v", s, err)
			}
		}
	}
}

func BenchmarkCreateSecret(b *testing.B) { benchStep(b, rotation.CreateSecret) }
func BenchmarkSetSecret(b *testing.B)    { benchStep(b, rotation.SetSecret) }
func BenchmarkTestSecret(b *testing.B)   { benchStep(b, rotation.TestSecret) }
func BenchmarkFinishSecret(b *testing.B) { benchStep(b, rotation.FinishSecret) }

// BenchmarkRotation measures a whole rotation: RotateSecret, then the
// emulator invokes the four steps (in-process, synchronously) and finishes.
func BenchmarkRotation(b *testing.B) {
	r := newBenchRig(b)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		r.rotateSecret(b)
	}
	b.StopTimer()
	for _, rot := range r.Secrets.Rotations(r.ARN) {
		if rot.Err != nil {
			b.Fatalf("rotation of version %s: %v", rot.VersionID, rot.Err)
		}
	}
}
