package deploy

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws-cloudformation/rain/cft/parse"

	"github.com/clickwrap-rotator/clickwrap-rotator/clickwrap"
	"github.com/clickwrap-rotator/clickwrap-rotator/rotation"
)

const (
	functionID    = "RotatorFunction"
	roleID        = "RotatorRole"
	permissionID  = "RotatorInvokePermission"
	secretID      = "ClickwrapSecret"      // the token secret the stack creates, inline form
	splitSecretID = "ClickwrapSplitSecret" // the token secret the stack creates, split form
	credentialsID = "ClickwrapCredentialsSecret"
	scheduleID    = "SecretRotationSchedule"
	alarmID       = "ErrorsAlarm"
	topicID       = "AlarmTopic"
	topicPolicy   = "AlarmTopicPolicy"
	failedRuleID  = "RotationFailedRule"
)

func TestTemplateIsServerless(t *testing.T) {
	t.Parallel()
	tp := loadTemplate(t)
	if got := tp.raw["Transform"]; got != "AWS::Serverless-2016-10-31" {
		t.Errorf("Transform = %v, want AWS::Serverless-2016-10-31", got)
	}
	if got := tp.raw["AWSTemplateFormatVersion"]; got != "2010-09-09" {
		t.Errorf("AWSTemplateFormatVersion = %v, want 2010-09-09", got)
	}
}

func TestFunction(t *testing.T) {
	t.Parallel()
	tp := loadTemplate(t)
	fn := tp.resource(t, functionID, "AWS::Serverless::Function")
	props := asMap(fn["Properties"])
	tests := []struct {
		path []string
		want any
	}{
		{[]string{"Properties", "Runtime"}, "provided.al2023"},
		{[]string{"Properties", "Handler"}, "bootstrap"},
		{[]string{"Properties", "Architectures"}, []any{"arm64"}},
		{[]string{"Metadata", "BuildMethod"}, "makefile"},
		{[]string{"Properties", "CodeUri"}, "."},
		{[]string{"Properties", "MemorySize"}, 128},
		{[]string{"Properties", "Tracing"}, "Active"},
		{[]string{"Properties", "LoggingConfig", "LogFormat"}, "JSON"},
		{[]string{"Properties", "LoggingConfig", "ApplicationLogLevel"}, ref("LogLevel")},
		{[]string{"Properties", "LoggingConfig", "LogGroup"}, ref("RotatorLogGroup")},
		// cmd/rotator reads AWS_LAMBDA_LOG_LEVEL (set by Lambda from
		// ApplicationLogLevel) and falls back to LOG_LEVEL.
		{[]string{"Properties", "Environment", "Variables", "LOG_LEVEL"}, ref("LogLevel")},
		// An explicit role: SAM then generates none and adds no managed policy.
		{[]string{"Properties", "Role"}, getAtt(roleID, "Arn")},
		{[]string{"Properties", "Policies"}, nil},
		{[]string{"Properties", "PackageType"}, nil},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.path, "."), func(t *testing.T) {
			t.Parallel()
			if got := get(fn, tc.path...); !equal(got, tc.want) {
				t.Errorf("%s.%s = %#v, want %#v", functionID, strings.Join(tc.path, "."), got, tc.want)
			}
		})
	}

	t.Run("ReservedConcurrentExecutions", func(t *testing.T) {
		t.Parallel()
		// AWS advises none, or at least 10, for a rotation function.
		if v, ok := props["ReservedConcurrentExecutions"]; ok {
			if n, isInt := v.(int); !isInt || n < 10 {
				t.Errorf("ReservedConcurrentExecutions = %v: leave it unset or make it at least 10", v)
			}
		}
	})

	t.Run("Timeout", func(t *testing.T) {
		t.Parallel()
		timeout, ok := props["Timeout"].(int)
		if !ok {
			t.Fatalf("Timeout = %#v, want a number of seconds", props["Timeout"])
		}
		budget := stepBudget()
		t.Logf("one step's worst case: %s; Timeout: %ds", budget, timeout)
		if time.Duration(timeout)*time.Second < budget {
			t.Errorf("Timeout %ds is shorter than one rotation step's worst case %s (clickwrap.DefaultRetryPolicy)", timeout, budget)
		}
		if timeout > 900 {
			t.Errorf("Timeout %ds exceeds Lambda's 900 s", timeout)
		}
	})

	t.Run("MakefileTarget", func(t *testing.T) {
		t.Parallel()
		// BuildMethod makefile: sam build runs `make build-<LogicalId>` in
		// CodeUri, which must hold the Makefile.
		codeURI, _ := props["CodeUri"].(string)
		makefile, err := os.ReadFile(rootPath(t, codeURI+"/"+MakefileFile))
		if err != nil {
			t.Fatal(err)
		}
		target := regexp.MustCompile(`(?m)^build-` + functionID + `:`)
		if !target.Match(makefile) {
			t.Errorf("%s/Makefile has no build-%s target for sam build", codeURI, functionID)
		}
	})
}

