package proxy

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"golang.org/x/net/websocket"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/lanemesh/lanemesh/internal/compile"
	"github.com/lanemesh/lanemesh/internal/config"
	"github.com/lanemesh/lanemesh/internal/meshxds"
)

// echo is a small gateway configuration for feature tests: a ServiceEntry
// echo.test with one endpoint per upstream (label version=<subset>), a
// DestinationRule with one subset per upstream and the given traffic
// policy, and a gateway VirtualService with the given http rules. Both
// YAML fragments are flow-style, as one line each.
type echo struct {
	subsets map[string]*upstream
	policy  string // DestinationRule trafficPolicy, e.g. "{loadBalancer: {simple: ROUND_ROBIN}}"; "" for none
	http    string // VirtualService http list
}

func (e echo) resources(t testing.TB) *meshxds.Resources {
	t.Helper()
	var eps, subsets strings.Builder
	for name, u := range e.subsets {
		_, port := u.hostPort()
		fmt.Fprintf(&eps, "  - {address: 127.0.0.1, ports: {http: %d}, labels: {version: %s}}\n", port, subsetOf(name))
		if !strings.Contains(subsets.String(), "name: "+subsetOf(name)+",") {
			fmt.Fprintf(&subsets, "  - {name: %s, labels: {version: %s}}\n", subsetOf(name), subsetOf(name))
		}
	}
	policy := ""
	if e.policy != "" {
		policy = "  trafficPolicy: " + e.policy + "\n"
	}
	yaml := `apiVersion: networking.istio.io/v1beta1
kind: ServiceEntry
metadata: {name: echo, namespace: default}
spec:
  hosts: [echo.test]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints:
` + eps.String() + `---
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: echo, namespace: default}
spec:
  host: echo.test
` + policy + `  subsets:
` + subsets.String() + `---
apiVersion: networking.istio.io/v1beta1
kind: Gateway
metadata: {name: gw, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: echo, namespace: default}
spec:
  gateways: [istio-system/gw]
  hosts: ["*"]
  http: ` + e.http + "\n"
	c := &config.Config{}
	if diags := c.Parse("echo.yaml", []byte(yaml)); diags.HasErrors() {
		t.Fatalf("%v\n%s", diags.Err(), yaml)
	}
	return compile.Compile(c, nil, gatewayIdentity)
}

// subsetOf is the subset an upstream named "a" or "a2" belongs to: its
// first letter, so several upstreams can share a subset.
func subsetOf(name string) string { return name[:1] }

// fixedRand returns v every time.
func fixedRand(v uint32) func() uint32 { return func() uint32 { return v } }

// TestRetries checks retry_on 5xx within attempts, the URX flag when they
// run out, and that a retriable status is relayed when no retry is left.
func TestRetries(t *testing.T) {
	a := newUpstream(t, "a")
	var n atomic.Int64
	a.answer(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%3 != 0 { // every third request succeeds
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok"))
	})
	var log logBuffer
	res := echo{subsets: map[string]*upstream{"a": a}, http: `[{match: [{uri: {prefix: /three}}], route: [{destination: {host: echo.test, subset: a}}], retries: {attempts: 2, retryOn: 5xx}},
    {route: [{destination: {host: echo.test, subset: a}}], retries: {attempts: 1, retryOn: 5xx}}]`}.resources(t)
	p := startProxy(t, Options{Role: meshxds.Gateway, AccessLog: &log}, res)
	c := newClient(nil)
	if status, body, _ := call(t, c, "GET", gatewayURL(p, "/three"), "echo.test", nil); status != 200 || body != "ok" {
		t.Errorf("with 2 retries: %d %q, want 200 ok on the third attempt", status, body)
	}
	if status, _, _ := call(t, c, "GET", gatewayURL(p, "/two"), "echo.test", nil); status != 503 {
		t.Errorf("with 1 retry: %d, want the upstream's 503", status)
	}
	entries := log.entries(t)
	if e := entries[0]; e["attempts"].(float64) != 3 || e["response_flags"] != "-" {
		t.Errorf("first request: %v", e)
	}
	if e := entries[1]; e["attempts"].(float64) != 2 || e["response_flags"] != "URX" || e["status"].(float64) != 503 {
		t.Errorf("second request: %v, want 2 attempts and URX", e)
	}
}

// TestTimeouts checks the per-try timeout (retried, here successfully) and
// the route timeout (504 UT).
func TestTimeouts(t *testing.T) {
	a := newUpstream(t, "a")
	var n atomic.Int64
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	a.answer(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" || n.Add(1) == 1 {
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		_, _ = w.Write([]byte("ok"))
	})
	res := echo{subsets: map[string]*upstream{"a": a}, http: `[{match: [{uri: {exact: /slow}}], route: [{destination: {host: echo.test, subset: a}}], timeout: 100ms},
    {route: [{destination: {host: echo.test, subset: a}}], retries: {attempts: 1, perTryTimeout: 100ms, retryOn: 5xx}}]`}.resources(t)
	p := startProxy(t, Options{Role: meshxds.Gateway}, res)
	c := newClient(nil)
	if status, body, _ := call(t, c, "GET", gatewayURL(p, "/first-try-hangs"), "echo.test", nil); status != 200 || body != "ok" {
		t.Errorf("per-try timeout then retry: %d %q", status, body)
	}
	if status, _, h := call(t, c, "GET", gatewayURL(p, "/slow"), "echo.test", nil); status != 504 || h.Get("X-Lanemesh-Flags") != "UT" {
		t.Errorf("route timeout: %d %s, want 504 UT", status, h.Get("X-Lanemesh-Flags"))
	}
}

