package main

import (
	"os"
	"strconv"
	"strings"
	"time"
)

// coreTimes is one reading of /proc/stat's per-core lines, in clock ticks,
// and when it was taken.
type coreTimes struct {
	at                 time.Time
	idle, steal, total []uint64 // idle counts iowait too
}

// readCores reads /proc/stat; on error it returns no cores.
func readCores() coreTimes {
	c := coreTimes{at: time.Now()}
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
		c.idle = append(c.idle, v[3]+v[4])
		c.steal = append(c.steal, v[7])
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

// coresBetween is each core's share of the window between two readings.
// A core is busy for whatever of the window's wall-clock time it was not
// idle: on a tickless kernel /proc/stat's idle time is exact, but user
// and system time are sampled at the scheduler tick, and work that comes
// in bursts shorter than a tick (a proxy at 1,000 req/s) is mostly missed
// there: a core whose processes ran 17% of the time showed 3% busy
// counted that way. The window's length comes from the fields' sum only
// if the two readings carry no times.
func coresBetween(a, b coreTimes) *coreWindow {
	w := &coreWindow{}
	wall := b.at.Sub(a.at).Seconds() * clockTicks
	for i := range min(len(a.total), len(b.total)) {
		total := wall
		if total <= 0 {
			total = float64(b.total[i] - a.total[i])
		}
		if total <= 0 {
			total = 1
		}
		idle, steal := float64(b.idle[i]-a.idle[i]), float64(b.steal[i]-a.steal[i])
		w.Busy = append(w.Busy, clamp01((total-idle-steal)/total))
		w.Steal = append(w.Steal, clamp01(steal/total))
	}
	return w
}

// clamp01 keeps a share within [0, 1]: the readings' times and the
// kernel's counters are not taken at the same instant.
func clamp01(x float64) float64 { return max(0, min(1, x)) }
