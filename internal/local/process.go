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

// pipeDrain bounds how long output is still collected after the app's
// process group is gone, for a grandchild that escaped the group and still
// holds the pipe.
const pipeDrain = time.Second

// runProcess runs the container's command and args as a child process in its
// own process group, with stdout and stderr in the pod's log buffer. When ctx
// is done the group gets SIGTERM, then SIGKILL after the grace period; when
// the process exits by itself, what it left behind in its group is killed,
// as a container's processes die with it. It returns nil after a stop
// caused by ctx, and the exit error otherwise.
func (r *Runner) runProcess(ctx context.Context, p *pod, env []string) error {
	c := p.container
	if len(c.Command) == 0 {
		return errNoCommand
	}
	argv := append(append([]string(nil), c.Command...), c.Args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = c.WorkingDir
	cmd.Env = env
	// The process writes to a pipe the runner owns, not one exec owns, so
	// that Wait returns when the process exits even if a grandchild keeps
	// the pipe open.
	out, in, err := os.Pipe()
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = in, in
	inGroup(cmd, r.opts.grace())
	err = r.starter.start(cmd)
	in.Close()
	if err != nil {
		out.Close()
		return fmt.Errorf("start %s: %w", argv[0], err)
	}
	copied := make(chan struct{})
	go func() { defer close(copied); _, _ = io.Copy(p.logs, out) }()
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
		return errors.New("exited with status 0")
	}
	return err
}