// stepBudget is the longest one rotation step may need: the Clickwrap
// call with every retry of clickwrap.DefaultRetryPolicy (each try at its
// AttemptTimeout, each backoff at its cap) plus one server-requested
// Retry-After wait, the rotator's deadline margin, the propagation grace
// within which a fresh credential's rejection is retried, and an allowance
// for the Secrets Manager calls of the step.
func stepBudget() time.Duration {
	p := clickwrap.DefaultRetryPolicy
	const secretsManagerCalls = 10 * time.Second
	d := time.Duration(p.MaxAttempts) * p.AttemptTimeout
	for retry := 1; retry < p.MaxAttempts; retry++ {
		d += min(p.BaseDelay<<(retry-1), p.MaxDelay)
	}
	d += p.MaxRetryAfter
	r := rotation.New(nil, nil, nil)
	d += r.DeadlineMargin + r.PropagationGrace
	return d + secretsManagerCalls
}

func TestInvokePermission(t *testing.T) {
	t.Parallel()
	tp := loadTemplate(t)
	ids := tp.resourcesOfType("AWS::Lambda::Permission")
	if !equal(ids, []string{permissionID}) {
		t.Fatalf("Lambda permissions = %v, want exactly %s", ids, permissionID)
	}
	props := asMap(tp.Resources[permissionID]["Properties"])
	tests := []struct {
		key  string
		want []any // any of these
	}{
		{"Principal", []any{"secretsmanager.amazonaws.com"}},
		{"Action", []any{"lambda:InvokeFunction"}},
		// Against the confused deputy: only this account's Secrets Manager.
		{"SourceAccount", []any{ref("AWS::AccountId")}},
		{"FunctionName", []any{getAtt(functionID, "Arn"), ref(functionID)}},
	}
	for _, tc := range tests {
		t.Run(tc.key, func(t *testing.T) {
			t.Parallel()
			if !slices.ContainsFunc(tc.want, func(w any) bool { return equal(props[tc.key], w) }) {
				t.Errorf("%s.%s = %#v, want one of %#v", permissionID, tc.key, props[tc.key], tc.want)
			}
		})
	}
}

