package controlplane

import (
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/lanemesh/lanemesh/internal/config"
	"github.com/lanemesh/lanemesh/internal/local"
	"github.com/lanemesh/lanemesh/internal/meshxds"
	"github.com/lanemesh/lanemesh/internal/route"
	"github.com/lanemesh/lanemesh/internal/xds"
	"github.com/lanemesh/lanemesh/internal/xdsserver"
)

// watcher is a proxy's xDS client that checks, on every update it
// applies, that no route names a cluster the update lacks.
type watcher struct {
	mu       sync.Mutex
	applied  int
	violated []string
	last     *meshxds.Resources
}

func (w *watcher) apply(res *meshxds.Resources) error {
	have := map[string]bool{}
	for _, c := range res.Clusters {
		have[c.Name] = true
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.applied++
	w.last = res
	for _, rc := range res.Routes {
		t, err := route.New(rc)
		if err != nil {
			return err
		}
		for _, c := range t.Clusters() {
			if !have[c] {
				w.violated = append(w.violated, fmt.Sprintf("update %d: route config %s names missing cluster %s", w.applied, rc.Name, c))
			}
		}
	}
	return nil
}

func (w *watcher) hasCluster(name string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.last == nil {
		return false
	}
	for _, c := range w.last.Clusters {
		if c.Name == name {
			return true
		}
	}
	return false
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// servingExample starts an xDS server on a loopback port and a control
// plane over a store holding the traffic-lanes example, with the example's
// WorkloadEntries as instances. The caller runs the control plane; the
// server stops when the test ends.
func servingExample(tb testing.TB) (cp *ControlPlane, store *Store, base *config.Config, addr string) {
	tb.Helper()
	return servingExampleOn(tb, xdsserver.NewServer(nil))
}

// servingExampleOn is servingExample on a server the caller configured.
func servingExampleOn(tb testing.TB, srv *xdsserver.Server) (cp *ControlPlane, store *Store, base *config.Config, addr string) {
	tb.Helper()
	store = NewStore(func() { cp.Changed() })
	cp = New(Options{Store: store, XDS: srv})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	go srv.Serve(lis)
	tb.Cleanup(srv.Stop)
	base = loadExample(tb, "../../examples/traffic-lanes")
	if _, err := store.Apply(base, false); err != nil {
		tb.Fatal(err)
	}
	cp.SetInstances(local.Predict(base))
	return cp, store, base, lis.Addr().String()
}

// TestMakeBeforeBreak switches fallback on and off repeatedly while two
// proxies listen: neither may ever hold a route to a cluster it lacks.
func TestMakeBeforeBreak(t *testing.T) {
	cp, store, base, addr := servingExample(t)
	go cp.Run(t.Context())

	proxies := map[string]meshxds.Proxy{
		"sidecar~mocka-v2": {Role: meshxds.Sidecar, Namespace: "default", Labels: map[string]string{"app": "mocka", "version": "v2"}},
		"gateway":          {Role: meshxds.Gateway, Namespace: "istio-system", Labels: map[string]string{"istio": "ingressgateway"}},
	}
	watchers := map[string]*watcher{}
	for id, p := range proxies {
		w := &watcher{}
		watchers[id] = w
		c := &xds.Client{Target: addr, Node: meshxds.NodeFor(id, p), Apply: w.apply}
		go c.Run(t.Context())
	}
	aggregate := "outbound|8000|v2|mockb.default.svc.cluster.local>outbound|8000|v1|mockb.default.svc.cluster.local"
	w := watchers["sidecar~mocka-v2"]
	waitFor(t, "first config", func() bool { return w.hasCluster("outbound|8000|v2|mockb.default.svc.cluster.local") })
	fb := loadExample(t, "../../examples/traffic-lanes-fallback")
	for i := range 5 {
		if _, err := store.Apply(fb, false); err != nil {
			t.Fatal(err)
		}
		waitFor(t, fmt.Sprintf("fallback on (%d)", i), func() bool { return w.hasCluster(aggregate) })
		if _, err := store.Apply(&config.Config{VirtualServices: base.VirtualServices}, false); err != nil {
			t.Fatal(err)
		}
		waitFor(t, fmt.Sprintf("fallback off (%d)", i), func() bool { return !w.hasCluster(aggregate) })
	}
	for id, w := range watchers {
		w.mu.Lock()
		if len(w.violated) > 0 {
			t.Errorf("%s: %v", id, w.violated)
		}
		w.mu.Unlock()
	}
}