// TestFaults checks an abort at 100%, a delay, and that percentages are
// drawn from Options.Rand.
func TestFaults(t *testing.T) {
	a := newUpstream(t, "a")
	rules := `[{match: [{uri: {exact: /abort}}], route: [{destination: {host: echo.test, subset: a}}], fault: {abort: {httpStatus: 418, percentage: {value: 100}}}},
    {match: [{uri: {exact: /half}}], route: [{destination: {host: echo.test, subset: a}}], fault: {abort: {httpStatus: 500, percentage: {value: 50}}}},
    {route: [{destination: {host: echo.test, subset: a}}], fault: {delay: {fixedDelay: 20ms, percentage: {value: 100}}}}]`
	for _, tc := range []struct {
		rnd        uint32
		halfStatus int
	}{{100_000, 500}, {600_000, 200}} { // 0.1 of a million is under 50%, 0.6 is not
		var log logBuffer
		p := startProxy(t, Options{Role: meshxds.Gateway, Rand: fixedRand(tc.rnd), AccessLog: &log}, echo{subsets: map[string]*upstream{"a": a}, http: rules}.resources(t))
		c := newClient(nil)
		before := a.hits.Load()
		if status, body, h := call(t, c, "GET", gatewayURL(p, "/abort"), "echo.test", nil); status != 418 || h.Get("X-Lanemesh-Flags") != "FI" || !strings.Contains(body, "FI") {
			t.Errorf("abort: %d %s %q", status, h.Get("X-Lanemesh-Flags"), body)
		}
		if a.hits.Load() != before {
			t.Error("an aborted request reached the upstream")
		}
		if status, _, _ := call(t, c, "GET", gatewayURL(p, "/half"), "echo.test", nil); status != tc.halfStatus {
			t.Errorf("rand %d: 50%% abort gave %d, want %d", tc.rnd, status, tc.halfStatus)
		}
		start := time.Now()
		if status, _, _ := call(t, c, "GET", gatewayURL(p, "/delayed"), "echo.test", nil); status != 200 || time.Since(start) < 20*time.Millisecond {
			t.Errorf("delay: %d after %v", status, time.Since(start))
		}
		if e := log.entries(t); e[len(e)-1]["response_flags"] != "DI" {
			t.Errorf("delay: access log %v, want flag DI", e[len(e)-1])
		}
	}
}

// TestHeadersAndRewrites checks request and response header operations,
// prefix and authority rewrites, and that upstream hop-by-hop response
// headers are not relayed.
func TestHeadersAndRewrites(t *testing.T) {
	a := newUpstream(t, "a")
	a.answer(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Internal", "1")
		w.Header().Set("X-Drop", "1")
		w.Header().Set("Connection", "X-Internal")
		_, _ = w.Write([]byte("ok"))
	})
	res := echo{subsets: map[string]*upstream{"a": a}, http: `[{match: [{uri: {prefix: /api/}}], rewrite: {uri: /v2/, authority: backend.test},
    route: [{destination: {host: echo.test, subset: a}}],
    headers: {request: {set: {x-set: s}, add: {x-add: added}, remove: [x-remove]}, response: {set: {x-resp: r}, remove: [x-drop]}}}]`}.resources(t)
	// Trusted, so that the client's X-Request-Id is kept (see TestSanitize).
	p := startProxy(t, Options{Role: meshxds.Gateway, TrustDownstream: true}, res)
	status, _, h := call(t, newClient(nil), "GET", gatewayURL(p, "/api/items?q=1"), "echo.test",
		map[string]string{"X-Set": "client", "X-Add": "client", "X-Remove": "1", "X-Request-Id": "req-1", "User-Agent": ""})
	if status != 200 || h.Get("X-Resp") != "r" || h.Get("X-Drop") != "" || h.Get("X-Internal") != "" {
		t.Errorf("response %d %v", status, h)
	}
	s := a.requests()[0]
	if s.Path != "/v2/items?q=1" || s.Host != "backend.test" || s.Header.Get("X-Set") != "s" ||
		strings.Join(s.Header.Values("X-Add"), ",") != "client,added" || s.Header.Get("X-Remove") != "" || s.Header.Get("X-Request-Id") != "req-1" {
		t.Errorf("upstream saw %s %s %v", s.Host, s.Path, s.Header)
	}
	if s.Header.Get("User-Agent") != "" {
		t.Errorf("the client sent no User-Agent, the proxy added %q", s.Header.Get("User-Agent"))
	}
}

