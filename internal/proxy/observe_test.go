package proxy

import (
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/lanemesh/lanemesh/internal/meshxds"
)

var gatewaySource = SourceInfo{Namespace: "istio-system", Name: "ingressgateway-0",
	Labels: map[string]string{"app": "istio-ingressgateway", "version": "1.0"}}

// TestMetrics checks istio_requests_total and the histograms by their
// labels, including a fallback-served request, and the upstream gauges.
func TestMetrics(t *testing.T) {
	m := newMesh(t, lanesDir, fallbackDir)
	reg := prometheus.NewRegistry()
	id := sidecarIdentity("mocka", "v2")
	p := startProxy(t, Options{Role: meshxds.Sidecar, Registry: reg, Source: SourceInfo{Namespace: "default", Name: "mocka-v2-0",
		Workload: "mocka-v2", Labels: id.Labels}}, m.resources(id, nil))
	c := newClient(p.OutboundAddr())
	for range 3 {
		call(t, c, "GET", "http://mockb:8000/", "", nil)
	}
	post, err := http.NewRequest("POST", "http://mockb:8000/", strings.NewReader("12345"))
	if err != nil {
		t.Fatal(err)
	}
	post.Header.Set("x-asm-prefer-tag", "v3") // the app passed the lane on: it wins over the workload's
	resp, err := c.Do(post)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	m.pods["mockb-v2-0"].kill()
	call(t, c, "GET", "http://mockb:8000/", "", nil)
	call(t, c, "GET", "http://nowhere:8000/", "", nil)

	series := labelledSeries(t, reg, metricRequests)
	source := map[string]string{"reporter": "source", "source_workload": "mocka-v2", "source_canonical_service": "mocka",
		"source_canonical_revision": "v2", "source_workload_namespace": "default", "source_principal": "unknown",
		"source_app": "mocka", "source_version": "v2", "source_cluster": "Kubernetes", "request_protocol": "http",
		"grpc_response_status": "", "destination_principal": "unknown", "connection_security_policy": "unknown"}
	mockb := func(version string) map[string]string {
		return merge(source, map[string]string{"destination_workload": "mockb-" + version, "destination_workload_namespace": "default",
			"destination_app": "mockb", "destination_version": version, "destination_service": "mockb.default.svc.cluster.local",
			"destination_canonical_service": "mockb", "destination_canonical_revision": version,
			"destination_service_name": "mockb", "destination_service_namespace": "default", "destination_cluster": "Kubernetes"})
	}
	// A host the mesh does not know goes to Istio's PassthroughCluster
	// (ALLOW_ANY); "nowhere" does not resolve: 503 UH.
	nowhere := merge(source, map[string]string{"destination_workload": "unknown", "destination_workload_namespace": "unknown",
		"destination_app": "unknown", "destination_version": "unknown", "destination_service": "PassthroughCluster",
		"destination_canonical_service": "unknown", "destination_canonical_revision": "unknown",
		"destination_service_name": "PassthroughCluster", "destination_service_namespace": "unknown", "destination_cluster": "unknown"})
	want := []struct {
		labels map[string]string
		count  float64
	}{
		// Without a route header, a request is in the lane its route chose (subset v2).
		{merge(mockb("v2"), map[string]string{"response_code": "200", "response_flags": "-", "lane": "v2", "fallback": "false"}), 3},
		{merge(mockb("v2"), map[string]string{"response_code": "200", "response_flags": "-", "lane": "v3", "fallback": "false"}), 1},
		// The fallback: lane v2, served by mockb v1.
		{merge(mockb("v1"), map[string]string{"response_code": "200", "response_flags": "FB", "lane": "v2", "fallback": "true"}), 1},
		{merge(nowhere, map[string]string{"response_code": "503", "response_flags": "UH", "lane": "", "fallback": "false"}), 1}, // no lane
	}
	if len(series) != len(want) {
		t.Errorf("%d %s series, want %d: %v", len(series), metricRequests, len(want), series)
	}
	for _, w := range want {
		if len(w.labels) != len(requestLabels) {
			t.Fatalf("test case names %d labels, want all %d", len(w.labels), len(requestLabels))
		}
		if got := series[labelKey(w.labels)]; got != w.count {
			t.Errorf("%s%s = %v, want %v", metricRequests, labelKey(w.labels), got, w.count)
		}
	}
	for _, h := range []string{metricDuration, metricRequestBytes, metricResponseBytes} {
		if n := len(labelledSeries(t, reg, h)); n != len(want) {
			t.Errorf("%d %s series, want %d", n, h, len(want))
		}
	}
	// The POST's 5-byte body, and every response's body, are measured.
	sums := histogramSums(t, reg, metricRequestBytes)
	if got := sums[labelKey(want[1].labels)]; got != 5 {
		t.Errorf("%s sum for the POST = %v, want 5", metricRequestBytes, got)
	}
	if got := histogramSums(t, reg, metricResponseBytes)[labelKey(want[2].labels)]; got < float64(len("mockb-v1-0")) {
		t.Errorf("%s sum for the fallback = %v, want the upstream's body", metricResponseBytes, got)
	}
	got, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]float64{} // "name cluster" → value
	for _, mf := range got {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				if l.GetName() == "cluster" {
					key += " " + l.GetValue()
				}
			}
			values[key] = m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	for key, want := range map[string]float64{
		"lanemesh_upstream_healthy_endpoints " + mockbV1: 1,
		"lanemesh_upstream_ejected_endpoints " + mockbV1: 0,
		"lanemesh_upstream_ejections_total " + mockbV1:   0,
		"lanemesh_upstream_active_requests " + mockbV1:   0,
		"lanemesh_upstream_connections " + mockbV1:       1, // the keep-alive connection of the fallback request
	} {
		if got, ok := values[key]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", key, got, ok, want)
		}
	}
	if values["lanemesh_config_updates_total"] != 1 {
		t.Errorf("lanemesh_config_updates_total = %v, want 1", values["lanemesh_config_updates_total"])
	}
}

