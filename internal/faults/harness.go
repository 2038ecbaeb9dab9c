package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/clickwrap-rotator/clickwrap-rotator/clickwrap"
	"github.com/clickwrap-rotator/clickwrap-rotator/internal/lambdarie"
	"github.com/clickwrap-rotator/clickwrap-rotator/internal/localrun"
	"github.com/clickwrap-rotator/clickwrap-rotator/internal/secretsmanagertest"
	"github.com/clickwrap-rotator/clickwrap-rotator/internal/syncbuf"
	"github.com/clickwrap-rotator/clickwrap-rotator/rotation"
)

const (
	clientID     = "faults-app"
	clientSecret = "faults-client-secret-7f3a9c"
	// The second API application of a scenario in the split form
	// (Scenario.Split): the first is clientID.
	secondClientID     = "faults-app-2"
	secondClientSecret = "faults-client-secret-2-b81d4e"

	defaultTimeout  = 20 * time.Second
	scenarioTimeout = 3 * time.Minute
	sampleEvery     = 5 * time.Millisecond
	// barrierWait bounds how long a barrier holds a call for its partner.
	barrierWait = 10 * time.Second
)

// tokenFields are the fields rotation rewrites; every other field must be
// carried over unchanged. In the split form client_id is rewritten too: it
// names the application that minted the token (splitTokenFields).
var (
	tokenFields      = []string{clickwrap.FieldAccessToken, clickwrap.FieldTokenType, clickwrap.FieldExpiresAt}
	splitTokenFields = append(slices.Clone(tokenFields), clickwrap.FieldClientID)
)

// env is one scenario's running world.
type env struct {
	opts    Options
	sc      Scenario
	dir     string
	timeout time.Duration
	st      *localrun.Stack
	sm      *secretsmanager.Client

	tokenURL, apiURL string
	original         string // the first SecretString
	// edits are SecretStrings an owner put during the scenario: a version
	// made from one of them keeps its fields, not the original's.
	edits        []string
	initialToken string
	arn, first   string // the secret and its first version
	// credsARN is the credentials secret of a scenario in the split form
	// (Scenario.Split); empty in the inline form.
	credsARN string

	extraLogs syncbuf.Buffer
	cleanups  []func()
	// removeFault undoes a fault set with an OnCall hook (for heal).
	removeFault func()
	// closedAddr is the loopback address of scenario 1's refusing Clickwrap;
	// releaseClosed frees its port for the relay that heals it.
	closedAddr    string
	releaseClosed func()

	mu                        sync.Mutex
	sampling                  bool
	last                      time.Time
	lastCurOK, lastAnyOK      bool
	curRejected, noneAccepted time.Duration
	curRejectedSeen, noneSeen bool
	notes                     []string
	// putTokens are the tokens seen in PutSecretValue inputs (applied or
	// not): the orphans whose value the harness knows.
	putTokens map[string]bool
	// rotationTokens are the RotationTokens seen in PutSecretValue inputs,
	// for the leak check.
	rotationTokens map[string]bool
	harnessErrs    []error
}

func (e *env) cleanup(f func()) { e.cleanups = append(e.cleanups, f) }

func (e *env) harnessErr(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.harnessErrs = append(e.harnessErrs, err)
}

func (e *env) note(format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.notes = append(e.notes, fmt.Sprintf(format, args...))
}

// onCall registers an emulator hook that is removed when the scenario ends.
func (e *env) onCall(op string, fn func(secretsmanagertest.Call) error) (remove func()) {
	remove = e.st.Secrets.OnCall(op, fn)
	e.cleanup(remove)
	return remove
}

