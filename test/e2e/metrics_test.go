package e2e

import (
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// istioLabels are Istio's standard metric labels and lanemesh's two, and
// the scrape's proxy labels: every istio_* series carries exactly these.
var istioLabels = []string{
	"reporter", "source_workload", "source_canonical_service", "source_canonical_revision", "source_workload_namespace",
	"source_principal", "source_app", "source_version", "source_cluster", "destination_workload",
	"destination_workload_namespace", "destination_principal", "destination_app", "destination_version",
	"destination_service", "destination_canonical_service", "destination_canonical_revision",
	"destination_service_name", "destination_service_namespace", "destination_cluster", "request_protocol",
	"response_code", "grpc_response_status", "response_flags", "connection_security_policy", "lane", "fallback",
	"namespace", "pod",
}

// TestMetricsEveryProxy sends traffic in each lane of the tutorial through
// lanemesh up and checks a scrape of the mesh's metrics endpoint: every
// proxy is there, and each hop of each lane is a series with Istio's
// labels, from the proxy that sent it (reporter="source"). Then it sends
// the v2 lane with mockb-v2 scaled to 0 and fallback on: the fallback is
// a series of mocka-v2's sidecar with destination_version="v1",
// lane="v2" and fallback="true".
func TestMetricsEveryProxy(t *testing.T) {
	m := startMesh(t, lanes)
	url := m.GatewayURL() + "/mock"
	const n = 20
	for _, lane := range []string{"v1", "v2", "v3"} {
		for i := range n {
			if body, code := get(url, lane); code != 200 || !inLane(body, lane) {
				t.Fatalf("lane %s request %d: %d %s", lane, i, code, body)
			}
		}
	}
	families, size, _ := scrapeMetrics(t, m.MetricsURL())
	var times []time.Duration
	for range 5 {
		_, _, took := scrapeMetrics(t, m.MetricsURL())
		times = append(times, took)
	}
	slices.Sort(times)
	requests := families["istio_requests_total"]
	if requests == nil {
		t.Fatalf("no istio_requests_total in the scrape")
	}
	perProxy, istioPerProxy := seriesPerProxy(families)
	t.Logf("one scrape of %d proxies: %d bytes (%d gzipped), median of 5 in %v (GET and parse); time series per proxy (a histogram's buckets, sum and count each one): all %v, istio_* %v",
		len(perProxy), size, gzippedSize(t, m.MetricsURL()), times[2], perProxy, istioPerProxy)
	wantProxies := []string{"ingressgateway"}
	for _, app := range []string{"mocka", "mockb", "mockc"} {
		for _, v := range []string{"v1", "v2", "v3"} {
			wantProxies = append(wantProxies, app+"-"+v+"-0")
		}
	}
	for _, pod := range wantProxies {
		if perProxy[pod] == 0 {
			t.Errorf("proxy %s has no series in the scrape", pod)
		}
	}
	for _, name := range []string{"istio_requests_total", "istio_request_duration_milliseconds", "istio_request_bytes", "istio_response_bytes"} {
		mf := families[name]
		if mf == nil {
			t.Errorf("no %s in the scrape", name)
			continue
		}
		for _, s := range mf.GetMetric() {
			if got := slices.Sorted(maps.Keys(labelsOf(s))); !slices.Equal(got, sortedCopy(istioLabels)) {
				t.Fatalf("%s series labels %v, want Istio's standard set %v", name, got, sortedCopy(istioLabels))
			}
		}
	}
	checkBuckets(t, families["istio_request_duration_milliseconds"])
	checkLanes(t, requests)

	// Each lane's hops, each from the proxy that sent it.
	hop := func(pod, src, dst, lane string) map[string]string {
		app, version, _ := strings.Cut(dst, "-")
		srcApp, srcVersion, _ := strings.Cut(src, "-")
		return map[string]string{"pod": pod, "namespace": podNamespace(pod), "reporter": "source",
			"source_workload": src, "source_app": srcApp, "source_version": srcVersion,
			"source_workload_namespace": podNamespace(pod), "destination_workload": dst, "destination_workload_namespace": "default",
			"destination_app": app, "destination_version": version, "destination_canonical_service": app,
			"destination_canonical_revision": version, "destination_service": app + ".default.svc.cluster.local",
			"destination_service_name": app, "destination_service_namespace": "default", "request_protocol": "http",
			"response_code": "200", "lane": lane}
	}
	for _, v := range []string{"v1", "v2", "v3"} {
		gw := hop("ingressgateway", "ingressgateway", "mocka-"+v, v)
		gw["source_app"], gw["source_version"] = "unknown", "unknown" // the gateway's labels have neither
		want := []map[string]string{gw, hop("mocka-"+v+"-0", "mocka-"+v, "mockb-"+v, v), hop("mockb-"+v+"-0", "mockb-"+v, "mockc-"+v, v)}
		for _, w := range want {
			w["fallback"], w["response_flags"] = "false", "-"
			if got := sum(requests, w); got < n {
				t.Errorf("lane %s: %v requests from %s to %s, want at least %d", v, got, w["pod"], w["destination_workload"], n)
			}
		}
	}

	// Step 7 of the tutorial: with fallback, mockb-v2 scaled to 0. (Its
	// sidecar's series go with its pod.)
	lanemesh(t, m, "apply", "-f", fallback)
	scale(t, m, "mockb-v2", 0)
	waitFor(t, 10*time.Second, "v2 to fall back", func() bool {
		body, _ := get(url, "v2")
		return chain(body) == "v2 v1 v1"
	})
	for i := range n {
		if body, code := get(url, "v2"); code != 200 || chain(body) != "v2 v1 v1" {
			t.Fatalf("v2 request %d after the scale-down: %d %s, want mocka v2 -> mockb v1 -> mockc v1", i, code, body)
		}
	}
	families, _, _ = scrapeMetrics(t, m.MetricsURL())
	requests = families["istio_requests_total"]
	// The fallback: lane v2, mocka v2's sidecar, served by mockb v1.
	fb := hop("mocka-v2-0", "mocka-v2", "mockb-v1", "v2")
	fb["fallback"], fb["response_flags"] = "true", "FB"
	if got := sum(requests, fb); got < n {
		t.Errorf("%v fallback requests from mocka-v2 to mockb-v1 in lane v2, want at least %d; series:\n%s", got, n, dump(requests))
	}
	checkLanes(t, requests)
}

// checkLanes checks that no request a workload served left its lane but
// through the fallback, and that every fallback is step 7's.
func checkLanes(t *testing.T, requests *dto.MetricFamily) {
	t.Helper()
	for _, s := range requests.GetMetric() {
		l := labelsOf(s)
		served := l["destination_version"] != "unknown" // not a 503 UH nor a 404 NR
		if served && l["fallback"] == "false" && l["source_version"] != "unknown" && l["destination_version"] != l["source_version"] {
			t.Errorf("a request left its lane without a fallback: %v", l)
		}
		if l["fallback"] == "true" && (l["destination_version"] != "v1" || l["lane"] != "v2" || l["source_workload"] != "mocka-v2") {
			t.Errorf("a fallback other than mocka v2's to mockb v1 in lane v2: %v", l)
		}
	}
}

// scrapeMetrics GETs a Prometheus endpoint and parses it.
func scrapeMetrics(t *testing.T, url string) (map[string]*dto.MetricFamily, int, time.Duration) {
	t.Helper()
	if url == "" {
		t.Fatal("the mesh serves no metrics endpoint")
	}
	start := time.Now()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	took := time.Since(start)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("parse the scrape: %v", err)
	}
	return families, len(body), took
}

