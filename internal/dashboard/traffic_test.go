package dashboard

import (
	"math"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func TestReadSample(t *testing.T) {
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   sample
		skip   bool
	}{{
		name:   "lanemesh's gateway: the lane is the version reached",
		labels: map[string]string{"source_app": "", "source_version": "", "destination_service": "mocka.default.svc.cluster.local", "destination_subset": "v2", "response_code": "200", "response_flags": "-", "fallback": "false"},
		want:   sample{edge: Edge{Lane: "v2", From: "gw", To: "mocka", ToVersion: "v2"}, code: 200},
	}, {
		name:   "lanemesh's sidecar, fallen back: the lane is the caller's version",
		labels: map[string]string{"source_app": "mocka", "source_version": "v2", "destination_service": "mockb.default.svc.cluster.local", "destination_subset": "v1", "response_code": "200", "response_flags": "FB", "fallback": "true"},
		want:   sample{edge: Edge{Lane: "v2", From: "mocka", FromVersion: "v2", To: "mockb", ToVersion: "v1"}, code: 200, fallback: true},
	}, {
		name: "Istio's labels with lane and fallback",
		labels: map[string]string{"reporter": "source", "source_workload": "mocka-v2", "source_version": "v2", "destination_service_name": "mockb",
			"destination_service": "mockb.default.svc.cluster.local", "destination_version": "v1", "response_code": "503", "response_flags": "UH", "lane": "v2", "fallback": "true"},
		want: sample{edge: Edge{Lane: "v2", From: "mocka", FromVersion: "v2", To: "mockb", ToVersion: "v1"}, code: 503, fallback: true},
	}, {
		name: "Istio's labels, a permissive lane: the lane label wins over the caller's version",
		labels: map[string]string{"reporter": "source", "source_app": "mockb", "source_version": "v1", "destination_service_name": "mockc",
			"destination_version": "v2", "response_code": "200", "response_flags": "-", "lane": "v2"},
		want: sample{edge: Edge{Lane: "v2", From: "mockb", FromVersion: "v1", To: "mockc", ToVersion: "v2"}, code: 200},
	}, {
		name: "Istio's unknowns: a gateway without a version",
		labels: map[string]string{"reporter": "source", "source_workload": "istio-ingressgateway", "source_version": "unknown",
			"destination_service_name": "mocka", "destination_version": "v3", "response_code": "200"},
		want: sample{edge: Edge{Lane: "v3", From: "istio-ingressgateway", To: "mocka", ToVersion: "v3"}, code: 200},
	}, {
		name:   "the inbound side's count is the caller's count again",
		labels: map[string]string{"reporter": "destination", "source_app": "mocka", "destination_service_name": "mockb"},
		skip:   true,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := readSample("gw", tc.labels)
			if ok == tc.skip {
				t.Fatalf("ok = %v, want %v", ok, !tc.skip)
			}
			if !tc.skip && got != tc.want {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestQuantile(t *testing.T) {
	buckets := map[float64]float64{1: 50, 5: 90, 10: 100, math.Inf(1): 100}
	for _, tc := range []struct{ q, want float64 }{
		{0.5, 1},    // exactly the first bucket's count
		{0.7, 3},    // halfway through (1, 5]
		{0.99, 9.5}, // 9 of the 10 in (5, 10]
	} {
		if got := Quantile(tc.q, buckets); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("q%.2f = %v, want %v", tc.q, got, tc.want)
		}
	}
	if got := Quantile(0.99, map[float64]float64{1: 0, 5: 10, math.Inf(1): 20}); got != 5 {
		t.Errorf("a rank in +Inf: %v, want the highest finite bound 5", got)
	}
	if got := Quantile(0.99, map[float64]float64{}); got != 0 {
		t.Errorf("no requests: %v, want 0", got)
	}
}

// proxyMetrics is a proxy's registry with lanemesh's request metrics.
type proxyMetrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newProxyMetrics(names int) proxyMetrics {
	labels := []string{"source_app", "source_version", "destination_service", "destination_subset", "response_code", "response_flags", "fallback"}
	n := metricNames[names]
	buckets := []float64{1, 10, 100} // milliseconds
	for i := range buckets {
		buckets[i] /= n.msPerUnit
	}
	p := proxyMetrics{reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: n.requests}, labels),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: n.duration, Buckets: buckets}, labels)}
	p.reg.MustRegister(p.requests, p.duration)
	return p
}

func (p proxyMetrics) serve(n int, seconds float64, labels ...string) {
	for range n {
		p.requests.WithLabelValues(labels...).Inc()
		p.duration.WithLabelValues(labels...).Observe(seconds)
	}
}

