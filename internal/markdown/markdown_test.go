package markdown

import "testing"

func TestTable(t *testing.T) {
	got := Header("figure", "value") + Row("a | b", "line\nbreak") + Row("**section**", "")
	want := "| figure | value |\n| --- | --- |\n| a \\| b | line break |\n| **section** |  |\n"
	if got != want {
		t.Errorf("table\n%s\nwant\n%s", got, want)
	}
}
