package deploy

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"reflect"
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

// allScenarios are every combination of the parameters that conditions
// depend on: 2^5 ways to deploy the stack.
func allScenarios() []scenario {
	type knob struct {
		name  string
		value map[string]string
	}
	knobs := []knob{
		{"existing-secret", map[string]string{"ExistingSecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:legacy/clickwrap-AbCdEf"}},
		{"rotation", map[string]string{"EnableRotation": "true"}},
		{"kms", map[string]string{"KmsKeyArn": "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"}},
		{"vpc", map[string]string{"SubnetIds": "subnet-0a,subnet-0b", "SecurityGroupIds": "sg-0c"}},
		{"email", map[string]string{"AlarmEmail": "ops@example.com"}},
	}
	var out []scenario
	for mask := range 1 << len(knobs) {
		s := scenario{overrides: map[string]string{}}
		var names []string
		for i, k := range knobs {
			if mask&(1<<i) != 0 {
				names = append(names, k.name)
				maps.Copy(s.overrides, k.value)
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
}

func (tp *template) deploy(t *testing.T, s scenario) *deployed {
	t.Helper()
	conds, err := tp.conditions(s)
	if err != nil {
		t.Fatal(err)
	}
	d := &deployed{scenario: s, conds: conds, Resources: map[string]map[string]any{},
		Outputs: map[string]map[string]any{}, parameters: tp.Parameters}
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
