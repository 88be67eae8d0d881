package proxy

import (
	"encoding/hex"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lanemesh/lanemesh/internal/meshxds"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// exported is one span as the collector received it.
type exported struct {
	service string
	span    *tracepb.Span
}

func (e exported) traceID() string  { return hex.EncodeToString(e.span.TraceId) }
func (e exported) spanID() string   { return hex.EncodeToString(e.span.SpanId) }
func (e exported) parentID() string { return hex.EncodeToString(e.span.ParentSpanId) }

// attr is a span attribute's value as a string ("" when absent).
func (e exported) attr(key string) string {
	for _, kv := range e.span.Attributes {
		if kv.Key == key {
			return kv.Value.GetStringValue()
		}
	}
	return ""
}

// collector is an OTLP/HTTP trace receiver: it decodes the protobuf
// ExportTraceServiceRequests the exporters post to /v1/traces.
type collector struct {
	srv   *httptest.Server
	mu    sync.Mutex
	spans []exported
	posts int
	proto string // of the last export, such as HTTP/1.1
}

func newCollector(t testing.TB) *collector { return newCollectorOn(t, false) }

// newCollectorOn starts a collector, over https with HTTP/2 offered when
// tls is set.
func newCollectorOn(t testing.TB, tls bool) *collector {
	c := &collector{}
	c.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" || err != nil {
			t.Errorf("collector: %s %s (%s): want POST /v1/traces of application/x-protobuf", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		var req collectortrace.ExportTraceServiceRequest
		if err := proto.Unmarshal(body, &req); err != nil {
			t.Errorf("collector: decode: %v", err)
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		c.mu.Lock()
		c.posts++
		c.proto = r.Proto
		for _, rs := range req.ResourceSpans {
			service := ""
			for _, kv := range rs.GetResource().GetAttributes() {
				if kv.Key == "service.name" {
					service = kv.Value.GetStringValue()
				}
			}
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					c.spans = append(c.spans, exported{service: service, span: s})
				}
			}
		}
		c.mu.Unlock()
		out, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	}))
	if tls {
		c.srv.EnableHTTP2 = true
		c.srv.StartTLS()
	} else {
		c.srv.Start()
	}
	t.Cleanup(c.srv.Close)
	return c
}

// trace returns the spans of one trace received so far.
func (c *collector) trace(id string) []exported {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []exported
	for _, s := range c.spans {
		if s.traceID() == id {
			out = append(out, s)
		}
	}
	return out
}

func (c *collector) all() []exported {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]exported(nil), c.spans...)
}

// tracingTo is tracing of every new trace, sent to c at once.
func tracingTo(c *collector, node string) *Tracing {
	return &Tracing{Endpoint: c.srv.URL, Sampling: 100, NodeID: node, flushEvery: 5 * time.Millisecond}
}

// tracedMesh is the tutorial with fallback, traced: a gateway, mocka-v2's
// sidecar (which sees mockb-v2 down and falls back to mockb-v1) and
// mockb-v1's sidecar. The apps are hand-written: each calls the next
// service through its own sidecar and forwards traceparent, tracestate
// and the lane header, as an app instrumented for Istio tracing does.
type tracedMesh struct {
	m       *mesh
	gateway *Proxy
	client  *http.Client
}

