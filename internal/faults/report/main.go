// Command report runs the fault-injection matrix of internal/faults, prints
// its table (with the machine and Go version) on stdout, and rewrites the
// generated part of docs/faults.md, keeping the prose around it. It exits 1
// when a row differs from what TestFaultMatrix expects.
//
//	go run ./internal/faults/report            # all scenarios, update docs/faults.md
//	go run ./internal/faults/report -only 8,10c   # some scenarios, print only
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/clickwrap-rotator/clickwrap-rotator/internal/faults"
	"github.com/clickwrap-rotator/clickwrap-rotator/internal/lambdarie"
	"github.com/clickwrap-rotator/clickwrap-rotator/internal/localrun"
	"github.com/clickwrap-rotator/clickwrap-rotator/internal/machine"
)

func main() {
	out := flag.String("o", "", "the report to update (default: docs/faults.md in the module root when every scenario runs); - for none")
	only := flag.String("only", "", "comma-separated scenario IDs to run (default: all)")
	parallel := flag.Int("parallel", 0, "scenarios run at once (default 4)")
	flag.Parse()
	os.Exit(run(*out, *only, *parallel))
}

func run(out, only string, parallel int) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()

	var ids []string
	if only != "" {
		ids = strings.Split(only, ",")
	}
	if out == "" && len(ids) == 0 {
		root, err := lambdarie.ModuleRoot(ctx)
		if err != nil {
			fmt.Fprintln(os.Stderr, "report:", err)
			return 2
		}
		out = filepath.Join(root, "docs", "faults.md")
	}

	dir, err := localrun.TempDir()
	if err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		return 2
	}
	defer os.RemoveAll(dir)
	fmt.Fprintln(os.Stderr, "building the bootstrap and running the matrix...")
	bootstrap, err := localrun.BuildOnce(ctx, dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		return 2
	}
	start := time.Now()
	results, runErr := faults.Run(ctx, faults.Options{Bootstrap: bootstrap, Dir: dir, Parallel: parallel, Only: ids})
	if results == nil {
		fmt.Fprintln(os.Stderr, "report:", runErr)
		return 2
	}
	wall := time.Since(start)
	m := faults.Machine{Description: machine.Describe(ctx), Wall: wall}
	gen, err := faults.Generated(results, m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		return 2
	}
	fmt.Print(gen)

	code := 0
	if runErr != nil {
		fmt.Fprintln(os.Stderr, "report:", runErr)
		code = 1
	}
	for _, r := range results {
		if d := faults.Check(r); len(d) > 0 {
			fmt.Fprintf(os.Stderr, "scenario %s (%s) is not as expected: %s\n", r.Scenario.ID, r.Scenario.Name, strings.Join(d, "; "))
			code = 1
		}
	}
	if out != "" && out != "-" {
		if err := faults.UpdateDoc(out, gen); err != nil {
			fmt.Fprintln(os.Stderr, "report:", err)
			return 2
		}
		fmt.Fprintln(os.Stderr, "wrote", out)
	}
	return code
}