func (p proxyMetrics) scrape(t *testing.T, id string) Scrape {
	fams, err := p.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	return Scrape{ID: id, Name: "gw", Families: fams}
}

var toB2 = []string{"mocka", "v2", "mockb.default.svc.cluster.local", "v2", "200", "-", "false"}
var toB1 = []string{"mocka", "v2", "mockb.default.svc.cluster.local", "v1", "200", "FB", "true"}
var failed = []string{"mocka", "v2", "mockb.default.svc.cluster.local", "v2", "503", "UF", "false"}

// TestTrafficRates: rates are increases over the window, a new series
// counts from zero, a proxy that restarted counts from zero again, and
// what left the window stops counting.
func TestTrafficRates(t *testing.T) {
	p := newProxyMetrics(1)
	tr := Traffic{Window: 2 * time.Second}
	t0 := time.Unix(1000, 0)
	p.serve(100, 0.005, toB2...) // before the first reading: not counted
	if d := tr.Add(t0, []Scrape{p.scrape(t, "a")}); d != nil {
		t.Fatalf("the first reading has no deltas: %v", d)
	}
	p.serve(10, 0.005, toB2...)
	p.serve(10, 0.05, toB1...) // a new series: all 10 are new
	tr.Add(t0.Add(time.Second), []Scrape{p.scrape(t, "a")})
	p.serve(20, 0.005, failed...)
	tr.Add(t0.Add(2*time.Second), []Scrape{p.scrape(t, "a")})
	stats := tr.Stats()
	byTo := map[string]EdgeStats{}
	for _, s := range stats {
		byTo[s.ToVersion] = s
	}
	if s := byTo["v2"]; s.RPS != 15 || s.ErrorRate != 20.0/30 || s.FallbackRPS != 0 || s.Lane != "v2" || s.From != "mocka" {
		t.Errorf("mocka v2 → mockb v2: %+v, want 15 req/s (30 in 2s), 2/3 errors", s)
	}
	if s := byTo["v1"]; s.RPS != 5 || s.FallbackRPS != 5 || s.P99 <= 10 || s.P99 > 100 {
		t.Errorf("mocka v2 → mockb v1: %+v, want 5 req/s, all fallbacks, p99 in (10ms, 100ms]", s)
	}

	// The proxy restarts: its counters start again from zero.
	p = newProxyMetrics(1)
	p.serve(4, 0.005, toB2...)
	tr.Add(t0.Add(3*time.Second), []Scrape{p.scrape(t, "a")})
	p.serve(4, 0.005, toB2...)
	tr.Add(t0.Add(4*time.Second), []Scrape{p.scrape(t, "a")})
	stats = tr.Stats()
	if len(stats) != 1 || stats[0].RPS != 4 || stats[0].ErrorRate != 0 {
		t.Errorf("after the restart, over the last 2s: %+v, want one edge at 4 req/s without errors", stats)
	}
}

// TestIstioNamesWin: a proxy that exports Istio's metrics and lanemesh's
// own is counted once, by Istio's, whose durations are milliseconds.
func TestIstioNamesWin(t *testing.T) {
	istio, own := newProxyMetrics(0), newProxyMetrics(1)
	tr := Traffic{Window: time.Second}
	t0 := time.Unix(1000, 0)
	scrape := func() []Scrape {
		a, b := istio.scrape(t, "a"), own.scrape(t, "a")
		return []Scrape{{ID: "a", Name: "gw", Families: append(a.Families, b.Families...)}}
	}
	tr.Add(t0, scrape())
	istio.serve(10, 50, toB2...) // 50 ms
	own.serve(20, 0.05, toB2...) // twice as many: a rate of 20 would mean these were read
	tr.Add(t0.Add(time.Second), scrape())
	stats := tr.Stats()
	if len(stats) != 1 || stats[0].RPS != 10 || stats[0].P99 < 10 || stats[0].P99 > 100 {
		t.Errorf("got %+v, want 10 req/s with a p99 in (10ms, 100ms]", stats)
	}
}

func TestSeriesIDIgnoresLabelOrder(t *testing.T) {
	name, value := func(s string) *string { return &s }, func(s string) *string { return &s }
	a := &dto.Metric{Label: []*dto.LabelPair{{Name: name("x"), Value: value("1")}, {Name: name("y"), Value: value("2")}}}
	b := &dto.Metric{Label: []*dto.LabelPair{{Name: name("y"), Value: value("2")}, {Name: name("x"), Value: value("1")}}}
	if seriesID("p", a) != seriesID("p", b) || seriesID("p", a) == seriesID("q", a) {
		t.Error("a series is its proxy and its set of labels, whatever their order")
	}
}
