package rotation_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/clickwrap-rotator/clickwrap-rotator/clickwrap"
	"github.com/clickwrap-rotator/clickwrap-rotator/clickwrap/clickwraptest"
	"github.com/clickwrap-rotator/clickwrap-rotator/internal/localrun"
	"github.com/clickwrap-rotator/clickwrap-rotator/internal/secretsmanagertest"
	"github.com/clickwrap-rotator/clickwrap-rotator/internal/syncbuf"
	"github.com/clickwrap-rotator/clickwrap-rotator/rotation"
)

const (
	clientID     = "api-app-1"
	clientSecret = "client-secret-7f3a9c1e5b"
	// The second API application of the split form's credentials secret
	// (see newSplitWorld).
	secondClientID     = "api-app-2"
	secondClientSecret = "client-secret-2d8e4a6c0f"
)

// world is one test's Secrets Manager emulator, Clickwrap sandbox and
// rotator, with everything the rotator logged and every error it returned.
type world struct {
	t       *testing.T
	p       *localrun.InProcess
	sm      *secretsmanagertest.Server
	cw      *clickwraptest.Server
	rot     *rotation.Rotator
	arn     string
	logs    *syncbuf.Buffer
	mu      sync.Mutex
	errs    []error
	rtokens []string // RotationTokens seen in events
}

