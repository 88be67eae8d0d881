package h1

import (
	"sync/atomic"
	"time"
)

// monoEpoch is the origin of mono.
var monoEpoch = time.Now()

// mono reads the monotonic clock, in nanoseconds since the package was
// loaded. It is one read of the clock where time.Now takes two (the wall
// clock and the monotonic one), and a request checks the clock several
// times (deadlines, the Date header): the checks whether a deadline needs
// moving use it, and only a deadline actually moved reads the wall clock.
func mono() int64 { return int64(time.Since(monoEpoch)) }

// moveDeadline reports whether a deadline timeout from now should replace
// the one in force, whose time due holds in mono ns (0: none known), and
// records the new one in due when it should. A deadline moves only once it
// has fallen behind by more than a 64th of timeout, so that most reads and
// writes leave the runtime's timers (and the wall clock) alone; one in
// force later than asked for, from a longer timeout, is replaced too. due
// is stored before the caller sets the deadline, so that another deadline
// set meanwhile, which clears due, wins.
func moveDeadline(due *atomic.Int64, timeout time.Duration) bool {
	next := mono() + int64(timeout)
	if d := due.Load(); d != 0 && next >= d && next-d <= int64(timeout/64) {
		return false
	}
	due.Store(next)
	return true
}
