package operator_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/clickwrap-rotator/clickwrap-rotator/clickwrap"
	"github.com/clickwrap-rotator/clickwrap-rotator/internal/localrun"
	"github.com/clickwrap-rotator/clickwrap-rotator/internal/operator"
	"github.com/clickwrap-rotator/clickwrap-rotator/rotation"
)

const (
	diagARN  = "arn:aws:secretsmanager:us-east-1:123456789012:secret:clickwrap/api-token-AbCdEf"
	diagCur  = "11111111-1111-4111-8111-111111111111"
	diagPrev = "22222222-2222-4222-8222-222222222222"
	diagPend = "33333333-3333-4333-8333-333333333333"
)

var diagNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// diagFacts is a healthy secret: rotation every 30 days, rotated a day ago,
// AWSCURRENT holding a token of unknown expiry.
func diagFacts() operator.Facts {
	return operator.Facts{
		Secret: &secretsmanager.DescribeSecretOutput{
			ARN:               aws.String(diagARN),
			Name:              aws.String("clickwrap/api-token"),
			RotationEnabled:   aws.Bool(true),
			RotationLambdaARN: aws.String(localrun.LambdaARN),
			RotationRules:     &types.RotationRulesType{ScheduleExpression: aws.String("rate(30 days)"), Duration: aws.String("3h")},
			LastRotatedDate:   aws.Time(diagNow.Add(-24 * time.Hour)),
			LastChangedDate:   aws.Time(diagNow.Add(-24 * time.Hour)),
			NextRotationDate:  aws.Time(diagNow.Add(29 * 24 * time.Hour)),
			VersionIdsToStages: map[string][]string{
				diagCur:  {"AWSCURRENT"},
				diagPrev: {"AWSPREVIOUS"},
			},
		},
		Versions: []types.SecretVersionsListEntry{
			{VersionId: aws.String(diagCur), CreatedDate: aws.Time(diagNow.Add(-24 * time.Hour))},
			{VersionId: aws.String(diagPrev), CreatedDate: aws.Time(diagNow.Add(-31 * 24 * time.Hour))},
		},
		Current: operator.Value{Kind: operator.ValueOK},
		Now:     diagNow,
	}
}

// withPending adds a version holding AWSPENDING, created ago.
func withPending(f *operator.Facts, ago time.Duration, v operator.Value) {
	f.Secret.VersionIdsToStages[diagPend] = []string{"AWSPENDING"}
	f.Versions = append(f.Versions, types.SecretVersionsListEntry{VersionId: aws.String(diagPend), CreatedDate: aws.Time(diagNow.Add(-ago))})
	f.Secret.LastChangedDate = aws.Time(diagNow.Add(-ago))
	f.Pending = v
}

// tag adds a tag to the secret, as DescribeSecret returns it.
func tag(f *operator.Facts, key, value string) {
	f.Secret.Tags = append(f.Secret.Tags, types.Tag{Key: aws.String(key), Value: aws.String(value)})
}

var (
	rejected  = &clickwrap.StatusError{Op: "verify", URL: "https://api.pactsafe.com/v1.1/sites", StatusCode: 401}
	transient = &clickwrap.StatusError{Op: "verify", URL: "https://api.pactsafe.com/v1.1/sites", StatusCode: 503}
	malformed = &clickwrap.FieldError{Field: "client_secret", Problem: "is missing or empty"}
)

