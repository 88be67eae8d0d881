//go:build unix

package local

import (
	"os/exec"
	"syscall"
	"time"
)

// inGroup makes cmd the leader of a new process group and has its
// cancellation signal the whole group: SIGTERM first, and SIGKILL for the
// leader if it has not exited after grace (killGroup then takes the rest).
// A shell's children are thereby stopped with it. Where the system has it
// (Linux), the process also gets SIGKILL when the runner's process dies,
// however it dies (see dieWithParent and starter).
func inGroup(cmd *exec.Cmd, grace time.Duration) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	dieWithParent(cmd.SysProcAttr)
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = grace
}

// killGroup kills whatever is left of the process group led by pid. It runs
// just after the leader has been reaped. The group's id stays reserved while
// any member lives; only when none is left could the id be handed to a new
// group in the instant before this call, a window too small to guard with
// more than this comment.
func killGroup(pid int) {
	_ = syscall.Kill(-pid, syscall.SIGKILL)
}
