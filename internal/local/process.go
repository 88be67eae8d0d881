package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"
)

// errNoCommand is a container that is not the mock and has nothing to run.
var errNoCommand = errors.New("container has no command: set command (and args) to the program to run, or image: " + MockImage)

// ErrExitedZero is what running a container returns when its process exited
// by itself with status 0: for a pod that restarts always, an exit like any
// other.
var ErrExitedZero = errors.New("exited with status 0")

// pipeDrain bounds how long output is still collected after the app's
// process group is gone, for a grandchild that escaped the group and still
// holds the pipe.
const pipeDrain = time.Second

// runProcess runs argv as a child process in its own process group, started
// by st, with stdout and stderr in logs. When ctx
// is done the group gets SIGTERM, then SIGKILL after grace; when
// the process exits by itself, what it left behind in its group is killed,
// as a container's processes die with it. It returns nil after a stop
// caused by ctx, and the exit error otherwise.
func runProcess(ctx context.Context, st *starter, argv []string, dir string, env []string, logs io.Writer, grace time.Duration) error {
	if len(argv) == 0 {
		return errNoCommand
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = env
	// The process writes to a pipe the runner owns, not one exec owns, so
	// that Wait returns when the process exits even if a grandchild keeps
	// the pipe open.
	out, in, err := os.Pipe()
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = in, in
	inGroup(cmd, grace)
	err = st.start(cmd)
	in.Close()
	if err != nil {
		out.Close()
		return fmt.Errorf("start %s: %w", argv[0], err)
	}
	copied := make(chan struct{})
	go func() { defer close(copied); _, _ = io.Copy(logs, out) }()
	err = cmd.Wait()
	killGroup(cmd.Process.Pid)
	select {
	case <-copied:
	case <-time.After(pipeDrain):
	}
	out.Close()
	<-copied
	if ctx.Err() != nil {
		return nil
	}
	if err == nil {
		return ErrExitedZero
	}
	return err
}