func TestDiagnose(t *testing.T) {
	t.Parallel()
	removePending := rotation.RemovePendingCommand(diagARN, diagPend)
	rotateNow := "aws secretsmanager rotate-secret --secret-id " + diagARN
	tests := []struct {
		name  string
		facts func(f *operator.Facts)
		state operator.State
		more  []operator.State
		fix   string
		words []string // in the message
	}{
		{"healthy", func(*operator.Facts) {}, operator.StateHealthy, nil, "", []string{"Healthy", "on or before 2026-06-30T12:00:00Z"}},
		{"healthy, verified, expiring after the next rotation", func(f *operator.Facts) {
			f.Current = operator.Value{Kind: operator.ValueOK, Checked: true, ExpiresAt: diagNow.Add(40 * 24 * time.Hour)}
		}, operator.StateHealthy, nil, "", []string{"accepted just now", "expiring at 2026-07-11T12:00:00Z (in 40d)"}},
		{"AWSPENDING left on AWSCURRENT", func(f *operator.Facts) {
			f.Secret.VersionIdsToStages[diagCur] = []string{"AWSCURRENT", "AWSPENDING"}
		}, operator.StateHealthy, nil, "", []string{"AWSPENDING is also on the AWSCURRENT version", "blocks nothing"}},

		{"in progress, no value yet", func(f *operator.Facts) {
			withPending(f, time.Minute, operator.Value{Kind: operator.ValueNoValue})
		}, operator.StateInProgress, nil, "", []string{"in progress", diagPend, "(1m ago)", "has not stored its value yet", "still pending at 2026-06-01T12:14:00Z"}},
		{"in progress, token works", func(f *operator.Facts) {
			withPending(f, 5*time.Second, operator.Value{Kind: operator.ValueOK, Checked: true})
		}, operator.StateInProgress, nil, "", []string{"in progress"}},
		{"in progress, check could not be made", func(f *operator.Facts) {
			withPending(f, 5*time.Second, operator.Value{Kind: operator.ValueOK, Checked: true, CheckErr: transient})
		}, operator.StateInProgress, nil, "", []string{"in progress"}},
		{"stuck: old, never created", func(f *operator.Facts) {
			withPending(f, time.Hour, operator.Value{Kind: operator.ValueNoValue})
		}, operator.StateStuck, nil, removePending, []string{"stuck", "(1h ago)", "longer than a rotation takes (15m)", "createSecret never stored a value", "A previous rotation isn't complete"}},
		{"stuck: old, token works", func(f *operator.Facts) {
			withPending(f, 2*time.Hour, operator.Value{Kind: operator.ValueOK, Checked: true})
		}, operator.StateStuck, nil, removePending, []string{"Its credential works", "reattempts a failed rotation on its own"}},
		{"stuck once a rejection settles: token rejected", func(f *operator.Facts) {
			withPending(f, operator.RejectionSettles, operator.Value{Kind: operator.ValueOK, Checked: true, CheckErr: rejected})
		}, operator.StateStuck, nil, removePending, []string{"cannot recover", "rejects its credential", "HTTP 401", "immutable"}},
		// The rotation function retries a refusal this young itself
		// (rotation.PropagationGrace): not a verdict yet.
		{"in progress: token rejected within the grace", func(f *operator.Facts) {
			withPending(f, 3*time.Second, operator.Value{Kind: operator.ValueOK, Checked: true, CheckErr: rejected})
		}, operator.StateInProgress, nil, "", []string{"refuses its credential for now", "HTTP 401", "younger than 15s", "Check again after"}},
		{"stuck at once with StuckAfter 0: token rejected within the grace", func(f *operator.Facts) {
			withPending(f, 3*time.Second, operator.Value{Kind: operator.ValueOK, Checked: true, CheckErr: rejected})
			f.StuckAfter = time.Nanosecond // --stuck-after 0s
		}, operator.StateStuck, nil, removePending, []string{"cannot recover", "rejects its credential"}},
		{"stuck at once with rotation off: token rejected within the grace", func(f *operator.Facts) {
			withPending(f, 3*time.Second, operator.Value{Kind: operator.ValueOK, Checked: true, CheckErr: rejected})
			f.Secret.RotationEnabled = aws.Bool(false)
		}, operator.StateStuck, []operator.State{operator.StateNotEnabled}, removePending, []string{"cannot recover", "rejects its credential"}},
		{"stuck at once: value malformed", func(f *operator.Facts) {
			withPending(f, 3*time.Second, operator.Value{Kind: operator.ValueMalformed, Err: malformed})
		}, operator.StateStuck, nil, removePending, []string{"its value is malformed", `"client_secret" is missing`}},
		{"stuck after a custom StuckAfter", func(f *operator.Facts) {
			withPending(f, 2*time.Minute, operator.Value{Kind: operator.ValueNoValue})
			f.StuckAfter = time.Minute
		}, operator.StateStuck, nil, removePending, []string{"longer than a rotation takes (1m)"}},
		{"no version dates: the last change dates it (old)", func(f *operator.Facts) {
			withPending(f, time.Hour, operator.Value{Kind: operator.ValueNoValue})
			f.Versions = nil
		}, operator.StateStuck, nil, removePending, nil},
		{"no version dates: the last change dates it (recent)", func(f *operator.Facts) {
			withPending(f, time.Minute, operator.Value{Kind: operator.ValueNoValue})
			f.Versions = nil
		}, operator.StateInProgress, nil, "", nil},
		{"no dates at all: not called stuck", func(f *operator.Facts) {
			withPending(f, time.Hour, operator.Value{Kind: operator.ValueNoValue})
			f.Versions, f.Secret.LastChangedDate = nil, nil
		}, operator.StateInProgress, nil, "", nil},

		{"rotation not enabled, configuration kept", func(f *operator.Facts) {
			f.Secret.RotationEnabled = aws.Bool(false)
		}, operator.StateNotEnabled, nil,
			"aws secretsmanager rotate-secret --secret-id " + diagARN + " --rotation-lambda-arn " + localrun.LambdaARN + ` --rotation-rules '{"Duration":"3h","ScheduleExpression":"rate(30 days)"}'`,
			[]string{"not enabled"}},
		{"rotation never configured, no token yet", func(f *operator.Facts) {
			f.Secret.RotationEnabled, f.Secret.RotationLambdaARN, f.Secret.RotationRules, f.Secret.NextRotationDate = nil, nil, nil, nil
			f.Current = operator.Value{Kind: operator.ValueNoToken}
		}, operator.StateNotEnabled, []operator.State{operator.StateNoCredential},
			"aws secretsmanager rotate-secret --secret-id " + diagARN + ` --rotation-lambda-arn FUNCTION_ARN --rotation-rules '{"ScheduleExpression":"rate(30 days)"}'`,
			nil},
		{"rotation not enabled, secret made by the stack", func(f *operator.Facts) {
			f.Secret.RotationEnabled, f.Secret.RotationLambdaARN, f.Secret.RotationRules, f.Secret.NextRotationDate = nil, nil, nil, nil
			tag(f, "team", "payments")
			tag(f, operator.StackNameTag, "clickwrap-rotator")
		}, operator.StateNotEnabled, nil,
			"set EnableRotation=true in samconfig.toml's parameter_overrides, then run: sam deploy --stack-name clickwrap-rotator",
			[]string{"not enabled", "CloudFormation stack clickwrap-rotator", "aws:cloudformation:stack-name", "EnableRotation parameter"}},
		{"rotation not enabled, other tags only: not the stack's", func(f *operator.Facts) {
			f.Secret.RotationEnabled = aws.Bool(false)
			tag(f, "aws:cloudformation:logical-id", "ClickwrapSecret") // no stack name: nothing to deploy
			tag(f, "team", "payments")
		}, operator.StateNotEnabled, nil,
			"aws secretsmanager rotate-secret --secret-id " + diagARN + " --rotation-lambda-arn " + localrun.LambdaARN + ` --rotation-rules '{"Duration":"3h","ScheduleExpression":"rate(30 days)"}'`,
			[]string{"not enabled"}},
		{"malformed", func(f *operator.Facts) {
			f.Current = operator.Value{Kind: operator.ValueMalformed, Err: malformed}
		}, operator.StateMalformed, nil, "aws secretsmanager put-secret-value --secret-id " + diagARN + " --secret-string file://corrected-secret.json",
			[]string{`secret field "client_secret" is missing or empty`, "createSecret refuses it"}},
		{"unreadable", func(f *operator.Facts) {
			f.Current = operator.Value{Kind: operator.ValueUnreadable, Err: errors.New("AccessDeniedException: not allowed")}
		}, operator.StateCheckFailed, nil, "", []string{"Could not read the AWSCURRENT value", "AccessDenied"}},
		{"no credential yet", func(f *operator.Facts) {
			f.Current = operator.Value{Kind: operator.ValueNoToken}
		}, operator.StateNoCredential, nil, rotateNow, []string{"no credential yet"}},
		{"rejected", func(f *operator.Facts) {
			f.Current = operator.Value{Kind: operator.ValueOK, Checked: true, CheckErr: rejected}
		}, operator.StateRejected, nil, rotateNow, []string{"rejects the credential in AWSCURRENT", "HTTP 401"}},
		{"check could not be made", func(f *operator.Facts) {
			f.Current = operator.Value{Kind: operator.ValueOK, Checked: true, CheckErr: transient}
		}, operator.StateCheckFailed, nil, "", []string{"Could not check", "HTTP 503"}},
		{"expired", func(f *operator.Facts) {
			f.Current = operator.Value{Kind: operator.ValueOK, ExpiresAt: diagNow.Add(-time.Hour)}
		}, operator.StateExpired, nil, rotateNow, []string{"expired at 2026-06-01T11:00:00Z (1h ago)"}},
		{"expires before the next rotation", func(f *operator.Facts) {
			f.Current = operator.Value{Kind: operator.ValueOK, ExpiresAt: diagNow.Add(-24 * time.Hour).Add(10 * 24 * time.Hour)}
		}, operator.StateExpiresBeforeRotation, nil,
			"aws secretsmanager rotate-secret --secret-id " + diagARN + ` --rotation-rules '{"ScheduleExpression":"rate(8 days)"}'`,
			[]string{"expires at 2026-06-10T12:00:00Z (in 9d)", "lives about 10d", "rate(8 days)"}},
		{"expires before the next rotation, secret made by the stack", func(f *operator.Facts) {
			f.Current = operator.Value{Kind: operator.ValueOK, ExpiresAt: diagNow.Add(-24 * time.Hour).Add(10 * 24 * time.Hour)}
			tag(f, operator.StackNameTag, "payments-rotator")
		}, operator.StateExpiresBeforeRotation, nil,
			`set RotationScheduleExpression=\"rate(8 days)\" in samconfig.toml's parameter_overrides, then run: sam deploy --stack-name payments-rotator`,
			[]string{"lives about 10d", "rate(8 days)", "CloudFormation stack payments-rotator", "RotationScheduleExpression parameter", "also rotates now"}},
		{"expires before the next rotation, stack's secret, no schedule short enough: rotate now", func(f *operator.Facts) {
			f.Current = operator.Value{Kind: operator.ValueOK, ExpiresAt: diagNow.Add(time.Hour)}
			f.Versions[0].CreatedDate = aws.Time(diagNow)
			tag(f, operator.StackNameTag, "payments-rotator")
		}, operator.StateExpiresBeforeRotation, nil, rotateNow, []string{"shortest schedule"}},
		{"expires before the next rotation, no schedule short enough", func(f *operator.Facts) {
			f.Current = operator.Value{Kind: operator.ValueOK, ExpiresAt: diagNow.Add(time.Hour)}
			f.Versions[0].CreatedDate = aws.Time(diagNow)
		}, operator.StateExpiresBeforeRotation, nil, rotateNow, []string{"lives about 1h", "shortest schedule"}},

		{"stuck comes first", func(f *operator.Facts) {
			withPending(f, time.Hour, operator.Value{Kind: operator.ValueNoValue})
			f.Current = operator.Value{Kind: operator.ValueOK, Checked: true, CheckErr: rejected}
		}, operator.StateStuck, []operator.State{operator.StateRejected}, removePending, nil},
		{"a failing check does not hide an in-progress rotation", func(f *operator.Facts) {
			withPending(f, time.Second, operator.Value{Kind: operator.ValueNoValue})
			f.Current = operator.Value{Kind: operator.ValueOK, Checked: true, CheckErr: transient}
		}, operator.StateCheckFailed, []operator.State{operator.StateInProgress}, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, d := checkDiagnosis(t, tt.facts, tt.state, tt.more, tt.fix, tt.words)
			if d.CurrentVersion != diagCur {
				t.Errorf("current version %q", d.CurrentVersion)
			}
			if _, pending := f.Secret.VersionIdsToStages[diagPend]; pending != (d.PendingVersion == diagPend) {
				t.Errorf("pending version %q", d.PendingVersion)
			}
		})
	}
}

