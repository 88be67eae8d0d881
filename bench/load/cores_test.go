package main

import (
	"math"
	"testing"
	"time"
)

// TestCoresBetween: a core's busy share is the wall-clock time it was
// not idle or stolen, not the sampled user and system ticks, which miss
// short bursts: 10 s in which the core was idle 8.3 s and showed only 0.3 s
// of user and system time was 17% busy, not 3.5%.
func TestCoresBetween(t *testing.T) {
	t0 := time.Unix(1000, 0)
	a := coreTimes{at: t0, idle: []uint64{5000}, steal: []uint64{10}, total: []uint64{6000}}
	b := coreTimes{at: t0.Add(10 * time.Second), idle: []uint64{5830}, steal: []uint64{10}, total: []uint64{6860}}
	w := coresBetween(a, b)
	if len(w.Busy) != 1 || math.Abs(w.Busy[0]-0.17) > 1e-9 || w.Steal[0] != 0 {
		t.Fatalf("busy %v steal %v, want [0.17] [0]", w.Busy, w.Steal)
	}
	// Without times, the window is the fields' sum, as on a kernel that
	// counts idle time by the tick too.
	a.at, b.at = time.Time{}, time.Time{}
	if w := coresBetween(a, b); math.Abs(w.Busy[0]-30.0/860) > 1e-9 {
		t.Fatalf("busy without times %v, want %v", w.Busy, 30.0/860)
	}
}
