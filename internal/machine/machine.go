// Package machine describes the machine a report was made on: the
// benchmarks' (docs/benchmarks.md) and the fault matrix's (docs/faults.md).
package machine

import (
	"context"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Description is the machine and the Go toolchain a report ran with.
type Description struct {
	// OS and Arch are runtime.GOOS and runtime.GOARCH.
	OS, Arch string
	// CPUs is what nproc counts (runtime.NumCPU without nproc).
	CPUs int
	// CPU is the model name in /proc/cpuinfo, or "unknown".
	CPU string
	// Go is the toolchain's version (go env GOVERSION), which builds the
	// bootstrap; without the go command, the running program's.
	Go string
	// Kernel is /proc/sys/kernel/osrelease; empty where there is none.
	Kernel string
	// Date is when Describe ran, in UTC.
	Date time.Time
}

// OSArch is "GOOS/GOARCH".
func (d Description) OSArch() string { return d.OS + "/" + d.Arch }

// Describe describes this machine.
func Describe(ctx context.Context) Description {
	d := Description{OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU(), CPU: "unknown", Go: runtime.Version(), Date: time.Now().UTC()}
	if out, err := exec.CommandContext(ctx, "go", "env", "GOVERSION").Output(); err == nil {
		d.Go = strings.TrimSpace(string(out))
	}
	if out, err := exec.CommandContext(ctx, "nproc").Output(); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(out))); err == nil {
			d.CPUs = n
		}
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				d.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		d.Kernel = strings.TrimSpace(string(b))
	}
	return d
}
