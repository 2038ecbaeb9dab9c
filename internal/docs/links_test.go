package docs

import (
	"fmt"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"
)

// moduleRoot is the folder holding go.mod, above the test's working folder.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working folder")
		}
		dir = parent
	}
}

// docFiles are the files Docs names, relative to root, with slashes.
func docFiles(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	for _, g := range Docs {
		matches, err := filepath.Glob(filepath.Join(root, filepath.FromSlash(g)))
		if err != nil {
			t.Fatal(err)
		}
		if len(matches) == 0 {
			t.Errorf("%s matches no file", g)
		}
		for _, m := range matches {
			rel, err := filepath.Rel(root, m)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, filepath.ToSlash(rel))
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// link is a link target found in a document, and the line it is on.
type link struct {
	target string
	line   int
}

// fence opens or closes a fenced code block: three or more backticks or
// tildes, indented by at most three spaces (or inside a list item).
var fence = regexp.MustCompile("^\\s*(```+|~~~+)")

// prose returns doc with what Markdown does not read as Markdown blanked out
// (fenced code blocks, code spans, HTML comments), every newline kept, so
// that offsets still give line numbers.
func prose(doc string) string {
	lines := strings.Split(doc, "\n")
	open := ""
	for i, line := range lines {
		m := fence.FindStringSubmatch(line)
		switch {
		case open == "" && m != nil:
			open = m[1][:1]
			lines[i] = ""
		case open != "":
			if m != nil && m[1][:1] == open {
				open = ""
			}
			lines[i] = ""
		}
	}
	text := []byte(strings.Join(lines, "\n"))
	blank := func(from, to int) {
		for k := from; k < to; k++ {
			if text[k] != '\n' {
				text[k] = ' '
			}
		}
	}
	for i := 0; i < len(text); {
		if strings.HasPrefix(string(text[i:]), "<!--") {
			end := strings.Index(string(text[i:]), "-->")
			if end < 0 {
				end = len(text) - i - 3
			}
			blank(i, i+end+3)
			i += end + 3
			continue
		}
		if text[i] != '`' {
			i++
			continue
		}
		n := 0
		for i+n < len(text) && text[i+n] == '`' {
			n++
		}
		// The span ends at the next run of exactly n backticks.
		end := -1
		for j := i + n; j < len(text); {
			if text[j] != '`' {
				j++
				continue
			}
			k := 0
			for j+k < len(text) && text[j+k] == '`' {
				k++
			}
			if k == n {
				end = j + k
				break
			}
			j += k
		}
		if end < 0 { // a lone run of backticks is literal text
			i += n
			continue
		}
		blank(i, end)
		i = end
	}
	return string(text)
}

var (
	// An inline link or image: [text](target "title"), the text possibly
	// over several lines, the target possibly in <angle brackets>.
	inlineLink = regexp.MustCompile(`!?\[[^\]]*\]\(\s*(<[^>]*>|[^)\s]*)(?:\s+(?:"[^"]*"|'[^']*'))?\s*\)`)
	// A reference definition: [label]: target.
	refDefinition = regexp.MustCompile(`(?m)^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)`)
)

// links returns every link target in doc outside code, in order.
func links(doc string) []link {
	text := prose(doc)
	lineAt := func(off int) int { return strings.Count(text[:off], "\n") + 1 }
	var out []link
	for _, re := range []*regexp.Regexp{inlineLink, refDefinition} {
		for _, m := range re.FindAllStringSubmatchIndex(text, -1) {
			target := strings.TrimSuffix(strings.TrimPrefix(text[m[2]:m[3]], "<"), ">")
			out = append(out, link{target: target, line: lineAt(m[0])})
		}
	}
	slices.SortStableFunc(out, func(a, b link) int { return a.line - b.line })
	return out
}

var atxHeading = regexp.MustCompile(`^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$`)

// anchors returns the anchors GitHub gives the headings of doc, outside
// code blocks, and any explicit <a id="..."> or <a name="...">.
func anchors(doc string) map[string]bool {
	seen := map[string]int{}
	out := map[string]bool{}
	lines := strings.Split(doc, "\n")
	open := ""
	for _, line := range lines {
		if m := fence.FindStringSubmatch(line); m != nil {
			switch {
			case open == "":
				open = m[1][:1]
				continue
			case m[1][:1] == open:
				open = ""
				continue
			}
		}
		if open != "" {
			continue
		}
		for _, m := range explicitAnchor.FindAllStringSubmatch(line, -1) {
			out[m[1]] = true
		}
		m := atxHeading.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		s := slug(m[2])
		if n := seen[s]; n > 0 {
			out[fmt.Sprintf("%s-%d", s, n)] = true
		} else {
			out[s] = true
		}
		seen[s]++
	}
	return out
}

var (
	explicitAnchor = regexp.MustCompile(`<a\s+(?:id|name)="([^"]+)"`)
	headingLink    = regexp.MustCompile(`!?\[([^\]]*)\]\([^)]*\)`)
	htmlTag        = regexp.MustCompile(`</?[A-Za-z][^>]*>`)
	emphasis       = regexp.MustCompile(`(^|[^\p{L}\p{N}])_+|_+([^\p{L}\p{N}]|$)`)
)

// slug is the anchor GitHub derives from a heading's text: the rendered
// text (code spans' content, links' text, no emphasis markers or HTML),
// lower-cased, with every character other than a letter, mark, digit,
// connector (such as _), hyphen or space dropped, and spaces made hyphens.
func slug(heading string) string {
	s := headingLink.ReplaceAllString(heading, "$1")
	s = htmlTag.ReplaceAllString(s, "")
	s = strings.ReplaceAll(s, "`", "")
	s = strings.ReplaceAll(s, "*", "")
	s = emphasis.ReplaceAllString(s, "$1$2")
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(s)) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-', unicode.IsLetter(r), unicode.IsMark(r), unicode.IsDigit(r), unicode.In(r, unicode.Pc):
			b.WriteRune(r)
		}
	}
	return b.String()
}