func runScenario(ctx context.Context, opts Options, sc Scenario) (res Result) {
	res.Scenario = sc
	ctx, cancel := context.WithTimeout(ctx, scenarioTimeout)
	defer cancel()
	e := &env{opts: opts, sc: sc, timeout: sc.Timeout}
	if e.timeout == 0 {
		e.timeout = defaultTimeout
	}
	defer func() {
		for i := len(e.cleanups) - 1; i >= 0; i-- {
			e.cleanups[i]()
		}
		if e.st != nil {
			res.Logs = e.st.Logs() + e.extraLogs.String()
			e.st.Close()
		}
		if e.dir != "" {
			os.RemoveAll(e.dir)
		}
		e.mu.Lock()
		if len(e.harnessErrs) > 0 && res.HarnessErr == nil {
			res.HarnessErr = errors.Join(e.harnessErrs...)
		}
		if len(e.notes) > 0 {
			res.Note = strings.Join(append([]string{res.Note}, e.notes...), "; ")
			res.Note = strings.TrimPrefix(res.Note, "; ")
		}
		e.mu.Unlock()
	}()
	if err := e.start(ctx); err != nil {
		res.HarnessErr = err
		return res
	}
	// Sample the consumers' view at every call the rotator makes (these
	// hooks come first, so they run before any fault's hook), and in between
	// on a ticker.
	for _, op := range []string{"DescribeSecret", "GetSecretValue", "PutSecretValue", "UpdateSecretVersionStage"} {
		e.onCall(op, func(c secretsmanagertest.Call) error {
			if op == "PutSecretValue" {
				e.sawPut(c.Input)
			}
			e.sample()
			return nil
		})
	}
	if sc.setup != nil {
		if err := sc.setup(ctx, e); err != nil {
			res.HarnessErr = fmt.Errorf("setup: %w", err)
			return res
		}
	}
	e.st.Sandbox.ResetStats()
	e.st.Secrets.ResetCalls()
	e.setSampling(true)
	stopTicker := make(chan struct{})
	tickerDone := make(chan struct{})
	go func() {
		defer close(tickerDone)
		t := time.NewTicker(sampleEvery)
		defer t.Stop()
		for {
			select {
			case <-stopTicker:
				return
			case <-t.C:
				e.sample()
			}
		}
	}()

	start := time.Now()
	drive := sc.drive
	if drive == nil {
		drive = func(ctx context.Context, e *env) driven { return e.rotateAndRetry(ctx) }
	}
	d := drive(ctx, e)
	res.Duration = time.Since(start)
	close(stopTicker)
	<-tickerDone
	e.sample()
	e.setSampling(false)

	e.measure(ctx, d, &res)
	if res.HarnessErr != nil {
		return res
	}
	if (res.Stuck != NotStuck || !res.CurrentValid) && sc.heal != nil {
		res.Heal, res.HealErr = e.healAndRetry(ctx)
	}
	return res
}