func newTracedMesh(t *testing.T, c *collector, traced bool) *tracedMesh {
	m := newMesh(t, lanesDir, fallbackDir)
	tracing := func(node string) *Tracing {
		if !traced {
			return nil
		}
		return tracingTo(c, node)
	}
	idA, idB := sidecarIdentity("mocka", "v2"), sidecarIdentity("mockb", "v1")
	sidecarA := startProxy(t, Options{Role: meshxds.Sidecar, Tracing: tracing("sidecar~default/mocka-v2-0"),
		Source: SourceInfo{Namespace: "default", Name: "mocka-v2-0", Labels: idA.Labels}}, m.resources(idA, podDown("mockb-v2")))
	sidecarB := startProxy(t, Options{Role: meshxds.Sidecar, Tracing: tracing("sidecar~default/mockb-v1-0"),
		Source: SourceInfo{Namespace: "default", Name: "mockb-v1-0", Labels: idB.Labels}}, m.resources(idB, nil))
	m.pods["mocka-v2-0"].answer(app(t, "mocka-v2-0", newClient(sidecarA.OutboundAddr()), "http://mockb:8000/"))
	m.pods["mockb-v1-0"].answer(app(t, "mockb-v1-0", newClient(sidecarB.OutboundAddr()), "http://mockc:8000/"))
	gw := startProxy(t, Options{Role: meshxds.Gateway, Tracing: tracing("router~istio-system/ingressgateway"),
		Source: SourceInfo{Namespace: "istio-system", Name: "ingressgateway", Labels: gatewayIdentity.Labels}},
		m.resources(gatewayIdentity, nil))
	return &tracedMesh{m: m, gateway: gw, client: newClient(nil)}
}

// app answers with its name and the body of its call to next.
func app(t *testing.T, name string, c *http.Client, next string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		req, _ := http.NewRequest("GET", next, nil)
		for _, h := range []string{"Traceparent", "Tracestate", "X-Asm-Prefer-Tag"} {
			if v := r.Header.Get(h); v != "" {
				req.Header.Set(h, v)
			}
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Errorf("%s calling %s: %v", name, next, err)
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		_, _ = io.WriteString(w, "-> "+name+string(body))
	}
}

// get sends the tutorial's lane v2 request through the gateway.
func (tm *tracedMesh) get(t *testing.T, header map[string]string) string {
	t.Helper()
	h := map[string]string{"X-Asm-Prefer-Tag": "v2"}
	for k, v := range header {
		h[k] = v
	}
	status, body, _ := call(t, tm.client, "GET", gatewayURL(tm.gateway, "/mock"), "gateway.example", h)
	if want := "-> mocka-v2-0-> mockb-v1-0mockc-v1-0"; status != 200 || body != want {
		t.Fatalf("got %d %q, want 200 %q", status, body, want)
	}
	return body
}

// lastTraceparent is the traceparent the last request to pod carried.
func (tm *tracedMesh) lastTraceparent(pod string) string {
	seen := tm.m.pods[pod].requests()
	return seen[len(seen)-1].Header.Get("Traceparent")
}

