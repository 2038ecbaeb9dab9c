package deploy

// The template checked against the schemas AWS itself publishes: every
// resource's Properties in every combination of the conditions, as
// CloudFormation would receive them.
//
// The validator is github.com/santhosh-tekuri/jsonschema/v6 (test-only).
// It earns its place because the two schema sets need a complete, maintained
// JSON Schema implementation: the SAM schema is draft-04 and 750 kB of
// $ref, anyOf and additionalProperties; the registry schemas are draft-07
// with CloudFormation's own keywords (insertionOrder, tagging,
// readOnlyProperties...), which it ignores as unknown keywords should be
// ignored; it reports each failure with the instance's JSON pointer and the
// schema keyword; and it lets the test give it a regexp engine (below),
// which the registry's Java-flavoured patterns need. v5, which rain already
// pulls in, has no such hook and is no longer developed. It brings
// golang.org/x/text, through which its messages are printed.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/aws-cloudformation/rain/cft/parse"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// SAMSchemaFile is the SAM project's published JSON schema
// (schema_source/sam.schema.json), relative to the module root: shared data
// beside the repository, not part of it. Tests that need it skip without it.
const SAMSchemaFile = "../shared/schemas/sam.schema.json"

// rainModule is the CloudFormation module's directory, which holds the
// registry schemas (internal/aws/cfn/schemas/aws/<service>/<type>.json); an
// internal package, so they are read as files.
var rainModule = sync.OnceValues(func() (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(context.Background(), "go", "list", "-m", "-f", "{{.Dir}}", "github.com/aws-cloudformation/rain")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go list -m github.com/aws-cloudformation/rain: %w: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	dir := strings.TrimSpace(string(out))
	if dir == "" {
		return "", errors.New("go list -m github.com/aws-cloudformation/rain: the module is not downloaded")
	}
	return dir, nil
})

// registrySchemaFile is the registry schema of a resource type:
// AWS::SecretsManager::RotationSchedule is aws/secretsmanager/rotationschedule.json.
func registrySchemaFile(rainDir, typ string) (string, error) {
	parts := strings.Split(typ, "::")
	if len(parts) != 3 || parts[0] != "AWS" {
		return "", fmt.Errorf("resource type %q is not AWS::Service::Type", typ)
	}
	return filepath.Join(rainDir, "internal", "aws", "cfn", "schemas", "aws",
		strings.ToLower(parts[1]), strings.ToLower(parts[2])+".json"), nil
}

// lambdaFunctionType is what SAM turns AWS::Serverless::Function into.
const lambdaFunctionType = "AWS::Lambda::Function"

// samTransformed are the AWS::Serverless::Function properties that share a
// name with an AWS::Lambda::Function property but that SAM rewrites: Tags
// is a map in SAM and a list of Key/Value in Lambda (SAM adds
// lambda:createdBy). Every other shared name SAM passes through unchanged.
var samTransformed = map[string]bool{"Tags": true}

// cfnRegexp compiles a schema's "pattern" with Go's regexp. The registry
// schemas are written for Java's engine: \Z (end of input, before a final
// line terminator) becomes \z (end of input: a value ending in a newline is
// refused, which CloudFormation would let through to the service), and
// \uXXXX becomes \x{XXXX}.
func cfnRegexp(s string) (jsonschema.Regexp, error) {
	if re, err := regexp.Compile(s); err == nil {
		return re, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch next := s[i+1]; {
		case next == 'Z':
			b.WriteString(`\z`)
		case next == 'u' && i+6 <= len(s) && isHex(s[i+2:i+6]):
			b.WriteString(`\x{` + s[i+2:i+6] + `}`)
			i += 4
		default:
			b.WriteByte('\\')
			b.WriteByte(next)
		}
		i++
	}
	re, err := regexp.Compile(b.String())
	if err != nil {
		// Lookarounds ((?!...), (?<!...)), which RE2 does not have: the
		// schemas hold a few, none yet where this template's values go
		// (Lambda's Code.S3Bucket, SAM's catch-all for non-SAM types).
		// Such a pattern matches nothing, so a value that reaches one fails
		// with a message saying why, instead of passing unchecked.
		return unsupportedPattern{s, err}, nil
	}
	return re, nil
}

