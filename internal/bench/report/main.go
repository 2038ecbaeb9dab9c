// Command report is `make bench`: it runs internal/bench (the real bootstrap
// under the AWS Lambda Runtime Interface Emulator, against the Secrets
// Manager emulator and the Clickwrap sandbox, plus the artifact size and the
// Go benchmarks of rotation/), prints the table and writes docs/benchmarks.md.
//
//	go run ./internal/bench/report [-runs 25] [-rotations 50] [-benchtime 1000x] [-out docs/benchmarks.md]
//
// Figures are printed against their targets; a missed target is reported,
// not an error. The exit status is non-zero only when the bench cannot run.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/clickwrap-rotator/clickwrap-rotator/internal/bench"
	"github.com/clickwrap-rotator/clickwrap-rotator/internal/lambdarie"
)

func main() {
	runs := flag.Int("runs", 25, "runs per timing (fresh containers per cold-start figure, warm rotations)")
	rotations := flag.Int("rotations", 50, "back-to-back rotations per zero-downtime mode")
	benchtime := flag.String("benchtime", "1000x", `-benchtime of the Go benchmarks of rotation/ ("-" skips them)`)
	out := flag.String("out", "docs/benchmarks.md", "report file, relative to the module root (\"-\": do not write)")
	bootstrap := flag.String("bootstrap", "", "a bootstrap already built with lambdarie.Build (default: build one)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, bench.Config{Runs: *runs, Rotations: *rotations, GoBenchTime: *benchtime, Bootstrap: *bootstrap, Progress: os.Stderr}, *out); err != nil {
		fmt.Fprintln(os.Stderr, "bench failed:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg bench.Config, out string) error {
	root, err := lambdarie.ModuleRoot(ctx)
	if err != nil {
		return err
	}
	rep, err := bench.Run(ctx, cfg)
	if err != nil {
		return err
	}
	m := rep.Machine
	fmt.Printf("\n%d CPUs (%s), %s %s, %s, load %s / %s\n\n", m.CPUs, m.CPU, m.Go, m.OSArch(),
		m.Date.Format("2006-01-02 15:04 MST"), m.LoadStart, m.LoadEnd)
	fmt.Print(rep.Table())
	if missed := rep.Missed(); len(missed) > 0 {
		fmt.Printf("\n%d target(s) missed:\n", len(missed))
		for _, row := range missed {
			fmt.Printf("  %s: %s (target %s)\n", row.Figure, row.Value, row.Target)
		}
	} else {
		fmt.Println("\nEvery figure with a target met it.")
	}
	if out == "-" {
		return nil
	}
	if !filepath.IsAbs(out) {
		out = filepath.Join(root, out)
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(out, []byte(rep.Markdown()), 0o644); err != nil {
		return err
	}
	fmt.Printf("Wrote %s (took %s).\n", out, rep.Took.Round(1e9))
	return nil
}
