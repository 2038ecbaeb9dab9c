package deploy

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/clickwrap-rotator/clickwrap-rotator/clickwrap"
)

// codeBlock is a fenced block of a Markdown document, its indentation (in
// a list item) removed.
type codeBlock struct {
	lang, text string
	line       int // of the opening fence, from 1
}

func codeBlocks(doc string) []codeBlock {
	var out []codeBlock
	var cur *codeBlock
	var indent string
	var body []string
	for i, line := range strings.Split(doc, "\n") {
		trimmed := strings.TrimLeft(line, " ")
		if cur == nil {
			if lang, ok := strings.CutPrefix(trimmed, "```"); ok {
				cur = &codeBlock{lang: strings.TrimSpace(lang), line: i + 1}
				indent, body = line[:len(line)-len(trimmed)], nil
			}
			continue
		}
		if trimmed == "```" {
			cur.text = strings.Join(body, "\n")
			out = append(out, *cur)
			cur = nil
			continue
		}
		body = append(body, strings.TrimPrefix(line, indent))
	}
	return out
}

func readCredentialsDoc(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(rootPath(t, CredentialsDoc))
	if err != nil {
		t.Fatalf("reading %s: %v", CredentialsDoc, err)
	}
	return string(b)
}

// credentialsParameters are the template's parameters for the credentials
// secret, which the credentials document must list.
func credentialsParameters(tp *template) []string {
	var out []string
	for name := range tp.Parameters {
		if strings.Contains(name, "Credentials") {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// TestCredentialsDocTables: the credentials document lists the template's
// credentials parameters, with their defaults, and the credentials output,
// in tables shaped as the README's (so that its rows can go there as they
// are).
func TestCredentialsDocTables(t *testing.T) {
	t.Parallel()
	tp := loadTemplate(t)
	doc := readCredentialsDoc(t)

	params := credentialsParameters(tp)
	if len(params) == 0 {
		t.Fatal("the template has no credentials parameters")
	}
	rows, err := markdownTable(doc, "Parameter", "Default", "Meaning")
	if err != nil {
		t.Fatalf("%s: %v", CredentialsDoc, err)
	}
	documented := map[string]string{}
	for _, row := range rows {
		name := backticked.FindStringSubmatch(row[0])
		def := backticked.FindStringSubmatch(row[1])
		if len(row) != 3 || name == nil || def == nil || len(row[2]) < 10 {
			t.Errorf("row %q: want | `Name` | `default` | meaning |", row)
			continue
		}
		if def[1] == `""` {
			def[1] = ""
		}
		documented[name[1]] = def[1]
	}
	if got := slices.Sorted(maps.Keys(documented)); !equal(got, params) {
		t.Errorf("%s documents parameters %v, want the template's credentials parameters %v", CredentialsDoc, got, params)
	}
	for name, def := range documented {
		if p, ok := tp.Parameters[name]; ok && scalarString(p["Default"]) != def {
			t.Errorf("%s: %s says the default is %q, %s says %q", name, CredentialsDoc, def, TemplateFile, scalarString(p["Default"]))
		}
	}

	outRows, err := markdownTable(doc, "Output", "What")
	if err != nil {
		t.Fatalf("%s: %v", CredentialsDoc, err)
	}
	var outputs []string
	for _, row := range outRows {
		for _, m := range backticked.FindAllStringSubmatch(row[0], -1) {
			outputs = append(outputs, m[1])
		}
	}
	if want := []string{"CredentialsSecretArn"}; !equal(outputs, want) {
		t.Errorf("%s documents outputs %v, want %v", CredentialsDoc, outputs, want)
	}
	if _, ok := tp.Outputs["CredentialsSecretArn"]; !ok {
		t.Error("the template has no CredentialsSecretArn output")
	}
}

// TestCredentialsDocExamples reads the document's examples as their users
// would: the secrets' JSON with the rotator's own parsers, the consumer
// policy as IAM would, and the commands for secrets on the command line
// and for parameters the template does not have.
func TestCredentialsDocExamples(t *testing.T) {
	t.Parallel()
	tp := loadTemplate(t)
	blocks := codeBlocks(readCredentialsDoc(t))
	seen := map[string]int{}
	for _, b := range blocks {
		switch b.lang {
		case "json":
			var v map[string]any
			if err := json.Unmarshal([]byte(b.text), &v); err != nil {
				t.Errorf("line %d: the JSON example does not parse: %v", b.line, err)
				continue
			}
			switch {
			case v["Statement"] != nil:
				seen["consumer policy"]++
				checkConsumerPolicy(t, b, v)
			case v[clickwrap.CredentialsFieldApplications] != nil:
				seen["credentials secret"]++
				c, err := clickwrap.ParseCredentials(b.text)
				if err != nil || len(c.Applications) != 2 {
					t.Errorf("line %d: the credentials secret example: %v, want two applications", b.line, err)
				}
			case v[clickwrap.FieldCredentialsSecret] != nil:
				seen["split token secret"]++
				s, err := clickwrap.ParseSecret(b.text)
				if err != nil || s.CredentialsSecret == "" || s.ClientSecret != "" || v[clickwrap.FieldClientSecret] != nil {
					t.Errorf("line %d: the split token secret example: %v; want credentials_secret and no client_secret", b.line, err)
				}
			default:
				t.Errorf("line %d: a JSON example this test does not know", b.line)
			}
		case "sh", "toml":
			seen["commands"]++
			checkCommands(t, tp, b, seen)
		}
	}
	for _, what := range []string{"consumer policy", "credentials secret", "split token secret", "commands",
		"put-secret-value from a file", "create-secret from a file", "rotate-secret"} {
		if seen[what] == 0 {
			t.Errorf("%s has no %s example", CredentialsDoc, what)
		}
	}
	for _, p := range credentialsParameters(tp) {
		if seen["override "+p] == 0 {
			t.Errorf("%s has no deploy example that sets %s", CredentialsDoc, p)
		}
	}
}

var (
	secretStringArg = regexp.MustCompile(`--secret-string\s+(\S+)`)
	// A parameter override: Name=value, the name in CloudFormation's style.
	overrideArg = regexp.MustCompile(`(?:^|[\s"])([A-Z][a-z][A-Za-z0-9]*)=`)
)

// checkCommands: a secret value goes to the AWS CLI from a file, never as an
// argument; every parameter an override sets is one of the template's.
func checkCommands(t *testing.T, tp *template, b codeBlock, seen map[string]int) {
	t.Helper()
	text := strings.ReplaceAll(b.text, "\\\n", " ")
	for _, m := range secretStringArg.FindAllStringSubmatch(text, -1) {
		if !strings.HasPrefix(m[1], "file://") {
			t.Errorf("line %d: --secret-string %s: give secret values as file://, never on the command line", b.line, m[1])
		}
	}
	for _, line := range strings.Split(text, "\n") {
		switch {
		case strings.Contains(line, "put-secret-value") && strings.Contains(line, "file://"):
			seen["put-secret-value from a file"]++
		case strings.Contains(line, "create-secret") && strings.Contains(line, "file://"):
			seen["create-secret from a file"]++
		case strings.Contains(line, "rotate-secret"):
			seen["rotate-secret"]++
		}
		if !strings.Contains(line, "parameter-overrides") && !strings.Contains(line, "parameter_overrides") {
			continue
		}
		for _, m := range overrideArg.FindAllStringSubmatch(line, -1) {
			if _, ok := tp.Parameters[m[1]]; !ok {
				t.Errorf("line %d: the example sets %s, which is not a parameter of %s", b.line, m[1], TemplateFile)
			}
			seen["override "+m[1]]++
		}
	}
}

// checkConsumerPolicy: the consumer may read the token secret, and decrypt
// for it alone, and nothing else: not the credentials secret, not a
// wildcard.
func checkConsumerPolicy(t *testing.T, b codeBlock, policy map[string]any) {
	t.Helper()
	var tokenARN string
	var kmsContext []any
	for i, st := range asList(policy["Statement"]) {
		l := located{where: fmt.Sprintf("Statement[%d]", i), st: asMap(st)}
		if l.st["Effect"] != "Allow" || l.st["NotAction"] != nil || l.st["NotResource"] != nil {
			t.Errorf("line %d, %s: want a plain Allow", b.line, l.where)
		}
		resources := asList(l.st["Resource"])
		if len(resources) != 1 {
			t.Errorf("line %d, %s: Resource %v, want one ARN", b.line, l.where, resources)
			continue
		}
		res, _ := resources[0].(string)
		if strings.ContainsAny(res, "*?") || strings.Contains(res, "credentials") {
			t.Errorf("line %d, %s: Resource %q: name the token secret alone", b.line, l.where, res)
		}
		switch actions := l.actions(); {
		case equal(actions, []string{"secretsmanager:GetSecretValue"}):
			tokenARN = res
			if !strings.Contains(res, ":secretsmanager:") || !strings.Contains(res, ":secret:") {
				t.Errorf("line %d, %s: Resource %q is not a secret's ARN", b.line, l.where, res)
			}
			if l.st["Condition"] != nil {
				t.Errorf("line %d, %s: a condition on GetSecretValue (VersionStage?) would refuse the consumers' calls", b.line, l.where)
			}
		case equal(actions, []string{"kms:Decrypt"}):
			if !strings.Contains(res, ":kms:") || !strings.Contains(res, ":key/") {
				t.Errorf("line %d, %s: Resource %q is not a key ARN", b.line, l.where, res)
			}
			kmsContext = asList(get(l.st, "Condition", "StringEquals", "kms:EncryptionContext:SecretARN"))
			if len(asMap(l.st["Condition"])) != 1 {
				t.Errorf("line %d, %s: Condition %v, want StringEquals on kms:EncryptionContext:SecretARN alone", b.line, l.where, l.st["Condition"])
			}
		default:
			t.Errorf("line %d, %s: actions %v, want secretsmanager:GetSecretValue, or kms:Decrypt", b.line, l.where, actions)
		}
	}
	if tokenARN == "" {
		t.Errorf("line %d: the consumer policy grants no GetSecretValue", b.line)
	}
	if !equal(kmsContext, []any{tokenARN}) {
		t.Errorf("line %d: kms:Decrypt for encryption context %v, want the token secret %q alone", b.line, kmsContext, tokenARN)
	}
}
