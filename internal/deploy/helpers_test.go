package deploy

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/aws-cloudformation/rain/cft/parse"

	"github.com/clickwrap-rotator/clickwrap-rotator/internal/lambdarie"
)

// moduleRoot is the directory holding go.mod, found once.
var moduleRoot = sync.OnceValues(func() (string, error) {
	return lambdarie.ModuleRoot(context.Background())
})

func rootPath(t *testing.T, rel string) string {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, filepath.FromSlash(rel))
}

// template is template.yaml as rain parses it: short-form tags become their
// long forms ({"Ref": x}, {"Fn::GetAtt": [res, attr]}, {"Fn::Sub": s},
// {"Fn::If": [cond, a, b]}, {"Condition": c}). Tests only read it.
type template struct {
	raw        map[string]any
	Parameters map[string]map[string]any
	Conditions map[string]any
	Resources  map[string]map[string]any
	Outputs    map[string]map[string]any
}

var loadedTemplate = sync.OnceValues(func() (*template, error) {
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	cf, err := parse.File(filepath.Join(root, TemplateFile))
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", TemplateFile, err)
	}
	var raw map[string]any
	if err := cf.Node.Decode(&raw); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", TemplateFile, err)
	}
	tp := &template{
		raw:        raw,
		Parameters: mapOfMaps(raw["Parameters"]),
		Conditions: asMap(raw["Conditions"]),
		Resources:  mapOfMaps(raw["Resources"]),
		Outputs:    mapOfMaps(raw["Outputs"]),
	}
	if len(tp.Resources) == 0 {
		return nil, fmt.Errorf("%s has no Resources", TemplateFile)
	}
	return tp, nil
})

func loadTemplate(t *testing.T) *template {
	t.Helper()
	tp, err := loadedTemplate()
	if err != nil {
		t.Fatal(err)
	}
	return tp
}

func (tp *template) resource(t *testing.T, id, typ string) map[string]any {
	t.Helper()
	r, ok := tp.Resources[id]
	if !ok {
		t.Fatalf("template has no resource %s", id)
	}
	if got := r["Type"]; got != typ {
		t.Fatalf("resource %s is a %v, want %s", id, got, typ)
	}
	return r
}

// properties returns the Properties of resource id, which must be a typ.
func (tp *template) properties(t *testing.T, id, typ string) map[string]any {
	t.Helper()
	return asMap(tp.resource(t, id, typ)["Properties"])
}

