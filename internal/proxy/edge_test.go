package proxy

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/lanemesh/lanemesh/internal/meshxds"
	"github.com/lanemesh/lanemesh/internal/pathnorm"
)

// forged is what a hostile client sends at the edge: every header it may
// not set, alongside one that is its own.
var forged = map[string]string{
	"X-Envoy-Retry-On": "5xx", "X-Envoy-Internal": "true", "X-Envoy-Upstream-Rq-Timeout-Ms": "1",
	"X-Envoy-Decorator-Operation": "op",
	"X-Lanemesh-Flags":            "FB", "X-Lanemesh-Anything": "1", "X-Forwarded-Client-Cert": "By=spiffe://evil",
	"X-Request-Id": "forged", "Forwarded": "for=6.6.6.6", "X-Real-Ip": "6.6.6.6",
	"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil", "X-Forwarded-For": "6.6.6.6", "X-App": "kept",
}

func TestSanitize(t *testing.T) {
	for _, tc := range []struct {
		name string
		from downstream
		want map[string]string // every header left, and its one value
	}{
		{"untrusted gateway", downstream{gateway: true}, map[string]string{
			"X-Forwarded-For": "6.6.6.6, 10.0.0.1", "X-Forwarded-Proto": "http", "X-Forwarded-Host": "evil",
			"X-Envoy-External-Address": "10.0.0.1", "X-App": "kept"}},
		{"trusted gateway", downstream{gateway: true, trusted: true}, map[string]string{
			"X-Envoy-Retry-On": "5xx", "X-Envoy-Internal": "true", "X-Envoy-Upstream-Rq-Timeout-Ms": "1",
			"X-Envoy-Decorator-Operation": "op",
			"X-Request-Id":                "forged", "Forwarded": "for=6.6.6.6", "X-Real-Ip": "6.6.6.6",
			"X-Forwarded-For": "6.6.6.6, 10.0.0.1", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil", "X-App": "kept"}},
		// A sidecar's app is external to Envoy too (no internal addresses
		// by default): its overrides go, the rest stays.
		{"sidecar", downstream{}, map[string]string{
			"X-Envoy-Decorator-Operation": "op",
			"X-Request-Id":                "forged", "Forwarded": "for=6.6.6.6", "X-Real-Ip": "6.6.6.6",
			"X-Forwarded-For": "6.6.6.6", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil", "X-App": "kept"}},
		{"sidecar with trust-downstream", downstream{trusted: true}, map[string]string{
			"X-Envoy-Decorator-Operation": "op",
			"X-Request-Id":                "forged", "Forwarded": "for=6.6.6.6", "X-Real-Ip": "6.6.6.6",
			"X-Forwarded-For": "6.6.6.6", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil", "X-App": "kept"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range forged {
				h[k] = []string{v}
			}
			var vals [3]string
			tc.from.sanitize(h, "10.0.0.1", &vals)
			got := map[string]string{}
			for k, vv := range h {
				got[k] = strings.Join(vv, "|")
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("headers left:\n%v\nwant\n%v", got, tc.want)
			}
		})
	}
	h := http.Header{}
	var vals [3]string
	downstream{gateway: true, trusted: true}.sanitize(h, "10.0.0.1", &vals)
	if fmt.Sprint(h) != "map[X-Envoy-Internal:[true] X-Forwarded-For:[10.0.0.1] X-Forwarded-Proto:[http]]" {
		t.Errorf("a trusted gateway sets what is missing: %v", h)
	}
}

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// TestEdgeHeadersAtTheUpstream sends the forged headers through a real
// gateway and a real sidecar and checks what each upstream received.
func TestEdgeHeadersAtTheUpstream(t *testing.T) {
	m := newMesh(t, lanesDir)
	withLane := map[string]string{"X-Asm-Prefer-Tag": "v1"}
	for k, v := range forged {
		withLane[k] = v
	}
	t.Run("gateway", func(t *testing.T) {
		p := startProxy(t, Options{Role: meshxds.Gateway}, m.resources(gatewayIdentity, nil))
		up := m.pods["mocka-v1-0"]
		before := len(up.requests())
		if status, _, _ := call(t, newClient(nil), "GET", gatewayURL(p, "/mock"), "gw", withLane); status != 200 {
			t.Fatalf("status %d", status)
		}
		got := up.requests()[before:]
		if len(got) != 1 {
			t.Fatalf("the upstream saw %d requests", len(got))
		}
		h := got[0].Header
		for k := range h {
			if strings.HasPrefix(k, "X-Envoy-") && k != "X-Envoy-External-Address" || strings.HasPrefix(k, "X-Lanemesh-") {
				t.Errorf("%s reached the upstream", k)
			}
		}
		for _, k := range []string{"X-Forwarded-Client-Cert", "Forwarded", "X-Real-Ip"} {
			if v := h.Values(k); len(v) != 0 {
				t.Errorf("%s %q reached the upstream", k, v)
			}
		}
		if id := h.Get("X-Request-Id"); !uuidV4.MatchString(id) {
			t.Errorf("X-Request-Id %q, want a fresh UUIDv4", id)
		}
		want := "[[6.6.6.6, 127.0.0.1] [http] [evil] [127.0.0.1] [kept]]"
		if got := fmt.Sprint([][]string{h.Values("X-Forwarded-For"), h.Values("X-Forwarded-Proto"), h.Values("X-Forwarded-Host"),
			h.Values("X-Envoy-External-Address"), h.Values("X-App")}); got != want {
			t.Errorf("X-Forwarded-For, -Proto, -Host, X-Envoy-External-Address, X-App: %s, want %s", got, want)
		}
	})
	t.Run("sidecar", func(t *testing.T) {
		p := startProxy(t, Options{Role: meshxds.Sidecar}, m.resources(sidecarIdentity("mocka", "v1"), nil))
		up := m.pods["mockb-v1-0"]
		before := len(up.requests())
		if status, _, _ := call(t, newClient(p.OutboundAddr()), "GET", "http://mockb:8000/", "mockb:8000", withLane); status != 200 {
			t.Fatalf("status %d", status)
		}
		got := up.requests()[before:]
		if len(got) != 1 {
			t.Fatalf("the upstream saw %d requests", len(got))
		}
		h := got[0].Header
		for k := range h {
			if strings.HasPrefix(k, "X-Lanemesh-") || k == "X-Forwarded-Client-Cert" {
				t.Errorf("%s reached the upstream from an app", k)
			}
		}
		if h.Get("X-Request-Id") != "forged" || h.Get("X-Envoy-Decorator-Operation") != "op" || h.Get("X-Forwarded-For") != "6.6.6.6" {
			t.Errorf("an in-mesh hop's headers were not kept: %v", h)
		}
		for _, k := range []string{"X-Envoy-Retry-On", "X-Envoy-Internal", "X-Envoy-Upstream-Rq-Timeout-Ms"} {
			if v := h.Values(k); len(v) != 0 {
				t.Errorf("%s %q reached the upstream from an app: Envoy takes it only from internal requests", k, v)
			}
		}
	})
}

// TestPathNormalizationAtTheGateway checks that the normalized path is the
// one routes match and the one the upstream gets: a prefix route on /admin
// that refuses (403) cannot be bypassed with dot segments, escaped dots,
// backslashes or doubled slashes, and /a/../b reaches the upstream as /b.
func TestPathNormalizationAtTheGateway(t *testing.T) {
	a := newUpstream(t, "a")
	res := echo{subsets: map[string]*upstream{"a": a}, http: `[{match: [{uri: {prefix: /admin}}], route: [{destination: {host: echo.test, subset: a}}], fault: {abort: {httpStatus: 403, percentage: {value: 100}}}},
    {route: [{destination: {host: echo.test, subset: a}}]}]`}.resources(t)
	type want struct {
		status int
		path   string // what the upstream saw; "" for nothing
	}
	cases := []struct {
		target string
		mode   pathnorm.Mode
		want   want
	}{
		{"/a/../b?q=1", pathnorm.Base, want{200, "/b?q=1"}},
		{"/%2e%2e/b", pathnorm.Base, want{200, "/b"}},
		{"/x/../admin", pathnorm.Base, want{403, ""}},
		{"/admin/../admin", pathnorm.Base, want{403, ""}},
		{"/x/%2E%2e/admin/users", pathnorm.Base, want{403, ""}},
		{"/x/..\\admin", pathnorm.Base, want{403, ""}},
		{"/../../admin", pathnorm.Base, want{403, ""}}, // above the root stays at the root, as in Envoy
		{"//admin", pathnorm.Base, want{200, "//admin"}},
		{"//admin", pathnorm.MergeSlashes, want{403, ""}},
		{"/x%2f..%2fadmin", pathnorm.MergeSlashes, want{200, "/x%2f..%2fadmin"}},
		{"/x%2f..%2fadmin", pathnorm.DecodeAndMergeSlashes, want{403, ""}},
		{"/b/%00", pathnorm.Base, want{400, ""}},
		{"/x/../admin", pathnorm.None, want{200, "/x/../admin"}},
	}
	proxies := map[pathnorm.Mode]*Proxy{}
	for _, tc := range cases {
		p := proxies[tc.mode]
		if p == nil {
			p = startProxy(t, Options{Role: meshxds.Gateway, PathNormalization: tc.mode}, res)
			proxies[tc.mode] = p
		}
		before := len(a.requests())
		out, _ := rawExchangeClosed(t, p.Addr(80), "GET "+tc.target+" HTTP/1.1\r\nHost: echo.test\r\nConnection: close\r\n\r\n")
		got := want{status: statusOf(out)}
		if seen := a.requests()[before:]; len(seen) == 1 {
			got.path = seen[0].Path
		} else if len(seen) > 1 {
			got.path = fmt.Sprint(seen)
		}
		if got != tc.want {
			t.Errorf("%s %s: status %d, upstream saw %q; want %d, %q", tc.mode, tc.target, got.status, got.path, tc.want.status, tc.want.path)
		}
	}
}

// TestGatewayDecideDoesNotAllocate holds the gateway's routing of a plain
// request, sanitizing and path normalization included, to no allocation.
func TestGatewayDecideDoesNotAllocate(t *testing.T) {
	m := newMesh(t, lanesDir)
	p := startProxy(t, Options{Role: meshxds.Gateway, PathNormalization: pathnorm.MergeSlashes}, m.resources(gatewayIdentity, nil))
	st := p.state.Load()
	var bind string
	for b := range st.listeners {
		bind = b
	}
	r, _ := http.NewRequest("GET", "http://gw/mock", nil)
	r.RequestURI, r.RemoteAddr = "/mock", "127.0.0.1:5000"
	h := http.Header{"X-Asm-Prefer-Tag": {"v2"}, "User-Agent": {"curl/8"}}
	x := new(exchange) // one per connection, as the server's own loop keeps it
	allocs := testing.AllocsPerRun(100, func() {
		clear(r.Header)
		for k, v := range h {
			r.Header[k] = v
		}
		*x = exchange{p: p, st: st, r: r}
		if !x.decide(bind) || x.path != "/mock" {
			t.Fatalf("decided %v for %s", x.clusterName, x.path)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per routing decision, want 0", allocs)
	}
}
