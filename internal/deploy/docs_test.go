package deploy

import (
	"fmt"
	"maps"
	"os"
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