// TestAccessLog checks every field of an access log line.
func TestAccessLog(t *testing.T) {
	m := newMesh(t, lanesDir)
	var log logBuffer
	// A trusted downstream, so that the client's x-request-id is kept (an
	// untrusted one's is replaced: see TestEdgeHeadersAtTheUpstream).
	p := startProxy(t, Options{Role: meshxds.Gateway, AccessLog: &log, Source: gatewaySource, TrustDownstream: true}, m.resources(gatewayIdentity, nil))
	call(t, newClient(nil), "GET", gatewayURL(p, "/mock?x=1"), "gateway", map[string]string{"x-asm-prefer-tag": "v3", "x-request-id": "r-1"})
	e := log.entries(t)[0]
	_, port := m.pods["mocka-v3-0"].hostPort()
	want := map[string]any{
		"method": "GET", "authority": "gateway", "path": "/mock?x=1", "status": 200.0, "response_flags": "-",
		"virtual_service": "istio-system/swimlane-ingress-vs", "route_index": 2.0, "route_name": "route-v3",
		"route_cluster": "outbound|8000|v3|mocka.default.svc.cluster.local", "upstream_cluster": "outbound|8000|v3|mocka.default.svc.cluster.local",
		"upstream_address": "127.0.0.1:" + itoa(port), "fallback": false, "attempts": 1.0, "lane": "v3", "request_id": "r-1",
		"source_workload": "istio-system/ingressgateway-0",
	}
	for k, v := range want {
		if e[k] != v {
			t.Errorf("%s = %v, want %v", k, e[k], v)
		}
	}
	if _, ok := e["time"].(string); !ok {
		t.Error("no time")
	}
	if d, ok := e["duration_ms"].(float64); !ok || d < 0 {
		t.Errorf("duration_ms %v", e["duration_ms"])
	}
	if _, ok := e["level"]; ok {
		t.Error("access log lines carry no level")
	}
}

func itoa(n uint32) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// TestAdmin checks /ready before and after the first update, /config_dump
// and /clusters.
func TestAdmin(t *testing.T) {
	m := newMesh(t, lanesDir, fallbackDir)
	p := startProxy(t, Options{Role: meshxds.Sidecar}, nil)
	c := newClient(nil)
	admin := "http://" + p.AdminAddr().String()
	if status, _, _ := call(t, c, "GET", admin+"/ready", "", nil); status != 503 {
		t.Errorf("/ready before any config: %d, want 503", status)
	}
	if err := p.Apply(m.resources(sidecarIdentity("mocka", "v2"), podDown("mockb-v3"))); err != nil {
		t.Fatal(err)
	}
	if status, _, _ := call(t, c, "GET", admin+"/ready", "", nil); status != 200 {
		t.Errorf("/ready after the first config: %d, want 200", status)
	}
	_, body, _ := call(t, c, "GET", admin+"/config_dump", "", nil)
	var dump map[string][]map[string]any
	if err := json.Unmarshal([]byte(body), &dump); err != nil {
		t.Fatal(err)
	}
	if len(dump["listeners"]) != 1 || dump["listeners"][0]["name"] != meshxds.SidecarListener || len(dump["clusters"]) == 0 || len(dump["endpoints"]) == 0 {
		t.Errorf("config_dump: %d listeners (%v), %d clusters, %d endpoints", len(dump["listeners"]), dump["listeners"], len(dump["clusters"]), len(dump["endpoints"]))
	}
	_, body, _ = call(t, c, "GET", admin+"/clusters", "", nil)
	var cl struct{ Clusters []clusterView }
	if err := json.Unmarshal([]byte(body), &cl); err != nil {
		t.Fatal(err)
	}
	seen := map[string]clusterView{}
	for _, v := range cl.Clusters {
		seen[v.Name] = v
	}
	if agg := seen[mockbAgg]; len(agg.Members) != 2 || agg.Members[0] != mockbV2 {
		t.Errorf("/clusters aggregate: %+v", agg)
	}
	if status, _, _ := call(t, c, "GET", admin+"/config_dump", "attacker.example:15021", nil); status != http.StatusForbidden {
		t.Errorf("/config_dump through a rebound DNS name: %d, want 403", status)
	}
	// From another pod (the sidecar's admin is on the pod's IP in
	// Kubernetes), only health and metrics answer.
	h := p.adminHandler(prometheus.NewRegistry())
	for path, want := range map[string]int{"/config_dump": 403, "/clusters": 403, "/ready": 200, "/metrics": 200} {
		rec := httptest.NewRecorder()
		r := httptest.NewRequest("GET", path, nil)
		r.RemoteAddr, r.Host = "10.1.2.3:40000", "10.1.2.4:15021"
		h.ServeHTTP(rec, r)
		if rec.Code != want {
			t.Errorf("%s from another pod: %d, want %d", path, rec.Code, want)
		}
	}
	v3 := seen["outbound|8000|v3|mockb.default.svc.cluster.local"]
	if len(v3.Endpoints) != 1 || v3.Endpoints[0].Healthy || v3.Endpoints[0].EDSHealth != "UNHEALTHY" || v3.Endpoints[0].Pod != "mockb-v3-0" || v3.LbPolicy != "LEAST_REQUEST" {
		t.Errorf("/clusters v3: %+v", v3)
	}
}

