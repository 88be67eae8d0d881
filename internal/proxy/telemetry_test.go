package proxy

import (
	"fmt"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"
)

// TestLaneCap checks that made-up lanes cannot grow a proxy's series nor
// crowd out a configured lane: past maxLanes distinct values, and for a
// value that cannot be a lane name (too long, invalid UTF-8, which
// Prometheus refuses with a panic, a bidi override, markup), the lane
// label is laneOverflow, and the series cache stops growing; a lane the
// proxy's clusters name has its series whatever came first.
func TestLaneCap(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := newMetrics(reg, SourceInfo{Namespace: "default", Workload: "mocka-v1", Labels: map[string]string{"app": "mocka", "version": "v1"}})
	if err != nil {
		t.Fatal(err)
	}
	ds := &destinations{}
	dest := ds.intern(endpointDestination("mockb.default.svc.cluster.local", "mockb-v1;default;mockb;v1;Kubernetes"))
	known := map[string]struct{}{"canary": {}}
	for i := range maxLanes + 10 {
		m.observe(seriesKey{dest: dest, code: 200, lane: fmt.Sprintf("lane-%d", i)}, known, time.Millisecond, 0, 0)
	}
	hostile := []string{strings.Repeat("x", 64), "v1\xff", "v1\u202e", "<script>", "-v1", "v1.", "v 1"}
	for _, lane := range hostile {
		m.observe(seriesKey{dest: dest, code: 200, lane: lane}, known, time.Millisecond, 0, 0)
	}
	m.observe(seriesKey{dest: dest, code: 200, lane: "lane-0"}, known, time.Millisecond, 0, 0) // a lane with series keeps them
	m.observe(seriesKey{dest: dest, code: 200, lane: "canary"}, known, time.Millisecond, 0, 0) // configured after the flood
	lanes := map[string]float64{}
	for key, v := range labelledSeries(t, reg, metricRequests) {
		_, rest, _ := strings.Cut(key, `lane="`)
		lane, _, _ := strings.Cut(rest, `"`)
		lanes[lane] += v
	}
	if len(lanes) != maxLanes+2 {
		t.Errorf("%d lane values, want %d, canary and the overflow", len(lanes), maxLanes)
	}
	if lanes[laneOverflow] != float64(10+len(hostile)) || lanes["lane-0"] != 2 || lanes["canary"] != 1 {
		t.Errorf("overflow lane counted %v, lane-0 %v, canary %v; want %d, 2, 1", lanes[laneOverflow], lanes["lane-0"], lanes["canary"], 10+len(hostile))
	}
	if n := len(*m.series.Load()); n != maxLanes+2 {
		t.Errorf("series cache holds %d keys, want %d", n, maxLanes+2)
	}
}

// TestSeriesKeepTheirOwnLane: a lane comes from a request header, a
// substring of the whole head's text (see h1.parsePlainRequest); the
// series cache, which lives on, must not keep that memory alive through
// it.
func TestSeriesKeepTheirOwnLane(t *testing.T) {
	m, err := newMetrics(prometheus.NewRegistry(), SourceInfo{Namespace: "default", Workload: "mocka-v1"})
	if err != nil {
		t.Fatal(err)
	}
	head := "GET / HTTP/1.1\r\nHost: mocka\r\nX-Asm-Prefer-Tag: v2\r\n\r\n"
	i := strings.Index(head, "v2")
	lane := head[i : i+2]
	dest := (&destinations{}).intern(serviceDestination("mockb.default.svc.cluster.local"))
	m.observe(seriesKey{dest: dest, code: 200, lane: lane}, nil, time.Millisecond, 0, 0)
	start := uintptr(unsafe.Pointer(unsafe.StringData(head)))
	inHead := func(s string) bool {
		p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
		return p >= start && p < start+uintptr(len(head))
	}
	for k := range *m.series.Load() {
		if inHead(k.lane) {
			t.Errorf("the series of lane %q keeps the request head's memory", k.lane)
		}
	}
	for l := range m.lanes {
		if inHead(l) {
			t.Errorf("the lane set's %q keeps the request head's memory", l)
		}
	}
}

// TestObserveAllocs holds counting a request of known series to no
// allocation: the hot path's share of metrics is a map lookup and four
// atomic updates.
func TestObserveAllocs(t *testing.T) {
	m, err := newMetrics(prometheus.NewRegistry(), SourceInfo{Namespace: "default", Workload: "mocka-v1"})
	if err != nil {
		t.Fatal(err)
	}
	k := seriesKey{dest: (&destinations{}).intern(serviceDestination("mockb.default.svc.cluster.local")), code: 200, lane: "v1"}
	m.observe(k, nil, time.Millisecond, 10, 100)
	if n := testing.AllocsPerRun(100, func() { m.observe(k, nil, time.Millisecond, 10, 100) }); n != 0 {
		t.Errorf("observe allocates %v times per request, want 0", n)
	}
}

// TestDestinations checks the destination labels of a service, of an
// endpoint with and without Istio's workload metadata, and interning.
func TestDestinations(t *testing.T) {
	ds := &destinations{}
	a := ds.intern(endpointDestination("mockb.default.svc.cluster.local", "mockb-v1;default;mockb;v1;Kubernetes"))
	b := ds.intern(endpointDestination("mockb.default.svc.cluster.local", "mockb-v1;default;mockb;v1;Kubernetes"))
	if a != b {
		t.Error("equal destinations are not interned to one pointer")
	}
	if a.workload != "mockb-v1" || a.app != "mockb" || a.version != "v1" || a.serviceName != "mockb" || a.serviceNamespace != "default" {
		t.Errorf("endpoint destination %+v", *a)
	}
	se := endpointDestination("api.example.com", "garbage")
	if se.workload != unknown || se.service != "api.example.com" || se.serviceName != "api.example.com" || se.serviceNamespace != unknown {
		t.Errorf("ServiceEntry destination without identity %+v", se)
	}
}

// BenchmarkObserve is the metrics' share of a request: one cached
// series, a counter and three histograms.
func BenchmarkObserve(b *testing.B) {
	m, err := newMetrics(prometheus.NewRegistry(), SourceInfo{Namespace: "default", Workload: "mocka-v1"})
	if err != nil {
		b.Fatal(err)
	}
	k := seriesKey{dest: (&destinations{}).intern(serviceDestination("mockb.default.svc.cluster.local")), code: 200, lane: "v1"}
	b.ReportAllocs()
	for b.Loop() {
		m.observe(k, nil, 1500*time.Microsecond, 0, 120)
	}
}
