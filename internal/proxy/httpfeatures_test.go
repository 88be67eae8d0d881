package proxy

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/lanemesh/lanemesh/internal/meshxds"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
)

// hashUpstreams is four pods of subset a.
func hashUpstreams(t *testing.T) map[string]*upstream {
	ups := map[string]*upstream{}
	for i := 1; i <= 4; i++ {
		name := fmt.Sprintf("a%d", i)
		ups[name] = newUpstream(t, name)
	}
	return ups
}

// markUnhealthy sets the EDS health of the endpoint at addr to UNHEALTHY
// in every assignment, as the registry does for a pod that is not ready.
func markUnhealthy(t *testing.T, res *meshxds.Resources, addr string) {
	t.Helper()
	n := 0
	for _, cla := range res.Endpoints {
		for _, loc := range cla.GetEndpoints() {
			for _, ep := range loc.GetLbEndpoints() {
				sa := ep.GetEndpoint().GetAddress().GetSocketAddress()
				if fmt.Sprintf("%s:%d", sa.GetAddress(), sa.GetPortValue()) == addr {
					ep.HealthStatus = corev3.HealthStatus_UNHEALTHY
					n++
				}
			}
		}
	}
	if n == 0 {
		t.Fatalf("no endpoint %s", addr)
	}
}

// TestConsistentHash: with a consistent hash on a header, each key always
// reaches the same pod while the pods stay the same, keys spread over the
// pods, and when a pod becomes unhealthy only its keys move; when it comes
// back they return. Ring hash and Maglev alike.
func TestConsistentHash(t *testing.T) {
	for _, algo := range []string{"ringHash: {minimumRingSize: 1024}", "maglev: {tableSize: 65537}"} {
		t.Run(strings.Fields(algo)[0], func(t *testing.T) {
			ups := hashUpstreams(t)
			e := echo{subsets: ups, policy: "{loadBalancer: {consistentHash: {httpHeaderName: x-user, " + algo + "}}}",
				http: `[{route: [{destination: {host: echo.test, subset: a}}]}]`}
			p := startProxy(t, Options{Role: meshxds.Gateway}, e.resources(t))
			c := newClient(nil)
			where := func() map[string]string {
				m := map[string]string{}
				for u := range 40 {
					user := fmt.Sprintf("user-%d", u)
					for range 3 {
						status, body, _ := call(t, c, "GET", gatewayURL(p, "/"), "echo.test", map[string]string{"x-user": user})
						if status != 200 {
							t.Fatalf("%s: status %d", user, status)
						}
						if prev, ok := m[user]; ok && prev != body {
							t.Fatalf("%s reached %s, then %s", user, prev, body)
						}
						m[user] = body
					}
				}
				return m
			}
			before := where()
			pods := map[string]int{}
			for _, pod := range before {
				pods[pod]++
			}
			if len(pods) < 3 {
				t.Fatalf("40 keys reached only %v", pods)
			}
			gone := before["user-0"]
			res := e.resources(t)
			host, port := ups[gone].hostPort()
			markUnhealthy(t, res, fmt.Sprintf("%s:%d", host, port))
			if err := p.Apply(res); err != nil {
				t.Fatal(err)
			}
			after := where()
			moved := 0
			for user, pod := range before {
				switch {
				case pod == gone && after[user] == gone:
					t.Errorf("%s still reaches %s, which is unhealthy", user, gone)
				case pod == gone:
					moved++
				case after[user] != pod:
					t.Errorf("%s moved from %s to %s, though only %s left", user, pod, after[user], gone)
				}
			}
			if moved != pods[gone] {
				t.Errorf("%d of %s's %d keys moved", moved, gone, pods[gone])
			}
			if err := p.Apply(e.resources(t)); err != nil {
				t.Fatal(err)
			}
			back := where()
			for user, pod := range before {
				if back[user] != pod {
					t.Errorf("%s reaches %s after %s came back, want %s", user, back[user], gone, pod)
				}
			}
		})
	}
}