// resourcesOfType returns the logical ids of the resources of a type, sorted.
func (tp *template) resourcesOfType(typ string) []string {
	var ids []string
	for id, r := range tp.Resources {
		if r["Type"] == typ {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func mapOfMaps(v any) map[string]map[string]any {
	out := map[string]map[string]any{}
	for k, x := range asMap(v) {
		out[k] = asMap(x)
	}
	return out
}

// asList returns a list as is and wraps a single value (IAM allows both for
// Action and Resource).
func asList(v any) []any {
	switch x := v.(type) {
	case nil:
		return nil
	case []any:
		return x
	default:
		return []any{x}
	}
}

// get follows keys through nested maps; nil when one is missing.
func get(v any, keys ...string) any {
	for _, k := range keys {
		m := asMap(v)
		if m == nil {
			return nil
		}
		v = m[k]
	}
	return v
}

// intrinsic returns the function name and argument of a single-key map
// such as {"Ref": "X"} or {"Fn::If": [...]}.
func intrinsic(v any) (string, any, bool) {
	m := asMap(v)
	if len(m) != 1 {
		return "", nil, false
	}
	for k, arg := range m {
		if k == "Ref" || k == "Condition" || strings.HasPrefix(k, "Fn::") {
			return k, arg, true
		}
	}
	return "", nil, false
}

func ref(name string) map[string]any { return map[string]any{"Ref": name} }

func getAtt(res, attr string) map[string]any {
	return map[string]any{"Fn::GetAtt": []any{res, attr}}
}

func equal(a, b any) bool { return reflect.DeepEqual(a, b) }

// pseudoParameters are CloudFormation's AWS:: names that Ref and ${} accept.
var pseudoParameters = map[string]bool{
	"AWS::AccountId": true, "AWS::NotificationARNs": true, "AWS::NoValue": true,
	"AWS::Partition": true, "AWS::Region": true, "AWS::StackId": true,
	"AWS::StackName": true, "AWS::URLSuffix": true,
}

// A scenario is one choice of parameter values: the template's defaults
// with some overridden.
type scenario struct {
	name      string
	overrides map[string]string
}

func (s scenario) String() string { return s.name }

// The values the scenarios give the parameters that name secrets and keys,
// in the account and region of pseudoValues.
const (
	testExistingSecretArn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:legacy/clickwrap-AbCdEf"
	testKmsKeyArn         = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	// Outside the default SecretNamePrefix (clickwrap/), as the parameter's
	// description advises.
	testCredentialsSecretName = "clickwrap-credentials/api-applications"
	testExistingCredentials   = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:team/clickwrap-credentials-GhIjKl"
)

// allScenarios are every combination of the parameters that conditions
// depend on: 2^5 x 3 = 96 ways to deploy the stack. The last knob is the
// credentials secret: none (the inline form), one the stack creates, or an
// existing one.
func allScenarios() []scenario {
	type choice struct {
		name  string // "" for the default
		value map[string]string
	}
	off := choice{}
	knobs := [][]choice{
		{off, {"existing-secret", map[string]string{"ExistingSecretArn": testExistingSecretArn}}},
		{off, {"rotation", map[string]string{"EnableRotation": "true"}}},
		{off, {"kms", map[string]string{"KmsKeyArn": testKmsKeyArn}}},
		{off, {"vpc", map[string]string{"SubnetIds": "subnet-0a,subnet-0b", "SecurityGroupIds": "sg-0c"}}},
		{off, {"email", map[string]string{"AlarmEmail": "ops@example.com"}}},
		{off,
			{"credentials-created", map[string]string{"CredentialsSecretName": testCredentialsSecretName}},
			{"credentials-existing", map[string]string{"ExistingCredentialsSecretArn": testExistingCredentials}}},
	}
	total := 1
	for _, k := range knobs {
		total *= len(k)
	}
	out := make([]scenario, 0, total)
	for n := range total {
		s := scenario{overrides: map[string]string{}}
		var names []string
		for _, k := range knobs { // n in mixed radix, one digit per knob
			c := k[n%len(k)]
			n /= len(k)
			if c.name != "" {
				names = append(names, c.name)
				maps.Copy(s.overrides, c.value)
			}
		}
		s.name = strings.Join(names, "+")
		if s.name == "" {
			s.name = "defaults"
		}
		out = append(out, s)
	}
	return out
}

// The credentials secret a scenario asks for, from its parameters alone
// (not from the template's conditions): an existing ARN wins over a name.
func (s scenario) existingCredentials() bool {
	return s.overrides["ExistingCredentialsSecretArn"] != ""
}
func (s scenario) createCredentials() bool {
	return !s.existingCredentials() && s.overrides["CredentialsSecretName"] != ""
}
func (s scenario) hasCredentials() bool { return s.createCredentials() || s.existingCredentials() }

// credentialsRef is how the template must name the scenario's credentials
// secret; nil when there is none.
func (s scenario) credentialsRef() any {
	switch {
	case s.createCredentials():
		return ref(credentialsID)
	case s.existingCredentials():
		return ref("ExistingCredentialsSecretArn")
	}
	return nil
}

// tokenRef is how the template must name the scenario's token secret: the
// existing one, or the one the stack creates in the form asked for.
func (s scenario) tokenRef() any {
	switch {
	case s.overrides["ExistingSecretArn"] != "":
		return ref("ExistingSecretArn")
	case s.hasCredentials():
		return ref(splitSecretID)
	}
	return ref(secretID)
}

// paramValues are the parameter values of a scenario: strings, and
// []string for CommaDelimitedList (where "" is [""], as in CloudFormation).
func (tp *template) paramValues(s scenario) (map[string]any, error) {
	vals := map[string]any{}
	for name, p := range tp.Parameters {
		v, ok := s.overrides[name]
		if !ok {
			v = scalarString(p["Default"])
		}
		if p["Type"] == "CommaDelimitedList" {
			vals[name] = strings.Split(v, ",")
		} else {
			vals[name] = v
		}
	}
	for name := range s.overrides {
		if _, ok := tp.Parameters[name]; !ok {
			return nil, fmt.Errorf("scenario %s sets undeclared parameter %s", s, name)
		}
	}
	return vals, nil
}

// scalarString prints a YAML scalar as CloudFormation sees a parameter value.
func scalarString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case int:
		return strconv.Itoa(x)
	case bool:
		return strconv.FormatBool(x)
	default:
		return fmt.Sprint(x)
	}
}

// conditions evaluates every condition of the template for a scenario.
func (tp *template) conditions(s scenario) (map[string]bool, error) {
	vals, err := tp.paramValues(s)
	if err != nil {
		return nil, err
	}
	return conditionsOf(tp, vals)
}

func conditionsOf(tp *template, vals map[string]any) (map[string]bool, error) {
	ev := &condEval{tp: tp, vals: vals, done: map[string]bool{}, busy: map[string]bool{}}
	for name := range tp.Conditions {
		if _, err := ev.condition(name); err != nil {
			return nil, err
		}
	}
	return ev.done, nil
}

type condEval struct {
	tp   *template
	vals map[string]any
	done map[string]bool
	busy map[string]bool
}

func (e *condEval) condition(name string) (bool, error) {
	if v, ok := e.done[name]; ok {
		return v, nil
	}
	expr, ok := e.tp.Conditions[name]
	if !ok {
		return false, fmt.Errorf("condition %s is not declared", name)
	}
	if e.busy[name] {
		return false, fmt.Errorf("condition %s depends on itself", name)
	}
	e.busy[name] = true
	v, err := e.boolean(expr)
	if err != nil {
		return false, fmt.Errorf("condition %s: %w", name, err)
	}
	e.done[name] = v
	return v, nil
}

func (e *condEval) boolean(expr any) (bool, error) {
	fn, arg, ok := intrinsic(expr)
	if !ok {
		return false, fmt.Errorf("%v is not a condition function", expr)
	}
	args := asList(arg)
	switch fn {
	case "Condition":
		name, _ := arg.(string)
		return e.condition(name)
	case "Fn::Not":
		if len(args) != 1 {
			return false, errors.New("Fn::Not takes one condition")
		}
		v, err := e.boolean(args[0])
		return !v, err
	case "Fn::And", "Fn::Or":
		if len(args) < 2 || len(args) > 10 {
			return false, fmt.Errorf("%s takes 2 to 10 conditions", fn)
		}
		all, anyTrue := true, false
		for _, a := range args {
			v, err := e.boolean(a)
			if err != nil {
				return false, err
			}
			all, anyTrue = all && v, anyTrue || v
		}
		if fn == "Fn::And" {
			return all, nil
		}
		return anyTrue, nil
	case "Fn::Equals":
		if len(args) != 2 {
			return false, errors.New("Fn::Equals takes two values")
		}
		a, err := e.value(args[0])
		if err != nil {
			return false, err
		}
		b, err := e.value(args[1])
		if err != nil {
			return false, err
		}
		return equal(a, b), nil
	}
	return false, fmt.Errorf("%s is not a condition function", fn)
}

func (e *condEval) value(expr any) (any, error) {
	if s, ok := expr.(string); ok {
		return s, nil
	}
	fn, arg, ok := intrinsic(expr)
	if !ok {
		return nil, fmt.Errorf("unsupported value %v in a condition", expr)
	}
	switch fn {
	case "Ref":
		name, _ := arg.(string)
		v, ok := e.vals[name]
		if !ok {
			return nil, fmt.Errorf("Ref %s in a condition is not a parameter", name)
		}
		return v, nil
	case "Fn::Join":
		args := asList(arg)
		if len(args) != 2 {
			return nil, errors.New("Fn::Join takes a separator and a list")
		}
		sep, _ := args[0].(string)
		list, err := e.value(args[1])
		if err != nil {
			return nil, err
		}
		parts, ok := list.([]string)
		if !ok {
			return nil, fmt.Errorf("Fn::Join of %v: not a list", args[1])
		}
		return strings.Join(parts, sep), nil
	}
	return nil, fmt.Errorf("unsupported function %s in a condition", fn)
}

// noValue stands for a resolved {"Ref": "AWS::NoValue"}.
type noValueT struct{}

var noValue = noValueT{}

// resolve returns v with every Fn::If replaced by the branch the conditions
// choose, and AWS::NoValue removed from lists and maps, as CloudFormation
// does before it creates anything.
func resolve(v any, conds map[string]bool) any {
	if fn, arg, ok := intrinsic(v); ok {
		switch {
		case fn == "Fn::If":
			args := asList(arg)
			if len(args) == 3 {
				name, _ := args[0].(string)
				if conds[name] {
					return resolve(args[1], conds)
				}
				return resolve(args[2], conds)
			}
		case fn == "Ref" && arg == "AWS::NoValue":
			return noValue
		}
	}
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			if r := resolve(e, conds); r != noValue {
				out[k] = r
			}
		}
		return out
	case []any:
		out := make([]any, 0, len(x))
		for _, e := range x {
			if r := resolve(e, conds); r != noValue {
				out = append(out, r)
			}
		}
		return out
	}
	return v
}

