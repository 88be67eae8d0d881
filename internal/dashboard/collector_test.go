package dashboard

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lanemesh/lanemesh/internal/config"
	"github.com/lanemesh/lanemesh/internal/registry"
	"github.com/lanemesh/lanemesh/internal/xdsserver"
)

// fakeMesh is what a collector reads, changed by the test.
type fakeMesh struct {
	mu        sync.Mutex
	cfg       *config.Config
	instances []registry.Instance
	proxies   xdsserver.Glance
	metrics   proxyMetrics
}

func newFakeMesh(t *testing.T) *fakeMesh {
	return &fakeMesh{cfg: load(t, "../../examples/traffic-lanes", "../../examples/traffic-lanes-fallback"),
		instances: pods(mocks, versions, nil, nil), metrics: newProxyMetrics(1)}
}

func (f *fakeMesh) collector() *Collector {
	return &Collector{
		Config:    func() (*config.Config, uint64) { return f.cfg, 1 },
		Instances: func() []registry.Instance { f.mu.Lock(); defer f.mu.Unlock(); return f.instances },
		Proxies:   func() xdsserver.Glance { f.mu.Lock(); defer f.mu.Unlock(); return f.proxies },
		Metrics: Gatherers(func() map[string]Gathered {
			return map[string]Gathered{"sidecar~default/mocka-v2-0": {Name: "mocka", Gatherer: f.metrics.reg}}
		}),
	}
}

func latest(t *testing.T, c *Collector) State {
	t.Helper()
	b, _ := c.Latest()
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func messages(events []Event) []string {
	var out []string
	for _, e := range events {
		out = append(out, e.Kind+": "+e.Message)
	}
	return out
}

// TestCollectorEvents: a fallback is an event when it starts and when it
// has stopped for a while; a cell that loses its pods is one; a NACK is
// one, once.
func TestCollectorEvents(t *testing.T) {
	f := newFakeMesh(t)
	c := f.collector()
	c.init()
	now := time.Unix(1000, 0)
	step := func() {
		now = now.Add(time.Second)
		c.update(t.Context(), now)
	}
	step()
	f.metrics.serve(5, 0.001, toB2...)
	step()
	if ev := latest(t, c).Events; len(ev) != 0 {
		t.Fatalf("nothing happened yet: %v", messages(ev))
	}

	f.mu.Lock()
	f.instances = pods(mocks, versions, nil, []string{"mockb-v2"})
	f.proxies = xdsserver.Glance{Connected: 1, NACKs: []xdsserver.ProxyNACK{{ID: "sidecar~default/mocka-v2-0",
		NACK: xdsserver.NACK{TypeURL: "type.googleapis.com/envoy.config.route.v3.RouteConfiguration", Version: "7", Message: "bad route", Time: now}}}}
	f.mu.Unlock()
	f.metrics.serve(5, 0.001, toB1...)
	step()
	st := latest(t, c)
	want := []string{
		"nack: sidecar~default/mocka-v2-0 rejected RouteConfiguration 7: bad route",
		"pods: mockb v2: 0/0 pods ready, traffic goes to v1",
		"fallback: mocka v2 → mockb fell back to v1",
	}
	if got := messages(st.Events); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events, newest first:\n got %q\nwant %q", got, want)
	}
	if len(st.NACKs) != 1 || st.NACKs[0].Type != "RouteConfiguration" || st.Proxies != 1 {
		t.Errorf("NACKs %+v, proxies %d: want the one NACK of the one connected proxy", st.NACKs, st.Proxies)
	}
	if len(st.Edges) != 2 || st.Edges[0].ToVersion != "v1" || st.Edges[0].FallbackRPS == 0 {
		t.Errorf("edges: %+v, want mocka v2 → mockb v1 falling back, then → v2", st.Edges)
	}

	for range quietTicks - 1 {
		step()
	}
	if got := len(latest(t, c).Events); got != 3 {
		t.Fatalf("%d events after %d quiet readings, want still 3", got, quietTicks-1)
	}
	step()
	if got := latest(t, c).Events[0]; got.Kind != "recovered" || got.Lane != "v2" {
		t.Errorf("after %d quiet readings: %+v, want the fallback's end", quietTicks, got)
	}
}