// TestConsistentHashCookie: a cookie policy with a ttl makes the cookie up
// when the request has none, sets it on the response as Envoy does, and
// the cookie then keeps the client on one pod. Without a ttl nothing is
// made up and requests spread.
func TestConsistentHashCookie(t *testing.T) {
	ups := hashUpstreams(t)
	e := echo{subsets: ups, policy: "{loadBalancer: {consistentHash: {httpCookie: {name: session, path: /shop, ttl: 3600s, attributes: [{name: SameSite, value: Strict}, {name: Secure}]}}}}",
		http: `[{match: [{uri: {prefix: /shop}}], route: [{destination: {host: echo.test, subset: a}}]}]`}
	p := startProxy(t, Options{Role: meshxds.Gateway}, e.resources(t))
	c := newClient(nil)
	_, first, h := call(t, c, "GET", gatewayURL(p, "/shop"), "echo.test", nil)
	setCookie := h.Get("Set-Cookie")
	m := regexp.MustCompile(`^session="([0-9a-f]{16})"; Max-Age=3600; Path=/shop; SameSite=Strict; Secure; HttpOnly$`).FindStringSubmatch(setCookie)
	if m == nil {
		t.Fatalf("Set-Cookie %q, want session=\"<16 hex>\"; Max-Age=3600; Path=/shop; HttpOnly", setCookie)
	}
	for range 10 {
		_, body, h := call(t, c, "GET", gatewayURL(p, "/shop"), "echo.test", map[string]string{"Cookie": "other=1; session=\"" + m[1] + "\""})
		if body != first || h.Get("Set-Cookie") != "" {
			t.Fatalf("with the cookie: %s (Set-Cookie %q), want %s and no new cookie", body, h.Get("Set-Cookie"), first)
		}
	}

	// Without a ttl, a request without the cookie is hashed at random.
	e.policy = "{loadBalancer: {consistentHash: {httpCookie: {name: session}}}}"
	if err := p.Apply(e.resources(t)); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for range 60 {
		_, body, h := call(t, c, "GET", gatewayURL(p, "/shop"), "echo.test", nil)
		if h.Get("Set-Cookie") != "" {
			t.Fatalf("no ttl: Set-Cookie %q", h.Get("Set-Cookie"))
		}
		seen[body] = true
	}
	if len(seen) < 3 {
		t.Errorf("requests without the key reached only %v; want them spread at random", seen)
	}
}

// TestConsistentHashSourceIPAndQuery: the source IP keeps one client on
// one pod; a query parameter keys requests by its raw value.
func TestConsistentHashSourceIPAndQuery(t *testing.T) {
	ups := hashUpstreams(t)
	e := echo{subsets: ups, policy: "{loadBalancer: {consistentHash: {useSourceIp: true}}}", http: `[{route: [{destination: {host: echo.test, subset: a}}]}]`}
	p := startProxy(t, Options{Role: meshxds.Gateway}, e.resources(t))
	c := newClient(nil)
	_, first, _ := call(t, c, "GET", gatewayURL(p, "/"), "echo.test", nil)
	for i := range 20 {
		if _, body, _ := call(t, newClient(nil), "GET", gatewayURL(p, fmt.Sprintf("/?n=%d", i)), "echo.test", nil); body != first {
			t.Fatalf("same source IP reached %s, then %s", first, body)
		}
	}
	e.policy = "{loadBalancer: {consistentHash: {httpQueryParameterName: cart, maglev: {tableSize: 1009}}}}"
	if err := p.Apply(e.resources(t)); err != nil {
		t.Fatal(err)
	}
	pods := map[string]bool{}
	for k := range 30 {
		_, a, _ := call(t, c, "GET", gatewayURL(p, fmt.Sprintf("/?cart=%d&x=1", k)), "echo.test", nil)
		_, b, _ := call(t, c, "GET", gatewayURL(p, fmt.Sprintf("/other?y=2&cart=%d", k)), "echo.test", nil)
		if a != b {
			t.Fatalf("cart %d reached %s and %s", k, a, b)
		}
		pods[a] = true
	}
	if len(pods) < 3 {
		t.Errorf("30 carts reached only %v", pods)
	}
}

