package proxy

import (
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lanemesh/lanemesh/internal/meshxds"
	"github.com/prometheus/client_golang/prometheus"
)

// permissiveYAML is a permissive lane group over mocka and mockb, with
// mockb's VirtualService as a lane group's generator writes it: lane s2 by
// the route header (falling back to the baseline), then the baseline s1.
// TRACE is the group's traceHeader.
const permissiveYAML = `
apiVersion: v1
kind: Service
metadata: {name: mocka, namespace: default}
spec: {selector: {app: mocka}, ports: [{name: http, port: 8000}]}
---
apiVersion: v1
kind: Service
metadata: {name: mockb, namespace: default}
spec: {selector: {app: mockb}, ports: [{name: http, port: 8000}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: mocka-v1, namespace: default}
spec:
  selector: {matchLabels: {app: mocka, version: v1}}
  template:
    metadata: {labels: {app: mocka, version: v1}}
    spec: {containers: [{name: default, image: lanemesh/mock, ports: [{containerPort: 8000}]}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: mockb-v1, namespace: default}
spec:
  selector: {matchLabels: {app: mockb, version: v1}}
  template:
    metadata: {labels: {app: mockb, version: v1}}
    spec: {containers: [{name: default, image: lanemesh/mock, ports: [{containerPort: 8000}]}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: mockb-v2, namespace: default}
spec:
  selector: {matchLabels: {app: mockb, version: v2}}
  template:
    metadata: {labels: {app: mockb, version: v2}}
    spec: {containers: [{name: default, image: lanemesh/mock, ports: [{containerPort: 8000}]}]}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: mockb, namespace: default}
spec:
  host: mockb.default.svc.cluster.local
  subsets:
    - {name: s1, labels: {version: v1}}
    - {name: s2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: mockb, namespace: default}
spec:
  hosts: [mockb.default.svc.cluster.local]
  http:
    - match: [{headers: {x-asm-prefer-tag: {exact: s2}}}]
      route:
        - destination: {host: mockb.default.svc.cluster.local, subset: s2}
          fallback: {target: {host: mockb.default.svc.cluster.local, subset: s1}}
    - route: [{destination: {host: mockb.default.svc.cluster.local, subset: s1}}]
---
apiVersion: istio.alibabacloud.com/v1
kind: ASMSwimLaneGroup
metadata: {name: lanes}
spec:
  services: [{name: mocka, namespace: default}, {name: mockb, namespace: default}]
  ingress: {gateway: {name: ingressgateway, namespace: istio-system}}
  isPermissive: true
  permissiveModeConfiguration: {routeHeader: x-asm-prefer-tag, traceHeader: TRACE, fallbackTarget: s1}
`

// permissiveSidecar starts mocka-v1's sidecar with inbound interception,
// its app standing in at app, for a group whose traceHeader is trace.
func permissiveSidecar(t testing.TB, trace string) (*mesh, *Proxy, *upstream) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "group.yaml"), []byte(strings.ReplaceAll(permissiveYAML, "TRACE", trace)), 0o600); err != nil {
		t.Fatal(err)
	}
	m := newMesh(t, dir)
	app := newUpstream(t, "app")
	id := sidecarIdentity("mocka", "v1")
	id.Inbound = true
	p := startProxy(t, Options{Role: meshxds.Sidecar, InboundAddr: "127.0.0.2:0", InboundApp: app.srv.Listener.Addr().String()},
		m.resources(id, nil))
	return m, p, app
}

// inboundCall sends a request to the sidecar's inbound listener, as a
// caller's sidecar would, and returns what the app saw.
func inboundCall(t *testing.T, p *Proxy, app *upstream, header map[string]string) http.Header {
	t.Helper()
	addr := p.InboundAddr()
	if addr == "" {
		t.Fatal("no inbound listener")
	}
	before := len(app.requests())
	status, body, _ := call(t, newClient(nil), "GET", "http://"+addr+"/hello", "mocka:8000", header)
	if status != http.StatusOK || body != "app" {
		t.Fatalf("inbound call: %d %q", status, body)
	}
	seen := app.requests()
	if len(seen) != before+1 || seen[before].Path != "/hello" {
		t.Fatalf("the app saw %d requests, want one more to /hello", len(seen)-before)
	}
	return seen[before].Header
}

// outboundPod sends the app's call to mockb through the sidecar and
// returns the pod that answered.
func outboundPod(t *testing.T, p *Proxy, header map[string]string) string {
	t.Helper()
	status, body, _ := call(t, newClient(p.OutboundAddr()), "GET", "http://mockb:8000/", "", header)
	if status != http.StatusOK {
		t.Fatalf("outbound call: %d %q", status, body)
	}
	return body
}