// TestRegexRewrite: Istio's uriRegexRewrite (Envoy's regex_rewrite)
// replaces every match in the path, groups by \N, and leaves the query
// string alone.
func TestRegexRewrite(t *testing.T) {
	a := newUpstream(t, "a")
	res := echo{subsets: map[string]*upstream{"a": a}, http: `[{match: [{uri: {prefix: /service/}}],
    rewrite: {uriRegexRewrite: {match: "^/service/([^/]+)(/.*)$", rewrite: "\\2/instance/\\1"}},
    route: [{destination: {host: echo.test, subset: a}}]},
  {match: [{uri: {prefix: /o}}], rewrite: {uriRegexRewrite: {match: "o", rewrite: "0"}},
    route: [{destination: {host: echo.test, subset: a}}]}]`}.resources(t)
	p := startProxy(t, Options{Role: meshxds.Gateway}, res)
	c := newClient(nil)
	for path, want := range map[string]string{"/service/foo/v1/api?q=o": "/v1/api/instance/foo?q=o", "/oo/boo": "/00/b00"} {
		before := len(a.requests())
		if status, _, _ := call(t, c, "GET", gatewayURL(p, path), "echo.test", nil); status != 200 {
			t.Fatalf("%s: status %d", path, status)
		}
		if got := a.requests()[before].Path; got != want {
			t.Errorf("%s reached the upstream as %s, want %s", path, got, want)
		}
	}
}

// TestGeneratedResponses checks 404 NR, 503 NC (a subset no
// DestinationRule defines), 503 UH (no healthy endpoint) and 503 UF (a
// dead endpoint, after the default retries).
func TestGeneratedResponses(t *testing.T) {
	a, b := newUpstream(t, "a"), newUpstream(t, "b")
	b.kill()
	var log logBuffer
	res := echo{subsets: map[string]*upstream{"a": a, "b": b}, http: `[{match: [{uri: {exact: /nc}}], route: [{destination: {host: echo.test, subset: zzz}}]},
    {match: [{uri: {exact: /uh}}], route: [{destination: {host: echo.test, subset: a}}]},
    {match: [{uri: {exact: /uf}}], route: [{destination: {host: echo.test, subset: b}}]}]`}.resources(t)
	for _, cla := range res.Endpoints {
		if strings.Contains(cla.ClusterName, "|a|") {
			cla.Endpoints[0].LbEndpoints[0].HealthStatus = 2 // UNHEALTHY
		}
	}
	p := startProxy(t, Options{Role: meshxds.Gateway, AccessLog: &log}, res)
	c := newClient(nil)
	for _, tc := range []struct {
		path, flag string
		status     int
	}{{"/nr", "NR", 404}, {"/nc", "NC", 503}, {"/uh", "UH", 503}, {"/uf", "UF", 503}} {
		status, body, h := call(t, c, "GET", gatewayURL(p, tc.path), "echo.test", nil)
		if status != tc.status || h.Get("X-Lanemesh-Flags") != tc.flag || !strings.HasSuffix(body, "("+tc.flag+")\n") {
			t.Errorf("%s: %d %s %q, want %d %s", tc.path, status, h.Get("X-Lanemesh-Flags"), body, tc.status, tc.flag)
		}
	}
	if e := log.entries(t)[3]; e["attempts"].(float64) != 3 {
		t.Errorf("UF after %v attempts, want 3 (Istio's default of 2 retries on connect-failure)", e["attempts"])
	}
	if a.hits.Load() != 0 {
		t.Error("the unhealthy endpoint got traffic")
	}
}

// TestCircuitBreaker holds one request in flight on a cluster limited to
// one request: the next one is answered 503 UO without reaching upstream.
func TestCircuitBreaker(t *testing.T) {
	a := newUpstream(t, "a")
	release, arrived := make(chan struct{}), make(chan struct{}, 1)
	a.answer(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
		_, _ = w.Write([]byte("ok"))
	})
	res := echo{subsets: map[string]*upstream{"a": a}, policy: "{connectionPool: {http: {http2MaxRequests: 1}}}",
		http: `[{route: [{destination: {host: echo.test, subset: a}}]}]`}.resources(t)
	p := startProxy(t, Options{Role: meshxds.Gateway}, res)
	c := newClient(nil)
	first := make(chan int)
	go func() {
		status, _, _ := call(t, c, "GET", gatewayURL(p, "/"), "echo.test", nil)
		first <- status
	}()
	<-arrived
	if status, _, h := call(t, c, "GET", gatewayURL(p, "/"), "echo.test", nil); status != 503 || h.Get("X-Lanemesh-Flags") != "UO" {
		t.Errorf("second request: %d %s, want 503 UO", status, h.Get("X-Lanemesh-Flags"))
	}
	close(release)
	if status := <-first; status != 200 {
		t.Errorf("first request: %d", status)
	}
	if a.hits.Load() != 1 {
		t.Errorf("upstream saw %d requests, want 1", a.hits.Load())
	}
}