// TestSecretAndSchedule checks the placeholder secret and the rule that
// keeps the first rotation off the placeholder: the schedule (which rotates
// at once when created) exists only when asked for with EnableRotation or
// when the secret is an existing one.
func TestSecretAndSchedule(t *testing.T) {
	t.Parallel()
	tp := loadTemplate(t)

	t.Run("placeholder", func(t *testing.T) {
		t.Parallel()
		var fields map[string]any
		_, s := tp.placeholder(t, secretID, &fields)
		if want := map[string]any{clickwrap.FieldClientID: "", clickwrap.FieldClientSecret: ""}; !equal(fields, want) {
			t.Errorf("SecretString = %s, want the placeholder {\"client_id\":\"\",\"client_secret\":\"\"}", s)
		}
		_, err := clickwrap.ParseSecret(s)
		var fe *clickwrap.FieldError
		if !errors.As(err, &fe) || fe.Field != clickwrap.FieldClientID {
			t.Errorf("the rotator must refuse the placeholder naming client_id; ParseSecret says %v", err)
		}
		checkSecretPolicies(t, tp, secretID)
	})

	t.Run("schedule wiring", func(t *testing.T) {
		t.Parallel()
		r := tp.resource(t, scheduleID, "AWS::SecretsManager::RotationSchedule")
		props := asMap(r["Properties"])
		if got := props["RotationLambdaARN"]; !equal(got, getAtt(functionID, "Arn")) {
			t.Errorf("RotationLambdaARN = %#v, want !GetAtt %s.Arn", got, functionID)
		}
		if props["HostedRotationLambda"] != nil {
			t.Error("HostedRotationLambda must not be set: the rotator is this stack's function")
		}
		if got := props["RotateImmediatelyOnUpdate"]; got != true {
			t.Errorf("RotateImmediatelyOnUpdate = %v, want true", got)
		}
		rules := asMap(props["RotationRules"])
		if !equal(rules["ScheduleExpression"], ref("RotationScheduleExpression")) || !equal(rules["Duration"], ref("RotationWindowDuration")) {
			t.Errorf("RotationRules = %#v, want the RotationScheduleExpression and RotationWindowDuration parameters", rules)
		}
		if !slices.ContainsFunc(asList(r["DependsOn"]), func(v any) bool { return v == permissionID }) {
			t.Errorf("%s must DependsOn %s: Secrets Manager invokes the function as soon as the schedule exists", scheduleID, permissionID)
		}
	})

	tests := []struct {
		name         string
		overrides    map[string]string
		wantSecret   bool
		wantSchedule bool
		wantTarget   any // the schedule's SecretId
	}{
		{"defaults: placeholder, no rotation", nil, true, false, nil},
		{"EnableRotation after the credentials are in", map[string]string{"EnableRotation": "true"}, true, true, ref(secretID)},
		{"existing secret rotates at once", map[string]string{"ExistingSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:clickwrap/prod-AbCdEf"}, false, true, ref("ExistingSecretArn")},
		{"existing secret, EnableRotation ignored", map[string]string{"ExistingSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:x-AbCdEf", "EnableRotation": "false"}, false, true, ref("ExistingSecretArn")},
		{"split: both placeholders, no rotation", map[string]string{"CredentialsSecretName": testCredentialsSecretName}, true, false, nil},
		{"split: EnableRotation after the applications are in", map[string]string{"CredentialsSecretName": testCredentialsSecretName, "EnableRotation": "true"}, true, true, ref(splitSecretID)},
		{"split with an existing credentials secret", map[string]string{"ExistingCredentialsSecretArn": testExistingCredentials, "EnableRotation": "true"}, true, true, ref(splitSecretID)},
		{"existing token secret and credentials secret rotate at once", map[string]string{"ExistingSecretArn": testExistingSecretArn, "ExistingCredentialsSecretArn": testExistingCredentials}, false, true, ref("ExistingSecretArn")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := tp.deploy(t, scenario{tc.name, tc.overrides})
			_, inline := d.Resources[secretID]
			_, split := d.Resources[splitSecretID]
			if inline && split {
				t.Fatalf("both %s and %s are created", secretID, splitSecretID)
			}
			gotSecret := inline || split
			sched, gotSchedule := d.Resources[scheduleID]
			if gotSecret != tc.wantSecret || gotSchedule != tc.wantSchedule {
				t.Fatalf("secret created %v, schedule created %v; want %v, %v", gotSecret, gotSchedule, tc.wantSecret, tc.wantSchedule)
			}
			if gotSchedule {
				if got := get(sched, "Properties", "SecretId"); !equal(got, tc.wantTarget) {
					t.Errorf("schedule SecretId = %#v, want %#v", got, tc.wantTarget)
				}
			}
			if got := get(d.Outputs["SecretArn"], "Value"); !equal(got, tc.wantTarget) && tc.wantTarget != nil {
				t.Errorf("output SecretArn = %#v, want %#v", got, tc.wantTarget)
			}
			if got := get(d.Outputs["RotationScheduled"], "Value"); got != fmt.Sprint(tc.wantSchedule) {
				t.Errorf("output RotationScheduled = %#v, want %q", got, fmt.Sprint(tc.wantSchedule))
			}
		})
	}

	t.Run("never on the placeholder", func(t *testing.T) {
		t.Parallel()
		for _, s := range allScenarios() {
			d := tp.deploy(t, s)
			_, inline := d.Resources[secretID]
			_, split := d.Resources[splitSecretID]
			_, scheduled := d.Resources[scheduleID]
			if (inline || split) && scheduled && s.overrides["EnableRotation"] != "true" {
				t.Errorf("%s: the stack schedules rotation of the secret it just created with the placeholder", s)
			}
		}
	})
}

// secretPolicies are the resource attributes of every secret the stack
// creates (the token secret in either form, the credentials secret).
//
// DeletionPolicy RetainExceptOnCreate: the secret is kept when the stack is
// deleted or stops creating it, as with Retain (it may hold the credentials
// and the live token), except when the stack operation that created it
// rolls back: it then holds only the placeholder, and left behind it would
// keep its name taken, so that the next deploy would fail on it.
//
// UpdateReplacePolicy Retain: a replacement (a change of Name) must not
// delete the old secret and what is in it. RetainExceptOnCreate is not a
// value UpdateReplacePolicy takes (Delete, Retain or Snapshot), and a
// replacement never happens in the operation that created the secret.
var secretPolicies = map[string]string{
	"DeletionPolicy":      "RetainExceptOnCreate",
	"UpdateReplacePolicy": "Retain",
}

func checkSecretPolicies(t *testing.T, tp *template, id string) {
	t.Helper()
	r := tp.resource(t, id, "AWS::SecretsManager::Secret")
	for _, key := range slices.Sorted(maps.Keys(secretPolicies)) {
		if got, want := r[key], secretPolicies[key]; got != want {
			t.Errorf("%s %s = %v, want %s", id, key, got, want)
		}
	}
}

// placeholder returns the Properties of secret id, which the stack creates,
// and its SecretString, decoded into v: the placeholder the secret must
// start from, never a generated value.
func (tp *template) placeholder(t *testing.T, id string, v any) (map[string]any, string) {
	t.Helper()
	props := tp.properties(t, id, "AWS::SecretsManager::Secret")
	if props["GenerateSecretString"] != nil {
		t.Errorf("%s must start from the placeholder, not a generated value", id)
	}
	s, _ := props["SecretString"].(string)
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("%s SecretString %q is not JSON of the placeholder's shape: %v", id, s, err)
	}
	return props, s
}