type unsupportedPattern struct {
	pattern string
	err     error
}

func (u unsupportedPattern) String() string {
	return u.pattern + " (not checked: Go's regexp cannot compile it: " + u.err.Error() + "; teach cfnRegexp)"
}

func (unsupportedPattern) MatchString(string) bool { return false }

func isHex(s string) bool {
	_, err := strconv.ParseUint(s, 16, 16)
	return err == nil
}

// loadSchemaDoc reads a schema file for the compiler. A registry schema's
// $schema names CloudFormation's provider meta-schema
// (provider.definition.schema.v1.json), which is neither a JSON Schema
// draft nor available offline: it is dropped and the file read as draft-07,
// the draft that meta-schema extends.
func loadSchemaDoc(path string, dropSchema bool) (any, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if m, ok := doc.(map[string]any); ok && dropSchema {
		delete(m, "$schema")
	}
	return doc, nil
}

func fileURL(path string) string {
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(path)}).String()
}

// compiledSchemas are the schemas the template is checked against, by
// resource type, compiled once.
type compiledSchemas struct {
	byType map[string]*jsonschema.Schema
	// lambda holds, by property name, the AWS::Lambda::Function property
	// schemas that SAM function properties pass through to.
	lambda map[string]*jsonschema.Schema
	// base is stripped from schema locations in messages.
	base string
}

// registrySchemas compiles the registry schema of every non-SAM resource
// type in the template (each file its own schema: their $refs are
// "#/definitions/..." inside it), and AWS::Lambda::Function's properties.
var registrySchemas = sync.OnceValues(func() (*compiledSchemas, error) {
	tp, err := loadedTemplate()
	if err != nil {
		return nil, err
	}
	dir, err := rainModule()
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft7)
	c.UseRegexpEngine(cfnRegexp)
	types := map[string]bool{}
	for _, r := range tp.Resources {
		typ, _ := r["Type"].(string)
		if strings.HasPrefix(typ, "AWS::Serverless::") {
			if typ == "AWS::Serverless::Function" {
				types[lambdaFunctionType] = true
			}
			continue
		}
		types[typ] = true
	}
	cs := &compiledSchemas{byType: map[string]*jsonschema.Schema{}, lambda: map[string]*jsonschema.Schema{},
		base: fileURL(filepath.Join(dir, "internal", "aws", "cfn", "schemas", "aws")) + "/"}
	for _, typ := range slices.Sorted(maps.Keys(types)) {
		path, err := registrySchemaFile(dir, typ)
		if err != nil {
			return nil, err
		}
		doc, err := loadSchemaDoc(path, true)
		if err != nil {
			return nil, fmt.Errorf("the registry schema of %s: %w", typ, err)
		}
		u := fileURL(path)
		if err := c.AddResource(u, doc); err != nil {
			return nil, fmt.Errorf("the registry schema of %s: %w", typ, err)
		}
		if cs.byType[typ], err = c.Compile(u); err != nil {
			return nil, fmt.Errorf("compiling the registry schema of %s: %w", typ, err)
		}
		if typ == lambdaFunctionType {
			for name := range asMap(asMap(doc)["properties"]) {
				ptr := u + "#/properties/" + name
				if cs.lambda[name], err = c.Compile(ptr); err != nil {
					return nil, fmt.Errorf("compiling %s: %w", ptr, err)
				}
			}
		}
	}
	return cs, nil
})

