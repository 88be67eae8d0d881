//go:build !unix

package up

import "syscall"

var errAddrInUse error = syscall.Errno(10048) // WSAEADDRINUSE
