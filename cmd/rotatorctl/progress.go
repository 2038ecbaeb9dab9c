package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/clickwrap-rotator/clickwrap-rotator/internal/operator"
	"golang.org/x/term"
)

// progressPrinter shows a rotation's progress: in a terminal one line that
// is redrawn after every look, otherwise a line when the phase changes or
// becomes slow and every 30 seconds, which reads well in CI logs.
type progressPrinter struct {
	w       io.Writer
	live    bool
	width   int
	frame   int
	drawn   bool      // live: a line is on screen
	printed time.Time // plain: when the last line was printed
	slow    bool      // plain: the last line said the phase was slow
}

// heartbeat is how often plain output repeats an unchanged phase.
const heartbeat = 30 * time.Second

func newProgressPrinter(w io.Writer, live bool) *progressPrinter {
	return &progressPrinter{w: w, live: live, width: lineWidth(w)}
}

// lineWidth is how many columns a live line may take: the terminal's width
// (golang.org/x/term), else COLUMNS (which shells seldom export), else 80;
// never under 20.
func lineWidth(w io.Writer) int {
	if f, ok := w.(*os.File); ok {
		if n, _, err := term.GetSize(int(f.Fd())); err == nil && n >= 20 {
			return n
		}
	}
	if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n >= 20 {
		return n
	}
	return 80
}

func (p *progressPrinter) update(pr operator.Progress) {
	if p.live {
		line := fmt.Sprintf("%c %s  %s: %s", `|/-\`[p.frame%4], elapsed(pr.Elapsed), pr.Phase, pr.Detail)
		p.frame++
		// One screen line only: a wrapped line cannot be redrawn with \r.
		if r := []rune(line); len(r) > p.width-1 {
			line = string(r[:p.width-4]) + "..."
		}
		fmt.Fprintf(p.w, "\r\x1b[K%s", line)
		p.drawn = true
		return
	}
	if pr.Phase.Done() {
		return // the caller prints the outcome
	}
	if pr.Changed || p.printed.IsZero() || pr.Slow != p.slow || time.Since(p.printed) >= heartbeat {
		fmt.Fprintf(p.w, "%8s  %s: %s\n", elapsed(pr.Elapsed), pr.Phase, pr.Detail)
		p.printed, p.slow = time.Now(), pr.Slow
	}
}

// done clears the live line, so that the outcome is printed in its place.
func (p *progressPrinter) done() {
	if p.live && p.drawn {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
}

func elapsed(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return operator.ShortDuration(d)
}
