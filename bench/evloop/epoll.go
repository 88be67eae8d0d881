package main

import (
	"errors"
	"fmt"
	"log"
	"net"
	"os"
	"syscall"
	"unsafe"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// epoll.go runs the same proxy on a hand-written epoll loop: nonblocking
// sockets (listener, clients, upstreams) in one level-triggered epoll set,
// one read per readiness into a shared buffer, writes straight from the
// handlers. Unlike gnet, the loop does not block in epoll_wait itself: the
// epoll fd is handed to Go's own netpoller (os.NewFile + RawConn.Read), so
// the loop goroutine parks like any goroutine waiting on a socket, and the
// runtime neither holds a thread in a blocking system call nor keeps sysmon
// polling to retake the P from it (what costs gnet at light load).
//
// The calls made per request (epoll_wait with timeout 0, recvfrom, sendto)
// never block, so they go through syscall.RawSyscall6 as internal/rawio's
// do: syscall.Syscall's entersyscall wakes a sleeping sysmon, which at light
// load costs more than the call (measured: README.md).
//
// When a batch was short and no read filled the buffer, every ready socket
// was drained, so any further readiness wakes the outer (runtime's) epoll
// afresh; otherwise the loop polls again before parking.

type epLoop struct {
	p       *proxy
	epfd    int
	lfd     int
	conns   []*epConn // by fd
	events  [256]unix.EpollEvent
	buf     []byte // read buffer shared by all connections
	full    bool   // a read filled buf: that socket may hold more
	closing []*epConn
}

type epConn struct {
	l          *epLoop
	fd         int
	ctx        any
	in         []byte // unread input: in l.buf during traffic, else in own
	own        []byte
	out        []byte // output the socket did not take yet
	connecting bool
	up         *upstream // dialled for (connecting)
	dead       bool      // Close was called
}

func (c *epConn) Context() any         { return c.ctx }
func (c *epConn) SetContext(v any)     { c.ctx = v }
func (c *epConn) InboundBuffered() int { return len(c.in) }

func (c *epConn) Peek(n int) ([]byte, error) {
	if n <= 0 || n > len(c.in) {
		return c.in, nil
	}
	return c.in[:n], nil
}

func (c *epConn) Discard(n int) (int, error) {
	n = min(n, len(c.in))
	c.in = c.in[n:]
	return n, nil
}

func (c *epConn) Write(b []byte) (int, error) {
	if c.dead {
		return 0, net.ErrClosed
	}
	if len(b) == 0 {
		return 0, nil
	}
	if len(c.out) > 0 || c.connecting {
		c.out = append(c.out, b...)
		return len(b), nil
	}
	n, errno := rawSend(c.fd, b)
	if errno == unix.EAGAIN {
		n, errno = 0, 0
	}
	if errno != 0 {
		c.Close()
		return 0, errno
	}
	if n < len(b) {
		c.out = append(c.out, b[n:]...)
		c.l.ctl(unix.EPOLL_CTL_MOD, c.fd, unix.EPOLLIN|unix.EPOLLOUT)
	}
	return len(b), nil
}

// Close is deferred to the end of the batch, as gnet's is.
func (c *epConn) Close() error {
	if !c.dead {
		c.dead = true
		c.l.closing = append(c.l.closing, c)
	}
	return nil
}

func runEpoll(p *proxy, listen string) error {
	la, err := net.ResolveTCPAddr("tcp4", listen)
	if err != nil {
		return err
	}
	lfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	unix.SetsockoptInt(lfd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	if err := unix.Bind(lfd, sockaddr(la)); err != nil {
		return fmt.Errorf("bind %s: %w", listen, err)
	}
	if err := unix.Listen(lfd, 4096); err != nil {
		return err
	}
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return err
	}
	// Nonblocking, so that os.NewFile gives it to the runtime's netpoller.
	if err := unix.SetNonblock(epfd, true); err != nil {
		return err
	}
	l := &epLoop{p: p, epfd: epfd, lfd: lfd, buf: make([]byte, 64<<10)}
	p.dial = l.dial
	if err := l.ctl(unix.EPOLL_CTL_ADD, lfd, unix.EPOLLIN); err != nil {
		return err
	}
	rc, err := os.NewFile(uintptr(epfd), "epoll").SyscallConn()
	if err != nil {
		return err
	}
	var loopErr error
	err = rc.Read(func(uintptr) bool {
		for {
			n, errno := rawEpollWait(epfd, l.events[:])
			if errno == unix.EINTR {
				continue
			}
			if errno != 0 {
				loopErr = errno
				return true
			}
			if n == 0 {
				return false // park until the epoll fd is readable
			}
			l.full = false
			for i := range n {
				l.handle(&l.events[i])
			}
			l.reap()
			if n < len(l.events) && !l.full {
				return false
			}
		}
	})
	return errors.Join(err, loopErr)
}

func sockaddr(a *net.TCPAddr) *unix.SockaddrInet4 {
	sa := &unix.SockaddrInet4{Port: a.Port}
	copy(sa.Addr[:], a.IP.To4())
	return sa
}

func (l *epLoop) ctl(op, fd int, events uint32) error {
	return unix.EpollCtl(l.epfd, op, fd, &unix.EpollEvent{Events: events, Fd: int32(fd)})
}

func (l *epLoop) add(c *epConn, events uint32) error {
	for len(l.conns) <= c.fd {
		l.conns = append(l.conns, nil)
	}
	l.conns[c.fd] = c
	return l.ctl(unix.EPOLL_CTL_ADD, c.fd, events)
}

func (l *epLoop) handle(ev *unix.EpollEvent) {
	fd := int(ev.Fd)
	if fd == l.lfd {
		l.accept()
		return
	}
	if fd >= len(l.conns) {
		return
	}
	c := l.conns[fd]
	if c == nil || c.dead {
		return
	}
	if c.connecting {
		l.connected(c)
		return
	}
	if ev.Events&unix.EPOLLOUT != 0 && len(c.out) > 0 {
		l.flush(c)
	}
	if ev.Events&(unix.EPOLLIN|unix.EPOLLHUP|unix.EPOLLERR) != 0 && !c.dead {
		l.read(c)
	}
}

func (l *epLoop) read(c *epConn) {
	n, errno := rawRecv(c.fd, l.buf)
	if errno == unix.EAGAIN {
		return
	}
	if errno != 0 || n <= 0 {
		c.Close()
		return
	}
	if n == len(l.buf) {
		l.full = true
	}
	if len(c.in) == 0 {
		c.in = l.buf[:n]
	} else {
		c.own = append(append(c.own[:0], c.in...), l.buf[:n]...)
		c.in = c.own
	}
	if l.p.traffic(c) == gnet.Close {
		c.Close()
	}
	// keep what the handler left unread, out of the shared buffer
	if len(c.in) > 0 && !c.dead {
		c.own = append(c.own[:0], c.in...)
		c.in = c.own
	} else {
		c.in = nil
	}
}

func (l *epLoop) flush(c *epConn) {
	n, errno := rawSend(c.fd, c.out)
	if errno == unix.EAGAIN {
		return
	}
	if errno != 0 {
		c.Close()
		return
	}
	c.out = c.out[:copy(c.out, c.out[n:])]
	if len(c.out) == 0 {
		l.ctl(unix.EPOLL_CTL_MOD, c.fd, unix.EPOLLIN)
	}
}

func (l *epLoop) accept() {
	for {
		fd, _, err := unix.Accept4(l.lfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		switch err {
		case nil:
		case unix.EINTR, unix.ECONNABORTED:
			continue
		case unix.EAGAIN:
			return
		default:
			log.Printf("evloop: accept: %v", err)
			return
		}
		unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		c := &epConn{l: l, fd: fd}
		if err := l.add(c, unix.EPOLLIN); err != nil {
			unix.Close(fd)
			continue
		}
		l.p.open(c)
	}
}

// dial starts a nonblocking connect; connected finishes it.
func (l *epLoop) dial(u *upstream) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		l.p.dialFailed(u)
		return
	}
	unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	if err := unix.Connect(fd, sockaddr(u.addr.(*net.TCPAddr))); err != nil && err != unix.EINPROGRESS {
		unix.Close(fd)
		l.p.dialFailed(u)
		return
	}
	c := &epConn{l: l, fd: fd, ctx: u, up: u, connecting: true}
	if err := l.add(c, unix.EPOLLOUT); err != nil {
		l.conns[fd] = nil
		unix.Close(fd)
		l.p.dialFailed(u)
	}
}