// TestSecretsRetention: every secret the stack may create outlives the
// stack, and none outlives a failed first deploy (see secretPolicies).
func TestSecretsRetention(t *testing.T) {
	t.Parallel()
	tp := loadTemplate(t)
	ids := tp.resourcesOfType("AWS::SecretsManager::Secret")
	if want := []string{credentialsID, secretID, splitSecretID}; !equal(ids, want) {
		t.Errorf("secrets = %v, want %v", ids, want)
	}
	for _, id := range ids {
		checkSecretPolicies(t, tp, id)
	}
}

// TestCredentialsSecret checks the split form's credentials secret: its
// placeholder, and in every combination of the parameters, that the stack
// creates it exactly when asked to, that the token secret it creates then
// names it and holds no client_secret, that the output names it, and that
// nothing but the role's read, the token secret's pointer and that output
// refers to it: consumers, the function's configuration and the rotation
// schedule never need it.
func TestCredentialsSecret(t *testing.T) {
	t.Parallel()
	tp := loadTemplate(t)

	t.Run("placeholder", func(t *testing.T) {
		t.Parallel()
		var placeholder struct {
			Applications []map[string]any `json:"applications"`
		}
		props, s := tp.placeholder(t, credentialsID, &placeholder)
		empty := map[string]any{clickwrap.FieldClientID: "", clickwrap.FieldClientSecret: ""}
		if n := len(placeholder.Applications); n < 1 || n > 2 || slices.ContainsFunc(placeholder.Applications, func(a map[string]any) bool { return !equal(a, empty) }) {
			t.Errorf("SecretString = %s, want {\"applications\": [...]} with one or two empty {\"client_id\":\"\",\"client_secret\":\"\"}", s)
		}
		_, err := clickwrap.ParseCredentials(s)
		var ce *clickwrap.CredentialsError
		if !errors.As(err, &ce) || ce.Field != "applications[0].client_id" {
			t.Errorf("the rotator must refuse the placeholder naming applications[0].client_id; ParseCredentials says %v", err)
		}
		if !equal(props["Name"], ref("CredentialsSecretName")) {
			t.Errorf("Name = %#v, want the CredentialsSecretName parameter", props["Name"])
		}
		checkSecretPolicies(t, tp, credentialsID)
		for _, token := range []string{secretID, splitSecretID} {
			if got, want := props["KmsKeyId"], get(tp.Resources[token], "Properties", "KmsKeyId"); !equal(got, want) {
				t.Errorf("%s KmsKeyId = %#v, want the token secret's %#v", credentialsID, got, want)
			}
		}
	})

	t.Run("split token placeholder", func(t *testing.T) {
		t.Parallel()
		inline := tp.resource(t, secretID, "AWS::SecretsManager::Secret")
		split := tp.resource(t, splitSecretID, "AWS::SecretsManager::Secret")
		// Everything but the form (condition, description, placeholder)
		// is the inline secret's.
		for _, key := range []string{"DeletionPolicy", "UpdateReplacePolicy"} {
			if !equal(split[key], inline[key]) {
				t.Errorf("%s %s = %v, want %s's %v", splitSecretID, key, split[key], secretID, inline[key])
			}
		}
		for _, key := range []string{"Name", "KmsKeyId"} {
			if got, want := get(split, "Properties", key), get(inline, "Properties", key); !equal(got, want) {
				t.Errorf("%s %s = %#v, want %s's %#v", splitSecretID, key, got, secretID, want)
			}
		}
	})

	// Both credentials parameters given: the existing ARN wins, as
	// ExistingSecretArn wins over SecretName.
	both := scenario{"name and ARN: the ARN wins", map[string]string{
		"CredentialsSecretName": testCredentialsSecretName, "ExistingCredentialsSecretArn": testExistingCredentials}}
	for _, s := range append(allScenarios(), both) {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			d := tp.deploy(t, s)
			_, created := d.Resources[credentialsID]
			if created != s.createCredentials() {
				t.Errorf("credentials secret created = %v, want %v (CredentialsSecretName set, ExistingCredentialsSecretArn empty)", created, s.createCredentials())
			}
			credsRef := s.credentialsRef()

			out, hasOutput := d.Outputs["CredentialsSecretArn"]
			if hasOutput != s.hasCredentials() {
				t.Errorf("output CredentialsSecretArn present = %v, want %v", hasOutput, s.hasCredentials())
			} else if hasOutput && !equal(out["Value"], credsRef) {
				t.Errorf("output CredentialsSecretArn = %#v, want %#v", out["Value"], credsRef)
			}
			if got := get(d.Outputs["SecretArn"], "Value"); !equal(got, s.tokenRef()) {
				t.Errorf("output SecretArn = %#v, want the token secret %#v", got, s.tokenRef())
			}

			// The token secret the stack creates, in the form asked for.
			_, inline := d.Resources[secretID]
			split, hasSplit := d.Resources[splitSecretID]
			createToken := s.overrides["ExistingSecretArn"] == ""
			if inline != (createToken && !s.hasCredentials()) || hasSplit != (createToken && s.hasCredentials()) {
				t.Errorf("token secret created inline = %v, split = %v; want %v, %v", inline, hasSplit,
					createToken && !s.hasCredentials(), createToken && s.hasCredentials())
			}
			if hasSplit {
				checkSplitPlaceholder(t, d, split)
			}

			// Only these may name the credentials secret.
			if !s.hasCredentials() {
				return
			}
			allowed := []string{
				"Resources." + roleID + ".Properties.Policies",
				"Resources." + splitSecretID + ".Properties.SecretString",
				"Resources." + credentialsID + ".Properties.Name",
				"Outputs.CredentialsSecretArn.Value",
			}
			rr := collectRefs(map[string]any{"Resources": anyMap(d.Resources), "Outputs": anyMap(d.Outputs)})
			for _, r := range slices.Concat(rr.refs, rr.getAtts, rr.dependsOn) {
				if r.name != credentialsID && r.name != "ExistingCredentialsSecretArn" && r.name != "CredentialsSecretName" {
					continue
				}
				if !slices.ContainsFunc(allowed, func(p string) bool { return strings.HasPrefix(r.where, p) }) {
					t.Errorf("%s names the credentials secret (%s): only the role, the token secret's credentials_secret and the output may", r.where, r.name)
				}
			}
			if got := get(d.Resources[scheduleID], "Properties", "SecretId"); got != nil && equal(got, credsRef) {
				t.Error("the rotation schedule targets the credentials secret: it is never rotated")
			}
		})
	}
}