// checkDiagnosis diagnoses diagFacts changed by facts, fails t unless the
// diagnosis has state, the further findings more, fix, and a message with
// each of words, and returns the facts and the diagnosis.
func checkDiagnosis(t *testing.T, facts func(*operator.Facts), state operator.State, more []operator.State, fix string, words []string) (operator.Facts, operator.Diagnosis) {
	t.Helper()
	f := diagFacts()
	facts(&f)
	d := operator.Diagnose(f)
	if d.State != state {
		t.Fatalf("state %s, want %s: %s", d.State, state, d.Message)
	}
	var got []operator.State
	for _, m := range d.More {
		got = append(got, m.State)
	}
	if strings.Join(stateNames(got), ",") != strings.Join(stateNames(more), ",") {
		t.Errorf("more findings %v, want %v", got, more)
	}
	if d.Fix != fix {
		t.Errorf("fix\n got %q\nwant %q", d.Fix, fix)
	}
	for _, w := range words {
		if !strings.Contains(d.Message, w) {
			t.Errorf("message lacks %q: %s", w, d.Message)
		}
	}
	return f, d
}

func stateNames(s []operator.State) []string {
	out := make([]string, len(s))
	for i, st := range s {
		out[i] = string(st)
	}
	return out
}

// TestDiagnoseWithoutFacts: a caller that knows nothing gets no panic.
func TestDiagnoseWithoutFacts(t *testing.T) {
	t.Parallel()
	if d := operator.Diagnose(operator.Facts{}); d.State != operator.StateNotEnabled {
		t.Errorf("state %s", d.State)
	}
}

