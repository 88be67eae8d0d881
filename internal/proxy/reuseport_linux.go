//go:build linux && (amd64 || arm64 || 386 || arm || riscv64 || ppc64le || s390x || loong64)

package proxy

import (
	"context"
	"fmt"
	"net"
	"os"
	"syscall"
	"unsafe"
)

// Socket options missing from package syscall (the values of the generic
// Linux ABI, which the architectures above share).
const (
	soReusePort                  = 0xf
	soAttachReusePortCBPF        = 0x33
	bpfRetK               uint16 = 0x06 // BPF_RET | BPF_K: return the constant k
)

// listenReusePort binds addr with SO_REUSEPORT and makes the new socket
// the one the kernel gives every new connection of its reuseport group.
//
// With plain SO_REUSEPORT the kernel hashes new connections across every
// socket of the group, so those hashed to a predecessor that is draining
// wait in its accept queue, and whatever is still queued when it closes
// its socket is reset (net.ipv4.tcp_migrate_req, Linux 5.14+, migrates
// them instead, but it is off by default and is the host's to set). So
// the newcomer attaches a classic BPF program to the group that returns
// its own index: a group's sockets are indexed in the order they joined,
// and a successor joins a group of one (its predecessor), so it is index
// 1. From then on the predecessor's queue gets nothing new, it accepts
// what is queued, and closes with nothing to reset. An index beyond the
// group (a proxy alone, or once the predecessor has left and the array
// shrank) makes the kernel fall back to its hash, over the one socket.
func listenReusePort(addr string) (net.Listener, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, soReusePort, 1) })
		if err == nil {
			err = serr
		}
		return err
	}}
	ln, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		return nil, err
	}
	if err := preferNewest(ln.(*net.TCPListener)); err != nil {
		// A seccomp filter (some sandboxes refuse socket filters with
		// EOPNOTSUPP) leaves the kernel's hash: the predecessor still
		// gets new connections while it drains, serves them, and may
		// reset the few queued at the instant it closes.
		return reusePortListener{ln, fmt.Errorf("SO_ATTACH_REUSEPORT_CBPF: %w", err)}, nil
	}
	return ln, nil
}

// reusePortListener is a listener bound with SO_REUSEPORT whose socket
// selector could not be attached; bindNew logs why.
type reusePortListener struct {
	net.Listener
	selectorErr error
}

// preferNewest attaches "return 1" as the group's socket selector.
func preferNewest(ln *net.TCPListener) error {
	rc, err := ln.SyscallConn()
	if err != nil {
		return err
	}
	prog := []syscall.SockFilter{{Code: bpfRetK, K: 1}}
	fprog := syscall.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	var serr error
	err = rc.Control(func(fd uintptr) {
		_, _, errno := syscall.Syscall6(syscall.SYS_SETSOCKOPT, fd, syscall.SOL_SOCKET, soAttachReusePortCBPF,
			uintptr(unsafe.Pointer(&fprog)), unsafe.Sizeof(fprog), 0)
		if errno != 0 {
			serr = errno
		}
	})
	if err == nil {
		err = serr
	}
	return err
}

// takeQueued empties a listener's accept queue and takes it out of its
// reuseport group, leaving as short a window as it can for a connection to
// arrive in between (and be reset): it accepts without blocking until the
// queue is empty, then at once shuts the socket down for reading, which on
// Linux stops a listening socket and removes it from the group. The caller
// serves what it returns, then closes the listener.
func takeQueued(ln net.Listener) []net.Conn {
	tl, ok := ln.(*net.TCPListener)
	if !ok {
		return nil
	}
	rc, err := tl.SyscallConn()
	if err != nil {
		return nil
	}
	var fds []int
	_ = rc.Control(func(fd uintptr) {
		for {
			nfd, _, err := syscall.Accept4(int(fd), syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
			if err != nil {
				break
			}
			fds = append(fds, nfd)
		}
		_ = syscall.Shutdown(int(fd), syscall.SHUT_RD)
	})
	conns := make([]net.Conn, 0, len(fds))
	for _, fd := range fds {
		f := os.NewFile(uintptr(fd), "queued")
		c, err := net.FileConn(f) // a duplicate of fd
		_ = f.Close()
		if err == nil {
			conns = append(conns, c)
		}
	}
	return conns
}
