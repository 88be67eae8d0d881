//go:build unix && !linux

package local

import "syscall"

// dieWithParent does nothing where there is no parent-death signal: a pod
// process outlives a runner killed with SIGKILL there.
func dieWithParent(*syscall.SysProcAttr) {}