// TestDiagnosisJSON: the diagnosis is what status --json prints under
// "diagnosis".
func TestDiagnosisJSON(t *testing.T) {
	t.Parallel()
	f := diagFacts()
	withPending(&f, time.Hour, operator.Value{Kind: operator.ValueNoValue})
	f.Current = operator.Value{Kind: operator.ValueOK, Checked: true, CheckErr: rejected}
	b, err := json.Marshal(operator.Diagnose(f))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		State, Message, Fix string
		More                []struct{ State, Message, Fix string }
		CurrentVersion      string    `json:"current_version"`
		PendingVersion      string    `json:"pending_version"`
		PendingSince        time.Time `json:"pending_since"`
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	if got.State != "stuck" || got.Fix == "" || len(got.More) != 1 || got.More[0].State != "credential-rejected" ||
		got.CurrentVersion != diagCur || got.PendingVersion != diagPend || !got.PendingSince.Equal(diagNow.Add(-time.Hour)) {
		t.Errorf("%s", b)
	}
	b, _ = json.Marshal(operator.Diagnose(diagFacts()))
	if strings.Contains(string(b), "pending") || strings.Contains(string(b), "more") || strings.Contains(string(b), "fix") {
		t.Errorf("empty fields not left out: %s", b)
	}
}

func TestSuggestSchedule(t *testing.T) {
	t.Parallel()
	tests := []struct {
		lifetime time.Duration
		want     string
	}{
		{30 * 24 * time.Hour, "rate(28 days)"},
		{10 * 24 * time.Hour, "rate(8 days)"},
		{3 * 24 * time.Hour, "rate(1 day)"},
		{48 * time.Hour, "rate(46 hours)"},
		{6 * time.Hour, "rate(4 hours)"},
		{5 * time.Hour, ""},
		{time.Hour, ""},
		{0, ""},
		{5000 * 24 * time.Hour, "rate(1000 days)"},
	}
	for _, tt := range tests {
		got, ok := operator.SuggestSchedule(tt.lifetime)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("SuggestSchedule(%v) = %q, %v; want %q", tt.lifetime, got, ok, tt.want)
		}
	}
}