// seriesPerProxy counts the time series of each proxy, all and istio_*,
// as Prometheus stores them.
func seriesPerProxy(families map[string]*dto.MetricFamily) (all, istio map[string]int) {
	all, istio = map[string]int{}, map[string]int{}
	for name, mf := range families {
		for _, s := range mf.GetMetric() {
			pod := labelsOf(s)["pod"]
			if pod == "" {
				continue
			}
			n := 1
			if h := s.GetHistogram(); h != nil {
				n = len(h.GetBucket()) + 2
			}
			all[pod] += n
			if strings.HasPrefix(name, "istio_") {
				istio[pod] += n
			}
		}
	}
	return all, istio
}

// gzippedSize is the size of a scrape as Prometheus fetches it, gzipped.
func gzippedSize(t *testing.T, url string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Accept-Encoding", "gzip") // set by hand, the transport leaves the body compressed
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.Header.Get("Content-Encoding") != "gzip" {
		t.Errorf("the metrics endpoint does not gzip for a client that asks")
	}
	return len(b)
}

// checkBuckets checks that the duration histogram has Istio's (Envoy's
// default) buckets.
func checkBuckets(t *testing.T, mf *dto.MetricFamily) {
	t.Helper()
	want := []float64{0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000, math.Inf(1)}
	for _, s := range mf.GetMetric() {
		var got []float64
		for _, b := range s.GetHistogram().GetBucket() {
			got = append(got, b.GetUpperBound())
		}
		if !slices.Equal(got, want) {
			t.Fatalf("duration buckets %v, want Istio's %v", got, want)
		}
	}
}

func labelsOf(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

// sum adds up the counters whose labels include want.
func sum(mf *dto.MetricFamily, want map[string]string) float64 {
	total := 0.0
	for _, s := range mf.GetMetric() {
		l := labelsOf(s)
		match := true
		for k, v := range want {
			if l[k] != v {
				match = false
				break
			}
		}
		if match {
			total += s.GetCounter().GetValue()
		}
	}
	return total
}

func dump(mf *dto.MetricFamily) string {
	var lines []string
	for _, s := range mf.GetMetric() {
		l := labelsOf(s)
		lines = append(lines, fmt.Sprintf("  %s %s->%s lane=%s fallback=%s flags=%s code=%s: %s", l["pod"], l["source_workload"],
			l["destination_workload"], l["lane"], l["fallback"], l["response_flags"], l["response_code"],
			strconv.FormatFloat(s.GetCounter().GetValue(), 'f', -1, 64)))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func podNamespace(pod string) string {
	if pod == "ingressgateway" {
		return "istio-system"
	}
	return "default"
}

func sortedCopy(s []string) []string {
	out := slices.Clone(s)
	sort.Strings(out)
	return out
}