// TestPropagateTraceID is scenario (a): the app propagates only
// x-request-id; the sidecar learns the lane on the way in and puts it
// back on the way out.
func TestPropagateTraceID(t *testing.T) {
	_, p, app := permissiveSidecar(t, "x-request-id")
	if h := inboundCall(t, p, app, map[string]string{"x-asm-prefer-tag": "s2", "x-request-id": "trace-1"}); h.Get("X-Asm-Prefer-Tag") != "s2" {
		t.Errorf("the app did not get the route header: %v", h)
	}
	for name, tc := range map[string]struct {
		header map[string]string
		want   string
	}{
		"learnt trace":            {map[string]string{"x-request-id": "trace-1"}, "mockb-v2-0"},
		"unknown trace":           {map[string]string{"x-request-id": "trace-2"}, "mockb-v1-0"},
		"no trace":                {nil, "mockb-v1-0"},
		"the app's own lane wins": {map[string]string{"x-request-id": "trace-1", "x-asm-prefer-tag": "s1"}, "mockb-v1-0"},
	} {
		if got := outboundPod(t, p, tc.header); got != tc.want {
			t.Errorf("%s: served by %s, want %s", name, got, tc.want)
		}
	}
	// A request the app receives without a lane teaches nothing.
	inboundCall(t, p, app, map[string]string{"x-request-id": "trace-3"})
	if got := outboundPod(t, p, map[string]string{"x-request-id": "trace-3"}); got != "mockb-v1-0" {
		t.Errorf("laneless trace: served by %s", got)
	}
}

// TestPropagateBaggage is scenario (b): the sidecar puts the lane in the
// app's baggage, and reads it back from the app's calls.
func TestPropagateBaggage(t *testing.T) {
	_, p, app := permissiveSidecar(t, "baggage")
	h := inboundCall(t, p, app, map[string]string{"x-asm-prefer-tag": "s2", "baggage": "userId=alice;p=1"})
	if got := h.Values("Baggage"); len(got) != 1 || got[0] != "x-asm-prefer-tag=s2,userId=alice;p=1" {
		t.Errorf("the app's baggage: %q", got)
	}
	for name, tc := range map[string]struct {
		header map[string]string
		want   string
	}{
		"lane in baggage":         {map[string]string{"baggage": "userId=alice, x-asm-prefer-tag=s2"}, "mockb-v2-0"},
		"no baggage":              {nil, "mockb-v1-0"},
		"invalid baggage":         {map[string]string{"baggage": "x-asm-prefer-tag=s2, no good"}, "mockb-v1-0"},
		"lane not a token":        {map[string]string{"baggage": "x-asm-prefer-tag=s2%0D%0Ax-evil:%201"}, "mockb-v1-0"},
		"the app's own lane wins": {map[string]string{"baggage": "x-asm-prefer-tag=s2", "x-asm-prefer-tag": "s1"}, "mockb-v1-0"},
	} {
		if got := outboundPod(t, p, tc.header); got != tc.want {
			t.Errorf("%s: served by %s, want %s", name, got, tc.want)
		}
	}
}

