package main

import (
	"slices"
	"time"
)

// latencySummary holds percentiles in microseconds.
type latencySummary struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50_us"`
	P90   float64 `json:"p90_us"`
	P99   float64 `json:"p99_us"`
	P999  float64 `json:"p999_us"`
	Max   float64 `json:"max_us"`
}

// summarize sorts d in place and returns its nearest-rank percentiles.
func summarize(d []time.Duration) latencySummary {
	if len(d) == 0 {
		return latencySummary{}
	}
	slices.Sort(d)
	us := func(q float64) float64 {
		return float64(d[rank(len(d), q)].Nanoseconds()) / 1e3
	}
	return latencySummary{Count: len(d), P50: us(0.50), P90: us(0.90), P99: us(0.99), P999: us(0.999), Max: us(1)}
}

// rank is the nearest-rank index of quantile q in n sorted samples.
func rank(n int, q float64) int {
	i := int(q*float64(n)+0.999999) - 1
	return max(0, min(n-1, i))
}
