package rawio

import (
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// Yield is runtime.Gosched for a goroutine about to read what its peer
// has most likely not sent yet (the next request after a response, the
// response right after a request): under load, letting the other
// runnable goroutines go first gives the peer that time, and the read
// then finds the data instead of failing with EAGAIN and parking; at
// light load the run queue is empty and it returns at once.
//
// Yields have a price the goroutines that did park pay: the scheduler
// asks the poller which of them may run again only when it has nothing
// else to run (or when sysmon does, every 10 ms), and goroutines that
// keep yielding and finding their data keep it busy. On one P at
// saturation that held a parked connection up to 10 ms (a closed-loop
// p99 of 4 ms against 1.4 ms without yields). So while any read or write
// of this package is parked, Yield lets at most maxYields yields happen
// before the next parked call wakes; past that it returns at once, the
// callers' reads go to the poller too, the run queue empties, and the
// scheduler polls.
func Yield() {
	if shouldYield() {
		runtime.Gosched()
	}
}

// shouldYield counts a yield while some call is parked, and says whether
// the budget since the last wake-up allows it.
func shouldYield() bool { return parked.Load() == 0 || yields.Add(1) <= maxYields }

// maxYields bounds how long a parked call waits for the scheduler to
// poll; each yield lets about half a request of another connection run.
// Measured at saturation on one P with 32 connections (bench's wrk run),
// the closed-loop p99 was 1.5–1.6 ms with 32, 1.7–2.2 ms with 128,
// 3.6 ms with 512 and 3.7–5.6 ms unbounded (1.6–1.8 ms without yields);
// the throughput differences were within the runs' spread of about 5%.
const maxYields = 128

var (
	parked atomic.Int64 // reads and writes of this package waiting for readiness
	yields atomic.Int64 // Yields while some were parked, since one last woke
)

// rawConn is a TCP connection whose Read and Write are raw system calls;
// everything else is the *net.TCPConn's own.
type rawConn struct {
	*net.TCPConn
	rc syscall.RawConn
	r  rawOp // the Read in progress
	w  rawOp // the Write in progress
}

// rawOp is one direction's call in progress. Reads (and writes) on a
// connection may come from more than one goroutine, so each direction's
// state is the mutex holder's alone; the RawConn callback reads it from
// there instead of from a closure, which would allocate per call.
type rawOp struct {
	mu    sync.Mutex
	p     []byte
	n     int
	errno syscall.Errno
	fn    func(fd uintptr) bool // read or write of this rawOp, made once

	// waited is set while the call is parked for readiness, and
	// counted in parked (see Yield).
	waited bool
}

// wait counts o as parked, once per call, and returns false for the
// RawConn callback to wait.
func (o *rawOp) wait() bool {
	if !o.waited {
		o.waited = true
		parked.Add(1)
	}
	return false
}

// woke is called at the start of each callback: one made after a wait
// means the poller woke the call, and the yields start counting again.
func (o *rawOp) woke() {
	if o.waited {
		yields.Store(0)
	}
}

// done ends o's count as parked when the call returns.
func (o *rawOp) done() {
	if o.waited {
		o.waited = false
		parked.Add(-1)
	}
}

// Conn returns nc with raw Read and Write if it is a *net.TCPConn, and
// nc itself otherwise (TLS, pipes in tests, a connection already wrapped).
func Conn(nc net.Conn) net.Conn {
	tcp, ok := nc.(*net.TCPConn)
	if !ok {
		return nc
	}
	rc, err := tcp.SyscallConn()
	if err != nil {
		return nc
	}
	c := &rawConn{TCPConn: tcp, rc: rc}
	c.r.fn = c.r.read
	c.w.fn = c.w.write
	return c
}

func (c *rawConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, err := c.call(&c.r, p, "read")
	if err == nil && n == 0 {
		return 0, io.EOF
	}
	return n, err
}

func (c *rawConn) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	return c.call(&c.w, p, "write")
}

// call makes the read (o is c.r) or the write (c.w) of p, waiting for
// readiness as often as it takes, and returns what net.Conn's would.
func (c *rawConn) call(o *rawOp, p []byte, op string) (int, error) {
	o.mu.Lock()
	o.p, o.n, o.errno = p, 0, 0
	var err error
	if o == &c.r {
		err = c.rc.Read(o.fn)
	} else {
		err = c.rc.Write(o.fn)
	}
	o.done()
	n, errno := o.n, o.errno
	o.p = nil
	o.mu.Unlock()
	switch {
	case err != nil:
		return n, c.opError(op, err)
	case errno != 0:
		return n, c.opError(op, os.NewSyscallError(op, errno))
	}
	return n, nil
}

// read is a RawConn.Read callback: one recvfrom(2) into o.p, false to
// wait for readiness when there is nothing to read yet. recvfrom without
// an address is read(2) on a socket, without the VFS layer read goes
// through first (2–5% of a saturated proxy's requests per core).
func (o *rawOp) read(fd uintptr) bool {
	o.woke()
	for {
		n, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&o.p[0])), uintptr(len(o.p)), 0, 0, 0)
		switch e {
		case 0:
			o.n = int(n)
			return true
		case syscall.EINTR:
		case syscall.EAGAIN:
			return o.wait()
		default:
			o.errno = e
			return true
		}
	}
}

// write is a RawConn.Write callback: sendto(2) until all of o.p is out,
// false to wait for the socket to take more. sendto is write(2) on a
// socket without the VFS layer, and MSG_NOSIGNAL has a peer that went
// away fail the call with EPIPE without raising SIGPIPE, which the Go
// runtime would only catch and drop.
func (o *rawOp) write(fd uintptr) bool {
	o.woke()
	for o.n < len(o.p) {
		n, _, e := syscall.RawSyscall6(syscall.SYS_SENDTO, fd, uintptr(unsafe.Pointer(&o.p[o.n])), uintptr(len(o.p)-o.n), syscall.MSG_NOSIGNAL, 0, 0)
		switch e {
		case 0:
			o.n += int(n)
		case syscall.EINTR:
		case syscall.EAGAIN:
			return o.wait()
		default:
			o.errno = e
			return true
		}
	}
	return true
}

// opError makes err what net.Conn's Read and Write return: a *net.OpError
// with the operation's name (RawConn names it "raw-read"), so that
// timeouts, net.ErrClosed and errnos are recognized as before.
func (c *rawConn) opError(op string, err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) {
		oe.Op = op
		return oe
	}
	return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}

// Listener returns ln with Accept wrapping each connection with Conn.
func Listener(ln net.Listener) net.Listener { return listener{ln} }

type listener struct{ net.Listener }

func (l listener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return Conn(nc), nil
}
