//go:build !linux

package h1

import "net"

// RawIO is nc itself: raw socket calls are Linux's (see rawconn_linux.go).
func RawIO(nc net.Conn) net.Conn { return nc }
