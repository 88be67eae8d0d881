//go:build !linux

package main

import "time"

// preciseSleeper falls back to time.Sleep off Linux.
func preciseSleeper() func(until time.Time) {
	return func(until time.Time) { time.Sleep(time.Until(until)) }
}