// TestOutlierEjectionFallsBack makes a lane's only endpoint answer 500:
// after consecutive5xxErrors it is ejected, although it is the only one and
// maxEjectionPercent is 10, and the fallback serves with FB.
func TestOutlierEjectionFallsBack(t *testing.T) {
	a, b := newUpstream(t, "a"), newUpstream(t, "b")
	a.answer(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusInternalServerError) })
	res := echo{subsets: map[string]*upstream{"a": a, "b": b},
		policy: "{outlierDetection: {consecutive5xxErrors: 2, interval: 1s, baseEjectionTime: 1m, maxEjectionPercent: 10}}",
		http:   `[{route: [{destination: {host: echo.test, subset: a}, fallback: {target: {host: echo.test, subset: b}}}]}]`}.resources(t)
	var log logBuffer
	p := startProxy(t, Options{Role: meshxds.Gateway, AccessLog: &log}, res)
	c := newClient(nil)
	for i := range 2 {
		if status, _, _ := call(t, c, "GET", gatewayURL(p, "/"), "echo.test", nil); status != 500 {
			t.Fatalf("request %d: %d, want a's 500", i, status)
		}
	}
	if status, body, _ := call(t, c, "GET", gatewayURL(p, "/"), "echo.test", nil); status != 200 || body != "b" {
		t.Errorf("after ejection: %d %q, want b", status, body)
	}
	if e := log.entries(t)[2]; e["response_flags"] != "FB" {
		t.Errorf("access log %v, want FB", e)
	}
	// The ejection survives an update that does not touch the cluster.
	if err := p.Apply(echo{subsets: map[string]*upstream{"a": a, "b": b}, policy: "{outlierDetection: {consecutive5xxErrors: 2, interval: 1s, baseEjectionTime: 1m, maxEjectionPercent: 10}}",
		http: `[{route: [{destination: {host: echo.test, subset: a}, fallback: {target: {host: echo.test, subset: b}}}], headers: {request: {set: {x-v: "2"}}}}]`}.resources(t)); err != nil {
		t.Fatal(err)
	}
	if _, body, _ := call(t, c, "GET", gatewayURL(p, "/"), "echo.test", nil); body != "b" {
		t.Errorf("after an update: %q, want b (a still ejected)", body)
	}
	if a.hits.Load() != 2 {
		t.Errorf("a saw %d requests, want 2", a.hits.Load())
	}
}

// TestBodyReplay checks that a small body is replayed on the fallback when
// the primary refuses the connection, and that a body too large to buffer
// gets one attempt only.
func TestBodyReplay(t *testing.T) {
	a, b := newUpstream(t, "a"), newUpstream(t, "b")
	a.kill()
	res := echo{subsets: map[string]*upstream{"a": a, "b": b},
		http: `[{route: [{destination: {host: echo.test, subset: a}, fallback: {target: {host: echo.test, subset: b}}}], retries: {attempts: 0}}]`}.resources(t)
	p := startProxy(t, Options{Role: meshxds.Gateway}, res)
	c := newClient(nil)
	small := strings.Repeat("s", 1000)
	req, _ := http.NewRequest("POST", gatewayURL(p, "/"), strings.NewReader(small))
	req.Host = "echo.test"
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := b.requests(); resp.StatusCode != 200 || len(got) != 1 || got[0].Body != small {
		t.Errorf("small body: %d; fallback saw %d requests", resp.StatusCode, len(got))
	}
	big := bytes.Repeat([]byte("b"), maxReplayBody+1)
	req, _ = http.NewRequest("POST", gatewayURL(p, "/"), bytes.NewReader(big))
	req.Host = "echo.test"
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("X-Lanemesh-Flags") != "UF" || len(b.requests()) != 1 {
		t.Errorf("big body: %d %s, fallback saw %d; want 503 UF and no replay", resp.StatusCode, resp.Header.Get("X-Lanemesh-Flags"), len(b.requests()))
	}
}

// TestRoundRobin checks that ROUND_ROBIN spreads requests evenly.
func TestRoundRobin(t *testing.T) {
	ups := map[string]*upstream{"a1": newUpstream(t, "a1"), "a2": newUpstream(t, "a2"), "a3": newUpstream(t, "a3")}
	res := echo{subsets: ups, policy: "{loadBalancer: {simple: ROUND_ROBIN}}", http: `[{route: [{destination: {host: echo.test, subset: a}}]}]`}.resources(t)
	p := startProxy(t, Options{Role: meshxds.Gateway}, res)
	c := newClient(nil)
	for range 30 {
		call(t, c, "GET", gatewayURL(p, "/"), "echo.test", nil)
	}
	for name, u := range ups {
		if u.hits.Load() != 10 {
			t.Errorf("%s got %d of 30 requests, want 10", name, u.hits.Load())
		}
	}
}

// TestMaxRequestsPerConnection: connectionPool.http.maxRequestsPerConnection
// closes an upstream connection once it carried that many requests.
func TestMaxRequestsPerConnection(t *testing.T) {
	a := newUpstream(t, "a")
	res := echo{subsets: map[string]*upstream{"a": a}, policy: "{connectionPool: {http: {maxRequestsPerConnection: 3}}}",
		http: `[{route: [{destination: {host: echo.test, subset: a}}]}]`}.resources(t)
	p := startProxy(t, Options{Role: meshxds.Gateway}, res)
	c := newClient(nil)
	for range 7 {
		if status, _, _ := call(t, c, "GET", gatewayURL(p, "/"), "echo.test", nil); status != 200 {
			t.Fatalf("status %d", status)
		}
	}
	perConn := map[string]int{}
	for _, s := range a.requests() {
		perConn[s.Remote]++
	}
	counts := slices.Sorted(maps.Values(perConn))
	if !slices.Equal(counts, []int{1, 3, 3}) {
		t.Errorf("requests per upstream connection %v, want 3, 3 and 1", perConn)
	}
}

