// Package docs has no code to import: its tests check the project's
// documentation, README.md and the pages under docs/, as a reader follows
// it. Every inline link, reference definition and image to a local path
// names a file or folder that exists in the module, and every #anchor names
// a heading of the page it points to (the page itself, or another Markdown
// page), as GitHub derives heading anchors. Links inside code blocks and
// code spans are not links, and are not checked; links with a scheme
// (https:, mailto:) are left to the reader.
//
// Run them with `go test ./internal/docs/`.
package docs

// Docs are the documents whose links are checked, as globs relative to the
// module root. The generated reports (docs/benchmarks.md, docs/faults.md)
// are included: their links are written by their generators and by hand.
var Docs = []string{"README.md", "docs/*.md"}