// start brings the stack up and creates the secret, whose token the sandbox
// minted (and accepts).
func (e *env) start(ctx context.Context) error {
	dir, err := os.MkdirTemp(e.opts.Dir, "scenario-"+e.sc.ID+"-*")
	if err != nil {
		return err
	}
	e.dir = dir
	var extra []string
	if e.sc.fnEnv != nil {
		if extra, err = e.sc.fnEnv(e); err != nil {
			return fmt.Errorf("function environment: %w", err)
		}
	}
	st, err := localrun.Start(ctx, localrun.Options{Dir: dir, Bootstrap: e.opts.Bootstrap, Timeout: e.timeout, Env: extra})
	if err != nil {
		return err
	}
	e.st = st
	e.sm = st.Secrets.Client()
	st.Sandbox.AddClient(clientID, clientSecret)
	if e.sc.Split {
		st.Sandbox.AddClient(secondClientID, secondClientSecret)
	}

	e.tokenURL, e.apiURL = st.Sandbox.TokenURL(), st.Sandbox.APIURL()
	if e.sc.urls != nil {
		if e.tokenURL, e.apiURL, err = e.sc.urls(e); err != nil {
			return fmt.Errorf("endpoints: %w", err)
		}
	}
	mintFrom, err := clickwrap.ParseSecret(fmt.Sprintf(`{"client_id":%q,"client_secret":%q,"token_url":%q}`, clientID, clientSecret, st.Sandbox.TokenURL()))
	if err != nil {
		return err
	}
	tok, err := clickwrap.NewClient(st.Sandbox.Client()).Mint(ctx, mintFrom)
	if err != nil {
		return fmt.Errorf("minting the first token: %w", err)
	}
	e.initialToken = tok.AccessToken
	// The inline form holds the client credentials; the split form names
	// the credentials secret, which lists both applications, and records
	// that the first one minted the token.
	credentials := `,"client_secret":` + quote(clientSecret)
	if e.sc.Split {
		e.credsARN = st.Secrets.CreateSecret("clickwrap/faults-"+e.sc.ID+"-credentials", `{"token_url":`+quote(st.Sandbox.TokenURL())+`,"applications":[`+
			`{"client_id":`+quote(clientID)+`,"client_secret":`+quote(clientSecret)+`},`+
			`{"client_id":`+quote(secondClientID)+`,"client_secret":`+quote(secondClientSecret)+`}]}`)
		credentials = `,"credentials_secret":` + quote(e.credsARN)
	}
	// Fields of every kind a user may keep in the secret: strings, a nested
	// object, and a number whose spelling must survive.
	e.original = `{"client_id":` + quote(clientID) + credentials +
		`,"access_token":` + quote(tok.AccessToken) + `,"token_type":"Bearer","token_url":` + quote(e.tokenURL) +
		`,"api_url":` + quote(e.apiURL) + `,"owner":"platform-team","limits":{"rps":5,"ids":[1,2,3]},"cost_center":4200.50}`
	e.arn = st.Secrets.CreateSecret("clickwrap/faults-"+e.sc.ID, e.original)
	for id := range st.Secrets.Stages(e.arn) {
		e.first = id
	}
	return nil
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// rotateSecret starts a rotation as the service's RotateSecret does and
// waits for it.
func (e *env) rotateSecret(ctx context.Context) error {
	out, err := e.sm.RotateSecret(ctx, localrun.RotateSecretInput(e.arn))
	if err != nil {
		return fmt.Errorf("RotateSecret: %w", err)
	}
	if err := e.st.Secrets.Wait(ctx); err != nil {
		return err
	}
	return e.rotationErr(aws.ToString(out.VersionId))
}

// rotationErr is the error of the last rotation run of version.
func (e *env) rotationErr(version string) error {
	rs := e.st.Secrets.Rotations(e.arn)
	for i := len(rs) - 1; i >= 0; i-- {
		if rs[i].VersionID == version {
			return rs[i].Err
		}
	}
	return fmt.Errorf("no rotation of version %s was recorded", version)
}

// rotateAndRetry is what the service does: RotateSecret, then, while the
// rotation fails, RetryRotation up to Options.Retries times.
func (e *env) rotateAndRetry(ctx context.Context) driven {
	var d driven
	err := e.rotateSecret(ctx)
	d.attempts = append(d.attempts, err)
	for i := 0; err != nil && i < ServiceRetries; i++ {
		err = e.st.Secrets.RetryRotation(ctx, e.arn)
		d.attempts = append(d.attempts, err)
	}
	return d
}

// healAndRetry removes the fault and lets the service retry once more: the
// stuck rotation when AWSPENDING is left, otherwise the next scheduled one.
func (e *env) healAndRetry(ctx context.Context) (Heal, string) {
	if err := e.sc.heal(ctx, e); err != nil {
		e.harnessErr(fmt.Errorf("heal: %w", err))
		return HealFails, err.Error()
	}
	pending := e.pendingVersion()
	if pending == "" {
		if err := e.rotateSecret(ctx); err != nil {
			return HealFails, Shorten(err.Error())
		}
		pending = e.versionWith(rotation.StageCurrent)
		if !e.st.Sandbox.Valid(e.tokenOf(pending)) {
			return HealFails, "the next rotation did not leave a working AWSCURRENT"
		}
		return HealClears, ""
	}
	if err := e.st.Secrets.RetryRotation(ctx, e.arn); err != nil {
		return HealFails, Shorten(err.Error())
	}
	if cur := e.versionWith(rotation.StageCurrent); cur != pending {
		return HealFails, "the retry succeeded but AWSCURRENT did not move"
	}
	return HealClears, ""
}

func (e *env) versionWith(stage string) string {
	for id, stages := range e.st.Secrets.Stages(e.arn) {
		if slices.Contains(stages, stage) {
			return id
		}
	}
	return ""
}

// pendingVersion is the version with AWSPENDING and without AWSCURRENT.
func (e *env) pendingVersion() string {
	for id, stages := range e.st.Secrets.Stages(e.arn) {
		if slices.Contains(stages, rotation.StagePending) && !slices.Contains(stages, rotation.StageCurrent) {
			return id
		}
	}
	return ""
}

// tokenOf is the access_token of a version ("" if it has no value).
func (e *env) tokenOf(version string) string {
	v, ok := e.st.Secrets.Value(e.arn, version)
	if !ok {
		return ""
	}
	return accessToken(v)
}

func accessToken(secretString string) string {
	var s struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.Unmarshal([]byte(secretString), &s)
	return s.AccessToken
}

// sawPut records the token and the RotationToken a PutSecretValue carries.
func (e *env) sawPut(input []byte) {
	var in struct{ SecretString, RotationToken string }
	if json.Unmarshal(input, &in) != nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if in.RotationToken != "" {
		if e.rotationTokens == nil {
			e.rotationTokens = map[string]bool{}
		}
		e.rotationTokens[in.RotationToken] = true
	}
	if tok := accessToken(in.SecretString); tok != "" {
		if e.putTokens == nil {
			e.putTokens = map[string]bool{}
		}
		e.putTokens[tok] = true
	}
}

func (e *env) setSampling(on bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.sampling = on
}

// sample looks at the secret as a consumer would: is AWSCURRENT's token
// accepted, and if not, is AWSPENDING's?
func (e *env) sample() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.sampling {
		return
	}
	cur := e.tokenOf(e.versionWith(rotation.StageCurrent))
	curOK := cur != "" && e.st.Sandbox.Valid(cur)
	anyOK := curOK
	if !anyOK {
		if p := e.tokenOf(e.pendingVersion()); p != "" {
			anyOK = e.st.Sandbox.Valid(p)
		}
	}
	now := time.Now()
	if !e.last.IsZero() {
		if !e.lastCurOK {
			e.curRejected += now.Sub(e.last)
		}
		if !e.lastAnyOK {
			e.noneAccepted += now.Sub(e.last)
		}
	}
	e.curRejectedSeen = e.curRejectedSeen || !curOK
	e.noneSeen = e.noneSeen || !anyOK
	e.last, e.lastCurOK, e.lastAnyOK = now, curOK, anyOK
}

