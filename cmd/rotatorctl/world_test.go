package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/clickwrap-rotator/clickwrap-rotator/clickwrap"
	"github.com/clickwrap-rotator/clickwrap-rotator/clickwrap/clickwraptest"
	"github.com/clickwrap-rotator/clickwrap-rotator/internal/localrun"
	"github.com/clickwrap-rotator/clickwrap-rotator/internal/operator"
	"github.com/clickwrap-rotator/clickwrap-rotator/internal/secretsmanagertest"
	"github.com/clickwrap-rotator/clickwrap-rotator/internal/syncbuf"
	"github.com/clickwrap-rotator/clickwrap-rotator/rotation"
)

const (
	clientID     = "ctl-app"
	clientSecret = "ctl-client-secret-93b1d7e2"
	secretName   = "clickwrap/api-token"
)

// fastRetry keeps failing Clickwrap calls short in tests.
var fastRetry = clickwrap.RetryPolicy{MaxAttempts: 2, BaseDelay: 5 * time.Millisecond, MaxDelay: 20 * time.Millisecond, AttemptTimeout: 5 * time.Second}

// world is one test's Secrets Manager emulator (asynchronous rotation, as
// the service does it), Clickwrap sandbox and rotation function, plus every
// output rotatorctl produced, for the leak check.
type world struct {
	t    *testing.T
	p    *localrun.InProcess
	sm   *secretsmanagertest.Server
	cw   *clickwraptest.Server
	rot  *rotation.Rotator
	arn  string
	logs syncbuf.Buffer

	mu       sync.Mutex
	hook     func(ctx context.Context, ev rotation.Event) error // runs before each step; an error fails the step
	rtokens  []string
	outputs  []string
	secrets  []string // more secret values for the leak check (a split world's client secrets)
	terminal bool
	shift    time.Duration // the operator's clock runs this far ahead
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{t: t}
	p, err := localrun.NewInProcess(localrun.InProcessOptions{
		ClientID: clientID, ClientSecret: clientSecret, SecretName: secretName, Retry: &fastRetry,
		Fields: map[string]any{"team": "payments"}, Logger: slog.New(slog.NewJSONHandler(&w.logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	w.p = p
	w.cw, w.sm, w.rot, w.arn = w.p.Sandbox, w.p.Secrets, w.p.Rotator, w.p.ARN
	w.sm.SetInvoker(w.invoke)
	t.Cleanup(w.assertNoLeak)
	t.Cleanup(w.assertNoBlankVersionID)
	return w
}

// invoke is the rotation Lambda: the hook, then the real handler.
func (w *world) invoke(ctx context.Context, ev rotation.Event) error {
	w.mu.Lock()
	if ev.RotationToken != "" {
		w.rtokens = append(w.rtokens, ev.RotationToken)
	}
	hook := w.hook
	w.mu.Unlock()
	if hook != nil {
		if err := hook(ctx, ev); err != nil {
			return err
		}
	}
	return w.rot.Handle(ctx, ev)
}

func (w *world) setHook(h func(ctx context.Context, ev rotation.Event) error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.hook = h
}

func (w *world) secretJSON(override map[string]any) string {
	fields := map[string]any{"team": "payments"}
	maps.Copy(fields, override)
	v, err := w.p.SecretJSON(clientID, clientSecret, fields)
	if err != nil {
		w.t.Fatal(err)
	}
	return v
}

// configure turns rotation on (rate(30 days), a 3h window) and waits for the
// first rotation, which mints the first token.
func (w *world) configure() {
	w.t.Helper()
	w.enableRotation(w.arn)
	if err := w.p.LastRotation().Err; err != nil {
		w.t.Fatalf("first rotation: %v", err)
	}
}

// enableRotation turns rotation of secret arn on with the world's function
// (rate(30 days), a 3h window) and waits for the rotation that starts.
func (w *world) enableRotation(arn string) {
	w.t.Helper()
	if _, err := w.sm.Client().RotateSecret(context.Background(), localrun.RotateSecretInput(arn)); err != nil {
		w.t.Fatal(err)
	}
	w.waitRotations()
}

// stackSecret creates secret name holding the world's token secret, tagged
// as CloudFormation tags a secret that stack created, and returns its ARN.
func (w *world) stackSecret(name, stack string) string {
	w.t.Helper()
	out, err := w.sm.Client().CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{
		Name: aws.String(name), SecretString: aws.String(w.secretJSON(nil)),
		Tags: []types.Tag{
			{Key: aws.String(operator.StackNameTag), Value: aws.String(stack)},
			{Key: aws.String("aws:cloudformation:logical-id"), Value: aws.String("ClickwrapSecret")},
		},
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return aws.ToString(out.ARN)
}

func (w *world) waitRotations() {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.sm.Wait(ctx); err != nil {
		w.t.Fatal(err)
	}
}

// put stores value as the world's secret's new AWSCURRENT version, as a
// person fixing the secret by hand would.
func (w *world) put(value string) {
	w.t.Helper()
	w.putSecret(w.arn, value)
}

// putSecret stores value in secret id as a new version with stages
// (AWSCURRENT when none are given) and returns the version's ID. Call it
// from the test's goroutine only: a failure ends the test.
func (w *world) putSecret(id, value string, stages ...string) string {
	w.t.Helper()
	out, err := w.sm.Client().PutSecretValue(context.Background(), &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(id), SecretString: aws.String(value), VersionStages: stages,
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return aws.ToString(out.VersionId)
}

// token returns the access token stored in the version holding stage.
func (w *world) token(stage string) string {
	w.t.Helper()
	id := operator.VersionWithStage(w.sm.Stages(w.arn), stage)
	v, ok := w.sm.Value(w.arn, id)
	if !ok {
		w.t.Fatalf("no value under %s", stage)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(v), &m); err != nil {
		w.t.Fatal(err)
	}
	tok, _ := m["access_token"].(string)
	return tok
}

func (w *world) stages() map[string][]string { return w.sm.Stages(w.arn) }

// failedRotation runs a rotation that fails half way and leaves AWSPENDING
// stuck on its version, which it returns: Clickwrap rejects the pending
// token (it is revoked just before testSecret), and the function's own
// attempt to remove AWSPENDING from that version is refused.
func (w *world) failedRotation() string {
	w.t.Helper()
	w.setHook(w.revokeBeforeTest)
	defer w.setHook(nil)
	w.refuseAbandon()
	defer w.sm.FailNext("UpdateSecretVersionStage", 0, "")
	out, err := w.sm.Client().RotateSecret(context.Background(), &secretsmanager.RotateSecretInput{SecretId: aws.String(w.arn)})
	if err != nil {
		w.t.Fatal(err)
	}
	w.waitRotations()
	v := aws.ToString(out.VersionId)
	if w.p.LastRotation().Err == nil {
		w.t.Fatal("the rotation meant to fail succeeded")
	}
	if !slices.Contains(w.stages()[v], "AWSPENDING") {
		w.t.Fatalf("stages after the failed rotation: %v", w.stages())
	}
	// rotatorctl looks later than operator.RejectionSettles after the
	// rotation started: the refusal is final, not a token not live yet.
	w.setShift(operator.RejectionSettles)
	return v
}

// refuseAbandon makes the next UpdateSecretVersionStage fail: the one a
// rotation function makes to remove AWSPENDING from a version that can never
// pass. The rotation then stays stuck, as it does when that call is denied
// or when the function predates it.
func (w *world) refuseAbandon() {
	w.sm.FailNext("UpdateSecretVersionStage", 1, "AccessDeniedException")
}

// revokeBeforeTest is a hook that revokes the pending token at the sandbox
// before testSecret runs.
func (w *world) revokeBeforeTest(_ context.Context, ev rotation.Event) error {
	if ev.Step == string(rotation.TestSecret) {
		v, _ := w.sm.Value(w.arn, ev.ClientRequestToken)
		var m map[string]any
		_ = json.Unmarshal([]byte(v), &m)
		tok, _ := m["access_token"].(string)
		w.cw.Revoke(tok)
	}
	return nil
}

// stopAtCreate is a hook that fails createSecret before it mints anything,
// leaving a pending version without a value.
func stopAtCreate(_ context.Context, ev rotation.Event) error {
	if ev.Step == string(rotation.CreateSecret) {
		return errors.New("the function could not reach the token endpoint (test)")
	}
	return nil
}

// failedCreate runs a rotation whose createSecret fails before it mints
// anything (see stopAtCreate), leaving AWSPENDING on a version without a
// value, which it returns.
func (w *world) failedCreate() string {
	w.t.Helper()
	w.setHook(stopAtCreate)
	defer w.setHook(nil)
	v := w.startRotation()
	w.waitRotations()
	return v
}

// pendingOnCurrent puts AWSPENDING on the AWSCURRENT version as well, as
// Secrets Manager may leave it after a rotation.
func (w *world) pendingOnCurrent() {
	w.t.Helper()
	if _, err := w.sm.Client().UpdateSecretVersionStage(context.Background(), &secretsmanager.UpdateSecretVersionStageInput{
		SecretId: aws.String(w.arn), VersionStage: aws.String("AWSPENDING"),
		MoveToVersionId: aws.String(operator.VersionWithStage(w.stages(), "AWSCURRENT")),
	}); err != nil {
		w.t.Fatal(err)
	}
}

// rotateNow runs one ordinary rotation to completion.
func (w *world) rotateNow() (string, error) {
	v := w.startRotation()
	w.waitRotations()
	return v, w.p.LastRotation().Err
}

func (w *world) deps() deps {
	return deps{
		operator: func(context.Context) (*operator.Operator, error) {
			w.mu.Lock()
			shift := w.shift
			w.mu.Unlock()
			cw := clickwrap.NewClient(w.cw.Client())
			cw.Retry = fastRetry
			return &operator.Operator{Secrets: w.sm.Client(), Clickwrap: cw, Now: func() time.Time { return time.Now().Add(shift) }}, nil
		},
		terminal: func(io.Writer) bool {
			w.mu.Lock()
			defer w.mu.Unlock()
			return w.terminal
		},
	}
}

// result is one rotatorctl run.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return "exit " + strconv.Itoa(r.code) + "\n--- stdout\n" + r.stdout + "--- stderr\n" + r.stderr
}

// has reports whether stdout holds text, ignoring how lines were wrapped.
func (r result) has(text string) bool {
	return strings.Contains(flat(r.stdout), flat(text))
}

func flat(s string) string { return strings.Join(strings.Fields(s), " ") }

// run runs rotatorctl in-process with stdin (nil: no stdin at all).
func (w *world) run(stdin io.Reader, args ...string) result {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return w.runCtx(ctx, stdin, args...)
}

func (w *world) runCtx(ctx context.Context, stdin io.Reader, args ...string) result {
	w.t.Helper()
	return w.runDeps(ctx, w.deps(), stdin, args...)
}

// runDeps runs rotatorctl in-process with d, recording its output for the
// world's checks.
func (w *world) runDeps(ctx context.Context, d deps, stdin io.Reader, args ...string) result {
	w.t.Helper()
	var out, errOut bytes.Buffer
	code := run(ctx, args, stdin, &out, &errOut, d)
	r := result{code: code, stdout: out.String(), stderr: errOut.String()}
	w.mu.Lock()
	w.outputs = append(w.outputs, r.stdout, r.stderr)
	w.mu.Unlock()
	return r
}

// expect runs rotatorctl and fails the test unless it exits with code.
func (w *world) expect(code int, stdin io.Reader, args ...string) result {
	w.t.Helper()
	r := w.run(stdin, args...)
	if r.code != code {
		w.t.Fatalf("rotatorctl %s: exit %d, want %d\n%s", strings.Join(args, " "), r.code, code, r)
	}
	return r
}

// status runs status --json for the world's secret and decodes it.
func (w *world) status(args ...string) (statusJSON, result) {
	w.t.Helper()
	return w.statusOf(secretName, args...)
}

// statusOf runs status --json for secret name and decodes it.
func (w *world) statusOf(name string, args ...string) (statusJSON, result) {
	w.t.Helper()
	r := w.run(nil, append([]string{"status", name, "--json"}, args...)...)
	var s statusJSON
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		w.t.Fatalf("status --json output does not have the documented shape: %v\n%s", err, r)
	}
	return s, r
}

// expectStatus runs status --json with args and fails the test unless it
// exits with code and diagnoses state, with the fields every report has.
func (w *world) expectStatus(code int, state operator.State, args ...string) statusJSON {
	w.t.Helper()
	s, r := w.status(args...)
	if r.code != code || operator.State(s.Diagnosis.State) != state {
		w.t.Fatalf("exit %d state %s, want exit %d state %s\n%s", r.code, s.Diagnosis.State, code, state, r)
	}
	if s.Secret.Name != secretName || s.Secret.ARN != w.arn || s.CheckedAt.IsZero() || len(s.Versions) == 0 {
		w.t.Errorf("secret %+v, checked_at %v, %d versions", s.Secret, s.CheckedAt, len(s.Versions))
	}
	if s.Diagnosis.Message == "" {
		w.t.Error("no message")
	}
	return s
}

// assertNoLeak checks that no secret value (the client secret, any access
// token ever stored, a RotationToken) appears in anything rotatorctl printed
// or the function logged.
func (w *world) assertNoLeak() {
	w.t.Helper()
	values := []string{clientSecret}
	w.mu.Lock()
	values = append(values, w.secrets...)
	w.mu.Unlock()
	for _, id := range w.allVersions() {
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
	all := strings.Join(w.outputs, "\n") + w.logs.String()
	w.mu.Unlock()
	for _, v := range values {
		if strings.Contains(all, v) {
			w.t.Errorf("a secret value appears in rotatorctl's output or the function's logs")
		}
	}
}

// blankVersionID finds a version id left blank in text or JSON output:
// "version )", "version ,", "version  is", "(version , token",
// "version_id": "" and the like.
var blankVersionID = regexp.MustCompile(`(?i)\bversions? (?:[).,:;]|$)|\bversion {2}[a-z]|"(?:version_id|current_version|pending_version)": ""`)

// assertNoBlankVersionID checks everything rotatorctl printed for a version
// id left blank.
func (w *world) assertNoBlankVersionID() {
	w.t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, out := range w.outputs {
		for _, line := range strings.Split(out, "\n") {
			if blankVersionID.MatchString(line) {
				w.t.Errorf("a blank version id in rotatorctl's output: %q", line)
			}
		}
	}
}

// allVersions lists every version ever made, labelled or not.
func (w *world) allVersions() []string {
	out, err := w.sm.Client().ListSecretVersionIds(context.Background(), &secretsmanager.ListSecretVersionIdsInput{
		SecretId: aws.String(w.arn), IncludeDeprecated: aws.Bool(true),
	})
	if err != nil {
		return nil
	}
	var ids []string
	for _, v := range out.Versions {
		ids = append(ids, aws.ToString(v.VersionId))
	}
	return ids
}

// statusJSON is the documented shape of status --json.
type statusJSON struct {
	Secret struct {
		Name string `json:"name"`
		ARN  string `json:"arn"`
	} `json:"secret"`
	Rotation struct {
		Enabled      bool      `json:"enabled"`
		LambdaARN    string    `json:"lambda_arn"`
		Schedule     string    `json:"schedule"`
		Window       string    `json:"window"`
		LastRotated  time.Time `json:"last_rotated"`
		NextRotation time.Time `json:"next_rotation"`
	} `json:"rotation"`
	Versions []struct {
		VersionID string    `json:"version_id"`
		Stages    []string  `json:"stages"`
		Created   time.Time `json:"created"`
	} `json:"versions"`
	Current     *tokenJSON       `json:"current"`
	Pending     *tokenJSON       `json:"pending"`
	Credentials *credentialsJSON `json:"credentials"`
	Diagnosis   struct {
		State          string        `json:"state"`
		Message        string        `json:"message"`
		Fix            string        `json:"fix"`
		More           []findingJSON `json:"more"`
		CurrentVersion string        `json:"current_version"`
		PendingVersion string        `json:"pending_version"`
		PendingSince   time.Time     `json:"pending_since"`
	} `json:"diagnosis"`
	Warnings  []string  `json:"warnings"`
	CheckedAt time.Time `json:"checked_at"`
}

// credentialsJSON is status --json's "credentials": where the AWSCURRENT
// value keeps the client credentials.
type credentialsJSON struct {
	Form                      string   `json:"form"`
	ClientID                  string   `json:"client_id"`
	ClientSecretInTokenSecret *bool    `json:"client_secret_in_token_secret"`
	Warning                   string   `json:"warning"`
	Secret                    string   `json:"secret"`
	Value                     string   `json:"value"`
	Problem                   string   `json:"problem"`
	Applications              []string `json:"applications"`
	NextClientID              string   `json:"next_client_id"`
}

type findingJSON struct {
	State   string `json:"state"`
	Message string `json:"message"`
	Fix     string `json:"fix"`
}

type tokenJSON struct {
	Stage        string    `json:"stage"`
	VersionID    string    `json:"version_id"`
	Value        string    `json:"value"`
	Problem      string    `json:"problem"`
	ClientID     string    `json:"client_id"`
	ClientSecret string    `json:"client_secret"`
	AccessToken  string    `json:"access_token"`
	Fingerprint  string    `json:"fingerprint"`
	TokenType    string    `json:"token_type"`
	ExpiresAt    time.Time `json:"expires_at"`
	TokenURL     string    `json:"token_url"`
	APIURL       string    `json:"api_url"`
	Check        *struct {
		Result   string `json:"result"`
		Detail   string `json:"detail"`
		Endpoint string `json:"endpoint"`
	} `json:"check"`
}

func (s statusJSON) states() []string {
	out := []string{s.Diagnosis.State}
	for _, f := range s.Diagnosis.More {
		out = append(out, f.State)
	}
	return out
}

// startRotation calls RotateSecret as the schedule would, without waiting.
func (w *world) startRotation() string {
	w.t.Helper()
	out, err := w.sm.Client().RotateSecret(context.Background(), &secretsmanager.RotateSecretInput{SecretId: aws.String(w.arn)})
	if err != nil {
		w.t.Fatal(err)
	}
	return aws.ToString(out.VersionId)
}

// blockAt makes the function stop at step until the test ends, and returns
// once a rotation has reached it: the rotation is then in progress.
func (w *world) blockAt(step rotation.Step) string {
	w.t.Helper()
	reached, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	w.setHook(func(ctx context.Context, ev rotation.Event) error {
		if ev.Step == string(step) {
			once.Do(func() { close(reached) })
			select {
			case <-release:
			case <-ctx.Done():
			}
		}
		return nil
	})
	w.t.Cleanup(func() { close(release); w.waitRotations() })
	v := w.startRotation()
	select {
	case <-reached:
	case <-time.After(10 * time.Second):
		w.t.Fatalf("the rotation did not reach %s", step)
	}
	return v
}

// configuredWithoutToken turns rotation on without rotating (as
// RotateImmediately=false does: Secrets Manager only tests the
// configuration), so AWSCURRENT still holds only the client credentials.
func (w *world) configuredWithoutToken() {
	w.t.Helper()
	if _, err := w.sm.Client().RotateSecret(context.Background(), &secretsmanager.RotateSecretInput{
		SecretId:          aws.String(w.arn),
		RotationLambdaARN: aws.String(localrun.LambdaARN),
		RotationRules:     &types.RotationRulesType{AutomaticallyAfterDays: aws.Int64(30)},
		RotateImmediately: aws.Bool(false),
	}); err != nil {
		w.t.Fatal(err)
	}
	w.waitRotations()
}

func (w *world) setShift(d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.shift = d
}

func (w *world) setTerminal(on bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.terminal = on
}

// calls returns the Secrets Manager calls made since the last resetCalls.
func (w *world) calls() map[string]int { return w.sm.Calls() }

// configureAndRotate turns rotation on and rotates once more, so that
// AWSPREVIOUS holds a token too.
func (w *world) configureAndRotate() {
	w.t.Helper()
	w.configure()
	if _, err := w.rotateNow(); err != nil {
		w.t.Fatal(err)
	}
}
