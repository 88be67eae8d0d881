package local

import "syscall"

// dieWithParent has the kernel send SIGKILL to the child when its parent
// dies, so that `kill -9` of `lanemesh up` leaves no pod process behind.
// The kernel ties this to the thread that forked the child, not to the
// process: see starter, which is why children are only started from one.
func dieWithParent(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }
