package xdsserver

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"google.golang.org/protobuf/proto"

	"github.com/lanemesh/lanemesh/internal/compile"
	"github.com/lanemesh/lanemesh/internal/config"
	"github.com/lanemesh/lanemesh/internal/local"
	"github.com/lanemesh/lanemesh/internal/meshxds"
	"github.com/lanemesh/lanemesh/internal/registry"
	"github.com/lanemesh/lanemesh/internal/wiretest"
	"github.com/lanemesh/lanemesh/internal/xds"
)

const waitTimeout = 10 * time.Second

var (
	baseDir     = "../../examples/traffic-lanes"
	fallbackDir = "../../examples/traffic-lanes-fallback"
	gatewayID   = meshxds.Proxy{Role: meshxds.Gateway, Namespace: "istio-system", Labels: map[string]string{"istio": "ingressgateway"}}
	sidecarID   = meshxds.Proxy{Role: meshxds.Sidecar, Namespace: "default", Labels: map[string]string{"app": "mocka", "version": "v2"}}
)

// compiled compiles the tutorial configuration at paths for p. mutate, if
// not nil, edits the registry's instances first (to change endpoints only).
func compiled(t testing.TB, p meshxds.Proxy, mutate func([]registry.Instance), paths ...string) (*meshxds.Resources, *cachev3.Snapshot) {
	t.Helper()
	c, diags := config.Load(paths, nil)
	if diags.HasErrors() {
		t.Fatal(diags.Err())
	}
	in := local.Predict(c)
	if mutate != nil {
		mutate(in)
	}
	res := compile.Compile(c, in, p)
	snap, err := compile.Snapshot(res)
	if err != nil {
		t.Fatal(err)
	}
	return res, snap
}

// unhealthy marks the first instance not ready: an endpoints-only change.
func unhealthy(in []registry.Instance) { in[0].Healthy = false }

