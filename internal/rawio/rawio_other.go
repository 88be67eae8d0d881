//go:build !linux

package rawio

import (
	"net"
	"runtime"
)

// Yield is runtime.Gosched: without this package's calls there are none
// of its parked calls to bound (see rawio_linux.go).
func Yield() { runtime.Gosched() }

// Conn is nc itself: raw socket calls are Linux's (see rawio_linux.go).
func Conn(nc net.Conn) net.Conn { return nc }

// Listener is ln itself.
func Listener(ln net.Listener) net.Listener { return ln }