var scheme = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*:`)

// TestLocalLinksResolve: every local link in the documents names a file or
// folder of the module, and every #anchor a heading of the page it names.
func TestLocalLinksResolve(t *testing.T) {
	t.Parallel()
	root := moduleRoot(t)
	cache := map[string]map[string]bool{}
	anchorsOf := func(rel string) (map[string]bool, error) {
		if a, ok := cache[rel]; ok {
			return a, nil
		}
		b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(rel)))
		if err != nil {
			return nil, err
		}
		cache[rel] = anchors(string(b))
		return cache[rel], nil
	}
	checked := 0
	for _, doc := range docFiles(t, root) {
		b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(doc)))
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range links(string(b)) {
			if l.target == "" {
				t.Errorf("%s:%d: a link with no target", doc, l.line)
				continue
			}
			if scheme.MatchString(l.target) {
				continue
			}
			checked++
			p, fragment, _ := strings.Cut(l.target, "#")
			p, err := url.PathUnescape(p)
			if err != nil {
				t.Errorf("%s:%d: link %q: %v", doc, l.line, l.target, err)
				continue
			}
			target := doc
			if p != "" {
				if strings.HasPrefix(p, "/") {
					t.Errorf("%s:%d: link %q: write it relative to %s, as GitHub and editors resolve it", doc, l.line, l.target, doc)
					continue
				}
				target = path.Clean(path.Join(path.Dir(doc), p))
				if target == ".." || strings.HasPrefix(target, "../") {
					t.Errorf("%s:%d: link %q leaves the module", doc, l.line, l.target)
					continue
				}
				if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(target))); err != nil {
					t.Errorf("%s:%d: link %q: %s does not exist", doc, l.line, l.target, target)
					continue
				}
			}
			if fragment == "" || !strings.HasSuffix(target, ".md") {
				continue
			}
			a, err := anchorsOf(target)
			if err != nil {
				t.Errorf("%s:%d: link %q: %v", doc, l.line, l.target, err)
				continue
			}
			if !a[fragment] {
				t.Errorf("%s:%d: link %q: %s has no heading with the anchor #%s (it has: %s)",
					doc, l.line, l.target, target, fragment, strings.Join(slices.Sorted(mapsKeys(a)), ", "))
			}
		}
	}
	if checked == 0 {
		t.Error("no local link found: is the link parser broken?")
	}
}

func mapsKeys(m map[string]bool) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func TestSlug(t *testing.T) {
	t.Parallel()
	for heading, want := range map[string]string{
		"Quickstart":                                         "quickstart",
		"First deploy: `sam deploy --guided`":                "first-deploy-sam-deploy---guided",
		"What the tests check, and what they can't":          "what-the-tests-check-and-what-they-cant",
		"Operating it: `rotatorctl`":                         "operating-it-rotatorctl",
		"Moving an existing inline secret to the split form": "moving-an-existing-inline-secret-to-the-split-form",
		"A consumer's policy":                                "a-consumers-policy",
		"The `client_id` field":                              "the-client_id-field",
		"_Emphasised_ and **strong** [linked](x.md) text":    "emphasised-and-strong-linked-text",
		"1. Cold start (fresh process)":                      "1-cold-start-fresh-process",
		"Rows 10a–10c":                                       "rows-10a10c",
	} {
		if got := slug(heading); got != want {
			t.Errorf("slug(%q) = %q, want %q", heading, got, want)
		}
	}
}

func TestAnchorsAndLinks(t *testing.T) {
	t.Parallel()
	doc := strings.Join([]string{
		"# Title", // 1
		"",        // 2
		"See [a](other.md#part) and ![i](img.png).",        // 3
		"Not a link: `[x](code.md)`, nor ``[y](`z`.md)``.", // 4
		"```sh",                          // 5
		"# not a heading [n](fenced.md)", // 6
		"```",                            // 7
		"## Title",                       // 8
		"A [link over",                   // 9
		"two lines](two.md \"title\") and [e](<with space.md>).", // 10
		"<!-- [hidden](comment.md) -->",                          // 11
		"[ref]: defined.md#x",                                    // 12
	}, "\n")
	var got []string
	for _, l := range links(doc) {
		got = append(got, fmt.Sprintf("%d:%s", l.line, l.target))
	}
	want := []string{"3:other.md#part", "3:img.png", "9:two.md", "10:with space.md", "12:defined.md#x"}
	if !slices.Equal(got, want) {
		t.Errorf("links = %q, want %q", got, want)
	}
	a := anchors(doc)
	if !a["title"] || !a["title-1"] || a["not-a-heading-nfencedmd"] || len(a) != 2 {
		t.Errorf("anchors = %v, want title and title-1", a)
	}
}