// samSchemas compiles, from the SAM schema, the definition of each
// AWS::Serverless:: resource type in the template: the one whose Type enum
// names it. errNoSAMSchema when the file is absent.
var samSchemas = sync.OnceValues(func() (*compiledSchemas, error) {
	tp, err := loadedTemplate()
	if err != nil {
		return nil, err
	}
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	path := filepath.Join(root, filepath.FromSlash(SAMSchemaFile))
	doc, err := loadSchemaDoc(path, false)
	if errors.Is(err, os.ErrNotExist) {
		return nil, errNoSAMSchema
	}
	if err != nil {
		return nil, err
	}
	// Which definition describes which resource type.
	defs := map[string]string{}
	for name, def := range asMap(asMap(doc)["definitions"]) {
		for _, typ := range asList(get(def, "properties", "Type", "enum")) {
			if s, ok := typ.(string); ok && strings.HasPrefix(s, "AWS::Serverless::") {
				defs[s] = name
			}
		}
	}
	c := jsonschema.NewCompiler()
	c.UseRegexpEngine(cfnRegexp)
	u := fileURL(path)
	if err := c.AddResource(u, doc); err != nil {
		return nil, fmt.Errorf("%s: %w", SAMSchemaFile, err)
	}
	cs := &compiledSchemas{byType: map[string]*jsonschema.Schema{}, base: u}
	for _, r := range tp.Resources {
		typ, _ := r["Type"].(string)
		if !strings.HasPrefix(typ, "AWS::Serverless::") || cs.byType[typ] != nil {
			continue
		}
		def, ok := defs[typ]
		if !ok {
			return nil, fmt.Errorf("%s has no definition for %s", SAMSchemaFile, typ)
		}
		if cs.byType[typ], err = c.Compile(u + "#/definitions/" + def); err != nil {
			return nil, fmt.Errorf("compiling %s for %s: %w", SAMSchemaFile, typ, err)
		}
	}
	return cs, nil
})

var errNoSAMSchema = errors.New("the SAM schema " + SAMSchemaFile + " (relative to the module root) is absent: it is shared data beside the repository, not in it")

// schemaScenarios are the combinations the other tests evaluate, plus each
// value of each parameter with AllowedValues (the others at their
// defaults), so that every value a user may pick is checked where the
// template passes it on.
func schemaScenarios(tp *template) []scenario {
	out := allScenarios()
	for _, name := range slices.Sorted(maps.Keys(tp.Parameters)) {
		p := tp.Parameters[name]
		def := scalarString(p["Default"])
		for _, v := range asList(p["AllowedValues"]) {
			if s := scalarString(v); s != def {
				out = append(out, scenario{name + "=" + s, map[string]string{name: s}})
			}
		}
	}
	return out
}

// How the intrinsic functions left after conditions are treated: each is
// replaced by the value CloudFormation would put there, so the schemas
// check types, patterns, enums and lengths on what is deployed, not on the
// template's text.
//
//   - A parameter's Ref is the scenario's value: a string; a
//     CommaDelimitedList (or List<...>) is a list of strings; a Number is a
//     number (its Ref is a string that CloudFormation converts to the
//     property's type, which is how a Number reaches an integer property).
//   - A pseudo parameter's Ref is pseudoValues' value (AWS::NotificationARNs
//     is an empty list, AWS::StackId an ARN).
//   - A resource's Ref and Fn::GetAtt are what that type returns (an ARN, a
//     name or an id, see resourceValue), built from its name property
//     when it sets one (materialised the same way) and from a generated
//     name (stack-LogicalId-SUFFIX) when it does not; the account and
//     region are pseudoValues'. A Ref or attribute not in these tables fails
//     the test until it is added: nothing is waved through.
//   - Fn::Sub and Fn::Join are evaluated with these values.
//   - Any other function (Fn::Select, Fn::FindInMap, Fn::ImportValue...)
//     fails the test until it is taught here.
//
// Literals are validated as written: a YAML number where the schema wants a
// string is an error here, although CloudFormation would convert it.
type materializer struct {
	d     *deployed
	depth int
}

func (m *materializer) value(v any) (any, error) {
	if fn, arg, ok := intrinsic(v); ok && (fn != "Condition" || isString(arg)) {
		return m.intrinsic(fn, arg)
	}
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for _, k := range slices.Sorted(maps.Keys(x)) {
			e, err := m.value(x[k])
			if err != nil {
				return nil, fmt.Errorf("/%s%w", escapePointer(k), err)
			}
			out[k] = e
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			r, err := m.value(e)
			if err != nil {
				return nil, fmt.Errorf("/%d%w", i, err)
			}
			out[i] = r
		}
		return out, nil
	}
	return v, nil
}