func TestShortDuration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		d    time.Duration
		want string
	}{
		{-time.Second, "0s"},
		{0, "0s"},
		{350 * time.Millisecond, "350ms"},
		{12*time.Second + 400*time.Millisecond, "12s"},
		{4*time.Minute + 10*time.Second, "4m10s"},
		{15 * time.Minute, "15m"},
		{2*time.Hour + 5*time.Minute + 7*time.Second, "2h5m"},
		{3 * time.Hour, "3h"},
		{29*24*time.Hour + 23*time.Hour + 59*time.Minute, "29d23h"},
		{48 * time.Hour, "2d"},
	}
	for _, tt := range tests {
		if got := operator.ShortDuration(tt.d); got != tt.want {
			t.Errorf("ShortDuration(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

// TestRemovePendingCommandIsTheRotatorsFix runs a real rotation that
// Clickwrap rejects and that stays stuck, on the emulator and the sandbox:
// the error testSecret returns names exactly the command
// RemovePendingCommand gives, and Diagnose,
// fed what Secrets Manager and Clickwrap say afterwards, calls it stuck with
// that fix.
func TestRemovePendingCommandIsTheRotatorsFix(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// The function removes AWSPENDING from a version that can never pass;
	// when that removal is refused, its error names the command.
	v := e.stuckRotation()
	sm, arn := e.Secrets, e.ARN
	stepErr := e.LastRotation().Err
	if want := "`" + rotation.RemovePendingCommand(arn, v) + "`"; stepErr == nil || !strings.Contains(stepErr.Error(), want) {
		t.Fatalf("testSecret's error %v does not name %s", stepErr, want)
	}

	ctx := context.Background()
	desc, err := sm.Client().DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(arn)})
	if err != nil {
		t.Fatal(err)
	}
	versions, err := sm.Client().ListSecretVersionIds(ctx, &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String(arn)})
	if err != nil {
		t.Fatal(err)
	}
	if got := operator.VersionWithStage(desc.VersionIdsToStages, "AWSPENDING"); got != v {
		t.Fatalf("AWSPENDING on %q, want %q", got, v)
	}
	pendingValue, _ := sm.Value(arn, v)
	ps, err := clickwrap.ParseSecret(pendingValue)
	if err != nil {
		t.Fatal(err)
	}
	d := operator.Diagnose(operator.Facts{
		Secret:   desc,
		Versions: versions.Versions,
		Current:  operator.Value{Kind: operator.ValueNoToken},
		Pending:  operator.Value{Kind: operator.ValueOK, Checked: true, CheckErr: e.Clickwrap.Check(ctx, ps.APIEndpoint(), ps.AccessToken)},
		Now:      time.Now().Add(operator.RejectionSettles),
	})
	if d.State != operator.StateStuck || d.Fix != rotation.RemovePendingCommand(arn, v) || d.PendingVersion != v || d.PendingSince.IsZero() {
		t.Errorf("diagnosis %+v", d)
	}
	if strings.Contains(d.Message, ps.AccessToken) || strings.Contains(d.Message, clientSecret) {
		t.Error("the diagnosis carries a secret value")
	}
}

