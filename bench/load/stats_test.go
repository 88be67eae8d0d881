package main

import (
	"testing"
	"time"
)

func TestSummarizeNearestRank(t *testing.T) {
	var d []time.Duration
	for i := 100; i >= 1; i-- {
		d = append(d, time.Duration(i)*time.Microsecond)
	}
	got := summarize(d)
	want := latencySummary{Count: 100, P50: 50, P90: 90, P99: 99, P999: 100, Max: 100}
	if got != want {
		t.Fatalf("summarize = %+v, want %+v", got, want)
	}
	if s := summarize(nil); s.Count != 0 {
		t.Fatalf("summarize(nil) = %+v, want zero", s)
	}
}
