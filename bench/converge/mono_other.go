//go:build !linux

package main

import "time"

// mono is the wall clock in nanoseconds where CLOCK_MONOTONIC is not known
// to be one clock across processes: comparable between the coordinator and
// its workers, though a clock step during a change would show in its time.
func mono() int64 { return time.Now().UnixNano() }