func isString(v any) bool { _, ok := v.(string); return ok }

// at makes a materializer error read "<pointer>: <problem>" once the
// pointer's segments are prefixed on the way up.
type at struct{ msg string }

func (e at) Error() string { return ": " + e.msg }

func (m *materializer) intrinsic(fn string, arg any) (any, error) {
	switch fn {
	case "Ref":
		name, _ := arg.(string)
		return m.ref(name)
	case "Fn::GetAtt":
		args := asList(arg)
		if s, ok := arg.(string); ok { // the "Res.Attr" form
			res, attr, _ := strings.Cut(s, ".")
			args = []any{res, attr}
		}
		if len(args) != 2 || !isString(args[0]) || !isString(args[1]) {
			return nil, at{fmt.Sprintf("Fn::GetAtt %v", arg)}
		}
		return m.att(args[0].(string), args[1].(string))
	case "Fn::Sub":
		return m.sub(arg)
	case "Fn::Join":
		args := asList(arg)
		if len(args) != 2 || !isString(args[0]) {
			return nil, at{fmt.Sprintf("Fn::Join %v", arg)}
		}
		list, err := m.value(args[1])
		if err != nil {
			return nil, err
		}
		var parts []string
		for _, e := range asList(list) {
			s, ok := e.(string)
			if !ok {
				return nil, at{fmt.Sprintf("Fn::Join of a non-string %#v", e)}
			}
			parts = append(parts, s)
		}
		return strings.Join(parts, args[0].(string)), nil
	}
	return nil, at{fmt.Sprintf("%s is not materialised for the schema check: teach materializer", fn)}
}

func (m *materializer) sub(arg any) (any, error) {
	text, vars := arg, map[string]any(nil)
	if list, isList := arg.([]any); isList && len(list) == 2 {
		text, vars = list[0], asMap(list[1])
	}
	s, ok := text.(string)
	if !ok {
		return nil, at{fmt.Sprintf("Fn::Sub %v", arg)}
	}
	words, err := parse.ParseSub(s, false)
	if err != nil {
		return nil, at{fmt.Sprintf("Fn::Sub %q: %v", s, err)}
	}
	var b strings.Builder
	for _, w := range words {
		var part any
		switch w.T {
		case parse.STR:
			part = w.W
		case parse.AWS:
			part, err = m.ref("AWS::" + w.W)
		case parse.REF:
			if v, local := vars[w.W]; local {
				part, err = m.value(v)
			} else {
				part, err = m.ref(w.W)
			}
		case parse.GETATT:
			res, attr, _ := strings.Cut(w.W, ".")
			part, err = m.att(res, attr)
		default:
			err = at{fmt.Sprintf("${%s} in Fn::Sub %q", w.W, s)}
		}
		if err != nil {
			return nil, err
		}
		str, ok := part.(string)
		if !ok {
			return nil, at{fmt.Sprintf("${%s} in Fn::Sub %q is not a string: %#v", w.W, s, part)}
		}
		b.WriteString(str)
	}
	return b.String(), nil
}

func (m *materializer) ref(name string) (any, error) {
	switch name {
	case "AWS::NotificationARNs":
		return []any{}, nil
	case "AWS::StackId":
		return m.arn("cloudformation", "stack/"+pseudoValues["AWS::StackName"]+"/8c2a1f10-0d3e-11f0-9a7b-0a1b2c3d4e5f"), nil
	}
	if v, ok := pseudoValues[name]; ok {
		return v, nil
	}
	if p, ok := m.d.parameters[name]; ok {
		v := m.d.values[name]
		typ, _ := p["Type"].(string)
		switch {
		case typ == "Number":
			s, _ := v.(string)
			if _, err := strconv.ParseFloat(s, 64); err != nil {
				return nil, at{fmt.Sprintf("Number parameter %s = %q", name, s)}
			}
			return json.Number(s), nil
		case typ == "CommaDelimitedList" || strings.HasPrefix(typ, "List<"):
			list, _ := v.([]string)
			out := make([]any, len(list))
			for i, s := range list {
				out[i] = s
			}
			return out, nil
		}
		return v, nil
	}
	if _, ok := m.d.Resources[name]; !ok {
		return nil, at{fmt.Sprintf("Ref %s: no parameter, pseudo parameter or resource of this scenario", name)}
	}
	return m.resourceValue(name, "Ref")
}

