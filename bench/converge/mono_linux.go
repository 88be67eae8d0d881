package main

import "golang.org/x/sys/unix"

// mono is CLOCK_MONOTONIC in nanoseconds. On Linux it is one clock for
// the whole machine, so readings taken in the coordinator and in its worker
// processes subtract exactly, and unlike the wall clock (CLOCK_REALTIME) no
// NTP step can move it between a change's start and a proxy's receiving it.
func mono() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		panic("clock_gettime(CLOCK_MONOTONIC): " + err.Error())
	}
	return ts.Nano()
}