// TestPickSpreadsAnEjectedShare: what an unusable endpoint would have had
// goes evenly to the others, as Envoy balances over healthy hosts only,
// not all to its neighbour.
func TestPickSpreadsAnEjectedShare(t *testing.T) {
	mk := func(addr string, eligible bool) *endpoint {
		return &endpoint{addr: addr, eligible: eligible, host: &hostStats{addr: addr}}
	}
	for _, lb := range []lbPolicy{lbRoundRobin, lbRandom} {
		cl := &cluster{lb: lb, endpoints: []*endpoint{mk("v1", false), mk("v2", true), mk("v3", true)}, stats: &clusterStats{}}
		got := map[string]int{}
		for i := range uint32(600) {
			got[cl.pick(0, func() uint32 { return i }, nil).addr]++
		}
		if got["v2"] != 300 || got["v3"] != 300 {
			t.Errorf("lb %v with v1 unusable: %v, want 300 each for v2 and v3", lb, got)
		}
	}
}

// TestPick checks the load balancers without sockets: LEAST_REQUEST picks
// the less busy of its two draws, unusable endpoints are skipped, and a
// retry avoids the endpoint it leaves when another is usable.
func TestPick(t *testing.T) {
	mk := func(addr string, active int64, eligible bool) *endpoint {
		e := &endpoint{addr: addr, eligible: eligible, host: &hostStats{addr: addr}}
		e.host.active.Store(active)
		return e
	}
	busy, idle, down := mk("busy", 5, true), mk("idle", 1, true), mk("down", 0, false)
	cl := &cluster{lb: lbLeastRequest, endpoints: []*endpoint{busy, idle, down}, stats: &clusterStats{}}
	seq := []uint32{0, 1}
	i := 0
	rnd := func() uint32 { v := seq[i%len(seq)]; i++; return v }
	if got := cl.pick(0, rnd, nil); got != idle {
		t.Errorf("least request picked %s, want idle", got.addr)
	}
	seq = []uint32{2, 2} // both draws land on "down" and move on to the next usable
	if got := cl.pick(0, rnd, nil); got != busy {
		t.Errorf("draws on an unusable endpoint: picked %s, want busy", got.addr)
	}
	cl.lb = lbRandom
	if got := cl.pick(0, fixedRand(0), busy); got != idle {
		t.Errorf("retry avoiding busy picked %s", got.addr)
	}
	down.eligible, busy.eligible, idle.eligible = false, false, false
	if got := cl.pick(0, fixedRand(0), nil); got != nil {
		t.Errorf("no usable endpoint, picked %s", got.addr)
	}
}

// TestRetryBudget checks Envoy's limits on retries in flight: max_retries
// (3 when unset) without a retry budget; with one, 20% of active requests
// with a floor of 3, whatever max_retries says.
func TestRetryBudget(t *testing.T) {
	for _, tc := range []struct {
		name            string
		cb              *clusterv3.CircuitBreakers
		active, retries int64
		allowed         bool
	}{
		{"Envoy's default max_retries", nil, 100, 2, true},
		{"Envoy's default max_retries, reached", nil, 100, 3, false},
		{"Istio's unlimited max_retries", threshold(math.MaxUint32, nil), 100, 1000, true},
		{"explicit max_retries", threshold(5, nil), 0, 4, true},
		{"explicit max_retries, reached", threshold(5, nil), 0, 5, false},
		{"budget floor", threshold(1000, &clusterv3.CircuitBreakers_Thresholds_RetryBudget{}), 0, 2, true},
		{"budget floor, reached", threshold(1000, &clusterv3.CircuitBreakers_Thresholds_RetryBudget{}), 0, 3, false},
		{"budget share", threshold(1, &clusterv3.CircuitBreakers_Thresholds_RetryBudget{}), 100, 19, true},
		{"budget share, reached", threshold(1, &clusterv3.CircuitBreakers_Thresholds_RetryBudget{}), 100, 20, false},
	} {
		cl := &cluster{stats: &clusterStats{}, limits: buildLimits(tc.cb)}
		cl.stats.active.Store(tc.active)
		cl.stats.retries.Store(tc.retries)
		if got := cl.budgetAllows(); got != tc.allowed {
			t.Errorf("%s: active %d, retries %d: allowed %v, want %v", tc.name, tc.active, tc.retries, got, tc.allowed)
		}
	}
}

// threshold is a default-priority circuit breaker with max_retries and an
// optional retry budget.
func threshold(maxRetries uint32, rb *clusterv3.CircuitBreakers_Thresholds_RetryBudget) *clusterv3.CircuitBreakers {
	return &clusterv3.CircuitBreakers{Thresholds: []*clusterv3.CircuitBreakers_Thresholds{
		{MaxRetries: wrapperspb.UInt32(maxRetries), RetryBudget: rb}}}
}