// checkSplitPlaceholder checks the SecretString of the split token secret
// the stack creates: what the rotator reads as the split form, naming the
// scenario's credentials secret, without client_secret.
func checkSplitPlaceholder(t *testing.T, d *deployed, split map[string]any) {
	t.Helper()
	text, err := d.concrete(get(split, "Properties", "SecretString"))
	if err != nil {
		t.Fatal(err)
	}
	credsARN, err := d.concrete(d.scenario.credentialsRef())
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal([]byte(text), &fields); err != nil {
		t.Fatalf("%s SecretString %q is not a JSON object: %v", splitSecretID, text, err)
	}
	if want := map[string]any{clickwrap.FieldCredentialsSecret: credsARN}; !equal(fields, want) {
		t.Errorf("%s SecretString = %s, want %v: credentials_secret naming the credentials secret, no client_secret", splitSecretID, text, want)
	}
	sec, err := clickwrap.ParseSecret(text)
	if err != nil {
		t.Fatalf("the rotator refuses the split placeholder %s: %v", text, err)
	}
	if sec.CredentialsSecret != credsARN || sec.ClientSecret != "" {
		t.Errorf("ParseSecret(%s): credentials_secret %q, client_secret present %v; want %q, false", text, sec.CredentialsSecret, sec.ClientSecret != "", credsARN)
	}
}

func TestAlerts(t *testing.T) {
	t.Parallel()
	tp := loadTemplate(t)
	alarm := tp.properties(t, alarmID, "AWS::CloudWatch::Alarm")
	for key, want := range map[string]any{
		"Namespace":  "AWS/Lambda",
		"MetricName": "Errors",
		"Dimensions": []any{map[string]any{"Name": "FunctionName", "Value": ref(functionID)}},
		"Statistic":  "Sum",
	} {
		if !equal(alarm[key], want) {
			t.Errorf("%s.%s = %#v, want %#v", alarmID, key, alarm[key], want)
		}
	}

	for _, email := range []bool{false, true} {
		t.Run(fmt.Sprintf("email=%v", email), func(t *testing.T) {
			t.Parallel()
			s := scenario{name: "no email"}
			if email {
				s = scenario{"email", map[string]string{"AlarmEmail": "ops@example.com"}}
			}
			d := tp.deploy(t, s)
			_, hasTopic := d.Resources[topicID]
			_, hasRule := d.Resources[failedRuleID]
			if hasTopic != email || hasRule != email {
				t.Fatalf("topic %v, RotationFailed rule %v; want both %v", hasTopic, hasRule, email)
			}
			actions := get(d.Resources[alarmID], "Properties", "AlarmActions")
			if !email {
				if actions != nil {
					t.Errorf("AlarmActions without an e-mail = %#v, want none", actions)
				}
				return
			}
			if !equal(actions, []any{ref(topicID)}) {
				t.Errorf("AlarmActions = %#v, want the topic", actions)
			}
			rule := asMap(d.Resources[failedRuleID]["Properties"])
			pattern := asMap(rule["EventPattern"])
			if !equal(pattern["source"], []any{"aws.secretsmanager"}) ||
				!slices.Contains(asList(get(pattern, "detail", "eventName")), any("RotationFailed")) {
				t.Errorf("EventPattern = %#v, want Secrets Manager RotationFailed events", pattern)
			}
			if targets := asList(rule["Targets"]); len(targets) != 1 || !equal(get(targets[0], "Arn"), ref(topicID)) {
				t.Errorf("rule Targets = %#v, want the topic", targets)
			}
			// The topic policy must let both publishers in, each by its own ARN.
			publishers := map[string]any{}
			for _, st := range asList(get(d.Resources[topicPolicy], "Properties", "PolicyDocument", "Statement")) {
				svc, _ := get(st, "Principal", "Service").(string)
				publishers[svc] = get(st, "Condition", "ArnEquals", "aws:SourceArn")
			}
			want := map[string]any{
				"cloudwatch.amazonaws.com": getAtt(alarmID, "Arn"),
				"events.amazonaws.com":     getAtt(failedRuleID, "Arn"),
			}
			if !equal(publishers, want) {
				t.Errorf("topic policy publishers = %#v, want %#v", publishers, want)
			}
		})
	}
}