// TestTraceThroughGatewayAndSidecars sends a lane v2 request through the
// gateway and two sidecars, one of which falls back: the collector gets
// one trace of three spans, gateway (server) → mocka's sidecar (client) →
// mockb's sidecar (client), linked parent to child, with Envoy's and
// Istio's attributes, the lane and the fallback.
func TestTraceThroughGatewayAndSidecars(t *testing.T) {
	c := newCollector(t)
	tm := newTracedMesh(t, c, true)
	tm.get(t, nil)

	// The trace id is the one mockc's pod saw, from the last hop.
	last := tm.lastTraceparent("mockc-v1-0")
	parts := strings.Split(last, "-")
	if len(parts) != 4 || parts[0] != "00" || parts[3] != "01" {
		t.Fatalf("mockc-v1-0 got traceparent %q, want a sampled version 00 traceparent", last)
	}
	traceID := parts[1]
	waitFor(t, "three spans", func() bool { return len(c.trace(traceID)) >= 3 })
	byService := map[string]exported{}
	for _, s := range c.trace(traceID) {
		if _, dup := byService[s.service]; dup {
			t.Fatalf("two spans from %s in one trace: %v", s.service, c.trace(traceID))
		}
		byService[s.service] = s
	}
	gw, a, b := byService["ingressgateway.istio-system"], byService["mocka.default"], byService["mockb.default"]
	if gw.span == nil || a.span == nil || b.span == nil {
		t.Fatalf("spans by service %v: want ingressgateway.istio-system, mocka.default and mockb.default", byService)
	}

	// Links: the gateway's span is the root, each sidecar's is the child
	// of the previous hop's, and mockc saw mockb's sidecar's span.
	if gw.parentID() != "" || a.parentID() != gw.spanID() || b.parentID() != a.spanID() || parts[2] != b.spanID() {
		t.Errorf("links: gateway %s (parent %q), mocka's sidecar %s (parent %s), mockb's sidecar %s (parent %s), mockc saw parent %s",
			gw.spanID(), gw.parentID(), a.spanID(), a.parentID(), b.spanID(), b.parentID(), parts[2])
	}
	if got := tm.lastTraceparent("mocka-v2-0"); got != "00-"+traceID+"-"+gw.spanID()+"-01" {
		t.Errorf("mocka-v2-0 got traceparent %q, want the gateway's span", got)
	}

	for _, tc := range []struct {
		s     exported
		kind  tracepb.Span_SpanKind
		name  string
		attrs map[string]string
	}{
		{gw, tracepb.Span_SPAN_KIND_SERVER, "mocka.default.svc.cluster.local:8000/*", map[string]string{
			"http.method": "GET", "http.url": "http://gateway.example/mock", "http.status_code": "200",
			"upstream_cluster": "outbound|8000|v2|mocka.default.svc.cluster.local", "response_flags": "-",
			"node_id": "router~istio-system/ingressgateway", "istio.canonical_service": "ingressgateway",
			"istio.namespace": "istio-system", "lane": "v2", "fallback": "false", "component": "proxy"}},
		{a, tracepb.Span_SPAN_KIND_CLIENT, "mockb.default.svc.cluster.local:8000/*", map[string]string{
			"http.method": "GET", "http.url": "http://mockb:8000/", "http.status_code": "200",
			"upstream_cluster": "outbound|8000|v1|mockb.default.svc.cluster.local", "response_flags": "FB",
			"node_id": "sidecar~default/mocka-v2-0", "istio.canonical_service": "mocka", "istio.canonical_revision": "v2",
			"istio.namespace": "default", "lane": "v2", "fallback": "true"}},
		{b, tracepb.Span_SPAN_KIND_CLIENT, "mockc.default.svc.cluster.local:8000/*", map[string]string{
			"http.url": "http://mockc:8000/", "http.status_code": "200",
			"upstream_cluster": "outbound|8000|v1|mockc.default.svc.cluster.local", "response_flags": "-",
			"istio.canonical_service": "mockb", "istio.canonical_revision": "v1", "lane": "v2", "fallback": "false"}},
	} {
		if tc.s.span.Kind != tc.kind || tc.s.span.Name != tc.name {
			t.Errorf("%s: span %q of kind %v, want %q of kind %v", tc.s.service, tc.s.span.Name, tc.s.span.Kind, tc.name, tc.kind)
		}
		for k, want := range tc.attrs {
			if got := tc.s.attr(k); got != want {
				t.Errorf("%s: attribute %s = %q, want %q", tc.s.service, k, got, want)
			}
		}
		if tc.s.attr("guid:x-request-id") == "" {
			t.Errorf("%s: no guid:x-request-id attribute", tc.s.service)
		}
		if start, end := tc.s.span.StartTimeUnixNano, tc.s.span.EndTimeUnixNano; start == 0 || end < start {
			t.Errorf("%s: span from %d to %d", tc.s.service, start, end)
		}
	}
	// Each hop's span lies within its caller's.
	if a.span.StartTimeUnixNano < gw.span.StartTimeUnixNano || a.span.EndTimeUnixNano > gw.span.EndTimeUnixNano {
		t.Errorf("mocka's sidecar span [%d, %d] outside the gateway's [%d, %d]", a.span.StartTimeUnixNano,
			a.span.EndTimeUnixNano, gw.span.StartTimeUnixNano, gw.span.EndTimeUnixNano)
	}
}

