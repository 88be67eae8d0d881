// Package rawio gives TCP connections a Read and Write that make their
// recvfrom(2) and sendto(2) with syscall.RawSyscall6 through the socket's
// RawConn, so that deadlines, Close and the wait for readiness stay the
// netpoller's, while the runtime's system-call bookkeeping is skipped.
//
// Why: net.Conn's Read and Write enter the system call through the
// runtime's entersyscall, and since Go 1.26 that wakes the runtime's
// monitor thread (sysmon) when it sleeps, which it does whenever the
// process was idle. A proxy at light load is idle between requests, so
// every request woke sysmon (a futex), and sysmon then polled every 20 µs
// (nanosleep) until the process went idle again: on one core at 1,000
// requests/s that thread took a fifth of the proxy's CPU, and the handoffs
// it made of a P caught in a call woke a second thread. A socket call
// needs none of that: the socket is non-blocking, so the call returns at
// once and there is no P to hand off while it runs. (A write copies at
// most what the socket buffer takes, so the goroutine cannot be preempted
// for at most that copy.)
//
// Conn wraps one connection; Listener wraps every connection a listener
// accepts. Both leave anything that is not a *net.TCPConn (TLS, pipes) as
// it is: wrap the TCP connection first, then put TLS over it.
package rawio