// TestDecideDoesNotAllocate checks the routing path of a forwarded
// request: hop-by-hop removal, Decide, plan and cluster lookup, and the
// fallback and endpoint choice.
func TestDecideDoesNotAllocate(t *testing.T) {
	m := newMesh(t, lanesDir, fallbackDir)
	p := startProxy(t, Options{Role: meshxds.Sidecar}, m.resources(sidecarIdentity("mocka", "v2"), nil))
	st := p.state.Load()
	var bind string
	for b := range st.listeners {
		bind = b
	}
	r := httptest.NewRequest("GET", "http://mockb:8000/items?id=1", nil)
	r.Header.Set("Connection", "keep-alive")
	r.Header.Set("X-Asm-Prefer-Tag", "v2")
	w := httptest.NewRecorder()
	x := new(exchange) // one per connection, as the server's own loop keeps it
	allocs := testing.AllocsPerRun(100, func() {
		*x = exchange{p: p, st: st, w: w, r: r}
		if !x.decide(bind) || x.cluster.name != mockbAgg {
			t.Fatalf("decided %v", x.clusterName)
		}
		if idx := x.cluster.firstUsable(0, 0); idx != 0 || x.cluster.targets[idx].pick(0, p.rand, nil) == nil {
			t.Fatal("no endpoint")
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per routing decision, want 0", allocs)
	}
}

// TestStreamingAndBrokenBodies checks that a response of unknown length is
// flushed as it arrives, and that an upstream breaking off mid-body resets
// the client's connection (UC) rather than ending the response cleanly.
func TestStreamingAndBrokenBodies(t *testing.T) {
	a := newUpstream(t, "a")
	release := make(chan struct{})
	a.answer(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/broken" {
			w.Header().Set("Content-Length", "100")
			_, _ = w.Write([]byte("partial"))
			w.(http.Flusher).Flush()
			conn, _, _ := http.NewResponseController(w).Hijack()
			conn.Close()
			return
		}
		if r.URL.Path == "/known" { // a known length streams too
			w.Header().Set("Content-Length", "12")
		}
		_, _ = w.Write([]byte("first;"))
		w.(http.Flusher).Flush()
		<-release
		_, _ = w.Write([]byte("second"))
	})
	var log logBuffer
	res := echo{subsets: map[string]*upstream{"a": a}, http: `[{route: [{destination: {host: echo.test, subset: a}}]}]`}.resources(t)
	p := startProxy(t, Options{Role: meshxds.Gateway, AccessLog: &log}, res)
	c := newClient(nil)
	for _, path := range []string{"/stream", "/known"} {
		req, _ := http.NewRequest("GET", gatewayURL(p, path), nil)
		req.Host = "echo.test"
		resp, err := c.Do(req) // the head arrives before the whole body
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 6)
		if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != "first;" {
			t.Fatalf("%s: first piece: %q %v", path, buf, err)
		}
		release <- struct{}{}
		rest, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(rest) != "second" {
			t.Errorf("%s: rest of the stream: %q", path, rest)
		}
	}
	req, _ := http.NewRequest("GET", gatewayURL(p, "/broken"), nil)
	req.Host = "echo.test"
	// The client fails either at once (the header was still buffered when
	// the connection was reset) or reading the body; never cleanly.
	if resp, err := c.Do(req); err == nil {
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil {
			t.Errorf("a broken upstream body reached the client as a clean %q", body)
		}
	}
	// The client's transport may retry the GET once on the reset.
	waitFor(t, "the access log line", func() bool { return len(log.entries(t)) >= 3 })
	for _, e := range log.entries(t)[2:] {
		if e["response_flags"] != "UC" || e["path"] != "/broken" {
			t.Errorf("access log %v, want UC for /broken", e)
		}
	}
}

// TestWeightedEntriesToOneCluster: two weighted entries may name the same
// cluster with different headers (a lane entry per lane to one service);
// the headers applied are those of the entry drawn, not of the last entry
// naming the cluster.
func TestWeightedEntriesToOneCluster(t *testing.T) {
	a := newUpstream(t, "a")
	res := echo{subsets: map[string]*upstream{"a": a}, http: `[{route: [
    {destination: {host: echo.test, subset: a}, weight: 60, headers: {request: {set: {x-lane: s1}}, response: {set: {x-lane: s1}}}},
    {destination: {host: echo.test, subset: a}, weight: 40, headers: {request: {set: {x-lane: s2}}, response: {set: {x-lane: s2}}}}]}]`}.resources(t)
	for _, tc := range []struct {
		rnd  uint32
		want string
	}{{0, "s1"}, {59, "s1"}, {60, "s2"}, {99, "s2"}} {
		p := startProxy(t, Options{Role: meshxds.Gateway, Rand: fixedRand(tc.rnd)}, res)
		status, _, h := call(t, newClient(nil), "GET", gatewayURL(p, "/"), "echo.test", nil)
		reqs := a.requests()
		if got := reqs[len(reqs)-1].Header.Get("X-Lane"); status != 200 || got != tc.want || h.Get("X-Lane") != tc.want {
			t.Errorf("draw %d: status %d, upstream saw x-lane %q, client %q; want %q", tc.rnd, status, got, h.Get("X-Lane"), tc.want)
		}
	}
}

// TestNoContentTypeSniffed: a response without a Content-Type reaches the
// client without one, on the fast path and on net/http's (a chunked
// upload), where net/http would otherwise sniff text/html from the body.
func TestNoContentTypeSniffed(t *testing.T) {
	a := newUpstream(t, "a")
	a.answer(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header()["Content-Type"] = nil // the upstream's own net/http would sniff too
		_, _ = w.Write([]byte("<html><script>x</script></html>"))
	})
	res := echo{subsets: map[string]*upstream{"a": a}, http: `[{route: [{destination: {host: echo.test, subset: a}}]}]`}.resources(t)
	p := startProxy(t, Options{Role: meshxds.Gateway}, res)
	for _, chunked := range []bool{false, true} {
		req, _ := http.NewRequest("POST", gatewayURL(p, "/"), strings.NewReader("body"))
		req.Host = "echo.test"
		if chunked {
			req.ContentLength = -1 // Transfer-Encoding: chunked
		}
		resp, err := newClient(nil).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if ct, ok := resp.Header["Content-Type"]; resp.StatusCode != 200 || ok {
			t.Errorf("chunked upload %v: status %d, Content-Type %q, want none", chunked, resp.StatusCode, ct)
		}
	}
}

