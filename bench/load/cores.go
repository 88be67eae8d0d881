package main

import (
	"os"
	"strconv"
	"strings"
)

// coreTimes is one reading of /proc/stat's per-core lines, in clock ticks.
type coreTimes struct {
	busy, steal, total []uint64
}

// readCores reads /proc/stat; on error it returns no cores.
func readCores() coreTimes {
	var c coreTimes
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return c
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 9 || !strings.HasPrefix(f[0], "cpu") || f[0] == "cpu" {
			continue
		}
		// user nice system idle iowait irq softirq steal
		var v [8]uint64
		for i := range v {
			v[i], _ = strconv.ParseUint(f[i+1], 10, 64)
		}
		var total uint64
		for _, x := range v {
			total += x
		}
		c.total = append(c.total, total)
		c.steal = append(c.steal, v[7])
		c.busy = append(c.busy, total-v[3]-v[4]-v[7])
	}
	return c
}

// coreWindow is how busy each core was over a window, all processes
// counted, so that a reader can see load that was not the benchmark's own
// (the proxy core busier than the proxy, say) and time the hypervisor
// took (steal).
type coreWindow struct {
	Busy  []float64 `json:"busy"`  // fraction of the window each core ran anything
	Steal []float64 `json:"steal"` // fraction of the window the hypervisor took
}

func coresBetween(a, b coreTimes) *coreWindow {
	w := &coreWindow{}
	for i := range min(len(a.total), len(b.total)) {
		total := float64(b.total[i] - a.total[i])
		if total <= 0 {
			total = 1
		}
		w.Busy = append(w.Busy, float64(b.busy[i]-a.busy[i])/total)
		w.Steal = append(w.Steal, float64(b.steal[i]-a.steal[i])/total)
	}
	return w
}