// TestTraceContinuesIncomingContext: a request that brings a traceparent
// is recorded in that trace, as a child of the client's span, with its
// tracestate passed on; one whose sampled flag is clear is not recorded
// anywhere, though its context still travels, so the apps' own spans
// agree. Both at Sampling 0 and 100 the flag decides.
func TestTraceContinuesIncomingContext(t *testing.T) {
	c := newCollector(t)
	tm := newTracedMesh(t, c, true)
	const (
		unsampledTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
		sampledTrace   = "0af7651916cd43dd8448eb211c80319c"
		clientSpan     = "00f067aa0ba902b7"
	)
	tm.get(t, map[string]string{"Traceparent": "00-" + unsampledTrace + "-" + clientSpan + "-00"})
	for _, pod := range []string{"mocka-v2-0", "mockc-v1-0"} {
		got := strings.Split(tm.lastTraceparent(pod), "-")
		if len(got) != 4 || got[1] != unsampledTrace || got[2] == clientSpan || got[3] != "00" {
			t.Errorf("%s got traceparent %q, want trace %s continued, not sampled, from a new span", pod, tm.lastTraceparent(pod), unsampledTrace)
		}
	}

	tm.get(t, map[string]string{"Traceparent": "00-" + sampledTrace + "-" + clientSpan + "-01", "Tracestate": "vendor=opaque"})
	// Spans leave in the order they end, so once the sampled request's
	// three are in, the unsampled one's would be too.
	waitFor(t, "the sampled trace", func() bool { return len(c.trace(sampledTrace)) == 3 })
	for _, s := range c.all() {
		if s.traceID() != sampledTrace {
			t.Errorf("span %q of %s in trace %s, want only trace %s recorded", s.span.Name, s.service, s.traceID(), sampledTrace)
		}
		if s.service == "ingressgateway.istio-system" && s.parentID() != clientSpan {
			t.Errorf("the gateway's span has parent %s, want the client's %s", s.parentID(), clientSpan)
		}
	}
	for _, pod := range []string{"mocka-v2-0", "mockb-v1-0", "mockc-v1-0"} {
		seen := tm.m.pods[pod].requests()
		if got := seen[len(seen)-1].Header.Get("Tracestate"); got != "vendor=opaque" {
			t.Errorf("%s got tracestate %q, want the client's", pod, got)
		}
	}
}