// TestDrain cancels Run while a request is in flight: /ready turns 503,
// new connections are refused, and the in-flight request completes.
func TestDrain(t *testing.T) {
	m := newMesh(t, lanesDir)
	arrived, release := make(chan struct{}), make(chan struct{})
	m.pods["mocka-v1-0"].answer(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-release
		_, _ = w.Write([]byte("finished"))
	})
	p, err := New(Options{Role: meshxds.Gateway, PortMap: map[uint32]string{80: "127.0.0.1:0"}, AdminAddr: "127.0.0.1:0", DrainTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Apply(m.resources(gatewayIdentity, nil)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	waitFor(t, "ready", p.Ready)
	url := gatewayURL(p, "/mock")
	result := make(chan string, 1)
	go func() {
		_, body, _ := call(t, newClient(nil), "GET", url, "gw", map[string]string{"x-asm-prefer-tag": "v1"})
		result <- body
	}()
	<-arrived
	cancel()
	waitFor(t, "draining", func() bool { return !p.Ready() })
	waitFor(t, "the listener to stop accepting", func() bool {
		_, err := http.Get(url)
		return err != nil
	})
	close(release)
	if body := <-result; body != "finished" {
		t.Errorf("in-flight request got %q", body)
	}
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	if err := p.Apply(m.resources(gatewayIdentity, nil)); err != ErrStopped {
		t.Errorf("Apply after Run: %v, want ErrStopped", err)
	}
}

// counterSeries returns the samples of a counter or histogram (its count)
// by their labels, rendered sorted as name="value" pairs.
func counterSeries(t *testing.T, reg prometheus.Gatherer, name string) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() { // Gather sorts labels by name
				labels = append(labels, l.GetName()+"="+strconv.Quote(l.GetValue()))
			}
			out[strings.Join(labels, ",")] = m.GetCounter().GetValue() + float64(m.GetHistogram().GetSampleCount())
		}
	}
	return out
}

// labelledSeries returns the value of each series of the named counter
// (or each histogram's sample count), keyed by labelKey.
func labelledSeries(t *testing.T, reg prometheus.Gatherer, name string) map[string]float64 {
	t.Helper()
	return collect(t, reg, name, func(m *dto.Metric) float64 {
		return m.GetCounter().GetValue() + float64(m.GetHistogram().GetSampleCount())
	})
}

// histogramSums returns the sum of each series of the named histogram.
func histogramSums(t *testing.T, reg prometheus.Gatherer, name string) map[string]float64 {
	t.Helper()
	return collect(t, reg, name, func(m *dto.Metric) float64 { return m.GetHistogram().GetSampleSum() })
}

func collect(t *testing.T, reg prometheus.Gatherer, name string, value func(*dto.Metric) float64) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			out[labelKey(labels)] = value(m)
		}
	}
	return out
}

// labelKey is a label set as Prometheus prints it, names sorted.
func labelKey(labels map[string]string) string {
	names := make([]string, 0, len(labels))
	for n := range labels {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for i, n := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(n + "=" + strconv.Quote(labels[n]))
	}
	return "{" + b.String() + "}"
}

func merge(a, b map[string]string) map[string]string {
	out := maps.Clone(a)
	maps.Copy(out, b)
	return out
}
