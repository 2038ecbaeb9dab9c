package bench

import (
	"context"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clickwrap-rotator/clickwrap-rotator/internal/markdown"
)

// TestRunTiny runs the whole bench in a tiny configuration, so that the
// bench cannot rot: every row is there, in order, with a value, and the
// figures that do not depend on timing are on target. Timings are not
// asserted.
func TestRunTiny(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the bootstrap under the Lambda runtime emulator")
	}
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	var progress strings.Builder
	rep, err := Run(ctx, Config{Runs: 2, Rotations: 3, GoBenchTime: "1x", Dir: t.TempDir(), Progress: &progress})
	if err != nil {
		t.Fatalf("Run: %v\nprogress:\n%s", err, progress.String())
	}

	var got []string
	for _, row := range rep.Rows {
		got = append(got, row.ID)
		if row.Value == "" || row.Figure == "" || row.Section == "" {
			t.Errorf("row %s is incomplete: %+v", row.ID, row)
		}
	}
	if want := RowIDs(true); !slices.Equal(got, want) {
		t.Errorf("rows = %v\nwant   %v", got, want)
	}
	for _, id := range Deterministic {
		row, ok := rep.Row(id)
		if !ok {
			continue // reported above
		}
		if row.Result != Met {
			t.Errorf("%s: %s = %s, target %s: %s", id, row.Figure, row.Value, row.Target, row.Result)
		}
	}
	for id, want := range map[string]string{
		"sm.calls":      "9 (DescribeSecret 4, GetSecretValue 3, PutSecretValue 1, UpdateSecretVersionStage 1)",
		"cw.requests":   "2 (1 mint, 1 verify)",
		"cw.handshakes": "1",
	} {
		if row, _ := rep.Row(id); row.Value != want {
			t.Errorf("%s = %q, want %q", id, row.Value, want)
		}
	}

	// Two alternating applications: a consumer reading AWSCURRENT alone,
	// with one re-read after a 401, never fails, although every mint
	// revokes its application's earlier tokens (a deterministic outcome:
	// Deterministic lists it too). The rotations are few, but enough for
	// each application to mint again and so revoke a token the consumer
	// held. The one-application control is not asserted: with 3 rotations
	// its failures depend on timing.
	if row, ok := rep.Row("zd.alternate"); !ok || !strings.HasPrefix(row.Value, "0 of ") || row.Result != Met {
		t.Errorf("zd.alternate (%s) = %q (%s), want 0 failed requests, every rotation ok", row.Figure, row.Value, row.Spread)
	} else if strings.Contains(row.Spread, "401 answers 0;") {
		t.Errorf("zd.alternate: no token the consumer held was revoked (%s): the mode tested nothing", row.Spread)
	}

	md := rep.Markdown()
	for _, want := range []string{"# Benchmarks", "| CPUs (`nproc`) |", "| CPU model", "| Go | go", "| date |",
		"| figure | median / value |", "BenchmarkCreateSecret", "BenchmarkRotation"} {
		if !strings.Contains(md, want) {
			t.Errorf("the Markdown report lacks %q", want)
		}
	}
	for _, row := range rep.Rows {
		if !strings.Contains(md, "| "+markdown.Cell(row.Figure)+" | "+markdown.Cell(row.Value)+" |") {
			t.Errorf("the Markdown table lacks the row %s", row.ID)
		}
	}
}

func TestStatistics(t *testing.T) {
	msd := func(ns ...int) []time.Duration {
		var ds []time.Duration
		for _, n := range ns {
			ds = append(ds, time.Duration(n)*time.Millisecond)
		}
		return ds
	}
	if got := median(msd(5, 1, 3)); got != 3*time.Millisecond {
		t.Errorf("median of 5,1,3 = %v", got)
	}
	if got := median(msd(4, 1, 3, 2)); got != 2500*time.Microsecond {
		t.Errorf("median of 4,1,3,2 = %v", got)
	}
	if got := percentile(msd(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 0.9); got != 9*time.Millisecond {
		t.Errorf("p90 of 1..10 = %v", got)
	}
	if got := percentile(msd(7), 0.9); got != 7*time.Millisecond {
		t.Errorf("p90 of one sample = %v", got)
	}
	if got := thousands(1234567); got != "1,234,567" {
		t.Errorf("thousands = %q", got)
	}
	if got := ms(time.Millisecond); got != "1.00 ms" {
		t.Errorf("ms(1ms) = %q", got)
	}
	if got := ms(1234 * time.Millisecond); got != "1234 ms" {
		t.Errorf("ms(1234ms) = %q", got)
	}
}

func TestSummaries(t *testing.T) {
	nine := map[string]int{"DescribeSecret": 4, "GetSecretValue": 3, "PutSecretValue": 1, "UpdateSecretVersionStage": 1}
	worst, desc := callsSummary([]map[string]int{nine, nine})
	if worst != 9 || desc != "9 (DescribeSecret 4, GetSecretValue 3, PutSecretValue 1, UpdateSecretVersionStage 1)" {
		t.Errorf("callsSummary = %d, %q", worst, desc)
	}
	ten := map[string]int{"DescribeSecret": 5, "GetSecretValue": 3, "PutSecretValue": 1, "UpdateSecretVersionStage": 1}
	worst, desc = callsSummary([]map[string]int{nine, ten, nine})
	if worst != 10 || !strings.HasPrefix(desc, "varied: 2× 9 (") || !strings.Contains(desc, "; 1× 10 (DescribeSecret 5") {
		t.Errorf("callsSummary of differing rotations = %d, %q", worst, desc)
	}
	ok, desc := cwSummary([]cwCount{{mints: 1, verifies: 1}, {mints: 1, verifies: 2}})
	if ok || !strings.Contains(desc, "1× 3 (1 mint, 2 verify)") {
		t.Errorf("cwSummary = %v, %q", ok, desc)
	}
}