// deployed is the template as CloudFormation would create it in a scenario:
// conditions evaluated, resources and outputs whose condition is false
// dropped, every Fn::If resolved.
type deployed struct {
	scenario   scenario
	conds      map[string]bool
	Resources  map[string]map[string]any
	Outputs    map[string]map[string]any
	parameters map[string]map[string]any
	values     map[string]any // the parameters' values, as paramValues gives them
}

func (tp *template) deploy(t *testing.T, s scenario) *deployed {
	t.Helper()
	vals, err := tp.paramValues(s)
	if err != nil {
		t.Fatal(err)
	}
	conds, err := conditionsOf(tp, vals)
	if err != nil {
		t.Fatal(err)
	}
	d := &deployed{scenario: s, conds: conds, Resources: map[string]map[string]any{},
		Outputs: map[string]map[string]any{}, parameters: tp.Parameters, values: vals}
	keep := func(x map[string]any) bool {
		c, ok := x["Condition"].(string)
		return !ok || conds[c]
	}
	for id, r := range tp.Resources {
		if keep(r) {
			d.Resources[id] = asMap(resolve(r, conds))
		}
	}
	for id, o := range tp.Outputs {
		if keep(o) {
			d.Outputs[id] = asMap(resolve(o, conds))
		}
	}
	return d
}