func TestOutputs(t *testing.T) {
	t.Parallel()
	tp := loadTemplate(t)
	want := map[string]any{
		"RotatorFunctionArn": getAtt(functionID, "Arn"),
		"ErrorsAlarmName":    ref(alarmID),
		"ErrorsAlarmArn":     getAtt(alarmID, "Arn"),
		"SecretArn": map[string]any{"Fn::If": []any{"CreateInlineSecret", ref(secretID),
			map[string]any{"Fn::If": []any{"CreateSplitSecret", ref(splitSecretID), ref("ExistingSecretArn")}}}},
		"CredentialsSecretArn": map[string]any{"Fn::If": []any{"CreateCredentialsSecret", ref(credentialsID), ref("ExistingCredentialsSecretArn")}},
	}
	for name, value := range want {
		if got := get(tp.Outputs[name], "Value"); !equal(got, value) {
			t.Errorf("output %s = %#v, want %#v", name, got, value)
		}
	}
	for name, o := range tp.Outputs {
		if d, _ := o["Description"].(string); d == "" {
			t.Errorf("output %s has no Description", name)
		}
	}
}

func TestParameters(t *testing.T) {
	t.Parallel()
	tp := loadTemplate(t)
	names := slices.Sorted(maps.Keys(tp.Parameters))
	for _, name := range names {
		p := tp.Parameters[name]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if d, _ := p["Description"].(string); len(d) < 20 {
				t.Errorf("Description %q: say what it is for", d)
			}
			if _, ok := p["Default"]; !ok {
				t.Error("no Default: every parameter needs one for a first `sam deploy --guided`")
			}
			def := scalarString(p["Default"])
			if pat, ok := p["AllowedPattern"].(string); ok {
				re, err := regexp.Compile(pat)
				if err != nil {
					t.Fatalf("AllowedPattern %q: %v", pat, err)
				}
				if !fullMatch(re, def) {
					t.Errorf("Default %q does not match AllowedPattern %q", def, pat)
				}
			}
			if allowed, ok := p["AllowedValues"].([]any); ok {
				if !slices.ContainsFunc(allowed, func(v any) bool { return scalarString(v) == def }) {
					t.Errorf("Default %q is not one of AllowedValues %v", def, allowed)
				}
			}
		})
	}

	// The patterns that keep wildcards out of the role.
	patterns := []struct {
		param  string
		accept []string
		reject []string
	}{
		{"SecretNamePrefix",
			[]string{"clickwrap/", "team-a/clickwrap/", "clickwrap-"},
			[]string{"", "*", "/", "clickwrap", "clickwrap*", "clickwrap/*", "*/", "a b/"}},
		{"ExistingSecretArn",
			[]string{"", "arn:aws:secretsmanager:us-east-1:123456789012:secret:clickwrap/api-token-AbCdEf", "arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:x-AbCdEf"},
			[]string{"*", "arn:aws:secretsmanager:us-east-1:123456789012:secret:*", "arn:aws:secretsmanager:*:*:secret:x", "clickwrap/api-token",
				// Without the six-character suffix an IAM resource matches no real secret ARN.
				"arn:aws:secretsmanager:us-east-1:123456789012:secret:clickwrap/api-token"}},
		{"ExistingCredentialsSecretArn",
			[]string{"", testExistingCredentials, "arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:clickwrap-credentials/api-applications-GhIjKl"},
			[]string{"*", "arn:aws:secretsmanager:us-east-1:123456789012:secret:*", "arn:aws:secretsmanager:*:*:secret:x", "clickwrap-credentials/api-applications",
				"arn:aws:secretsmanager:us-east-1:123456789012:secret:clickwrap-credentials/api-applications"}},
		{"CredentialsSecretName",
			[]string{"", testCredentialsSecretName, "clickwrap/api-applications"},
			[]string{"*", "a b", "clickwrap/*", strings.Repeat("x", 513)}},
		{"KmsKeyArn",
			[]string{"", "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"},
			[]string{"*", "arn:aws:kms:us-east-1:123456789012:key/*", "arn:aws:kms:us-east-1:123456789012:alias/mykey", "alias/aws/secretsmanager"}},
		{"RotationScheduleExpression",
			[]string{"rate(30 days)", "rate(4 hours)", "cron(0 8 1 * ? *)"},
			[]string{"", "30 days", "rate(0 days)", "rate(30 minutes)"}},
		{"RotationWindowDuration",
			[]string{"1h", "3h", "24h"},
			[]string{"", "0h", "25h", "3", "180m"}},
		{"AlarmEmail",
			[]string{"", "ops@example.com"},
			[]string{"ops", "ops@", "a b@example.com"}},
	}
	for _, tc := range patterns {
		t.Run(tc.param+"/pattern", func(t *testing.T) {
			t.Parallel()
			pat, _ := tp.Parameters[tc.param]["AllowedPattern"].(string)
			re, err := regexp.Compile(pat)
			if err != nil {
				t.Fatalf("AllowedPattern %q: %v", pat, err)
			}
			for _, v := range tc.accept {
				if !fullMatch(re, v) {
					t.Errorf("%q rejected, want accepted", v)
				}
			}
			for _, v := range tc.reject {
				if fullMatch(re, v) {
					t.Errorf("%q accepted, want rejected", v)
				}
			}
		})
	}

	t.Run("console groups", func(t *testing.T) {
		t.Parallel()
		seen := map[string]int{}
		groups := get(tp.raw, "Metadata", "AWS::CloudFormation::Interface", "ParameterGroups")
		for _, g := range asList(groups) {
			for _, p := range asList(get(g, "Parameters")) {
				name, _ := p.(string)
				seen[name]++
			}
		}
		for _, name := range names {
			if seen[name] != 1 {
				t.Errorf("parameter %s appears %d times in the console's ParameterGroups, want once", name, seen[name])
			}
		}
		for name := range seen {
			if _, ok := tp.Parameters[name]; !ok {
				t.Errorf("ParameterGroups lists %s, which is not a parameter", name)
			}
		}
	})
}

