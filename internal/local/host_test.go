package local

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lanemesh/lanemesh/api"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestHostRun: a process container's exit is told apart (status 0 is
// ErrExitedZero, a failure its exit error), its output reaches Logs and
// its environment is exactly Env; the mock runs in-process on the pod's
// address, passes its readiness probe, and stops cleanly when ctx ends.
func TestHostRun(t *testing.T) {
	h := NewHost()
	defer h.Close()
	ctx := t.Context()

	var logs syncBuf
	err := h.Run(ctx, ContainerRun{Argv: []string{"sh", "-c", "echo $GREETING"}, Env: []string{"GREETING=hello", "PATH=/usr/bin:/bin"}, Logs: &logs, Grace: time.Second})
	if !errors.Is(err, ErrExitedZero) || strings.TrimSpace(logs.String()) != "hello" {
		t.Errorf("exit 0: err %v, logs %q", err, logs.String())
	}
	err = h.Run(ctx, ContainerRun{Argv: []string{"sh", "-c", "exit 3"}, Env: []string{"PATH=/usr/bin:/bin"}, Logs: &logs, Grace: time.Second})
	if err == nil || errors.Is(err, ErrExitedZero) || !strings.Contains(err.Error(), "exit status 3") {
		t.Errorf("exit 3: err %v", err)
	}
	if err := h.Run(ctx, ContainerRun{Logs: &logs}); !errors.Is(err, errNoCommand) {
		t.Errorf("no argv: err %v", err)
	}

	ip := LoopbackAddress(addressBase() + 1)
	c := api.Container{Name: "app", Image: "lanemesh/mock:1", Ports: []api.ContainerPort{{ContainerPort: 8000}}}
	mctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- h.Run(mctx, ContainerRun{Container: c, Env: []string{"app=m", "version=v9"}, IP: ip, Logs: &logs, Grace: time.Second})
	}()
	ready := make(chan struct{})
	pctx, stopProbe := context.WithCancel(ctx)
	var once sync.Once
	probed := make(chan struct{})
	go func() {
		defer close(probed)
		h.Probe(pctx, c, ip, func(ok bool, _ string) {
			if ok {
				once.Do(func() { close(ready) })
			}
		})
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("mock exited: %v", err)
	case <-time.After(waitTimeout):
		t.Fatal("mock never passed its probe")
	}
	stopProbe()
	<-probed
	stop()
	if err := <-done; err != nil {
		t.Errorf("mock stopped by ctx: err %v, want nil", err)
	}
}