// measure fills the result from the drive and the state left behind.
func (e *env) measure(ctx context.Context, d driven, res *Result) {
	res.Attempts = len(d.attempts)
	res.Note = d.note
	var firstErr error
	for _, err := range d.attempts {
		if err == nil {
			continue
		}
		res.Failures++
		if firstErr == nil {
			firstErr = err
		}
		var fe *lambdarie.FunctionError
		switch {
		case errors.Is(err, lambdarie.ErrTimeout):
			res.TimedOut++
		case errors.As(err, &fe) && fe.StatusCode == 502:
			res.Died++
		}
	}
	for _, err := range d.other {
		if firstErr == nil && err != nil {
			firstErr = err
		}
	}
	if firstErr != nil {
		res.FullErr = firstErr.Error()
		res.Err = Shorten(res.FullErr)
	}
	cur := e.versionWith(rotation.StageCurrent)
	// A version an owner put holds the first token: only a rotation
	// stores a new one.
	res.Succeeded = cur != "" && cur != e.first && e.tokenOf(cur) != e.initialToken
	res.CurrentValid = e.st.Sandbox.Valid(e.tokenOf(cur))

	e.mu.Lock()
	res.CurrentRejected, res.NoneAccepted = e.curRejected, e.noneAccepted
	res.CurrentRejectedSeen, res.NoneAcceptedSeen = e.curRejectedSeen, e.noneSeen
	e.mu.Unlock()

	if p := e.pendingVersion(); p != "" {
		res.Stuck = StuckEmpty
		if _, ok := e.st.Secrets.Value(e.arn, p); ok {
			res.Stuck = StuckWithValue
		}
	}

	calls := e.st.Secrets.Calls()
	res.Calls = Calls{Describe: calls["DescribeSecret"], Get: calls["GetSecretValue"], Put: calls["PutSecretValue"], Update: calls["UpdateSecretVersionStage"]}
	stats := e.st.Sandbox.Stats()
	res.TokenRequests, res.APIRequests, res.Minted = stats.TokenRequests, stats.APIRequests, stats.Minted

	// Every version, labelled or not, for the stored tokens and the fields.
	out, err := e.sm.ListSecretVersionIds(ctx, &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String(e.arn), IncludeDeprecated: aws.Bool(true)})
	if err != nil {
		res.HarnessErr = fmt.Errorf("listing versions: %w", err)
		return
	}
	rewritten := tokenFields
	if e.sc.Split {
		rewritten = splitTokenFields
	}
	var wants [][]field
	for _, v := range append([]string{e.original}, e.edits...) {
		want, err := keptFields(v, rewritten)
		if err != nil {
			res.HarnessErr = err
			return
		}
		wants = append(wants, want)
	}
	stored := map[string]bool{}
	res.FieldsKept = true
	var problems []string
	for _, v := range out.Versions {
		id := aws.ToString(v.VersionId)
		value, ok := e.st.Secrets.Value(e.arn, id)
		if !ok || id == e.first {
			continue
		}
		if tok := accessToken(value); tok != "" && tok != e.initialToken {
			stored[tok] = true
		}
		got, err := keptFields(value, rewritten)
		if err != nil {
			problems = append(problems, fmt.Sprintf("version %s: %v", id, err))
			continue
		}
		p := compareFields(got, wants[0])
		for _, want := range wants[1:] {
			if p != "" && compareFields(got, want) == "" {
				p = ""
			}
		}
		if p == "" && e.sc.Split {
			p = e.checkApplication(value)
		}
		if p != "" {
			problems = append(problems, fmt.Sprintf("version %s: %s", id, p))
		}
	}
	if len(problems) > 0 {
		res.FieldsKept = false
		res.FieldsNote = strings.Join(problems, "; ")
	}
	res.Stored = len(stored)
	res.Orphans = res.Minted - res.Stored
	res.Secrets = append(res.Secrets, clientSecret, e.initialToken)
	if e.sc.Split {
		res.Secrets = append(res.Secrets, secondClientSecret)
	}
	for tok := range stored {
		res.Secrets = append(res.Secrets, tok)
	}
	e.mu.Lock()
	for tok := range e.putTokens {
		res.Secrets = append(res.Secrets, tok)
	}
	for tok := range e.rotationTokens {
		res.Secrets = append(res.Secrets, tok)
	}
	e.mu.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	for tok := range e.putTokens {
		if !stored[tok] {
			res.KnownOrphans++
			if e.st.Sandbox.Valid(tok) {
				res.LiveOrphans++
			}
		}
	}
}