// statements returns the IAM policy statements the template grants to
// identities (roles, policies, SAM function Policies), with where each is.
func (d *deployed) statements() []located {
	var out []located
	add := func(where string, doc any) {
		for i, st := range asList(get(doc, "Statement")) {
			out = append(out, located{fmt.Sprintf("%s.Statement[%d]", where, i), asMap(st)})
		}
	}
	ids := slices.Sorted(maps.Keys(d.Resources))
	for _, id := range ids {
		r := d.Resources[id]
		props := asMap(r["Properties"])
		switch r["Type"] {
		case "AWS::IAM::Role", "AWS::IAM::User", "AWS::IAM::Group":
			for i, p := range asList(props["Policies"]) {
				add(fmt.Sprintf("%s.Policies[%d]", id, i), get(p, "PolicyDocument"))
			}
		case "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::RolePolicy":
			add(id, props["PolicyDocument"])
		case "AWS::Serverless::Function":
			for i, p := range asList(props["Policies"]) {
				if m := asMap(p); m != nil && m["Statement"] != nil {
					add(fmt.Sprintf("%s.Policies[%d]", id, i), m)
				}
			}
		}
	}
	return out
}

type located struct {
	where string
	st    map[string]any
}

func (l located) actions() []string {
	var out []string
	for _, a := range asList(l.st["Action"]) {
		s, _ := a.(string)
		out = append(out, s)
	}
	return out
}

// pseudoValues are the pseudo parameters' values in a deployment on paper:
// the account and region of the scenarios' ARNs.
var pseudoValues = map[string]string{
	"AWS::Partition": "aws", "AWS::Region": "eu-west-1", "AWS::AccountId": "123456789012",
	"AWS::StackName": "clickwrap-rotator", "AWS::URLSuffix": "amazonaws.com",
}

// concrete returns the string CloudFormation would make of a value of the
// deployment (Fn::If already resolved): a parameter or pseudo parameter is
// its value; a Ref to a Secrets Manager secret the stack creates is the ARN
// Secrets Manager would give it (its name and a six-character suffix); any
// other resource's Ref or GetAtt is "<Id>" or "<Id.Attr>", which no ARN
// pattern matches; Fn::Sub is substituted.
func (d *deployed) concrete(v any) (string, error) {
	if s, ok := v.(string); ok {
		return s, nil
	}
	fn, arg, ok := intrinsic(v)
	if !ok {
		return "", fmt.Errorf("%#v is not a string", v)
	}
	switch fn {
	case "Ref":
		name, _ := arg.(string)
		return d.refValue(name, nil)
	case "Fn::GetAtt":
		args := asList(arg)
		if len(args) == 2 {
			return fmt.Sprintf("<%v.%v>", args[0], args[1]), nil
		}
	case "Fn::Sub":
		text, vars := arg, map[string]any(nil)
		if list, isList := arg.([]any); isList && len(list) == 2 {
			text, vars = list[0], asMap(list[1])
		}
		s, isStr := text.(string)
		if !isStr {
			break
		}
		words, err := parse.ParseSub(s, false)
		if err != nil {
			return "", err
		}
		var b strings.Builder
		for _, w := range words {
			var part string
			switch w.T {
			case parse.STR:
				part = w.W
			case parse.AWS:
				part, err = d.refValue("AWS::"+w.W, nil)
			case parse.REF:
				part, err = d.refValue(w.W, vars)
			case parse.GETATT:
				part = "<" + w.W + ">"
			default:
				err = fmt.Errorf("${%s} in %q", w.W, s)
			}
			if err != nil {
				return "", err
			}
			b.WriteString(part)
		}
		return b.String(), nil
	}
	return "", fmt.Errorf("cannot make a string of %#v", v)
}

