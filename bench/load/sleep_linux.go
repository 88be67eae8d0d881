package main

import (
	"runtime"
	"syscall"
	"time"
)

// prSetTimerSlack is prctl's PR_SET_TIMERSLACK.
const prSetTimerSlack = 29

// preciseSleeper returns a function that sleeps until a deadline with
// about 0.1 ms of error, where time.Sleep overshoots by up to a
// millisecond (the runtime's netpoller waits in whole milliseconds). It
// locks the calling goroutine to its OS thread, sets that thread's timer
// slack to 1 ns, and sleeps with nanosleep(2); the caller must keep using
// it from the same goroutine.
func preciseSleeper() func(until time.Time) {
	runtime.LockOSThread()
	syscall.Syscall(syscall.SYS_PRCTL, prSetTimerSlack, 1, 0)
	return func(until time.Time) {
		for {
			d := time.Until(until)
			if d <= 0 {
				return
			}
			ts := syscall.NsecToTimespec(int64(d))
			if syscall.Nanosleep(&ts, nil) == nil {
				return
			}
		}
	}
}