func (m *materializer) att(id, attr string) (any, error) {
	if _, ok := m.d.Resources[id]; !ok {
		return nil, at{fmt.Sprintf("GetAtt %s.%s: no resource %s in this scenario", id, attr, id)}
	}
	return m.resourceValue(id, attr)
}

// resourceValue is what a resource's Ref (what = "Ref") or Fn::GetAtt
// (what = the attribute) returns, for the types and attributes the
// template uses (from the CloudFormation documentation of each type).
func (m *materializer) resourceValue(id, what string) (any, error) {
	typ, _ := m.d.Resources[id]["Type"].(string)
	key := typ + "." + what
	if key == "AWS::IAM::Role.RoleId" {
		return "AROAEXAMPLEID4567890", nil
	}
	v, err := m.physicalName(id)
	if err != nil {
		return nil, err
	}
	name, _ := v.(string)
	switch key {
	case "AWS::Serverless::Function.Ref", "AWS::Lambda::Function.Ref", "AWS::IAM::Role.Ref",
		"AWS::Logs::LogGroup.Ref", "AWS::CloudWatch::Alarm.Ref", "AWS::SNS::Topic.TopicName":
		return name, nil
	case "AWS::Serverless::Function.Arn", "AWS::Lambda::Function.Arn":
		return m.arn("lambda", "function:"+name), nil
	case "AWS::IAM::Role.Arn":
		return fmt.Sprintf("arn:%s:iam::%s:role/%s", pseudoValues["AWS::Partition"], pseudoValues["AWS::AccountId"], name), nil
	case "AWS::Logs::LogGroup.Arn":
		return m.arn("logs", "log-group:"+name+":*"), nil
	case "AWS::SecretsManager::Secret.Ref", "AWS::SecretsManager::Secret.Id":
		// Secrets Manager appends a hyphen and six random characters.
		return m.arn("secretsmanager", "secret:"+name+"-AbCdEf"), nil
	case "AWS::SNS::Topic.Ref", "AWS::SNS::Topic.TopicArn":
		return m.arn("sns", name), nil
	case "AWS::CloudWatch::Alarm.Arn":
		return m.arn("cloudwatch", "alarm:"+name), nil
	case "AWS::Events::Rule.Arn":
		return m.arn("events", "rule/"+name), nil
	}
	if what == "Ref" {
		return nil, at{fmt.Sprintf("Ref %s: what a %s's Ref returns is not known here: teach materializer.resourceValue", id, typ)}
	}
	return nil, at{fmt.Sprintf("GetAtt %s.%s: the %s attribute of a %s is not known here: teach materializer.resourceValue", id, what, what, typ)}
}

func (m *materializer) arn(service, resource string) string {
	return fmt.Sprintf("arn:%s:%s:%s:%s:%s", pseudoValues["AWS::Partition"], service,
		pseudoValues["AWS::Region"], pseudoValues["AWS::AccountId"], resource)
}

// nameProperty is the property that names a resource of each type, when
// the template sets it.
var nameProperty = map[string]string{
	"AWS::Serverless::Function":   "FunctionName",
	"AWS::Lambda::Function":       "FunctionName",
	"AWS::IAM::Role":              "RoleName",
	"AWS::Logs::LogGroup":         "LogGroupName",
	"AWS::SecretsManager::Secret": "Name",
	"AWS::SNS::Topic":             "TopicName",
	"AWS::CloudWatch::Alarm":      "AlarmName",
	"AWS::Events::Rule":           "Name",
}