// TestDiagnoseCredentials judges where the client credentials are kept: the
// inline form and a usable credentials secret are healthy; a credentials
// secret that is missing, unreadable or malformed makes the secret
// unhealthy, ahead of everything but a stuck rotation and a malformed
// AWSCURRENT; a read that failed for a passing reason proves nothing.
func TestDiagnoseCredentials(t *testing.T) {
	t.Parallel()
	const creds = "arn:aws:secretsmanager:us-east-1:123456789012:secret:clickwrap-credentials/api-applications-GhIjKl"
	split := func(v operator.ValueKind, problem string) *operator.CredentialsInfo {
		return &operator.CredentialsInfo{Form: operator.FormSplit, Secret: creds, Value: v, Problem: problem}
	}
	putCreds := "aws secretsmanager put-secret-value --secret-id " + creds + " --secret-string file://credentials.json"
	tests := []struct {
		name  string
		creds *operator.CredentialsInfo
		facts func(f *operator.Facts)
		state operator.State
		more  []operator.State
		fix   string
		words []string
	}{
		{name: "unknown", state: operator.StateHealthy},
		{name: "inline", creds: &operator.CredentialsInfo{Form: operator.FormInline, ClientID: "app-1", ClientSecretInTokenSecret: true},
			state: operator.StateHealthy},
		{name: "split, usable", creds: &operator.CredentialsInfo{Form: operator.FormSplit, Secret: creds, Value: operator.ValueOK,
			Applications: []string{"app-1", "app-2"}, ClientID: "app-1", NextClientID: "app-2"}, state: operator.StateHealthy},
		{name: "missing", creds: split(operator.ValueMissing, "credentials secret "+creds+" was not found"),
			state: operator.StateCredentialsUnusable, words: []string{creds, "not found", "credentials_secret", "createSecret"}},
		{name: "unreadable", creds: split(operator.ValueUnreadable, "credentials secret "+creds+" cannot be decrypted"),
			state: operator.StateCheckFailed, words: []string{creds, "kms:Decrypt", "secretsmanager:GetSecretValue"}},
		{name: "malformed", creds: split(operator.ValueMalformed, "credentials secret "+creds+`: field "applications" is empty`),
			state: operator.StateCredentialsUnusable, fix: putCreds, words: []string{`"applications"`, "from a file"}},
		{name: "read failed", creds: split(operator.ValueReadFailed, "credentials secret "+creds+" could not be read"),
			state: operator.StateCheckFailed, words: []string{"Could not check", "unknown"}},
		{name: "before rotation not enabled", creds: split(operator.ValueMissing, "credentials secret x was not found"),
			facts: func(f *operator.Facts) { f.Secret.RotationEnabled = aws.Bool(false) },
			state: operator.StateCredentialsUnusable, more: []operator.State{operator.StateNotEnabled}},
		{name: "after a stuck rotation", creds: split(operator.ValueMalformed, "credentials secret x is not a JSON object"),
			facts: func(f *operator.Facts) { withPending(f, time.Hour, operator.Value{Kind: operator.ValueNoValue}) },
			state: operator.StateStuck, more: []operator.State{operator.StateCredentialsUnusable}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := diagFacts()
			f.Credentials = tt.creds
			if tt.facts != nil {
				tt.facts(&f)
			}
			d := operator.Diagnose(f)
			var more []operator.State
			for _, m := range d.More {
				more = append(more, m.State)
			}
			if d.State != tt.state || !slices.Equal(more, tt.more) {
				t.Fatalf("state %s, more %v; want %s, %v: %s", d.State, more, tt.state, tt.more, d.Message)
			}
			if tt.state == operator.StateCredentialsUnusable && d.Fix != tt.fix {
				t.Errorf("fix %q, want %q", d.Fix, tt.fix)
			}
			for _, w := range tt.words {
				if !strings.Contains(d.Message, w) {
					t.Errorf("message lacks %q: %s", w, d.Message)
				}
			}
		})
	}
}