// TestInboundPassthrough checks the inbound listener of a sidecar outside
// any lane group: requests reach the app unchanged but for the proxy's
// usual sanitizing, and its hostile-input guarantees hold there too.
func TestInboundPassthrough(t *testing.T) {
	m := newMesh(t, lanesDir)
	app := newUpstream(t, "app")
	id := sidecarIdentity("mockb", "v1")
	id.Inbound = true
	reg := prometheus.NewRegistry()
	p := startProxy(t, Options{Role: meshxds.Sidecar, InboundAddr: "127.0.0.2:0", InboundApp: app.srv.Listener.Addr().String(), Registry: reg,
		Source: SourceInfo{Namespace: "default", Name: "mockb-v1-0", Workload: "mockb-v1", Labels: id.Labels}}, m.resources(id, nil))
	h := inboundCall(t, p, app, map[string]string{"x-asm-prefer-tag": "v2", "x-lanemesh-internal": "1", "baggage": "a=1"})
	if h.Get("X-Asm-Prefer-Tag") != "v2" || h.Get("Baggage") != "a=1" || h.Get("X-Lanemesh-Internal") != "" {
		t.Errorf("the app saw %v", h)
	}
	// The inbound hop is reported as Istio's server-side proxy reports it,
	// so that reporter="source" counts each hop once.
	series := labelledSeries(t, reg, metricRequests)
	if len(series) != 1 {
		t.Errorf("%d request series, want 1: %v", len(series), series)
	}
	for key, n := range series {
		if n != 1 || !strings.Contains(key, `reporter="destination"`) || !strings.Contains(key, `destination_workload="mockb-v1"`) ||
			!strings.Contains(key, `destination_version="v1"`) || !strings.Contains(key, `source_workload="unknown"`) {
			t.Errorf("inbound series %s = %v, want one request reported by the destination, mockb-v1", key, n)
		}
	}
	addr, err := net.ResolveTCPAddr("tcp", p.InboundAddr())
	if err != nil {
		t.Fatal(err)
	}
	// Request smuggling is refused on the way in as on the way out.
	raw := rawExchange(t, addr, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
	if statusOf(raw) != http.StatusBadRequest {
		t.Errorf("CL+TE on the inbound listener: %q", raw)
	}
}

// TestInboundWithoutDestination: a connection that was not redirected,
// to a sidecar that has no InboundApp, has nowhere to go: 503 UH.
func TestInboundWithoutDestination(t *testing.T) {
	m := newMesh(t, lanesDir)
	id := sidecarIdentity("mockb", "v1")
	id.Inbound = true
	p := startProxy(t, Options{Role: meshxds.Sidecar, InboundAddr: "127.0.0.2:0"}, m.resources(id, nil))
	status, body, _ := call(t, newClient(nil), "GET", "http://"+p.InboundAddr()+"/", "mockb", nil)
	if status != http.StatusServiceUnavailable {
		t.Errorf("got %d %q, want 503", status, body)
	}
}

// BenchmarkPermissiveHop measures what the lane propagation filter adds
// to one hop through a sidecar, in trace mode: the same outbound request
// (x-request-id known to the table) with and without the filter.
func BenchmarkPermissiveHop(b *testing.B) {
	tt := newTraceTable(meshxds.DefaultTraceTableCapacity, int64(time.Minute))
	out := newLaneFilter(meshxds.LanePropagation{RouteHeader: "x-asm-prefer-tag", TraceHeader: "x-request-id"}, false, tt)
	in := newLaneFilter(meshxds.LanePropagation{RouteHeader: "x-asm-prefer-tag", TraceHeader: "x-request-id"}, true, tt)
	bag := newLaneFilter(meshxds.LanePropagation{RouteHeader: "x-asm-prefer-tag", TraceHeader: "baggage"}, false, nil)
	bagIn := newLaneFilter(meshxds.LanePropagation{RouteHeader: "x-asm-prefer-tag", TraceHeader: "baggage"}, true, nil)
	const id = "6f1c2a7e-3b5d-4c1e-9a0b-2d4e6f8a0c1e"
	in.learn(http.Header{"X-Request-Id": {id}, "X-Asm-Prefer-Tag": {"s2"}}, 0)
	b.Run("trace/outbound", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			h := http.Header{"X-Request-Id": {id}}
			out.reattach(h, 1)
		}
	})
	b.Run("trace/inbound", func(b *testing.B) {
		b.ReportAllocs()
		h := http.Header{"X-Request-Id": {id}, "X-Asm-Prefer-Tag": {"s2"}}
		for b.Loop() {
			in.learn(h, 1)
		}
	})
	b.Run("baggage/outbound", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			h := http.Header{"Baggage": {"userId=alice,x-asm-prefer-tag=s2"}}
			bag.reattach(h, 1)
		}
	})
	b.Run("baggage/inbound", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			h := http.Header{"Baggage": {"userId=alice"}, "X-Asm-Prefer-Tag": {"s2"}}
			bagIn.learn(h, 1)
		}
	})
	b.Run("none", func(b *testing.B) { // the header map alone, for reference
		b.ReportAllocs()
		for b.Loop() {
			h := http.Header{"X-Request-Id": {id}}
			_ = h
		}
	})
}

// BenchmarkInboundHop measures, on real sockets with keep-alive, what
// inbound interception adds to a request: the app called directly, then
// through the sidecar's inbound listener without lane propagation (a pod
// outside any permissive group whose inbound traffic is captured) and
// with it (trace mode, the table learning every request).
func BenchmarkInboundHop(b *testing.B) {
	_, p, app := permissiveSidecar(b, "x-request-id")
	m := newMesh(b, lanesDir)
	id := sidecarIdentity("mockb", "v1")
	id.Inbound = true
	plain := startProxy(b, Options{Role: meshxds.Sidecar, InboundAddr: "127.0.0.3:0",
		InboundApp: app.srv.Listener.Addr().String()}, m.resources(id, nil))
	c := newClient(nil)
	for _, tc := range []struct{ name, addr string }{
		{"direct", app.srv.Listener.Addr().String()},
		{"sidecar", plain.InboundAddr()},
		{"sidecar+propagation", p.InboundAddr()},
	} {
		b.Run(tc.name, func(b *testing.B) {
			// Wall time per request is at the mercy of whatever else the
			// machine runs; the process's CPU time per request (client,
			// proxy and app alike, so the difference between the cases is
			// the hop's) is the steadier figure.
			cpu0 := processCPU()
			for i := 0; b.Loop(); i++ {
				req, _ := http.NewRequest("GET", "http://"+tc.addr+"/", nil)
				req.Host = "mocka:8000"
				req.Header.Set("X-Asm-Prefer-Tag", "s2")
				req.Header.Set("X-Request-Id", "trace-"+strconv.Itoa(i))
				resp, err := c.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
			b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N)/1e3, "cpu-µs/op")
		})
	}
}
