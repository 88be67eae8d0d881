package local

import (
	"context"
	"errors"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lanemesh/lanemesh/api"
	"github.com/lanemesh/lanemesh/internal/registry"
)

// fakeSidecar is a SidecarFunc whose sidecars are real HTTP servers on the
// pod's address and which a test can kill, as a crash would.
type fakeSidecar struct {
	mu     sync.Mutex
	starts int
	kill   func() // closes the latest sidecar's listener and reports it dead
}

func (f *fakeSidecar) start(ctx context.Context, pod PodInfo) (Sidecar, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(pod.IP, "15001"))
	if err != nil {
		return Sidecar{}, err
	}
	srv := &http.Server{Handler: http.NotFoundHandler()}
	go srv.Serve(ln)
	done := make(chan error, 1)
	var once sync.Once
	stop := func(err error) { once.Do(func() { srv.Close(); done <- err }) }
	go func() { <-ctx.Done(); stop(nil) }()
	f.mu.Lock()
	f.starts++
	f.kill = func() { stop(errors.New("killed")) }
	f.mu.Unlock()
	return Sidecar{ProxyURL: "http://" + ln.Addr().String(), Done: done}, nil
}

func (f *fakeSidecar) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.starts
}

// TestDeadSidecarMakesThePodUnreadyAtOnce kills a pod's sidecar: the pod
// must be reported unready at once (not on the next probe, which would
// still pass, since the app is fine), be in CrashLoopBackOff with a restart
// counted, and be ready again once the runner has started a new sidecar.
func TestDeadSidecarMakesThePodUnreadyAtOnce(t *testing.T) {
	f := &fakeSidecar{}
	w := newWatcher()
	r, _ := startRunner(t, Options{OnChange: w.OnChange, Sidecar: f.start})
	if err := r.Apply([]*api.Deployment{mockDeployment("mockb", "v2", 1)}); err != nil {
		t.Fatal(err)
	}
	w.waitFor(t, "a ready pod", healthy(1))
	f.mu.Lock()
	kill := f.kill
	f.mu.Unlock()
	killed := time.Now()
	kill()
	w.waitFor(t, "the pod unready", func(l []registry.Instance) bool { return len(l) == 1 && !l[0].Healthy })
	// The app is probed every second once ready; going unready well within
	// that shows the sidecar's death, not a probe, was seen.
	if took := time.Since(killed); took > 500*time.Millisecond {
		t.Errorf("the pod went unready %v after its sidecar died, want at once", took)
	}
	pods := waitPods(t, r, "CrashLoopBackOff", func(p []Pod) bool { return len(p) == 1 && p[0].Phase == CrashLoopBackOff })
	if p := pods[0]; p.Restarts != 1 || !strings.Contains(p.LastExit, "sidecar") || !strings.Contains(p.Message, "sidecar") {
		t.Errorf("after the sidecar died: %+v, want 1 restart and LastExit and Message naming the sidecar", p)
	}
	w.waitFor(t, "the pod ready again", healthy(1))
	if n := f.count(); n != 2 {
		t.Errorf("the sidecar was started %d times, want 2", n)
	}
	if p := r.Pods()[0]; p.Phase != Ready || p.Restarts != 1 || p.Message != "" {
		t.Errorf("after the sidecar's restart: %+v, want Ready, 1 restart, no message", p)
	}
}

// TestPodPhasesAreTruthful follows a crash-looping pod and a pod whose app
// runs but fails its probe: the first is CrashLoopBackOff (never Ready,
// never "Pending" once it has run), the second Running and unready, and
// neither is ever reported healthy to the mesh.
func TestPodPhasesAreTruthful(t *testing.T) {
	w := newWatcher()
	r, _ := startRunner(t, Options{OnChange: w.OnChange})
	crasher := processDeployment("crasher", "exit 3")
	unready := processDeployment("unready", "exec sleep 60") // nothing listens on its port
	if err := r.Apply([]*api.Deployment{crasher, unready}); err != nil {
		t.Fatal(err)
	}
	seen := map[string]map[Phase]bool{"crasher-0": {}, "unready-0": {}}
	waitPods(t, r, "a crash loop and a running, unready pod", func(pods []Pod) bool {
		for _, p := range pods {
			seen[p.Name][p.Phase] = true
			if p.Restarts > 0 && p.Phase == Pending {
				t.Errorf("%s has restarted %d times and is reported Pending", p.Name, p.Restarts)
			}
		}
		return seen["crasher-0"][CrashLoopBackOff] && seen["unready-0"][Running] && len(pods) == 2 && pods[0].Restarts >= 2
	})
	if seen["crasher-0"][Ready] || seen["unready-0"][Ready] {
		t.Errorf("phases seen: %v; neither pod may be Ready", seen)
	}
	for _, p := range r.Pods() {
		if p.Name == "crasher-0" && p.Phase == CrashLoopBackOff && !strings.Contains(p.Message, "back-off") {
			t.Errorf("crash-looping pod's message %q does not say it is backing off", p.Message)
		}
	}
	for _, list := range w.all() {
		for _, in := range list {
			if in.Healthy {
				t.Fatalf("%s was reported healthy: %+v", in.Name, list)
			}
		}
	}
}

// TestCaptureChangeReplacesPods: when the configuration changes whether a
// pod's inbound traffic goes through its sidecar (its lane group became
// permissive), the pod is replaced like one of an old template, a new one
// ready before the old stops, and the new one is placed as now wanted.
func TestCaptureChangeReplacesPods(t *testing.T) {
	var capture atomic.Bool
	f := &fakeSidecar{}
	w := newWatcher()
	r, _ := startRunner(t, Options{OnChange: w.OnChange, Sidecar: f.start, InboundCapture: func(PodInfo) bool { return capture.Load() }})
	d := []*api.Deployment{mockDeployment("mockb", "v2", 1)}
	if err := r.Apply(d); err != nil {
		t.Fatal(err)
	}
	first := w.waitFor(t, "a ready pod", healthy(1))[0].Name
	captured := func() (n int) {
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, p := range r.pods {
			if p.phase != Terminating && p.info.InboundAddr != "" {
				n++
			}
		}
		return n
	}
	if captured() != 0 {
		t.Fatal("captured before the configuration asked for it")
	}
	capture.Store(true)
	if err := r.Apply(d); err != nil { // the configuration changed; the Deployment did not
		t.Fatal(err)
	}
	w.waitFor(t, "the pod replaced", func(list []registry.Instance) bool { return healthy(1)(list) && list[0].Name != first })
	if captured() != 1 {
		t.Error("the new pod's inbound traffic does not go through its sidecar")
	}
	seenReady := false
	for i, list := range w.all() {
		ready := slices.ContainsFunc(list, func(in registry.Instance) bool { return in.Healthy })
		if seenReady && !ready {
			t.Errorf("OnChange call %d had no ready pod during the replacement: %+v", i, list)
		}
		seenReady = seenReady || ready
	}
}
