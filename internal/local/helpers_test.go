package local

import (
	"context"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lanemesh/lanemesh/api"
	"github.com/lanemesh/lanemesh/internal/leaktest"
	"github.com/lanemesh/lanemesh/internal/registry"
)

// TestMain fails the package when goroutines started by the runner or the
// in-process mock outlive the tests that started them.
func TestMain(m *testing.M) {
	leaktest.Main(m, "lanemesh/internal/local.", "lanemesh/internal/mock.")
}

// waitTimeout bounds every wait on a condition, so a broken runner fails a
// test with a message instead of hanging until go test's own timeout.
const waitTimeout = 15 * time.Second

// nextBase gives each runner in this package its own block of 250
// addresses (127.0.41.x … 127.0.240.x, then round again), clear of the
// default 127.0.1.x that other packages' tests of `lanemesh up` use. Runners
// of earlier tests have stopped by then, so going round is safe.
var nextBase atomic.Int32

func addressBase() int { return 250 * int(41+nextBase.Add(1)%200) }

// startRunner runs a Runner until the test ends. stop cancels Run and waits
// for it to return; it may be called early, and more than once.
func startRunner(t *testing.T, opts Options) (r *Runner, stop func()) {
	t.Helper()
	if opts.AddressBase == 0 {
		opts.AddressBase = addressBase()
	}
	r = New(opts)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run = %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return r, stop
}

// watcher is an OnChange that keeps every list and lets tests wait for one.
type watcher struct {
	hook func([]registry.Instance) // runs inside OnChange, if set

	mu      sync.Mutex
	calls   [][]registry.Instance
	changed chan struct{} // closed and replaced on every call
}

func newWatcher() *watcher { return &watcher{changed: make(chan struct{})} }

func (w *watcher) OnChange(list []registry.Instance) {
	if w.hook != nil {
		w.hook(list)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.calls = append(w.calls, list)
	close(w.changed)
	w.changed = make(chan struct{})
}

// waitFor waits until the latest list satisfies ok and returns it.
func (w *watcher) waitFor(t *testing.T, what string, ok func([]registry.Instance) bool) []registry.Instance {
	t.Helper()
	timeout := time.NewTimer(waitTimeout)
	defer timeout.Stop()
	for {
		w.mu.Lock()
		var last []registry.Instance
		if n := len(w.calls); n > 0 {
			last = w.calls[n-1]
		}
		ch := w.changed
		w.mu.Unlock()
		if ok(last) {
			return last
		}
		select {
		case <-ch:
		case <-timeout.C:
			t.Fatalf("timed out waiting for %s; last OnChange: %+v", what, last)
		}
	}
}

func (w *watcher) all() [][]registry.Instance {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([][]registry.Instance(nil), w.calls...)
}

// healthy reports whether a list has exactly n instances, all healthy.
func healthy(n int) func([]registry.Instance) bool {
	return func(list []registry.Instance) bool {
		if len(list) != n {
			return false
		}
		for _, in := range list {
			if !in.Healthy {
				return false
			}
		}
		return true
	}
}

func empty(list []registry.Instance) bool { return list != nil && len(list) == 0 }

// waitPods polls Pods until ok holds; restarts and messages have no
// OnChange to wait on.
func waitPods(t *testing.T, r *Runner, what string, ok func([]Pod) bool) []Pod {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		pods := r.Pods()
		if ok(pods) {
			return pods
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; pods: %+v", what, pods)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not a correctness wait
	}
}

// mockDeployment is a Deployment of the built-in mock, like the tutorial's.
func mockDeployment(app, version string, replicas int32, env ...api.EnvVar) *api.Deployment {
	labels := map[string]string{"app": app, "version": version}
	env = append([]api.EnvVar{{Name: "app", Value: app}, {Name: "version", Value: version}}, env...)
	return newDeployment(app, replicas, labels, api.Container{
		Name: "default", Image: MockImage, Env: env,
		Ports: []api.ContainerPort{{Name: "http", ContainerPort: 8000}},
	})
}

// processDeployment is a Deployment that runs `sh -c script`.
func processDeployment(name, script string, env ...api.EnvVar) *api.Deployment {
	return newDeployment(name, 1, map[string]string{"app": name}, api.Container{
		Name: "default", Command: []string{"/bin/sh", "-c", script}, Env: env,
	})
}

func newDeployment(name string, replicas int32, labels map[string]string, c api.Container) *api.Deployment {
	d := &api.Deployment{Metadata: api.ObjectMeta{Name: name, Namespace: "default"}}
	d.Spec.Replicas = &replicas
	d.Spec.Template.Metadata.Labels = labels
	d.Spec.Template.Spec.Containers = []api.Container{c}
	return d
}

// get GETs url and returns the body; any failure fails the test.
func get(t *testing.T, url string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