// TestCORS: Envoy's CORS filter. A preflight from an allowed origin is
// answered by the proxy; an actual request from one gets the CORS headers
// on its response; an origin that does not match gets none, and its
// preflight is forwarded, or with unmatchedPreflights IGNORE answered
// without Access-Control-Allow-Origin.
func TestCORS(t *testing.T) {
	a := newUpstream(t, "a")
	a.answer(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*") // the filter replaces it
		_, _ = w.Write([]byte("a"))
	})
	res := echo{subsets: map[string]*upstream{"a": a}, http: `[
    {match: [{uri: {prefix: /strict}}], route: [{destination: {host: echo.test, subset: a}}],
     corsPolicy: {allowOrigins: [{exact: "https://shop.example.com"}], allowMethods: [GET, POST], allowHeaders: ["*"], unmatchedPreflights: IGNORE}},
    {route: [{destination: {host: echo.test, subset: a}}],
     corsPolicy: {allowOrigins: [{exact: "https://shop.example.com"}, {regex: "https://[a-z]+\\.example\\.org"}],
       allowMethods: [GET, POST], allowHeaders: [content-type, x-user], exposeHeaders: [x-trace], maxAge: 24h, allowCredentials: true}}]`}.resources(t)
	p := startProxy(t, Options{Role: meshxds.Gateway}, res)
	c := newClient(nil)
	preflight := map[string]string{"Origin": "https://shop.example.com", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "x-user"}

	status, body, h := call(t, c, "OPTIONS", gatewayURL(p, "/"), "echo.test", preflight)
	want := map[string]string{"Access-Control-Allow-Origin": "https://shop.example.com", "Access-Control-Allow-Methods": "GET,POST",
		"Access-Control-Allow-Headers": "content-type,x-user", "Access-Control-Max-Age": "86400", "Access-Control-Allow-Credentials": "true"}
	checkHeaders(t, "allowed preflight", h, want)
	if status != 200 || body != "" || a.hits.Load() != 0 {
		t.Errorf("allowed preflight: %d %q, upstream saw %d; want 200, empty, answered by the proxy", status, body, a.hits.Load())
	}

	_, body, h = call(t, c, "GET", gatewayURL(p, "/"), "echo.test", map[string]string{"Origin": "https://blog.example.org"})
	checkHeaders(t, "allowed request", h, map[string]string{"Access-Control-Allow-Origin": "https://blog.example.org",
		"Access-Control-Allow-Credentials": "true", "Access-Control-Expose-Headers": "x-trace", "Access-Control-Allow-Methods": ""})
	if body != "a" {
		t.Errorf("allowed request: %q, want the upstream's answer", body)
	}

	_, _, h = call(t, c, "GET", gatewayURL(p, "/"), "echo.test", map[string]string{"Origin": "https://evil.example.net"})
	checkHeaders(t, "foreign origin", h, map[string]string{"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Credentials": "", "Access-Control-Expose-Headers": ""})

	hits := a.hits.Load()
	preflight["Origin"] = "https://evil.example.net"
	call(t, c, "OPTIONS", gatewayURL(p, "/"), "echo.test", preflight)
	if a.hits.Load() != hits+1 {
		t.Errorf("a foreign preflight was not forwarded (FORWARD is the default)")
	}
	status, body, h = call(t, c, "OPTIONS", gatewayURL(p, "/strict"), "echo.test", preflight)
	checkHeaders(t, "foreign preflight, IGNORE", h, map[string]string{"Access-Control-Allow-Origin": "", "Access-Control-Allow-Methods": "GET,POST",
		"Access-Control-Allow-Headers": "x-user"})
	if status != 200 || body != "" || a.hits.Load() != hits+1 {
		t.Errorf("foreign preflight with IGNORE: %d %q, upstream saw %d more; want 200 from the proxy", status, body, a.hits.Load()-hits-1)
	}
	_, _, h = call(t, c, "GET", gatewayURL(p, "/"), "echo.test", nil)
	checkHeaders(t, "no Origin", h, map[string]string{"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Credentials": ""})
}

func checkHeaders(t *testing.T, what string, h http.Header, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("%s: %s = %q, want %q", what, k, got, v)
		}
	}
}

