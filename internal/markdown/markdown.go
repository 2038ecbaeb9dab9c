// Package markdown writes the Markdown tables of the generated reports
// (docs/benchmarks.md, docs/faults.md).
package markdown

import (
	"slices"
	"strings"
)

// Header is a table's header row and the delimiter row under it.
func Header(names ...string) string {
	return Row(names...) + Row(slices.Repeat([]string{"---"}, len(names))...)
}

// Row is one table row, "| a | b |" and a newline, each cell made safe by
// Cell.
func Row(cells ...string) string {
	escaped := make([]string, len(cells))
	for i, c := range cells {
		escaped[i] = Cell(c)
	}
	return "| " + strings.Join(escaped, " | ") + " |\n"
}

// Cell makes s safe inside a table cell: a | would end the cell and a line
// break the row, so | is escaped and a line break becomes a space.
func Cell(s string) string {
	return cellReplacer.Replace(s)
}

var cellReplacer = strings.NewReplacer("|", `\|`, "\n", " ")
