package lambdarie

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
)

// procInfo is what this package needs from /proc/<pid>/stat.
type procInfo struct {
	ppid, pgrp int
	state      byte
}

// errNoProc is returned by the /proc helpers where /proc is not available.
var errNoProc = errors.New("lambdarie: process inspection needs Linux /proc")

// readProcs reads the parent and process group of every process (Linux only).
func readProcs() (map[int]procInfo, error) {
	if runtime.GOOS != "linux" {
		return nil, errNoProc
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errNoProc, err)
	}
	procs := make(map[int]procInfo, len(entries))
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if info, ok := readStat(pid); ok {
			procs[pid] = info
		}
	}
	return procs, nil
}

// readStat parses /proc/<pid>/stat; ok is false if the process is gone.
func readStat(pid int) (procInfo, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procInfo{}, false
	}
	// pid (comm) state ppid pgrp ...; comm may contain spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procInfo{}, false
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 3 || len(f[0]) != 1 {
		return procInfo{}, false
	}
	ppid, err1 := strconv.Atoi(string(f[1]))
	pgrp, err2 := strconv.Atoi(string(f[2]))
	if err1 != nil || err2 != nil {
		return procInfo{}, false
	}
	return procInfo{ppid: ppid, pgrp: pgrp, state: f[0][0]}, true
}

// processAlive reports whether pid exists and is not a zombie (Linux only;
// elsewhere it reports false).
func processAlive(pid int) bool {
	info, ok := readStat(pid)
	return ok && info.state != 'Z' && info.state != 'X'
}

// groupTree returns the live members of process group pgid and all their
// descendants, sorted.
func groupTree(procs map[int]procInfo, pgid int) []int {
	children := make(map[int][]int)
	var todo []int
	for pid, p := range procs {
		children[p.ppid] = append(children[p.ppid], pid)
		if p.pgrp == pgid {
			todo = append(todo, pid)
		}
	}
	seen := make(map[int]bool)
	var out []int
	for len(todo) > 0 {
		pid := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		if seen[pid] {
			continue
		}
		seen[pid] = true
		if p := procs[pid]; p.state != 'Z' && p.state != 'X' {
			out = append(out, pid)
		}
		todo = append(todo, children[pid]...)
	}
	slices.Sort(out)
	return out
}
