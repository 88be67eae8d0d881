package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat. It
// is 100 on every Linux architecture Go runs on.
const clockTicks = 100

// procSample is the CPU time and resident memory of a process tree at one
// moment: a proxy's master process and its workers, or one process with
// many threads (the per-process figures already sum over threads).
type procSample struct {
	PIDs       []int   `json:"pids"`
	CPUSeconds float64 `json:"cpu_seconds"` // utime+stime, summed over the tree
	// UserSeconds is utime alone: the process's own code, where the rest
	// is the kernel's work on its behalf (system calls, the network).
	UserSeconds float64 `json:"user_seconds"`
	RSSKB       int64   `json:"rss_kb"` // VmRSS, summed over the tree
}

// sampleTree reads /proc for root and all its descendants.
func sampleTree(root int) (procSample, error) { return sampleTrees([]int{root}) }

// sampleTrees reads /proc for several roots and all their descendants,
// summed: a chain of separate processes measured as one.
func sampleTrees(roots []int) (procSample, error) {
	var s procSample
	for _, root := range roots {
		pids := descendants(root)
		if len(pids) == 0 {
			return procSample{}, fmt.Errorf("process %d is not running", root)
		}
		s.PIDs = append(s.PIDs, pids...)
	}
	for _, pid := range s.PIDs {
		st, err := readStat(pid)
		if err != nil {
			continue // exited since the scan
		}
		s.CPUSeconds += float64(st.utime+st.stime) / clockTicks
		s.UserSeconds += float64(st.utime) / clockTicks
		s.RSSKB += readRSS(pid)
	}
	return s, nil
}

// pidList is a flag of comma-separated process ids; "0" or "" is none.
type pidList []int

func (p *pidList) String() string { return strings.Trim(fmt.Sprint([]int(*p)), "[]") }

func (p *pidList) Set(v string) error {
	*p = nil
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 {
			return fmt.Errorf("not a pid: %q", f)
		}
		if n > 0 {
			*p = append(*p, n)
		}
	}
	return nil
}

type stat struct {
	ppid, utime, stime int64
}

// readStat parses /proc/PID/stat. The command name may hold spaces and
// parentheses, so fields are counted from the last ')'.
func readStat(pid int) (stat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return stat{}, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return stat{}, errors.New("malformed stat")
	}
	// Field 3 (state) is f[0]; ppid is field 4, utime 14, stime 15.
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return stat{}, errors.New("short stat")
	}
	var s stat
	s.ppid, _ = strconv.ParseInt(f[1], 10, 64)
	s.utime, _ = strconv.ParseInt(f[11], 10, 64)
	s.stime, _ = strconv.ParseInt(f[12], 10, 64)
	return s, nil
}

// readRSS returns VmRSS in kB, or 0 for a process that has none (a zombie).
func readRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// descendants lists root and every process below it, root first, or nothing
// if root is not running.
func descendants(root int) []int {
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", root)); err != nil {
		return nil
	}
	children := make(map[int64][]int)
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		if st, err := readStat(pid); err == nil {
			children[st.ppid] = append(children[st.ppid], pid)
		}
	}
	out := []int{root}
	for i := 0; i < len(out); i++ {
		out = append(out, children[int64(out[i])]...)
	}
	return out
}

// cmdProc prints one sample of a process tree, or with -pids only its
// process ids, one line, for the harness to check that they all exit.
func cmdProc(args []string) error {
	fs := flag.NewFlagSet("proc", flag.ExitOnError)
	pid := fs.Int("pid", 0, "root process id (required)")
	pidsOnly := fs.Bool("pids", false, "print only the tree's process ids")
	fs.Parse(args)
	if *pidsOnly {
		fmt.Println(strings.Trim(fmt.Sprint(descendants(*pid)), "[]"))
		return nil
	}
	s, err := sampleTree(*pid)
	if err != nil {
		return err
	}
	return writeJSON("", s)
}