// checkLeaks fails the test if goroutines started during it outlive it.
// Call it first, so that its cleanup runs after every other.
func checkLeaks(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				n := runtime.Stack(buf, true)
				t.Errorf("goroutines leaked: %d before, %d after\n%s", before, runtime.NumGoroutine(), buf[:n])
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// waitUntil polls cond until it holds, failing the test after waitTimeout.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// logBuffer collects a logger's output for assertions.
type logBuffer struct{ wiretest.Buffer }

func (b *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// testServer is a Server serving on a real socket.
type testServer struct {
	*Server
	addr string
	logs *logBuffer
	stop func()
}

// startServer serves on addr ("127.0.0.1:0" for any port) until stop or
// the end of the test. onNode, if not nil, becomes Server.OnNode.
func startServer(t *testing.T, addr string, onNode func(string, meshxds.Proxy)) *testServer {
	t.Helper()
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	s := NewServer(logs.logger())
	s.OnNode = onNode
	served := make(chan error, 1)
	go func() { served <- s.Serve(lis) }()
	stop := sync.OnceFunc(func() {
		s.Stop()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	t.Cleanup(stop)
	return &testServer{Server: s, addr: lis.Addr().String(), logs: logs, stop: stop}
}

func (s *testServer) set(t *testing.T, node string, snap *cachev3.Snapshot) {
	t.Helper()
	s.SetSnapshot(node, mustSnapshot(t, snap))
}

// mustSnapshot marshals snap for serving.
func mustSnapshot(t testing.TB, snap *cachev3.Snapshot) *Snapshot {
	t.Helper()
	out, err := NewSnapshot(snap)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// proxy returns the server's status of a node, ok false if unknown.
func (s *testServer) proxy(id string) (ProxyStatus, bool) {
	for _, p := range s.Proxies() {
		if p.ID == id {
			return p, true
		}
	}
	return ProxyStatus{}, false
}

// waitAcked waits until the node has ACKed every type of snap at snap's
// version.
func (s *testServer) waitAcked(t *testing.T, id string, snap *cachev3.Snapshot) ProxyStatus {
	t.Helper()
	var ps ProxyStatus
	waitUntil(t, "ACKs of "+versions(snap), func() bool {
		var ok bool
		ps, ok = s.proxy(id)
		if !ok {
			return false
		}
		for k := range numKinds {
			if typ := k.TypeURL(); ps.Acked[typ] != snap.GetVersion(typ) {
				return false
			}
		}
		return true
	})
	return ps
}

func versions(snap *cachev3.Snapshot) string {
	var out []string
	for k := range numKinds {
		out = append(out, k.String()+"="+snap.GetVersion(k.TypeURL()))
	}
	return strings.Join(out, " ")
}

// recorder is a proxy's Apply: it keeps every call and rejects what reject
// says to.
type recorder struct {
	mu      sync.Mutex
	calls   []*meshxds.Resources
	applied []*meshxds.Resources
	reject  func(*meshxds.Resources) error
}

func (r *recorder) Apply(res *meshxds.Resources) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, res)
	if r.reject != nil {
		if err := r.reject(res); err != nil {
			return err
		}
	}
	r.applied = append(r.applied, res)
	return nil
}

func (r *recorder) setReject(f func(*meshxds.Resources) error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reject = f
}

// snapshot returns copies of the call and applied lists.
func (r *recorder) snapshot() (calls, applied []*meshxds.Resources) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls), slices.Clone(r.applied)
}

// last returns the configuration in force, nil if none.
func (r *recorder) last() *meshxds.Resources {
	_, applied := r.snapshot()
	if len(applied) == 0 {
		return nil
	}
	return applied[len(applied)-1]
}

// waitApplied waits until the configuration in force equals want.
func (r *recorder) waitApplied(t *testing.T, want *meshxds.Resources) {
	t.Helper()
	waitUntil(t, "the proxy to apply the expected resources", func() bool {
		got := r.last()
		return got != nil && diffResources(got, want) == ""
	})
}

// startClient runs a Client for node against target until stop or the end
// of the test.
func startClient(t *testing.T, target string, node *corev3.Node, r *recorder) (c *xds.Client, stop func()) {
	t.Helper()
	c = &xds.Client{Target: target, Node: node, Apply: r.Apply, Logger: (&logBuffer{}).logger(),
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 200 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	stop = sync.OnceFunc(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	t.Cleanup(stop)
	return c, stop
}

// diffResources describes how got differs from want, "" if it does not.
func diffResources(got, want *meshxds.Resources) string {
	return strings.Join(slices.DeleteFunc([]string{
		diffList("listeners", got.Listeners, want.Listeners),
		diffList("routes", got.Routes, want.Routes),
		diffList("clusters", got.Clusters, want.Clusters),
		diffList("endpoints", got.Endpoints, want.Endpoints),
	}, func(s string) bool { return s == "" }), "; ")
}

func diffList[T proto.Message](what string, got, want []T) string {
	if len(got) != len(want) {
		return fmt.Sprintf("%s: %d, want %d", what, len(got), len(want))
	}
	for i := range got {
		if !proto.Equal(got[i], want[i]) {
			return fmt.Sprintf("%s[%d] differs", what, i)
		}
	}
	return ""
}

// routeClusters returns every cluster the route configurations name.
func routeClusters(rcs []*routev3.RouteConfiguration) []string {
	var out []string
	for _, rc := range rcs {
		for _, vh := range rc.GetVirtualHosts() {
			for _, r := range vh.GetRoutes() {
				a := r.GetRoute()
				if c := a.GetCluster(); c != "" {
					out = append(out, c)
				}
				for _, w := range a.GetWeightedClusters().GetClusters() {
					out = append(out, w.GetName())
				}
			}
		}
	}
	return out
}

// danglingClusters returns the clusters routes or aggregate clusters name
// that res does not have.
func danglingClusters(res *meshxds.Resources) []string {
	have := map[string]bool{}
	for _, c := range res.Clusters {
		have[c.GetName()] = true
	}
	names := routeClusters(res.Routes)
	for _, c := range res.Clusters {
		names = append(names, meshxds.AggregateMembers(c)...)
	}
	return slices.DeleteFunc(names, func(n string) bool { return have[n] })
}
