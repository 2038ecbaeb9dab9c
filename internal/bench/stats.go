package bench

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

func (rep *Report) add(row Row) { rep.Rows = append(rep.Rows, row) }

func verdict(ok bool) Result {
	if ok {
		return Met
	}
	return Missed
}

func timingRow(id, section, figure string, ds []time.Duration) Row {
	return Row{ID: id, Section: section, Figure: figure, Value: ms(median(ds)), Spread: spread(ds)}
}

// callsSummary describes the per-operation calls of every rotation: the
// common breakdown, or each distinct one when they differ; worst is the
// largest total.
func callsSummary(all []map[string]int) (worst int, desc string) {
	descs := make([]string, len(all))
	for i, c := range all {
		total := 0
		for _, n := range c {
			total += n
		}
		worst = max(worst, total)
		ops := slices.Sorted(maps.Keys(c))
		parts := make([]string, len(ops))
		for i, op := range ops {
			parts[i] = fmt.Sprintf("%s %d", op, c[op])
		}
		descs[i] = fmt.Sprintf("%d (%s)", total, strings.Join(parts, ", "))
	}
	return worst, summary(descs)
}

// cwSummary describes the Clickwrap requests of every rotation as
// callsSummary does; ok means each made one mint and one verify.
func cwSummary(all []cwCount) (ok bool, desc string) {
	ok = true
	descs := make([]string, len(all))
	for i, c := range all {
		ok = ok && c.mints == 1 && c.verifies == 1
		descs[i] = fmt.Sprintf("%d (%d mint, %d verify)", c.mints+c.verifies, c.mints, c.verifies)
	}
	return ok, summary(descs)
}

// summary is the one description all share, or "varied: " and each
// distinct one with its count, in the order first seen.
func summary(descs []string) string {
	seen := map[string]int{}
	var order []string
	for _, d := range descs {
		if seen[d] == 0 {
			order = append(order, d)
		}
		seen[d]++
	}
	if len(order) == 1 {
		return order[0]
	}
	for i, d := range order {
		order[i] = fmt.Sprintf("%d× %s", seen[d], d)
	}
	return "varied: " + strings.Join(order, "; ")
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(ds))
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func medianInt(xs []int64) int64 {
	ds := make([]time.Duration, len(xs))
	for i, x := range xs {
		ds[i] = time.Duration(x)
	}
	return int64(median(ds))
}

// percentile is the nearest-rank percentile.
func percentile(ds []time.Duration, p float64) time.Duration {
	s := slices.Sorted(slices.Values(ds))
	i := int(math.Ceil(float64(len(s))*p)) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func spread(ds []time.Duration) string {
	if len(ds) == 0 {
		return "no samples"
	}
	return fmt.Sprintf("min %s, p90 %s, max %s, n=%d", ms(slices.Min(ds)), ms(percentile(ds, 0.9)), ms(slices.Max(ds)), len(ds))
}

func ms(d time.Duration) string {
	v := float64(d) / float64(time.Millisecond)
	switch {
	case v >= 100 || v <= -100:
		return fmt.Sprintf("%.0f ms", v)
	case v >= 10 || v <= -10:
		return fmt.Sprintf("%.1f ms", v)
	default:
		return fmt.Sprintf("%.2f ms", v)
	}
}

// mb formats bytes in MB (10^6 bytes).
func mb(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }

func intRange(xs []int) string {
	if len(xs) == 0 {
		return "-"
	}
	lo, hi := slices.Min(xs), slices.Max(xs)
	if lo == hi {
		return fmt.Sprintf("%d in all %d runs", lo, len(xs))
	}
	return fmt.Sprintf("%d to %d over %d runs", lo, hi, len(xs))
}

func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