func (m *materializer) physicalName(id string) (any, error) {
	r := m.d.Resources[id]
	typ, _ := r["Type"].(string)
	prop, ok := nameProperty[typ]
	if !ok {
		return nil, at{fmt.Sprintf("the name of a %s is not known here: teach nameProperty", typ)}
	}
	v := get(r, "Properties", prop)
	if v == nil {
		return m.generatedName(id), nil
	}
	if m.depth > 10 {
		return nil, at{fmt.Sprintf("%s's %s refers to itself", id, prop)}
	}
	m.depth++
	defer func() { m.depth-- }()
	return m.value(v)
}

// generatedName is a name as CloudFormation makes one up.
func (m *materializer) generatedName(id string) string {
	return pseudoValues["AWS::StackName"] + "-" + id + "-1A2B3C4D5E6F7"
}

func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// instance is v materialised and converted to what the validator expects
// (encoding/json's types, numbers as json.Number).
func (d *deployed) instance(v any) (any, error) {
	m := &materializer{d: d}
	x, err := m.value(v)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(x)
	if err != nil {
		return nil, err
	}
	return jsonschema.UnmarshalJSON(bytes.NewReader(b))
}

var printer = message.NewPrinter(language.English)

// schemaErrors lists the failures in err, one line each: the JSON pointer
// of the value (under prefix), what is wrong, and where in the schema.
func schemaErrors(err error, prefix, base string) []string {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return []string{err.Error()}
	}
	var out []string
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			var ptr strings.Builder
			for _, tok := range e.InstanceLocation {
				ptr.WriteString("/" + escapePointer(tok))
			}
			kw := e.SchemaURL
			for _, tok := range e.ErrorKind.KeywordPath() {
				kw += "/" + escapePointer(tok)
			}
			out = append(out, fmt.Sprintf("%s%s: %s (schema %s)", prefix, ptr.String(),
				e.ErrorKind.LocalizedString(printer), strings.TrimPrefix(kw, base)))
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	return out
}

// findings gathers schema errors over the scenarios, so that an error
// that every combination shares is reported once, with the combinations
// it occurs in.
type findings struct {
	scenarios int
	where     map[string][]string // message -> scenario names
}

func (f *findings) add(s scenario, msg string) {
	if f.where == nil {
		f.where = map[string][]string{}
	}
	if names := f.where[msg]; len(names) == 0 || names[len(names)-1] != s.name {
		f.where[msg] = append(names, s.name)
	}
}

func (f *findings) report(t *testing.T) {
	t.Helper()
	for _, msg := range slices.Sorted(maps.Keys(f.where)) {
		names := f.where[msg]
		var in string
		switch {
		case len(names) == f.scenarios:
			in = fmt.Sprintf("in every combination (all %d)", f.scenarios)
		case len(names) <= 6:
			in = fmt.Sprintf("in combination %s", strings.Join(names, ", "))
		default:
			in = fmt.Sprintf("in %d of %d combinations: %s and %d more", len(names), f.scenarios,
				strings.Join(names[:6], ", "), len(names)-6)
		}
		t.Errorf("%s\n\t%s", msg, in)
	}
}

// checkResources deploys tp in each of schemaScenarios and calls check with
// each resource, in the order of their ids, and its Type; it returns the
// findings check added.
func checkResources(t *testing.T, tp *template, check func(f *findings, s scenario, d *deployed, id, typ string, r map[string]any)) *findings {
	t.Helper()
	scenarios := schemaScenarios(tp)
	f := &findings{scenarios: len(scenarios)}
	for _, s := range scenarios {
		d := tp.deploy(t, s)
		for _, id := range slices.Sorted(maps.Keys(d.Resources)) {
			r := d.Resources[id]
			typ, _ := r["Type"].(string)
			check(f, s, d, id, typ, r)
		}
	}
	return f
}

