package h1

import "time"

// monoEpoch is the origin of mono.
var monoEpoch = time.Now()

// mono reads the monotonic clock, in nanoseconds since the package was
// loaded. It is one read of the clock where time.Now takes two (the wall
// clock and the monotonic one), and a request checks the clock several
// times (deadlines, the Date header): the checks whether a deadline needs
// moving use it, and only a deadline actually moved reads the wall clock.
func mono() int64 { return int64(time.Since(monoEpoch)) }