// refValue is the value of ${name} or {"Ref": name}, vars being Fn::Sub's
// own variables.
func (d *deployed) refValue(name string, vars map[string]any) (string, error) {
	if v, ok := vars[name]; ok {
		return d.concrete(v)
	}
	if v, ok := pseudoValues[name]; ok {
		return v, nil
	}
	if v, ok := d.values[name]; ok {
		if s, isStr := v.(string); isStr {
			return s, nil
		}
		return "", fmt.Errorf("parameter %s is a list", name)
	}
	r, ok := d.Resources[name]
	if !ok {
		return "", fmt.Errorf("%s is neither a parameter nor a resource of this deployment", name)
	}
	if r["Type"] != "AWS::SecretsManager::Secret" {
		return "<" + name + ">", nil
	}
	secretName, err := d.concrete(get(r, "Properties", "Name"))
	if err != nil {
		return "", fmt.Errorf("the name of secret %s: %w", name, err)
	}
	return fmt.Sprintf("arn:%s:secretsmanager:%s:%s:secret:%s-Rand0m", pseudoValues["AWS::Partition"],
		pseudoValues["AWS::Region"], pseudoValues["AWS::AccountId"], secretName), nil
}

// A request the role might make, for allows: an action on a concrete
// resource ARN, and the kms:EncryptionContext:SecretARN that a KMS request
// made for a secret carries ("" for none).
type request struct {
	action, resource, secretARNContext string
}

// allows evaluates the identity policies of the deployment as IAM does for
// one request: allowed when an Allow statement matches it and no Deny
// statement does. Action and Resource patterns match with IAM's * and ?;
// the only condition understood is kms:EncryptionContext:SecretARN under
// StringEquals or StringLike (an absent key never matches), and any other
// condition is an error, as are NotAction and NotResource.
func (d *deployed) allows(req request) (bool, error) {
	allowed := false
	for _, l := range d.statements() {
		match, err := d.matches(l, req)
		if err != nil {
			return false, fmt.Errorf("%s: %w", l.where, err)
		}
		if !match {
			continue
		}
		switch l.st["Effect"] {
		case "Deny":
			return false, nil
		case "Allow":
			allowed = true
		default:
			return false, fmt.Errorf("%s: Effect %v", l.where, l.st["Effect"])
		}
	}
	return allowed, nil
}

func (d *deployed) matches(l located, req request) (bool, error) {
	if l.st["NotAction"] != nil || l.st["NotResource"] != nil {
		return false, errors.New("NotAction and NotResource are not evaluated")
	}
	if !slices.ContainsFunc(l.actions(), func(a string) bool { return globMatch(a, req.action, true) }) {
		return false, nil
	}
	resourceMatch := false
	for _, r := range asList(l.st["Resource"]) {
		pattern, err := d.concrete(r)
		if err != nil {
			return false, err
		}
		if globMatch(pattern, req.resource, false) {
			resourceMatch = true
		}
	}
	if !resourceMatch {
		return false, nil
	}
	for op, block := range asMap(l.st["Condition"]) {
		for key, want := range asMap(block) {
			if key != "kms:EncryptionContext:SecretARN" || (op != "StringEquals" && op != "StringLike") {
				return false, fmt.Errorf("condition %s %s is not evaluated", op, key)
			}
			if req.secretARNContext == "" {
				return false, nil
			}
			found := false
			for _, w := range asList(want) {
				pattern, err := d.concrete(w)
				if err != nil {
					return false, err
				}
				if op == "StringEquals" && pattern == req.secretARNContext ||
					op == "StringLike" && globMatch(pattern, req.secretARNContext, false) {
					found = true
				}
			}
			if !found {
				return false, nil
			}
		}
	}
	return true, nil
}

// globMatch matches s against an IAM pattern, where * is any run of
// characters and ? is one; actions compare without regard to case.
func globMatch(pattern, s string, foldCase bool) bool {
	var b strings.Builder
	b.WriteString("^")
	if foldCase {
		b.WriteString("(?i)")
	}
	for _, r := range pattern {
		switch r {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String()).MatchString(s)
}