func (l *epLoop) connected(c *epConn) {
	soErr, err := unix.GetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err != nil || soErr != 0 {
		c.dead = true
		l.drop(c)
		l.p.dialFailed(c.up)
		return
	}
	c.connecting = false
	l.ctl(unix.EPOLL_CTL_MOD, c.fd, unix.EPOLLIN)
	l.p.open(c) // the context is the *upstream: the proxy takes it as an upstream connection
}

func (l *epLoop) drop(c *epConn) {
	unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, c.fd, nil)
	unix.Close(c.fd)
	l.conns[c.fd] = nil
}

// reap closes the connections closed during the batch, after a last try to
// send what they still hold, and tells the proxy (which may close more).
func (l *epLoop) reap() {
	for i := 0; i < len(l.closing); i++ {
		c := l.closing[i]
		if len(c.out) > 0 {
			rawSend(c.fd, c.out)
		}
		l.drop(c)
		l.p.closed(c)
	}
	clear(l.closing)
	l.closing = l.closing[:0]
}

func rawRecv(fd int, p []byte) (int, syscall.Errno) {
	n, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)), 0, 0, 0)
	return int(n), e
}

func rawSend(fd int, p []byte) (int, syscall.Errno) {
	n, _, e := syscall.RawSyscall6(syscall.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)), syscall.MSG_NOSIGNAL, 0, 0)
	return int(n), e
}

// rawEpollWait is epoll_pwait with timeout 0 and no signal mask.
func rawEpollWait(epfd int, evs []unix.EpollEvent) (int, syscall.Errno) {
	n, _, e := syscall.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&evs[0])), uintptr(len(evs)), 0, 0, 0)
	return int(n), e
}