// TestUpstreamProtocolErrorAndResets: an answer that is not HTTP/1.1 is a
// 502 UPE, not retried by Istio's default policy (a POST the upstream may
// have acted on is not sent again); a connection closed without an answer
// is retried, under refused-stream, for an idempotent request only.
func TestUpstreamProtocolErrorAndResets(t *testing.T) {
	a := newUpstream(t, "a")
	a.answer(func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		if r.URL.Path == "/garbage" {
			_, _ = io.WriteString(conn, "this is not http\r\n\r\n")
		}
		conn.Close()
	})
	res := echo{subsets: map[string]*upstream{"a": a}, http: `[{route: [{destination: {host: echo.test, subset: a}}]}]`}.resources(t)
	p := startProxy(t, Options{Role: meshxds.Gateway}, res)
	for _, tc := range []struct {
		method, path string
		status       int
		flag         string
		hits         int
	}{
		{"POST", "/garbage", 502, "UPE", 1},
		{"GET", "/garbage", 502, "UPE", 1},
		{"POST", "/close", 503, "UC", 1},
		{"GET", "/close", 503, "UC", 3}, // the default policy's two retries
	} {
		before := len(a.requests())
		req, _ := http.NewRequest(tc.method, gatewayURL(p, tc.path), strings.NewReader("x"))
		req.Host = "echo.test"
		resp, err := newClient(nil).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if hits := len(a.requests()) - before; resp.StatusCode != tc.status || !strings.Contains(resp.Header.Get(flagsHeader), tc.flag) || hits != tc.hits {
			t.Errorf("%s %s: %d %q, upstream hit %d times; want %d %s, %d", tc.method, tc.path, resp.StatusCode, resp.Header.Get(flagsHeader), hits, tc.status, tc.flag, tc.hits)
		}
	}
}

