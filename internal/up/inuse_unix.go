//go:build unix

package up

import "syscall"

// errAddrInUse is what a bind to a taken address fails with.
var errAddrInUse error = syscall.EADDRINUSE
