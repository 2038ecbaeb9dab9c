package deploy

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// markdownTable returns the rows (cells trimmed) of the first table in doc
// whose header row has exactly the given cells; the separator row is left
// out.
func markdownTable(doc string, header ...string) ([][]string, error) {
	lines := strings.Split(doc, "\n")
	for i, line := range lines {
		if !equal(tableCells(line), header) {
			continue
		}
		var rows [][]string
		for _, l := range lines[i+1:] {
			cells := tableCells(l)
			if cells == nil {
				break
			}
			if regexp.MustCompile(`^:?-+:?$`).MatchString(cells[0]) {
				continue
			}
			rows = append(rows, cells)
		}
		return rows, nil
	}
	return nil, fmt.Errorf("no table with the header | %s |", strings.Join(header, " | "))
}

// tableCells splits a Markdown table row; nil if the line is not one.
// Cells do not contain escaped pipes in the tables read here.
func tableCells(line string) []string {
	line = strings.TrimSpace(line)
	if !strings.HasPrefix(line, "|") || !strings.HasSuffix(line, "|") || len(line) < 2 {
		return nil
	}
	parts := strings.Split(line[1:len(line)-1], "|")
	for i, p := range parts {
		parts[i] = strings.TrimSpace(p)
	}
	return parts
}

var backticked = regexp.MustCompile("`([^`]*)`")

func readDeployDoc(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(rootPath(t, DeployDoc))
	if err != nil {
		t.Fatalf("reading %s: %v", DeployDoc, err)
	}
	return string(b)
}

// TestDocParameterTable: the deployment document's parameter table lists
// the template's parameters one for one, each with its default, so that the
// two cannot drift apart.
func TestDocParameterTable(t *testing.T) {
	t.Parallel()
	tp := loadTemplate(t)
	rows, err := markdownTable(readDeployDoc(t), "Parameter", "Default", "Meaning")
	if err != nil {
		t.Fatalf("%s: %v", DeployDoc, err)
	}
	documented := map[string]int{}
	for _, row := range rows {
		if len(row) != 3 {
			t.Errorf("row %q: want 3 cells", row)
			continue
		}
		m := backticked.FindStringSubmatch(row[0])
		if m == nil || m[0] != row[0] {
			t.Errorf("row %q: write the parameter name in backticks", row)
			continue
		}
		name := m[1]
		documented[name]++
		p, ok := tp.Parameters[name]
		if !ok {
			t.Errorf("%s documents %s, which is not a parameter of %s", DeployDoc, name, TemplateFile)
			continue
		}
		d := backticked.FindStringSubmatch(row[1])
		if d == nil || d[0] != row[1] {
			t.Errorf("%s: write the default in backticks (`\"\"` for empty), got %q", name, row[1])
			continue
		}
		got := d[1]
		if got == `""` {
			got = ""
		}
		if want := scalarString(p["Default"]); got != want {
			t.Errorf("%s: %s says the default is %q, %s says %q", name, DeployDoc, got, TemplateFile, want)
		}
		if len(row[2]) < 10 {
			t.Errorf("%s: the Meaning cell %q says too little", name, row[2])
		}
	}
	for _, name := range slices.Sorted(maps.Keys(tp.Parameters)) {
		if n := documented[name]; n != 1 {
			t.Errorf("parameter %s appears %d times in the table of %s, want once", name, n, DeployDoc)
		}
	}
}

// TestDocOutputTable: the same for the stack's outputs.
func TestDocOutputTable(t *testing.T) {
	t.Parallel()
	tp := loadTemplate(t)
	rows, err := markdownTable(readDeployDoc(t), "Output", "What")
	if err != nil {
		t.Fatalf("%s: %v", DeployDoc, err)
	}
	documented := map[string]int{}
	for _, row := range rows {
		for _, m := range backticked.FindAllStringSubmatch(row[0], -1) {
			documented[m[1]]++
		}
	}
	for name := range tp.Outputs {
		if documented[name] != 1 {
			t.Errorf("output %s appears %d times in the output table of %s, want once", name, documented[name], DeployDoc)
		}
	}
	for name := range documented {
		if _, ok := tp.Outputs[name]; !ok {
			t.Errorf("%s documents output %s, which %s does not have", DeployDoc, name, TemplateFile)
		}
	}
}

func TestMarkdownTable(t *testing.T) {
	t.Parallel()
	doc := "text\n\n| A | B |\n|---|:--:|\n| `x` | 1 |\n| y | 2 |\n\nafter\n| A | B |\n| z | 3 |\n"
	tests := []struct {
		header  []string
		want    [][]string
		wantErr bool
	}{
		{[]string{"A", "B"}, [][]string{{"`x`", "1"}, {"y", "2"}}, false},
		{[]string{"A"}, nil, true},
		{[]string{"A", "B", "C"}, nil, true},
	}
	for _, tc := range tests {
		got, err := markdownTable(doc, tc.header...)
		if (err != nil) != tc.wantErr || !equal(got, tc.want) {
			t.Errorf("markdownTable(%v) = %q, %v; want %q, error %v", tc.header, got, err, tc.want, tc.wantErr)
		}
	}
}

func readDoc(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(rootPath(t, rel))
	if err != nil {
		t.Fatalf("reading %s: %v", rel, err)
	}
	return string(b)
}