// TestTracingOff: without Tracing no tracer (and so no exporter) exists,
// and a request's traceparent passes every proxy untouched, as any other
// header does.
func TestTracingOff(t *testing.T) {
	c := newCollector(t)
	tm := newTracedMesh(t, c, false)
	if tm.gateway.tracer != nil {
		t.Fatal("the gateway built a tracer with tracing off")
	}
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	tm.get(t, map[string]string{"Traceparent": tp})
	for _, pod := range []string{"mocka-v2-0", "mockb-v1-0", "mockc-v1-0"} {
		if got := tm.lastTraceparent(pod); got != tp {
			t.Errorf("%s got traceparent %q, want the client's %q unchanged", pod, got, tp)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.posts != 0 {
		t.Errorf("the collector got %d exports with tracing off", c.posts)
	}
}

// TestTraceInvalidIncomingContext: a malformed traceparent starts a new
// trace at the gateway, and the tracestate that came with it is dropped.
func TestTraceInvalidIncomingContext(t *testing.T) {
	c := newCollector(t)
	tm := newTracedMesh(t, c, true)
	tm.get(t, map[string]string{"Traceparent": "00-zz-00f067aa0ba902b7-01", "Tracestate": "vendor=stale"})
	got := strings.Split(tm.lastTraceparent("mocka-v2-0"), "-")
	if len(got) != 4 || len(got[1]) != 32 || got[3] != "01" {
		t.Fatalf("mocka-v2-0 got traceparent %q, want a new sampled trace", tm.lastTraceparent("mocka-v2-0"))
	}
	seen := tm.m.pods["mocka-v2-0"].requests()
	if ts := seen[len(seen)-1].Header.Get("Tracestate"); ts != "" {
		t.Errorf("mocka-v2-0 got tracestate %q from an invalid traceparent", ts)
	}
}

// TestTracingLocalAnswer: a request the gateway answers itself (no route,
// 404 NR) still gets its span.
func TestTracingLocalAnswer(t *testing.T) {
	c := newCollector(t)
	tm := newTracedMesh(t, c, true)
	status, _, _ := call(t, tm.client, "GET", gatewayURL(tm.gateway, "/nowhere"), "gateway.example",
		map[string]string{"Traceparent": "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01"})
	if status != http.StatusNotFound {
		t.Fatalf("status %d, want 404", status)
	}
	waitFor(t, "the 404's span", func() bool { return len(c.trace("0af7651916cd43dd8448eb211c80319c")) == 1 })
	s := c.trace("0af7651916cd43dd8448eb211c80319c")[0]
	if s.attr("http.status_code") != "404" || s.attr("response_flags") != "NR" || s.span.Name != "ingress" {
		t.Errorf("span %q: status %q, flags %q; want ingress, 404, NR", s.span.Name, s.attr("http.status_code"), s.attr("response_flags"))
	}
}

// TestTracingInvalidUTF8: a request's bytes that are not UTF-8 (a User-
// Agent, a lane header) reach its span as U+FFFD. OTLP's protobuf refuses
// invalid UTF-8 in a string, and one such span lost the whole batch, the
// spans of other requests with it.
func TestTracingInvalidUTF8(t *testing.T) {
	c := newCollector(t)
	tm := newTracedMesh(t, c, true)
	const bad, good = "0af7651916cd43dd8448eb211c80319c", "4bf92f3577b34da6a3ce929d0e0e4736"
	for id, h := range map[string]map[string]string{
		bad:  {"User-Agent": "agent\xff", "X-Asm-Prefer-Tag": "v\xfe"},
		good: {"User-Agent": "agent"},
	} {
		h["Traceparent"] = "00-" + id + "-00f067aa0ba902b7-01"
		if status, _, _ := call(t, tm.client, "GET", gatewayURL(tm.gateway, "/nowhere"), "gateway.example", h); status != http.StatusNotFound {
			t.Fatalf("status %d, want 404", status)
		}
	}
	waitFor(t, "both spans", func() bool { return len(c.trace(bad)) == 1 && len(c.trace(good)) == 1 })
	if s := c.trace(bad)[0]; s.attr("user_agent") != "agent\ufffd" || s.attr("lane") != "v\ufffd" {
		t.Errorf("user_agent %q, lane %q; want agent\\ufffd, v\\ufffd", s.attr("user_agent"), s.attr("lane"))
	}
}

// TestTraceExportToHTTPSCollector: spans reach a collector over https
// whose certificate the exporter trusts through OTEL_EXPORTER_OTLP_*
// variables. The collector offers HTTP/2 as well as HTTP/1.1: the proxy as
// build-proxy.sh builds it has no HTTP/2 in net/http (-tags
// nethttpomithttp2) and must export over HTTP/1.1 then, which
// `go test -tags nethttpomithttp2` checks; a plain `go test` negotiates h2.
func TestTraceExportToHTTPSCollector(t *testing.T) {
	c := newCollectorOn(t, true)
	caFile := filepath.Join(t.TempDir(), "collector-ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", caFile)
	tm := newTracedMesh(t, c, true)
	const id = "4bf92f3577b34da6a3ce929d0e0e4736"
	status, _, _ := call(t, tm.client, "GET", gatewayURL(tm.gateway, "/nowhere"), "gateway.example",
		map[string]string{"Traceparent": "00-" + id + "-00f067aa0ba902b7-01"})
	if status != http.StatusNotFound {
		t.Fatalf("status %d, want 404", status)
	}
	waitFor(t, "the span at the https collector", func() bool { return len(c.trace(id)) == 1 })
	c.mu.Lock()
	proto := c.proto
	c.mu.Unlock()
	want := "HTTP/2.0"
	if httpOmitsHTTP2 {
		want = "HTTP/1.1"
	}
	if proto != want {
		t.Errorf("the exporter sent %s, want %s", proto, want)
	}
}

func TestTracingOptions(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{in: "127.0.0.1:4318", want: "http://127.0.0.1:4318/v1/traces"},
		{in: "http://jaeger:4318", want: "http://jaeger:4318/v1/traces"},
		{in: "https://otel.example/", want: "https://otel.example/v1/traces"},
		{in: "http://otel.example:4318/custom/traces", want: "http://otel.example:4318/custom/traces"},
		{in: "", err: "endpoint is empty"},
		{in: "grpc://otel:4317", err: "want http(s)"},
	} {
		got, err := otlpURL(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("otlpURL(%q): %v, want an error with %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("otlpURL(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for in, ok := range map[string]bool{"0": true, "1": true, "100": true, "0.5": true, "-1": false, "101": false, "NaN": false, "x": false} {
		if _, err := ParseSampling(in); (err == nil) != ok {
			t.Errorf("ParseSampling(%q): %v", in, err)
		}
	}
	for _, tc := range []struct {
		src  SourceInfo
		want string
	}{
		{SourceInfo{Name: "mocka-v2-0", Labels: map[string]string{"app": "mocka"}}, "mocka"},
		{SourceInfo{Name: "pod", Labels: map[string]string{"app": "a", "app.kubernetes.io/name": "b"}}, "b"},
		{SourceInfo{Labels: map[string]string{"app": "a", "service.istio.io/canonical-name": "c"}}, "c"},
		{SourceInfo{Name: "ingressgateway", Labels: map[string]string{"istio": "ingressgateway"}}, "ingressgateway"},
	} {
		if got := canonicalService(tc.src); got != tc.want {
			t.Errorf("canonicalService(%v) = %q, want %q", tc.src, got, tc.want)
		}
	}
	if _, err := New(Options{Tracing: &Tracing{Endpoint: "127.0.0.1:4318", Sampling: 150}}); err == nil {
		t.Error("New accepted sampling 150%")
	}
}

// discardCollector accepts exports and throws them away, for benchmarks.
func discardCollector(b *testing.B) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	b.Cleanup(srv.Close)
	return srv
}

// BenchmarkGatewayTracing is BenchmarkGateway with tracing off, on with
// every trace sampled, and on with none sampled (a context still made and
// sent upstream).
func BenchmarkGatewayTracing(b *testing.B) {
	m := newMesh(b, lanesDir)
	res := m.resources(gatewayIdentity, nil)
	pointAllAt(res, benchUpstream(b))
	collector := discardCollector(b)
	for _, bc := range []struct {
		name    string
		tracing *Tracing
	}{
		{"off", nil},
		{"sampled", &Tracing{Endpoint: collector.URL, Sampling: 100}},
		{"unsampled", &Tracing{Endpoint: collector.URL, Sampling: 0}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			p := startProxy(b, Options{Role: meshxds.Gateway, Tracing: bc.tracing}, res)
			cpu := processCPU()
			runBench(b, benchClient(), gatewayURL(p, "/mock"), "gateway")
			reportCPU(b, cpu)
		})
	}
}

// BenchmarkSpan is the tracing work of one request alone: continuing the
// incoming context, sending it upstream, and the span's attributes.
func BenchmarkSpan(b *testing.B) {
	collector := discardCollector(b)
	for _, sampling := range []float64{100, 0} {
		name := "sampled"
		if sampling == 0 {
			name = "unsampled"
		}
		b.Run(name, func(b *testing.B) {
			p := startProxy(b, Options{Role: meshxds.Gateway, Tracing: &Tracing{Endpoint: collector.URL, Sampling: sampling}}, nil)
			r := httptest.NewRequest("GET", "http://gateway/mock", nil)
			x := &exchange{p: p, r: r, start: time.Now(), method: "GET", authority: "gateway", path: "/mock", status: 200,
				clusterName: "outbound|8000|v2|mocka.default.svc.cluster.local", lane: "v2", requestID: "id"}
			b.ReportAllocs()
			b.ResetTimer()
			cpu := processCPU()
			for b.Loop() {
				x.startSpan()
				x.finishSpan()
			}
			reportCPU(b, cpu)
		})
	}
}

// processCPU is the CPU time the process has used, user and system.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the process's CPU time per operation since since:
// on a machine shared with other work, wall-clock ns/op measures the
// machine's load as much as the code, and CPU time measures the code
// (in every goroutine, the exporter's included; for the gateway
// benchmark, the client's and upstream's too).
func reportCPU(b *testing.B, since time.Duration) {
	b.ReportMetric(float64(processCPU()-since)/float64(b.N), "cpu-ns/op")
}
