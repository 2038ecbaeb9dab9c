package faults

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clickwrap-rotator/clickwrap-rotator/internal/localrun"
	"github.com/clickwrap-rotator/clickwrap-rotator/internal/machine"
)

// workDir holds the bootstrap, built once for the package's tests, and the
// scenarios' files.
var workDir string

func TestMain(m *testing.M) {
	dir, err := localrun.TempDir()
	if err != nil {
		panic(err)
	}
	workDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// TestFaultMatrix runs every scenario under the Lambda runtime emulator and
// asserts its expected row.
func TestFaultMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("the fault matrix runs the real bootstrap under the runtime emulator")
	}
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	bootstrap, err := localrun.BuildOnce(ctx, workDir)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	start := time.Now()
	results, err := Run(ctx, Options{Bootstrap: bootstrap, Dir: dir})
	if err != nil {
		t.Error(err)
	}
	t.Logf("matrix ran in %s", time.Since(start).Round(100*time.Millisecond))
	// The leak check comes before anything is printed: no client secret,
	// token or RotationToken may occur in a row's errors or logs.
	for _, r := range results {
		// The client secret and the first token always, and in the split
		// form the second application's client secret; with tokens stored,
		// those too.
		min := 2 + r.Stored
		if r.Scenario.Split {
			min++
			if !slices.Contains(r.Secrets, clientSecret) || !slices.Contains(r.Secrets, secondClientSecret) {
				t.Errorf("row %s: the leak check does not cover both applications' client secrets", r.Scenario.ID)
			}
		}
		if len(r.Secrets) < min {
			t.Errorf("row %s: the harness reported %d secret values to look for, want at least %d", r.Scenario.ID, len(r.Secrets), min)
		}
		captured := r.Err + r.FullErr + r.HealErr + r.Note + r.Logs
		for _, v := range r.Secrets {
			if v != "" && strings.Contains(captured, v) {
				t.Fatalf("row %s: a secret value occurs in its errors or logs (not printed)", r.Scenario.ID)
			}
		}
	}
	var table strings.Builder
	if err := WriteTable(&table, results); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", table.String())

	if len(results) != len(Scenarios()) {
		t.Fatalf("%d results for %d scenarios", len(results), len(Scenarios()))
	}
	for _, r := range results {
		t.Run(r.Scenario.ID, func(t *testing.T) {
			for _, d := range Check(r) {
				t.Error(d)
			}
			if t.Failed() {
				t.Logf("full error: %s\nnote: %s\nlogs:\n%s", r.FullErr, r.Note, r.Logs)
			}
		})
	}
}

func TestScenarioIDsUnique(t *testing.T) {
	seen := map[string]bool{}
	for _, sc := range Scenarios() {
		if sc.ID == "" || sc.Name == "" || sc.Verdict == "" || seen[sc.ID] {
			t.Errorf("scenario %q: empty field or repeated ID", sc.ID)
		}
		seen[sc.ID] = true
	}
}

func TestShorten(t *testing.T) {
	tests := []struct{ in, want string }{
		{
			"lambda function error: StepError: createSecret for version 0f6b1c1e-8a8e-4a57-9e0e-3b4f5a6b7c8d of secret arn:aws:secretsmanager:us-east-1:123456789012:secret:clickwrap/faults-3-AbCdEf: " +
				"making the pending credential from AWSCURRENT: token endpoint https://127.0.0.1:40123/oauth/token answered HTTP 500 (gave up after 4 tries)",
			"createSecret: token endpoint https://127.0.0.1:PORT/oauth/token answered HTTP 500 (gave up after 4 tries)",
		},
		{
			"lambda function error: Runtime.ExitError: RequestId: 4a1e0c5e-2b7f-4a36-9d52-1c1e2f3a4b5c Error: Runtime exited with error: signal: killed",
			"Runtime exited with error: signal: killed",
		},
		{
			"lambda function error: StepError: createSecret for version v of secret s: storing the pending version: operation error Secrets Manager: PutSecretValue, exceeded maximum number of attempts, 3, " +
				"https response error StatusCode: 400, RequestID: 4a1e0c5e-2b7f-4a36-9d52-1c1e2f3a4b5c, api error ThrottlingException: injected fault",
			"createSecret: storing the pending version: PutSecretValue (3 attempts): api error ThrottlingException: injected fault",
		},
		{
			"finishSecret for version v of secret s: moving AWSCURRENT to this version: operation error Secrets Manager: UpdateSecretVersionStage, https response error StatusCode: 400, " +
				"RequestID: 4a1e0c5e-2b7f-4a36-9d52-1c1e2f3a4b5c, InvalidParameterException: The staging label AWSCURRENT is not attached to version 0f6b1c1e-8a8e-4a57-9e0e-3b4f5a6b7c8d.",
			"finishSecret: moving AWSCURRENT to this version: UpdateSecretVersionStage: InvalidParameterException: The staging label AWSCURRENT is not attached to version <version>.",
		},
		{
			"testSecret for version v of secret s: Clickwrap rejected the token at https://127.0.0.1:1/v1.1/sites (HTTP 401). This version can never pass (secret versions are immutable): remove AWSPENDING from it with `aws ...`, fix the cause, then rotate again",
			"testSecret: Clickwrap rejected the token at https://127.0.0.1:PORT/v1.1/sites (HTTP 401). This version can never pass (…remove AWSPENDING…)",
		},
	}
	for _, tt := range tests {
		if got := Shorten(tt.in); got != tt.want {
			t.Errorf("Shorten(%q)\n got %q\nwant %q", tt.in, got, tt.want)
		}
	}
	long := Shorten(strings.Repeat("x", 400))
	if n := len([]rune(long)); n != maxErrLen || !strings.HasSuffix(long, "…") {
		t.Errorf("a long message is cut to %d runes ending in …, got %d: %q", maxErrLen, n, long)
	}
}