// fullMatch is how CloudFormation applies AllowedPattern: to the whole value.
func fullMatch(re *regexp.Regexp, s string) bool {
	return regexp.MustCompile(`^(?:` + re.String() + `)$`).MatchString(s)
}

// TestReferences checks every name the template uses: Ref, Fn::GetAtt,
// ${} inside Fn::Sub, Fn::If and Condition names, DependsOn. Then it checks
// that every parameter and condition is used, and that in every
// combination of the conditions, nothing refers to a resource that is not
// created.
func TestReferences(t *testing.T) {
	t.Parallel()
	tp := loadTemplate(t)
	refs := collectRefs(tp.raw)
	if len(refs.problems) > 0 {
		t.Fatalf("malformed intrinsics:\n%s", strings.Join(refs.problems, "\n"))
	}

	isParam := func(n string) bool { _, ok := tp.Parameters[n]; return ok }
	isResource := func(n string) bool { _, ok := tp.Resources[n]; return ok }
	isCondition := func(n string) bool { _, ok := tp.Conditions[n]; return ok }

	for _, r := range refs.refs {
		switch {
		case pseudoParameters[r.name]:
		case strings.HasPrefix(r.where, "Conditions.") && !isParam(r.name):
			t.Errorf("%s: Ref %s in a condition must name a parameter", r.where, r.name)
		case !isParam(r.name) && !isResource(r.name) && !r.local:
			t.Errorf("%s: %s names no parameter, resource or pseudo parameter", r.where, r.name)
		}
	}
	for _, r := range refs.getAtts {
		if !isResource(r.name) {
			t.Errorf("%s: GetAtt of %s, which is not a resource", r.where, r.name)
		}
	}
	for _, r := range refs.conditions {
		if !isCondition(r.name) {
			t.Errorf("%s: condition %s is not declared", r.where, r.name)
		}
	}
	for _, r := range refs.dependsOn {
		if !isResource(r.name) {
			t.Errorf("%s: DependsOn %s, which is not a resource", r.where, r.name)
		}
	}

	used := map[string]bool{}
	for _, r := range slices.Concat(refs.refs, refs.conditions) {
		used[r.name] = true
	}
	for name := range tp.Parameters {
		if !used[name] {
			t.Errorf("parameter %s is never used", name)
		}
	}
	for name := range tp.Conditions {
		if !used[name] {
			t.Errorf("condition %s is never used", name)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(tp.raw)) {
		switch k {
		case "AWSTemplateFormatVersion", "Transform", "Description", "Metadata",
			"Parameters", "Conditions", "Resources", "Outputs":
		default:
			t.Errorf("top-level section %s: not expected (Rules and Mappings are not checked by these tests)", k)
		}
	}

	// After conditions: a created resource or output must not reach a
	// resource that is not created (CloudFormation rejects the template).
	for _, s := range allScenarios() {
		d := tp.deploy(t, s)
		present := func(n string) bool { _, ok := d.Resources[n]; return ok }
		rr := collectRefs(map[string]any{"Resources": anyMap(d.Resources), "Outputs": anyMap(d.Outputs)})
		for _, r := range slices.Concat(rr.refs, rr.getAtts, rr.dependsOn) {
			if isResource(r.name) && !present(r.name) {
				t.Errorf("%s: %s refers to %s, which this scenario does not create", s, r.where, r.name)
			}
		}
	}
}

func anyMap(m map[string]map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

type nameRef struct {
	where string
	name  string
	local bool // a variable of Fn::Sub's own map
}

type refSet struct {
	refs, getAtts, conditions, dependsOn []nameRef
	problems                             []string
}

// namedArg returns the name that an intrinsic function's argument list
// (of n items) starts with, or records a problem.
func (rs *refSet) namedArg(at, fn string, arg any, n int) (string, bool) {
	args := asList(arg)
	if len(args) == n {
		if name, isStr := args[0].(string); isStr {
			return name, true
		}
	}
	rs.problems = append(rs.problems, fmt.Sprintf("%s: %s %v", at, fn, arg))
	return "", false
}

// collectRefs walks a template (or part of one) and gathers the names it
// uses. Sub variables are parsed with rain's own Fn::Sub parser.
func collectRefs(root map[string]any) *refSet {
	rs := &refSet{}
	var walk func(where string, v any)
	walk = func(where string, v any) {
		if fn, arg, ok := intrinsic(v); ok {
			at := where + "." + fn
			switch fn {
			case "Ref":
				name, isStr := arg.(string)
				if !isStr {
					rs.problems = append(rs.problems, at+": Ref of a non-string")
					return
				}
				rs.refs = append(rs.refs, nameRef{at, name, false})
				return
			case "Fn::GetAtt":
				if name, ok := rs.namedArg(at, "GetAtt", arg, 2); ok {
					rs.getAtts = append(rs.getAtts, nameRef{at, name, false})
				}
				return
			case "Condition":
				name, isStr := arg.(string)
				if !isStr {
					break // an IAM statement's Condition block, not the function
				}
				rs.conditions = append(rs.conditions, nameRef{at, name, false})
				return
			case "Fn::If":
				if name, ok := rs.namedArg(at, "Fn::If", arg, 3); ok {
					rs.conditions = append(rs.conditions, nameRef{at, name, false})
					args := asList(arg)
					walk(at+"[1]", args[1])
					walk(at+"[2]", args[2])
				}
				return
			case "Fn::Sub":
				text, vars := arg, map[string]any(nil)
				if list, isList := arg.([]any); isList {
					if len(list) != 2 {
						rs.problems = append(rs.problems, at+": Fn::Sub list must be [string, map]")
						return
					}
					text, vars = list[0], asMap(list[1])
				}
				s, isStr := text.(string)
				if !isStr {
					rs.problems = append(rs.problems, at+": Fn::Sub of a non-string")
					return
				}
				local := map[string]bool{}
				for k, e := range vars {
					local[k] = true
					walk(at+"."+k, e)
				}
				words, err := parse.ParseSub(s, false)
				if err != nil {
					rs.problems = append(rs.problems, fmt.Sprintf("%s: %q: %v", at, s, err))
					return
				}
				for _, w := range words {
					switch w.T {
					case parse.REF:
						rs.refs = append(rs.refs, nameRef{at + " ${" + w.W + "}", w.W, local[w.W]})
					case parse.AWS:
						rs.refs = append(rs.refs, nameRef{at + " ${AWS::" + w.W + "}", "AWS::" + w.W, false})
					case parse.GETATT:
						res, _, _ := strings.Cut(w.W, ".")
						rs.getAtts = append(rs.getAtts, nameRef{at + " ${" + w.W + "}", res, false})
					case parse.RAIN:
						rs.problems = append(rs.problems, fmt.Sprintf("%s: rain-only ${%s}", at, w.W))
					}
				}
				return
			}
		}
		switch x := v.(type) {
		case map[string]any:
			for _, k := range slices.Sorted(maps.Keys(x)) {
				walk(where+"."+k, x[k])
			}
		case []any:
			for i, e := range x {
				walk(fmt.Sprintf("%s[%d]", where, i), e)
			}
		}
	}
	for _, section := range []string{"Conditions", "Resources", "Outputs"} {
		for _, id := range slices.Sorted(maps.Keys(asMap(root[section]))) {
			entry := asMap(root[section])[id]
			where := section + "." + id
			if section != "Conditions" {
				m := asMap(entry)
				if c, ok := m["Condition"].(string); ok {
					rs.conditions = append(rs.conditions, nameRef{where + ".Condition", c, false})
				}
				for _, dep := range asList(m["DependsOn"]) {
					name, _ := dep.(string)
					rs.dependsOn = append(rs.dependsOn, nameRef{where + ".DependsOn", name, false})
				}
				for _, k := range slices.Sorted(maps.Keys(m)) {
					if k != "Condition" && k != "DependsOn" {
						walk(where+"."+k, m[k])
					}
				}
				continue
			}
			walk(where, entry)
		}
	}
	sort.SliceStable(rs.refs, func(i, j int) bool { return rs.refs[i].where < rs.refs[j].where })
	return rs
}
