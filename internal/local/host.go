package local

import (
	"context"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/lanemesh/lanemesh/api"
)

// Host runs single containers on this machine the way the Runner runs a
// pod's app, for callers that manage pods themselves (`lanemesh node`,
// whose pods come from a Kubernetes API server): the mock in-process for
// MockImage, anything else as a child process in its own process group that
// dies with this process. It supervises nothing: restarts, readiness and
// addresses are the caller's. Its methods are safe for concurrent use; Close
// must come after every Run has returned.
type Host struct {
	starter *starter
	probes  *http.Client
}

// NewHost starts a Host's process starter (see starter for why processes
// are forked from one thread).
func NewHost() *Host {
	return &Host{starter: startStarter(), probes: newProbeClient()}
}

// Close stops the Host's starter.
func (h *Host) Close() { h.starter.stop() }

// ContainerRun is one run of one container.
type ContainerRun struct {
	// Container is what to run. Its Image decides how: MockImage runs the
	// mock in-process, configured from Env; otherwise Argv runs.
	Container api.Container
	// Argv is the command line of a process container: usually Command
	// then Args, but the caller decides (an image with an entrypoint of its
	// own maps to a binary of this machine).
	Argv []string
	// Env is the process's whole environment, NAME=value, later entries
	// winning; the mock reads its settings from it.
	Env []string
	// IP is the pod's own address, where the mock binds.
	IP string
	// Logs receives the container's stdout and stderr.
	Logs io.Writer
	// Grace is how long the container may take to stop once ctx is done,
	// after SIGTERM (the mock: to finish requests in flight), before it is
	// killed.
	Grace time.Duration
}

// Run runs the container until it exits or ctx is done. It returns nil
// after a stop caused by ctx, ErrExitedZero when a process exited with
// status 0 by itself, and the reason otherwise.
func (h *Host) Run(ctx context.Context, cr ContainerRun) error {
	if IsMock(cr.Container.Image) {
		getenv := func(name string) string {
			for i := len(cr.Env) - 1; i >= 0; i-- {
				if k, v, _ := strings.Cut(cr.Env[i], "="); k == name {
					return v
				}
			}
			return ""
		}
		return runMock(ctx, cr.Container, getenv, cr.IP, "", "", cr.Logs, cr.Grace)
	}
	return runProcess(ctx, h.starter, cr.Argv, cr.Container.WorkingDir, cr.Env, cr.Logs, cr.Grace)
}

// Probe runs c's readinessProbe against the pod at ip until ctx is done,
// calling report with each result, as the Runner probes its apps: ready
// after successThreshold successes, unready after failureThreshold
// failures. A container without a readinessProbe is probed by a TCP connect
// to its first port (or the mock's), as local mode does; callers that
// follow Kubernetes, where such a container is ready once it runs, do not
// call Probe for it.
func (h *Host) Probe(ctx context.Context, c api.Container, ip string, report func(ready bool, msg string)) {
	newProber(h.probes, &c, PodInfo{IP: ip}.probeAddr).run(ctx, report)
}

// IsMock reports whether image names the built-in mock app, any tag.
func IsMock(image string) bool { return isMock(image) }

// BaseEnv is the environment a process container starts from: this
// process's own (a local process needs PATH and HOME, unlike a container)
// without the machine's proxy settings, POD_IP and the pod-range mark, so
// that a pod's only proxy is the one its spec names.
func BaseEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); !proxyVars[k] {
			env = append(env, kv)
		}
	}
	return env
}