func TestCheck(t *testing.T) {
	sc := Scenario{ID: "x", Want: Expect{Succeeded: true, CurrentValid: true, FieldsKept: true, Calls: calls(4, 3, 1, 1), Mints: 1, Verifies: -1}}
	good := Result{Scenario: sc, Succeeded: true, CurrentValid: true, FieldsKept: true, Calls: *calls(4, 3, 1, 1), TokenRequests: 1, APIRequests: 7}
	if d := Check(good); len(d) != 0 {
		t.Errorf("Check(good) = %v", d)
	}
	bad := good
	bad.Calls.Get, bad.FullErr, bad.Orphans = 4, "boom", 1
	if d := Check(bad); len(d) != 3 {
		t.Errorf("Check(bad) = %v, want 3 differences (calls, error, orphans)", d)
	}
}

func TestTableAndDoc(t *testing.T) {
	r := Result{
		Scenario:   Scenario{ID: "6", Name: "verify | 401", Verdict: "BAD", Want: Expect{Stuck: StuckWithValue, Heal: HealFails, FieldsKept: true, Mints: -1, Verifies: -1}},
		Attempts:   3,
		Failures:   3,
		Err:        "testSecret: HTTP 401",
		FullErr:    "x",
		FieldsKept: true,
		Stuck:      StuckWithValue,
		Heal:       HealFails,
		HealErr:    "still 401",
		Calls:      *calls(9, 9, 1, 0),
	}
	r.Scenario.Want.ErrContains = "x"
	gen, err := Generated([]Result{r}, Machine{Description: machine.Description{OS: "linux", Arch: "amd64", CPUs: 2, CPU: "cpu", Go: "go1.26"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`verify \| 401`, "failed ×3, cleanly", "yes, with value", "does NOT clear it: `still 401`", "19 (9/9/1/0)", "go1.26", "| BAD |"} {
		if !strings.Contains(gen, want) {
			t.Errorf("generated report lacks %q:\n%s", want, gen)
		}
	}

	path := filepath.Join(t.TempDir(), "faults.md")
	if err := UpdateDoc(path, "first\n"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	doc := strings.Replace(string(b), EndMarker+"\n", EndMarker+"\n\n## What this means\n\nhand-written\n", 1)
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := UpdateDoc(path, "second\n"); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(path)
	if got := string(b); strings.Contains(got, "first") || !strings.Contains(got, "second\n"+EndMarker) || !strings.Contains(got, "hand-written") {
		t.Errorf("after UpdateDoc:\n%s", got)
	}
}

func TestFieldsComparison(t *testing.T) {
	orig := `{"client_id":"a","client_secret":"b","access_token":"t0","token_type":"Bearer","owner":"x","limits":{"rps":5},"cost":4200.50}`
	want, err := keptFields(orig, tokenFields)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, value, problem string }{
		{"new token, same fields", `{"client_id":"a","client_secret":"b","access_token":"t1","token_type":"Bearer","expires_at":"2030-01-01T00:00:00Z","owner":"x","limits":{ "rps": 5 },"cost":4200.50}`, ""},
		{"lost", `{"client_id":"a","client_secret":"b","access_token":"t1","limits":{"rps":5},"cost":4200.50}`, "lost owner"},
		{"number respelled", `{"client_id":"a","client_secret":"b","owner":"x","limits":{"rps":5},"cost":4200.5}`, "changed cost"},
		{"nested changed", `{"client_id":"a","client_secret":"b","owner":"x","limits":{"rps":6},"cost":4200.50}`, "changed limits"},
		{"added", `{"client_id":"a","client_secret":"b","owner":"x","limits":{"rps":5},"cost":4200.50,"extra":1}`, "added extra"},
		{"reordered", `{"client_secret":"b","client_id":"a","owner":"x","limits":{"rps":5},"cost":4200.50}`, "key order changed"},
	}
	for _, tt := range tests {
		got, err := keptFields(tt.value, tokenFields)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if p := compareFields(got, want); p != tt.problem {
			t.Errorf("%s: compareFields = %q, want %q", tt.name, p, tt.problem)
		}
	}
	for _, bad := range []string{`["not","an","object"]`, `{"a":1`, `{"a":1} trailing`, `{"a":1}{"b":2}`, `{"a":1,}`, `{"a":tru}`, ""} {
		if _, err := keptFields(bad, tokenFields); err == nil {
			t.Errorf("keptFields accepted %q, which is not one JSON object", bad)
		}
	}

	// The split form: client_id names the minting application and changes
	// with it; a client_secret written into the token secret is an added
	// field.
	split := `{"client_id":"a","credentials_secret":"arn:c","access_token":"t0","token_type":"Bearer","owner":"x"}`
	want, err = keptFields(split, splitTokenFields)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, value, problem string }{
		{"other application", `{"client_id":"b","credentials_secret":"arn:c","access_token":"t1","token_type":"Bearer","owner":"x"}`, ""},
		{"client secret copied", `{"client_id":"b","credentials_secret":"arn:c","client_secret":"s","access_token":"t1","token_type":"Bearer","owner":"x"}`, "added client_secret"},
		{"credentials secret lost", `{"client_id":"b","access_token":"t1","token_type":"Bearer","owner":"x"}`, "lost credentials_secret"},
	} {
		got, err := keptFields(tt.value, splitTokenFields)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if p := compareFields(got, want); p != tt.problem {
			t.Errorf("%s: compareFields = %q, want %q", tt.name, p, tt.problem)
		}
	}
}