// newWorld starts the stand-ins and stores a secret holding the sandbox's
// client credentials, its endpoints, and fields of the user's own.
func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{t: t, logs: &syncbuf.Buffer{}}
	w.p = newInProcess(t, localrun.InProcessOptions{
		ClientID: clientID, ClientSecret: clientSecret, Sync: true, Fields: userFields(),
		Logger: slog.New(slog.NewJSONHandler(w.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	w.sm, w.cw, w.rot, w.arn = w.p.Secrets, w.p.Sandbox, w.p.Rotator, w.p.ARN
	w.sm.SetInvoker(w.handle)
	return w
}

// newInProcess starts the in-process rig and stops it when tb ends.
func newInProcess(tb testing.TB, o localrun.InProcessOptions) *localrun.InProcess {
	tb.Helper()
	p, err := localrun.NewInProcess(o)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(p.Close)
	return p
}

// userFields are fields of the user's own, which every rotation must keep.
func userFields() map[string]any {
	return map[string]any{"team": "payments", "limits": map[string]any{"rps": 5, "tags": []any{"a", 1.5, nil}}}
}

// handle is the Invoker: the rotator's Lambda handler, recording errors and
// RotationTokens for the leak check.
func (w *world) handle(ctx context.Context, ev rotation.Event) error {
	err := w.rot.Handle(ctx, ev)
	w.mu.Lock()
	defer w.mu.Unlock()
	if ev.RotationToken != "" {
		w.rtokens = append(w.rtokens, ev.RotationToken)
	}
	if err != nil {
		w.errs = append(w.errs, err)
	}
	return err
}

func (w *world) secretJSON(override map[string]any) string {
	fields := userFields()
	maps.Copy(fields, override)
	v, err := w.p.SecretJSON(clientID, clientSecret, fields)
	if err != nil {
		w.t.Fatal(err)
	}
	return v
}

// rotate starts a rotation with RotateSecret, as the schedule or the console
// does, and returns the new version id and the rotation's error.
func (w *world) rotate() (string, error) {
	w.t.Helper()
	ctx := context.Background()
	v, err := w.p.RotateSecret(ctx)
	if err != nil {
		return "", err
	}
	if err := w.sm.Wait(ctx); err != nil {
		w.t.Fatal(err)
	}
	return v, w.p.LastRotation().Err
}

func (w *world) current() (string, map[string]any) {
	w.t.Helper()
	for id, stages := range w.sm.Stages(w.arn) {
		if slices.Contains(stages, "AWSCURRENT") {
			v, _ := w.sm.Value(w.arn, id)
			var m map[string]any
			if err := json.Unmarshal([]byte(v), &m); err != nil {
				w.t.Fatal(err)
			}
			return id, m
		}
	}
	w.t.Fatal("no AWSCURRENT version")
	return "", nil
}

// assertNoLeak checks that no secret value reached a log line or an error.
func (w *world) assertNoLeak() {
	w.t.Helper()
	values := []string{clientSecret, secondClientSecret}
	for id := range w.sm.Stages(w.arn) {
		if v, ok := w.sm.Value(w.arn, id); ok {
			var m map[string]any
			_ = json.Unmarshal([]byte(v), &m)
			if tok, _ := m["access_token"].(string); tok != "" {
				values = append(values, tok)
			}
		}
	}
	w.mu.Lock()
	values = append(values, w.rtokens...)
	var out strings.Builder
	for _, err := range w.errs {
		out.WriteString(err.Error() + "\n")
	}
	w.mu.Unlock()
	for _, r := range w.sm.Rotations(w.arn) {
		if r.Err != nil {
			out.WriteString(r.Err.Error() + "\n")
		}
	}
	out.WriteString(w.logs.String())
	for _, v := range values {
		if strings.Contains(out.String(), v) {
			w.t.Errorf("a secret value occurs in the logs or errors")
		}
	}
}

func stagesEqual(got map[string][]string, want map[string][]string) bool {
	if len(got) != len(want) {
		return false
	}
	for id, s := range want {
		g := slices.Clone(got[id])
		slices.Sort(g)
		s = slices.Clone(s)
		slices.Sort(s)
		if !slices.Equal(g, s) {
			return false
		}
	}
	return true
}

// pendingEvent starts a rotation whose Lambda does nothing, leaving a
// value-less AWSPENDING version, and returns an event for it.
func (w *world) pendingEvent(step string) rotation.Event {
	w.t.Helper()
	var ev rotation.Event
	w.sm.SetInvoker(func(_ context.Context, e rotation.Event) error {
		ev = e
		return errors.New("stop")
	})
	_, _ = w.rotate()
	w.sm.SetInvoker(w.handle)
	ev.Step = step
	return ev
}

// pendingWithCurrent makes value the AWSCURRENT SecretString, then returns a
// createSecret event for a fresh pending version.
func (w *world) pendingWithCurrent(value string) rotation.Event {
	w.t.Helper()
	w.putCurrent(value)
	return w.pendingEvent("createSecret")
}

// putCurrent stores value as the new AWSCURRENT, as an owner's
// put-secret-value does, and returns its version.
func (w *world) putCurrent(value string) string {
	w.t.Helper()
	out, err := w.sm.Client().PutSecretValue(context.Background(), &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(w.arn), SecretString: aws.String(value),
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return aws.ToString(out.VersionId)
}

// revokePendingBeforeTest makes Clickwrap reject the pending token: the
// invoker revokes it in the sandbox just before testSecret runs.
func (w *world) revokePendingBeforeTest() {
	w.sm.SetInvoker(func(ctx context.Context, ev rotation.Event) error {
		if ev.Step == string(rotation.TestSecret) {
			w.revoke(ev.ClientRequestToken)
		}
		return w.handle(ctx, ev)
	})
}

// revoke makes Clickwrap reject the token stored in version.
func (w *world) revoke(version string) {
	v, _ := w.sm.Value(w.arn, version)
	var m map[string]string
	_ = json.Unmarshal([]byte(v), &m)
	w.cw.Revoke(m["access_token"])
}

// container is another Lambda container's rotator: on sm (nil: the
// emulator) and cs (nil: a Clickwrap client of its own), logging with the
// world's, remembering nothing of its rotator's.
func (w *world) container(sm rotation.SecretsManager, cs rotation.CredentialService) *rotation.Rotator {
	if sm == nil {
		sm = w.sm.Client()
	}
	if cs == nil {
		cs = clickwrap.NewClient(w.cw.Client())
	}
	return rotation.New(sm, cs, slog.New(slog.NewJSONHandler(w.logs, nil)))
}

// useRotator makes rot the world's rotator (the one its invoker calls).
func (w *world) useRotator(sm rotation.SecretsManager, cs rotation.CredentialService) *rotation.Rotator {
	w.t.Helper()
	if sm == nil {
		sm = w.sm.Client()
	}
	w.rot = rotation.New(sm, cs, slog.New(slog.NewJSONHandler(w.logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	w.sm.SetInvoker(w.handle)
	return w.rot
}

// outcome returns the logged outcome of the last successful run of step for
// version, or "".
func (w *world) outcome(step rotation.Step, version string) string {
	w.t.Helper()
	var out string
	for line := range strings.Lines(w.logs.String()) {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil {
			continue
		}
		if rec["msg"] == "rotation step finished" && rec["step"] == string(step) && rec["version"] == version {
			out, _ = rec["outcome"].(string)
		}
	}
	return out
}

func callsDelta(before, after map[string]int) map[string]int {
	d := map[string]int{}
	for op, n := range after {
		if n-before[op] != 0 {
			d[op] = n - before[op]
		}
	}
	return d
}