// TestMirror: a copy of each request goes to the mirror with its body and
// a "-shadow" Host, its answer discarded; a mirror that hangs delays
// nothing; percentages pick the share copied, and mirrors copy to several
// destinations.
func TestMirror(t *testing.T) {
	a, b, m := newUpstream(t, "a"), newUpstream(t, "b"), newUpstream(t, "m")
	release := make(chan struct{})
	m.answer(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hang" {
			<-release
		}
		w.WriteHeader(http.StatusInternalServerError)
	})
	e := echo{subsets: map[string]*upstream{"a": a, "b": b, "m": m}, http: `[
    {match: [{uri: {prefix: /none}}], route: [{destination: {host: echo.test, subset: a}}], mirror: {host: echo.test, subset: m}, mirrorPercentage: {value: 0}},
    {match: [{uri: {prefix: /two}}], route: [{destination: {host: echo.test, subset: a}}],
     mirrors: [{destination: {host: echo.test, subset: m}}, {destination: {host: echo.test, subset: b}, percentage: {value: 50}}]},
    {route: [{destination: {host: echo.test, subset: a}}], mirror: {host: echo.test, subset: m}, headers: {request: {set: {x-added: "yes"}}}}]`}
	p := startProxy(t, Options{Role: meshxds.Gateway, Rand: fixedRand(0)}, e.resources(t))
	t.Cleanup(func() { close(release) }) // before the proxy's cleanup, which waits for copies
	c := newClient(nil)

	req, _ := http.NewRequest("POST", gatewayURL(p, "/copy?q=1"), strings.NewReader("payload"))
	req.Host = "echo.test"
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-Pod") != "a" {
		t.Fatalf("primary: %d from %q, want 200 from a (the mirror's 500 is discarded)", resp.StatusCode, resp.Header.Get("X-Pod"))
	}
	waitFor(t, "the copy", func() bool { return m.hits.Load() == 1 })
	got := m.requests()[0]
	if got.Host != "echo.test-shadow" || got.Body != "payload" || got.Method != "POST" || got.Path != "/copy?q=1" || got.Header.Get("X-Added") != "yes" {
		t.Errorf("copy: %+v; want POST /copy?q=1 to Host echo.test-shadow with the body and the route's headers", got)
	}

	start := time.Now()
	if status, _, _ := call(t, c, "GET", gatewayURL(p, "/hang"), "echo.test", nil); status != 200 || time.Since(start) > 5*time.Second {
		t.Errorf("with a hanging mirror: %d after %v; want 200 at once", status, time.Since(start))
	}

	call(t, c, "GET", gatewayURL(p, "/none"), "echo.test", nil)
	call(t, c, "GET", gatewayURL(p, "/two"), "echo.test:80", nil)
	waitFor(t, "the copies of /two", func() bool { return m.hits.Load() == 3 && b.hits.Load() == 1 })
	if got := b.requests()[0]; got.Host != "echo.test-shadow:80" || got.Path != "/two" {
		t.Errorf("second mirror's copy: Host %q path %q, want echo.test-shadow:80 /two", got.Host, got.Path)
	}
	for _, r := range m.requests() {
		if r.Path == "/none" {
			t.Error("mirrorPercentage 0 copied a request")
		}
	}

	// A copy counts as sent once its response is back, which may be a
	// moment after the mirror saw it.
	waitFor(t, "lanemesh_mirror_requests_total{result=sent} at 3", func() bool {
		var sent dto.Metric
		if err := p.metrics.mirrors.WithLabelValues("sent").Write(&sent); err != nil {
			t.Fatal(err)
		}
		return sent.GetCounter().GetValue() >= 3
	})

	// A draw above the 50% share copies nothing to b.
	p2 := startProxy(t, Options{Role: meshxds.Gateway, Rand: fixedRand(700_000)}, e.resources(t))
	call(t, c, "GET", gatewayURL(p2, "/two"), "echo.test", nil)
	waitFor(t, "the 100% copy", func() bool { return m.hits.Load() == 4 })
	if b.hits.Load() != 1 {
		t.Errorf("b got a copy at a 50%% share with draw 700000 of a million")
	}
}