// TestDiagnoseEdges: a secret no version of which holds AWSCURRENT is
// secret-empty, most urgent of all (exit 1, not stuck's 3); a pending
// version without a value then cannot pass, whatever its age; and with
// rotation off no rotation can be running, so a pending version is stuck
// however young.
func TestDiagnoseEdges(t *testing.T) {
	t.Parallel()
	removePending := rotation.RemovePendingCommand(diagARN, diagPend)
	putValue := "aws secretsmanager put-secret-value --secret-id " + diagARN + " --secret-string file://clickwrap-secret.json"
	noCurrent := func(f *operator.Facts) {
		delete(f.Secret.VersionIdsToStages, diagCur)
		delete(f.Secret.VersionIdsToStages, diagPrev)
		f.Versions, f.Current = nil, operator.Value{}
	}
	tests := []struct {
		name    string
		facts   func(f *operator.Facts)
		state   operator.State
		more    []operator.State
		fix     string
		words   []string // in the message
		current string
	}{
		{"created without a value", func(f *operator.Facts) {
			noCurrent(f)
			f.Secret.RotationEnabled, f.Secret.VersionIdsToStages = nil, nil
		}, operator.StateEmpty, []operator.State{operator.StateNotEnabled}, putValue,
			[]string{"no AWSCURRENT value", "from a file", "never on the command line", `{"client_id": "...", "client_secret": "..."}`,
				`{"credentials_secret": `, "docs/credentials-secret.md"}, ""},
		{"only a value-less AWSPENDING, a second old", func(f *operator.Facts) {
			noCurrent(f)
			withPending(f, time.Second, operator.Value{Kind: operator.ValueNoValue})
		}, operator.StateEmpty, []operator.State{operator.StateStuck}, putValue,
			[]string{"Version " + diagPend + " holds only AWSPENDING", "remove that label first"}, ""},
		{"rotation off, AWSPENDING a second old", func(f *operator.Facts) {
			f.Secret.RotationEnabled = aws.Bool(false)
			withPending(f, time.Second, operator.Value{Kind: operator.ValueOK})
		}, operator.StateStuck, []operator.State{operator.StateNotEnabled}, removePending,
			[]string{"rotation is off for this secret, so no rotation is running", "A previous rotation isn't complete"}, diagCur},
		{"rotation off, pending token rejected", func(f *operator.Facts) {
			f.Secret.RotationEnabled = aws.Bool(false)
			withPending(f, time.Second, operator.Value{Kind: operator.ValueOK, Checked: true, CheckErr: rejected})
		}, operator.StateStuck, []operator.State{operator.StateNotEnabled}, removePending, []string{"cannot recover"}, diagCur},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, d := checkDiagnosis(t, tt.facts, tt.state, tt.more, tt.fix, tt.words)
			if d.CurrentVersion != tt.current {
				t.Errorf("current version %q, want %q", d.CurrentVersion, tt.current)
			}
			for _, f := range d.Findings() {
				if strings.Contains(f.Message, "version ,") || strings.Contains(f.Message, "version )") || strings.Contains(f.Message, "version .") {
					t.Errorf("a blank version id: %s", f.Message)
				}
			}
		})
	}
}