// TestDataOverHTTP: the state, the live stream (a line per reading, ended
// when the collector stops) and explain by lane.
func TestDataOverHTTP(t *testing.T) {
	f := newFakeMesh(t)
	c := f.collector()
	c.init()
	d := &Data{Collector: c, Config: c.Config, Instances: c.Instances}
	srv := httptest.NewServer(d.Handler())
	defer srv.Close()
	if resp, err := http.Get(srv.URL + "/v1/dashboard"); err != nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("before the first reading: %v %v, want 503", resp.StatusCode, err)
	}
	now := time.Unix(1000, 0)
	c.update(t.Context(), now)

	resp, err := http.Get(srv.URL + "/v1/dashboard/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/x-ndjson" {
		t.Errorf("stream Content-Type %q", ct)
	}
	lines := bufio.NewScanner(resp.Body)
	lines.Buffer(nil, 1<<20)
	var st State
	if !lines.Scan() || json.Unmarshal(lines.Bytes(), &st) != nil || !st.Time.Equal(now) || len(st.Matrix.Services) != 3 {
		t.Fatalf("first line: %s (%v)", lines.Text(), lines.Err())
	}
	c.update(t.Context(), now.Add(time.Second))
	if !lines.Scan() || json.Unmarshal(lines.Bytes(), &st) != nil || !st.Time.Equal(now.Add(time.Second)) {
		t.Fatalf("second line: %s (%v)", lines.Text(), lines.Err())
	}
	close(c.done) // as when Run returns
	if lines.Scan() {
		t.Fatalf("the stream went on after the collector stopped: %s", lines.Text())
	}

	f.mu.Lock()
	f.instances = pods(mocks, versions, nil, []string{"mockb-v2"})
	f.mu.Unlock()
	var ex Explained
	r, err := http.Get(srv.URL + "/v1/dashboard/explain?lane=v2")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	if err := json.NewDecoder(r.Body).Decode(&ex); err != nil {
		t.Fatal(err)
	}
	if len(ex.Hops) != 3 || ex.Hops[1].Pod != "default/mockb-v1-0" || !ex.Hops[1].Result.FellBack || !strings.Contains(ex.Text, "[FB]") {
		t.Errorf("lane v2 with mockb-v2 gone should fall back to mockb-v1 at the second hop:\n%s", ex.Text)
	}
	for q, want := range map[string]int{"lane=v9": 404, "from=istio-system/nope&url=http://x/": 404, "": 400, "from=default/mocka-v1-0&url=http://mockb:8000/": 200} {
		r, err := http.Get(srv.URL + "/v1/dashboard/explain?" + q)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != want {
			t.Errorf("explain?%s: %d, want %d", q, r.StatusCode, want)
		}
	}
}

// TestUIFiles: the page's files are embedded, and the page may run only
// its own script and talk only to its own server.
func TestUIFiles(t *testing.T) {
	srv := httptest.NewServer(UI())
	defer srv.Close()
	for _, f := range []string{"", "app.js", "style.css"} {
		resp, err := http.Get(srv.URL + "/ui/" + f)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		csp := resp.Header.Get("Content-Security-Policy")
		if resp.StatusCode != 200 || !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "connect-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("/ui/%s: %d, CSP %q", f, resp.StatusCode, csp)
		}
	}
}

var _ prometheus.Gatherer = (*prometheus.Registry)(nil)
var _ Source = Gatherers(nil)
var _ Source = (*Pods)(nil)

// TestIdleUntilWatched: while no page watches, readings come every
// IdleInterval; a page that starts watching gets one at once, then every
// Interval.
func TestIdleUntilWatched(t *testing.T) {
	f := newFakeMesh(t)
	c := f.collector()
	var mu sync.Mutex
	readings := 0
	cfg := c.Config
	c.Config = func() (*config.Config, uint64) {
		mu.Lock()
		readings++
		mu.Unlock()
		return cfg()
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return readings }
	c.Interval, c.IdleInterval = 5*time.Millisecond, time.Hour
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	waitUntil(t, "the first reading", func() bool { return count() == 1 })
	time.Sleep(50 * time.Millisecond) // ten Intervals: an idle collector takes no reading
	if n := count(); n != 1 {
		t.Fatalf("%d readings while idle, want 1", n)
	}
	stop := c.watch()
	defer stop()
	waitUntil(t, "readings every Interval once watched", func() bool { return count() >= 5 })
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 5s for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
