package local

import (
	"os/exec"
	"runtime"
)

// starter starts child processes from one goroutine locked to its own OS
// thread, for as long as the runner runs.
//
// It exists because Linux sends the parent-death signal (Pdeathsig) when
// the thread that forked the child exits, not when the process does, and
// the Go runtime ends a thread whenever a goroutine locked to it exits
// (golang/go#27505): a child started from an arbitrary goroutine could be
// killed at a random moment, or, if no thread is ever retired, be fine in
// every test and not in production. Forking from one thread that lives until
// every pod has stopped makes the signal mean what it should: the runner's
// process died.
type starter struct {
	reqs chan startRequest
	done chan struct{} // closed when the starter's goroutine has returned
}

type startRequest struct {
	cmd *exec.Cmd
	err chan error
}

// startStarter starts the starter's goroutine; stop ends it.
func startStarter() *starter {
	s := &starter{reqs: make(chan startRequest), done: make(chan struct{})}
	go s.run()
	return s
}

func (s *starter) run() {
	defer close(s.done)
	// Never unlocked: when run returns the thread ends with it, after
	// every pod process has stopped, so its death signals no one.
	runtime.LockOSThread()
	for req := range s.reqs {
		req.err <- req.cmd.Start()
	}
}

// start starts cmd on the starter's thread. It must not be called after
// stop.
func (s *starter) start(cmd *exec.Cmd) error {
	req := startRequest{cmd: cmd, err: make(chan error, 1)}
	s.reqs <- req
	return <-req.err
}

// stop ends the starter once no start can come any more.
func (s *starter) stop() {
	close(s.reqs)
	<-s.done
}