// TestRegistrySchemas validates, in every scenario, the Properties of each
// resource that is not SAM's against the CloudFormation registry schema of
// its type, and the properties that SAM passes through from an
// AWS::Serverless::Function to the AWS::Lambda::Function it makes against
// that type's schema. Each error names the resource, the JSON pointer of
// the value, the schema keyword and the combinations it occurs in.
func TestRegistrySchemas(t *testing.T) {
	t.Parallel()
	tp := loadTemplate(t)
	cs, err := registrySchemas()
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	f := checkResources(t, tp, func(f *findings, s scenario, d *deployed, id, typ string, r map[string]any) {
		props := r["Properties"]
		if props == nil {
			props = map[string]any{}
		}
		inst, err := d.instance(props)
		if err != nil {
			f.add(s, fmt.Sprintf("%s (%s): /Properties%v", id, typ, err))
			return
		}
		switch {
		case typ == "AWS::Serverless::Function":
			for _, name := range slices.Sorted(maps.Keys(asMap(inst))) {
				sch, passed := cs.lambda[name]
				if !passed || samTransformed[name] {
					continue
				}
				checked++
				if err := sch.Validate(asMap(inst)[name]); err != nil {
					for _, e := range schemaErrors(err, "/Properties/"+escapePointer(name), cs.base) {
						f.add(s, fmt.Sprintf("%s (%s, passed to %s): %s", id, typ, lambdaFunctionType, e))
					}
				}
			}
		case strings.HasPrefix(typ, "AWS::Serverless::"):
			// Checked against the SAM schema only.
		default:
			checked++
			if err := cs.byType[typ].Validate(inst); err != nil {
				for _, e := range schemaErrors(err, "/Properties", cs.base) {
					f.add(s, fmt.Sprintf("%s (%s): %s", id, typ, e))
				}
			}
		}
	})
	f.report(t)
	t.Logf("%d combinations, %d validations against %d registry schemas and %d %s properties",
		f.scenarios, checked, len(cs.byType), len(cs.lambda), lambdaFunctionType)
}

// TestSAMSchema validates, in every scenario, each AWS::Serverless::
// resource (Type, Properties and its other attributes) against its
// definition in the SAM project's schema.
func TestSAMSchema(t *testing.T) {
	t.Parallel()
	tp := loadTemplate(t)
	cs, err := samSchemas()
	if errors.Is(err, errNoSAMSchema) {
		t.Skipf("skipped: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(cs.byType) == 0 {
		t.Fatal("the template has no AWS::Serverless:: resource to check")
	}
	checked := 0
	f := checkResources(t, tp, func(f *findings, s scenario, d *deployed, id, typ string, r map[string]any) {
		sch, ok := cs.byType[typ]
		if !ok {
			return
		}
		inst, err := d.instance(r)
		if err != nil {
			f.add(s, fmt.Sprintf("%s (%s): %v", id, typ, err))
			return
		}
		checked++
		if err := sch.Validate(inst); err != nil {
			for _, e := range schemaErrors(err, "", cs.base) {
				f.add(s, fmt.Sprintf("%s (%s): %s", id, typ, e))
			}
		}
	})
	f.report(t)
	t.Logf("%d combinations, %d validations against %s", f.scenarios, checked, SAMSchemaFile)
}

// TestResourceAttributes checks what surrounds Properties, which no
// resource schema covers: only CloudFormation's resource attributes, and
// DeletionPolicy and UpdateReplacePolicy among the values CloudFormation
// accepts (RetainExceptOnCreate is a DeletionPolicy only).
func TestResourceAttributes(t *testing.T) {
	t.Parallel()
	tp := loadTemplate(t)
	attributes := []string{"Type", "Properties", "Condition", "DependsOn", "Metadata",
		"DeletionPolicy", "UpdateReplacePolicy", "CreationPolicy", "UpdatePolicy"}
	values := map[string][]any{
		"DeletionPolicy":      {"Delete", "Retain", "RetainExceptOnCreate", "Snapshot"},
		"UpdateReplacePolicy": {"Delete", "Retain", "Snapshot"},
	}
	for _, id := range slices.Sorted(maps.Keys(tp.Resources)) {
		for key, v := range tp.Resources[id] {
			if !slices.Contains(attributes, key) {
				t.Errorf("%s: %s is not a resource attribute (Properties go under Properties)", id, key)
			}
			if allowed, ok := values[key]; ok && !slices.Contains(allowed, v) {
				t.Errorf("%s: %s %v, want one of %v", id, key, v, allowed)
			}
		}
	}
}