// field is one key of a secret with its compact JSON value.
type field struct{ key, value string }

// checkApplication says what is wrong with the client_id of a version that
// rotation wrote in the split form ("" if nothing): it must name one of the
// two applications, the one that did not mint the first token, since every
// version is made from AWSCURRENT, which the first application minted until
// a rotation succeeds. (A scenario here succeeds at most once.)
func (e *env) checkApplication(secretString string) string {
	var s struct {
		ClientID string `json:"client_id"`
	}
	_ = json.Unmarshal([]byte(secretString), &s)
	if s.ClientID != secondClientID {
		return fmt.Sprintf("client_id %q, want the second application %q (the first one minted AWSCURRENT's token)", s.ClientID, secondClientID)
	}
	return ""
}

// keptFields lists the fields of a SecretString that rotation must carry
// over (every field but rewritten), in order, with their compact JSON
// values.
func keptFields(secretString string, rewritten []string) ([]field, error) {
	var compact bytes.Buffer
	if err := json.Compact(&compact, []byte(secretString)); err != nil {
		// One JSON value and nothing after it; the error names a
		// character at most, never a value.
		return nil, fmt.Errorf("not valid JSON: %w", err)
	}
	if !bytes.HasPrefix(compact.Bytes(), []byte("{")) {
		return nil, errors.New("not a JSON object")
	}
	// One JSON object, without white space: no read below fails, and every
	// value comes out compact.
	dec := json.NewDecoder(&compact)
	_, _ = dec.Token() // the opening brace
	var out []field
	for dec.More() {
		tok, _ := dec.Token()
		var raw json.RawMessage
		_ = dec.Decode(&raw)
		if key := tok.(string); !slices.Contains(rewritten, key) {
			out = append(out, field{key, string(raw)})
		}
	}
	return out, nil
}

// compareFields says how got differs from want ("" if it does not).
func compareFields(got, want []field) string {
	var p []string
	for _, w := range want {
		i := slices.IndexFunc(got, func(f field) bool { return f.key == w.key })
		switch {
		case i < 0:
			p = append(p, "lost "+w.key)
		case got[i].value != w.value:
			p = append(p, "changed "+w.key)
		}
	}
	for _, g := range got {
		if !slices.ContainsFunc(want, func(f field) bool { return f.key == g.key }) {
			p = append(p, "added "+g.key)
		}
	}
	if len(p) == 0 && !slices.Equal(got, want) {
		p = append(p, "key order changed")
	}
	return strings.Join(p, ", ")
}

// startFunction starts another container of the rotator (another bootstrap
// under its own emulator) on the same Secrets Manager emulator, with the
// environment localrun gives the first one plus extra.
func (e *env) startFunction(ctx context.Context, extra []string) (*lambdarie.Function, error) {
	env := append([]string{
		"AWS_ENDPOINT_URL_SECRETS_MANAGER=" + e.st.Secrets.URL(),
		"SSL_CERT_FILE=" + e.st.CAFile,
		"AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=AKIDLOCALRUN",
		"AWS_SECRET_ACCESS_KEY=local-run-not-a-secret",
	}, extra...)
	fn, err := lambdarie.Start(ctx, lambdarie.Config{Bootstrap: e.opts.Bootstrap, Env: env, Timeout: e.timeout, Output: &e.extraLogs})
	if err != nil {
		return nil, err
	}
	e.cleanup(func() { fn.Close() })
	return fn, nil
}