// TestReadmeExamples reads the README's examples as the credentials
// document's are read: the consumer policy as IAM would (the token secret
// alone), and the commands (secret values from files only, parameters the
// template has).
func TestReadmeExamples(t *testing.T) {
	t.Parallel()
	// A subtest, so that the helpers' "line N" name the file in the test's name.
	t.Run(ReadmeDoc, testReadmeExamples)
}

func testReadmeExamples(t *testing.T) {
	tp := loadTemplate(t)
	seen := map[string]int{}
	for _, b := range codeBlocks(readDoc(t, ReadmeDoc)) {
		switch b.lang {
		case "json":
			var v map[string]any
			if err := json.Unmarshal([]byte(b.text), &v); err != nil {
				t.Errorf("%s, line %d: the JSON example does not parse: %v", ReadmeDoc, b.line, err)
				continue
			}
			if v["Statement"] != nil {
				seen["consumer policy"]++
				checkConsumerPolicy(t, b, v)
			}
		case "sh", "toml":
			checkCommands(t, tp, b, seen)
		}
	}
	for _, what := range []string{"consumer policy", "put-secret-value from a file"} {
		if seen[what] == 0 {
			t.Errorf("%s has no %s example", ReadmeDoc, what)
		}
	}
}

// boldName is a bold CamelCase word, as the README writes a parameter's
// name (**EnableRotation**).
var boldName = regexp.MustCompile(`\*\*([A-Z][a-z0-9]+(?:[A-Z][A-Za-z0-9]*)+)\*\*`)

// TestQuickstart: the README's Quickstart comes within its first
// QuickstartLines lines and holds every step a newcomer needs, each command
// in the form the rest of the documentation gives it; every parameter it
// (or the rest of the README) names in bold is one of the template's.
func TestQuickstart(t *testing.T) {
	t.Parallel()
	readme := readDoc(t, ReadmeDoc)
	lines := strings.Split(readme, "\n")
	start := slices.Index(lines, "## Quickstart")
	if start < 0 {
		t.Fatalf("%s has no \"## Quickstart\" heading", ReadmeDoc)
	}
	end := len(lines)
	for i := start + 1; i < len(lines); i++ {
		if strings.HasPrefix(lines[i], "## ") {
			end = i
			break
		}
	}
	for end > start && strings.TrimSpace(lines[end-1]) == "" {
		end--
	}
	if end > QuickstartLines { // end: the number of the Quickstart's last line, from 1
		t.Errorf("%s: the Quickstart runs to line %d; keep it within the first %d lines", ReadmeDoc, end, QuickstartLines)
	}
	quickstart := strings.Join(lines[start:end], "\n")
	for _, want := range []string{
		"sam build",
		"sam deploy --guided",
		"umask 077",
		"put-secret-value --secret-id clickwrap/api-token --secret-string file://clickwrap-secret.json",
		"rm clickwrap-secret.json",
		"**EnableRotation**",
		"make rotatorctl",
		"rotatorctl status clickwrap/api-token --verify",
	} {
		if !strings.Contains(quickstart, want) {
			t.Errorf("%s: the Quickstart does not say %q", ReadmeDoc, want)
		}
	}
	if _, err := os.Stat(rootPath(t, "cmd/rotatorctl")); err != nil {
		t.Errorf("the Quickstart installs ./cmd/rotatorctl: %v", err)
	}
	tp := loadTemplate(t)
	for _, m := range boldName.FindAllStringSubmatch(readme, -1) {
		if _, ok := tp.Parameters[m[1]]; !ok {
			t.Errorf("%s names **%s**, which is not a parameter of %s", ReadmeDoc, m[1], TemplateFile)
		}
	}
}

// jqFilter is what a command pipes the secret's value into: jq and its
// filter (the first argument that is not an option).
var jqFilter = regexp.MustCompile(`\|\s*jq((?:\s+-\S+)*)\s+('[^']*'|"[^"]*"|\S+)`)

// TestNoCommandPrintsTheWholeSecret: a get-secret-value in the README or
// in docs/ sends the value to a file, or to jq with a filter that picks
// fields other than client_secret: never the whole value, client secret
// included, to a terminal.
func TestNoCommandPrintsTheWholeSecret(t *testing.T) {
	t.Parallel()
	docs, err := filepath.Glob(rootPath(t, "docs/*.md"))
	if err != nil {
		t.Fatal(err)
	}
	docs = append(docs, rootPath(t, ReadmeDoc))
	found := 0
	for _, path := range docs {
		text, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range codeBlocks(string(text)) {
			if b.lang != "sh" {
				continue
			}
			for _, cmd := range strings.Split(strings.ReplaceAll(b.text, "\\\n", " "), "\n") {
				if !strings.Contains(cmd, "get-secret-value") {
					continue
				}
				found++
				if regexp.MustCompile(`>\s*\S`).MatchString(cmd) {
					continue
				}
				m := jqFilter.FindStringSubmatch(cmd)
				filter := ""
				if m != nil {
					filter = strings.Trim(m[2], `'"`)
				}
				if m == nil || filter == "." || strings.Contains(filter, ".client_secret") {
					t.Errorf("%s, line %d: %q prints the secret's value (client secret included): pick a field with jq (jq -r .access_token) or write it to a file",
						filepath.Base(path), b.line, strings.TrimSpace(cmd))
				}
			}
		}
	}
	if found == 0 {
		t.Error("no get-secret-value command found: how do the docs read the token?")
	}
}