// TestConsistentHashWithEjectionAndFallback: hashing keeps outlier
// ejection and the fallback working: a pod that keeps failing is ejected
// and its keys go elsewhere; with no usable pod left in the subset, the
// fallback takes the request.
func TestConsistentHashWithEjectionAndFallback(t *testing.T) {
	a1, a2, b := newUpstream(t, "a1"), newUpstream(t, "a2"), newUpstream(t, "b")
	e := echo{subsets: map[string]*upstream{"a1": a1, "a2": a2, "b": b},
		policy: "{loadBalancer: {consistentHash: {httpHeaderName: x-user}}, outlierDetection: {consecutive5xxErrors: 2, interval: 1s, baseEjectionTime: 1m, maxEjectionPercent: 100}}",
		http:   `[{route: [{destination: {host: echo.test, subset: a}, fallback: {target: {host: echo.test, subset: b}}}], retries: {attempts: 0}}]`}
	p := startProxy(t, Options{Role: meshxds.Gateway}, e.resources(t))
	c := newClient(nil)
	// A user whose key lands on a1.
	user := ""
	for k := 0; user == ""; k++ {
		if _, body, _ := call(t, c, "GET", gatewayURL(p, "/"), "echo.test", map[string]string{"x-user": fmt.Sprint(k)}); body == "a1" {
			user = fmt.Sprint(k)
		}
	}
	a1.answer(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusInternalServerError) })
	for range 2 {
		if status, _, _ := call(t, c, "GET", gatewayURL(p, "/"), "echo.test", map[string]string{"x-user": user}); status != 500 {
			t.Fatalf("before ejection: %d, want a1's 500", status)
		}
	}
	if _, body, _ := call(t, c, "GET", gatewayURL(p, "/"), "echo.test", map[string]string{"x-user": user}); body != "a2" {
		t.Errorf("a1 ejected: %q, want a2", body)
	}
	res := e.resources(t)
	host, port := a2.hostPort()
	markUnhealthy(t, res, fmt.Sprintf("%s:%d", host, port))
	if err := p.Apply(res); err != nil {
		t.Fatal(err)
	}
	if _, body, _ := call(t, c, "GET", gatewayURL(p, "/"), "echo.test", map[string]string{"x-user": user}); body != "b" {
		t.Errorf("no usable pod in a: %q, want the fallback b", body)
	}
}

// TestHashedDecisionDoesNotAllocate: routing a CORS request to a
// consistent-hash cluster, hashing its key, picking the endpoint and
// drawing for a mirror allocate nothing beyond what the gateway's plain
// decision does (it appends the client to X-Forwarded-For).
func TestHashedDecisionDoesNotAllocate(t *testing.T) {
	ups := hashUpstreams(t)
	res := echo{subsets: ups, policy: "{loadBalancer: {consistentHash: {httpHeaderName: x-user}}}",
		http: `[{match: [{uri: {prefix: /plain}}], route: [{destination: {host: echo.test, subset: a}}]},
      {route: [{destination: {host: echo.test, subset: a}}], mirror: {host: echo.test, subset: a}, mirrorPercentage: {value: 0.0001},
      corsPolicy: {allowOrigins: [{exact: "https://shop.example.com"}], exposeHeaders: [x-trace]}}]`}.resources(t)
	p := startProxy(t, Options{Role: meshxds.Gateway, Rand: fixedRand(999_999)}, res)
	st := p.state.Load()
	var bind string
	for b := range st.listeners {
		bind = b
	}
	w := httptest.NewRecorder()
	x := new(exchange)
	decide := func(path string) float64 {
		r := httptest.NewRequest("GET", "http://echo.test"+path, nil)
		r.Header.Set("X-User", "alice")
		r.Header.Set("Origin", "https://shop.example.com")
		return testing.AllocsPerRun(100, func() {
			*x = exchange{p: p, st: st, w: w, r: r}
			if !x.decide(bind) {
				t.Fatalf("%s not forwarded", path)
			}
		})
	}
	plain, cors := decide("/plain"), decide("/items?id=1")
	if x.cors == nil || cors != plain {
		t.Errorf("a CORS route's decision allocates %v times, a plain one %v (cors %v)", cors, plain, x.cors)
	}
	allocs := testing.AllocsPerRun(100, func() {
		x.hashed = false
		x.mirror() // draws above the share: no copy
		if x.pick(x.cluster, nil) == nil {
			t.Fatal("no endpoint")
		}
	})
	if allocs != 0 {
		t.Errorf("hashing, picking and the mirror draw allocate %v times, want 0", allocs)
	}
}