// invoker sends rotation steps to fn, as localrun.Stack.Invoke does.
func invoker(fn *lambdarie.Function) secretsmanagertest.Invoker {
	return func(ctx context.Context, ev rotation.Event) error {
		payload, err := json.Marshal(ev)
		if err != nil {
			return err
		}
		_, err = fn.Invoke(ctx, payload)
		return err
	}
}

// barrier holds the first n calls of op until all n have arrived (or
// barrierWait passed), so that they are applied at the same moment.
func (e *env) barrier(op string, n int) {
	var (
		mu      sync.Mutex
		arrived int
		all     = make(chan struct{})
	)
	e.onCall(op, func(secretsmanagertest.Call) error {
		mu.Lock()
		arrived++
		k := arrived
		if k == n {
			close(all)
		}
		mu.Unlock()
		if k > n {
			return nil
		}
		select {
		case <-all:
		case <-time.After(barrierWait):
			e.note("only %d of %d %s calls met at the barrier", k, n, op)
		}
		return nil
	})
}

// storeRevokedFirst makes the first two PutSecretValue calls meet, then
// applies first the one whose token Clickwrap no longer accepts (with
// revoke-on-mint: the one minted earlier), then the other.
func (e *env) storeRevokedFirst() {
	var (
		mu      sync.Mutex
		arrived int
		all     = make(chan struct{})
	)
	e.onCall("PutSecretValue", func(c secretsmanagertest.Call) error {
		mu.Lock()
		arrived++
		k := arrived
		if k == 2 {
			close(all)
		}
		mu.Unlock()
		if k > 2 {
			return nil
		}
		select {
		case <-all:
		case <-time.After(barrierWait):
			e.note("only %d of 2 PutSecretValue calls met at the barrier", k)
			return nil
		}
		var in struct{ ClientRequestToken, SecretString string }
		_ = json.Unmarshal(c.Input, &in)
		if !e.st.Sandbox.Valid(accessToken(in.SecretString)) {
			return nil // the revoked token goes first
		}
		// The accepted token waits until the other call stored its value.
		deadline := time.Now().Add(barrierWait)
		for time.Now().Before(deadline) {
			if _, ok := e.st.Secrets.Value(e.arn, in.ClientRequestToken); ok {
				return nil
			}
			time.Sleep(2 * time.Millisecond)
		}
		e.note("the PutSecretValue with the revoked token was not applied first")
		return nil
	})
}

var errKilled = errors.New("the bootstrap was killed before this call was applied")

// killBeforeFirst kills the bootstrap (SIGKILL, by its pid) when it makes
// its first op call, before the call is applied: the process dies between
// minting and storing, and the emulator sees the invocation fail.
func (e *env) killBeforeFirst(op string) {
	var once sync.Once
	e.onCall(op, func(secretsmanagertest.Call) error {
		var stop error
		once.Do(func() {
			pid, err := e.st.Function.BootstrapPID()
			if err != nil {
				e.harnessErr(err)
				return
			}
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				e.harnessErr(fmt.Errorf("killing bootstrap %d: %w", pid, err))
				return
			}
			waitExited(pid, 5*time.Second)
			stop = errKilled
		})
		return stop
	})
}

// waitExited waits until pid is gone or a zombie (Linux /proc).
func waitExited(pid int, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return
		}
		if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) && (b[i+2] == 'Z' || b[i+2] == 'X') {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// forward listens on addr and relays every connection to target (plain TCP:
// TLS passes through end to end). It returns a function that stops it.
func forward(addr, target string) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	var (
		mu    sync.Mutex
		conns = map[net.Conn]bool{}
		wg    sync.WaitGroup
	)
	track := func(c net.Conn, on bool) {
		mu.Lock()
		defer mu.Unlock()
		if on {
			conns[c] = true
		} else {
			delete(conns, c)
		}
	}
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				d, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer d.Close()
				track(c, true)
				track(d, true)
				defer track(c, false)
				defer track(d, false)
				done := make(chan struct{}, 2)
				go func() { _, _ = io.Copy(d, c); done <- struct{}{} }()
				go func() { _, _ = io.Copy(c, d); done <- struct{}{} }()
				<-done
				c.Close()
				d.Close()
				<-done
			})
		}
	})
	return func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	}, nil
}