// TestWebSocket: a WebSocket upgrade is tunnelled, as Istio allows on
// every listener: the upstream gets the handshake once, with Upgrade and
// Connection, and messages flow both ways through the proxy. An h2c
// upgrade is served as plain HTTP/1.1 with its upgrade headers dropped;
// any other upgrade gets 403.
func TestWebSocket(t *testing.T) {
	a := newUpstream(t, "a")
	var upgrades atomic.Int32
	a.answer(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") == "" {
			_, _ = fmt.Fprintf(w, "plain upgrade=%q settings=%q", r.Header.Get("Upgrade"), r.Header.Get("Http2-Settings"))
			return
		}
		upgrades.Add(1)
		websocket.Handler(func(ws *websocket.Conn) { _, _ = io.Copy(ws, ws) }).ServeHTTP(w, r)
	})
	var log logBuffer
	res := echo{subsets: map[string]*upstream{"a": a}, http: `[{route: [{destination: {host: echo.test, subset: a}}], timeout: 1s, retries: {attempts: 2, perTryTimeout: 100ms}}]`}.resources(t)
	p := startProxy(t, Options{Role: meshxds.Gateway, AccessLog: &log}, res)
	ws, err := websocket.Dial("ws://"+strings.TrimPrefix(gatewayURL(p, "/chat"), "http://"), "", "http://echo.test/")
	if err != nil {
		t.Fatalf("websocket handshake through the gateway: %v", err)
	}
	for _, msg := range []string{"hello", "lanes"} {
		if _, err := ws.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 64)
		_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := ws.Read(buf)
		if err != nil || string(buf[:n]) != msg {
			t.Fatalf("echo of %q: %q %v", msg, buf[:n], err)
		}
	}
	time.Sleep(300 * time.Millisecond) // past the route's per-try timeout: a tunnel is not cut by it
	if _, err := ws.Write([]byte("still")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	if n, err := ws.Read(buf); err != nil || string(buf[:n]) != "still" {
		t.Fatalf("after the per-try timeout: %q %v", buf[:n], err)
	}
	ws.Close()
	if n := upgrades.Load(); n != 1 {
		t.Errorf("the upstream saw %d upgrade requests, want 1", n)
	}
	for _, tc := range []struct {
		connection, upgrade, settings string
		status                        int
		body                          string
	}{
		{"Upgrade, HTTP2-Settings", "h2c", "AAMAAABkAARAAAAAAAIAAAAA", 200, `plain upgrade="" settings=""`},
		{"Upgrade", "foo/2", "", 403, ""},
		{"keep-alive", "foo/2", "", 200, `plain upgrade="" settings=""`}, // no Connection: upgrade, no upgrade
	} {
		status, body, _ := call(t, newClient(nil), "GET", gatewayURL(p, "/"), "echo.test",
			map[string]string{"Connection": tc.connection, "Upgrade": tc.upgrade, "HTTP2-Settings": tc.settings})
		if status != tc.status || (tc.body != "" && body != tc.body) {
			t.Errorf("Upgrade: %s: %d %q, want %d %q", tc.upgrade, status, body, tc.status, tc.body)
		}
	}
	// A listener whose connection manager allows no upgrade (another
	// control plane's) refuses WebSocket, as Envoy does.
	for _, l := range res.Listeners {
		editHCM(t, l, func(hcm *hcmv3.HttpConnectionManager) { hcm.UpgradeConfigs = nil })
	}
	p2 := startProxy(t, Options{Role: meshxds.Gateway}, res)
	if status, _, _ := call(t, newClient(nil), "GET", gatewayURL(p2, "/chat"), "echo.test",
		map[string]string{"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}); status != 403 {
		t.Errorf("WebSocket on a listener without upgrade_configs: %d, want 403", status)
	}
}

// TestHTTP10: as Istio's Envoy, which sets accept_http_10 only under
// PILOT_HTTP10, an HTTP/1.0 request gets 426 and its connection closed,
// and reaches no upstream; a connection manager that accepts HTTP/1.0
// serves it.
func TestHTTP10(t *testing.T) {
	a := newUpstream(t, "a")
	res := echo{subsets: map[string]*upstream{"a": a}, http: `[{route: [{destination: {host: echo.test, subset: a}}]}]`}.resources(t)
	p := startProxy(t, Options{Role: meshxds.Gateway}, res)
	out, closed := rawExchangeClosed(t, p.Addr(80), "GET /a HTTP/1.0\r\nHost: echo.test\r\nConnection: keep-alive\r\n\r\n")
	if statusOf(out) != 426 || !closed || len(a.requests()) != 0 {
		t.Errorf("HTTP/1.0 without accept_http_10: %q (closed: %v), upstream saw %d requests; want 426 and close, none", out, closed, len(a.requests()))
	}
	for _, l := range res.Listeners {
		editHCM(t, l, func(hcm *hcmv3.HttpConnectionManager) {
			hcm.HttpProtocolOptions = &corev3.Http1ProtocolOptions{AcceptHttp_10: true}
		})
	}
	p2 := startProxy(t, Options{Role: meshxds.Gateway}, res)
	if out, _ := rawExchangeClosed(t, p2.Addr(80), "GET /a HTTP/1.0\r\nHost: echo.test\r\n\r\n"); statusOf(out) != 200 || len(a.requests()) != 1 {
		t.Errorf("HTTP/1.0 with accept_http_10: %q, upstream saw %d requests; want 200, one", out, len(a.requests()))
	}
}

// TestUpstreamServiceTime: a relayed response carries Envoy's
// x-envoy-upstream-service-time, the proxy's own measure (the upstream's
// is replaced); a local answer has none.
func TestUpstreamServiceTime(t *testing.T) {
	a := newUpstream(t, "a")
	a.answer(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(30 * time.Millisecond)
		w.Header().Set("X-Envoy-Upstream-Service-Time", "999999")
		_, _ = io.WriteString(w, "ok")
	})
	res := echo{subsets: map[string]*upstream{"a": a}, http: `[{match: [{uri: {prefix: /a}}], route: [{destination: {host: echo.test, subset: a}}]},
    {match: [{uri: {prefix: /hidden}}], route: [{destination: {host: echo.test, subset: a}}], headers: {response: {remove: [x-envoy-upstream-service-time]}}}]`}.resources(t)
	p := startProxy(t, Options{Role: meshxds.Gateway}, res)
	if _, _, h := call(t, newClient(nil), "GET", gatewayURL(p, "/hidden"), "echo.test", nil); len(h.Values("X-Envoy-Upstream-Service-Time")) != 0 {
		t.Errorf("a route that removes x-envoy-upstream-service-time: %q", h.Values("X-Envoy-Upstream-Service-Time"))
	}
	status, _, h := call(t, newClient(nil), "GET", gatewayURL(p, "/a"), "echo.test", nil)
	v := h.Values("X-Envoy-Upstream-Service-Time")
	if ms, err := strconv.Atoi(strings.Join(v, ",")); status != 200 || err != nil || ms < 30 || ms > 10_000 {
		t.Errorf("relayed: %d, x-envoy-upstream-service-time %q; want 200 and one value of at least the upstream's 30 ms", status, v)
	}
	if status, _, h := call(t, newClient(nil), "GET", gatewayURL(p, "/nowhere"), "echo.test", nil); status != 404 || h.Get("X-Envoy-Upstream-Service-Time") != "" {
		t.Errorf("local 404: %d, x-envoy-upstream-service-time %q; want none", status, h.Get("X-Envoy-Upstream-Service-Time"))
	}
}

// TestServerHeader: as Istio's gateways do (server_name istio-envoy,
// OVERWRITE), the gateway's answers, relayed or its own, say
// "Server: istio-envoy" whatever the upstream said.
func TestServerHeader(t *testing.T) {
	a := newUpstream(t, "a")
	a.answer(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server", "upstream-srv")
		_, _ = io.WriteString(w, "ok")
	})
	res := echo{subsets: map[string]*upstream{"a": a}, http: `[{match: [{uri: {prefix: /a}}], route: [{destination: {host: echo.test, subset: a}}]}]`}.resources(t)
	p := startProxy(t, Options{Role: meshxds.Gateway}, res)
	for path, status := range map[string]int{"/a": 200, "/nowhere": 404} {
		got, _, h := call(t, newClient(nil), "GET", gatewayURL(p, path), "echo.test", nil)
		if got != status || h.Get("Server") != "istio-envoy" {
			t.Errorf("%s: %d, Server %q; want %d, istio-envoy", path, got, h.Get("Server"), status)
		}
	}
}
