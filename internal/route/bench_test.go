package route

import (
	"fmt"
	"testing"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
)

// smallConfig is shaped like the traffic-lanes tutorial: a gateway routing uri exact /mock plus
// x-asm-prefer-tag: vN to mocka's vN subset, and two sidecar virtual hosts with lane routes.
func smallConfig() *routev3.RouteConfiguration {
	lanes := func(svc string, uri func() *routev3.RouteMatch) []*routev3.Route {
		cluster := func(v string) string { return fmt.Sprintf("outbound|8000|%s|%s.default.svc.cluster.local", v, svc) }
		var routes []*routev3.Route
		for _, v := range []string{"v1", "v2", "v3"} {
			m := withHeaders(uri(), header("x-asm-prefer-tag", strExactM(v)))
			routes = append(routes, withMetadata(toCluster(svc+"-"+v, m, cluster(v)), "default/"+svc, float64(len(routes))))
		}
		routes = append(routes,
			toCluster(svc+"-health", path("/healthz"), cluster("v1")),
			toCluster(svc+"-default", prefix("/"), cluster("v1")))
		return routes
	}
	domains := func(svc string) []string {
		return []string{svc, svc + ":8000", svc + ".default", svc + ".default:8000", svc + ".default.svc.cluster.local", svc + ".default.svc.cluster.local:8000"}
	}
	return &routev3.RouteConfiguration{Name: "small", VirtualHosts: []*routev3.VirtualHost{
		vhost("mockb", domains("mockb"), lanes("mockb", func() *routev3.RouteMatch { return prefix("/") })...),
		vhost("mockc", domains("mockc"), lanes("mockc", func() *routev3.RouteMatch { return prefix("/") })...),
		vhost("gateway", []string{"*"}, lanes("mocka", func() *routev3.RouteMatch { return path("/mock") })...),
	}}
}

func smallRequest() *Request {
	return req("gateway.example.com", "/mock", "x-asm-prefer-tag", "v3")
}

// largeConfig has 10,000 virtual hosts of 3 routes each, like a sidecar in a big mesh.
func largeConfig() *routev3.RouteConfiguration {
	rc := &routev3.RouteConfiguration{Name: "large"}
	for i := range 10_000 {
		svc := fmt.Sprintf("svc-%05d.ns.svc.cluster.local", i)
		cluster := func(v string) string { return fmt.Sprintf("outbound|8000|%s|%s", v, svc) }
		rc.VirtualHosts = append(rc.VirtualHosts, vhost(svc, []string{svc, svc + ":8000"},
			toCluster("v2", withHeaders(prefix("/"), header("x-asm-prefer-tag", strExactM("v2"))), cluster("v2")),
			toCluster("v3", withHeaders(prefix("/"), header("x-asm-prefer-tag", strExactM("v3"))), cluster("v3")),
			toCluster("default", prefix("/"), cluster("v1")),
		))
	}
	return rc
}

func largeRequest() *Request {
	return req("svc-05000.ns.svc.cluster.local:8000", "/api/items?id=7", "x-asm-prefer-tag", "v3")
}

// matchersConfig exercises every matcher kind Decide claims to run without allocating; the
// request below is decided by the fourth route, so the first three are evaluated and fail.
func matchersConfig() *routev3.RouteConfiguration {
	return config(
		vhost("mocka", []string{"mocka", "mocka:8000"},
			toCluster("regex", withHeaders(pathRegexMatch(`/api/v\d+/.*`), header("x-tag", strRegexM(`v[0-9]`))), "c-regex"),
			toCluster("query", withQuery(withHeaders(caseInsensitive(prefix("/API")), header("x-tag", strPrefixM("v"))), query("debug", strExactM("1"))), "c-query"),
			toCluster("range", withHeaders(separated("/static"), headerRangeM("x-n", 0, 100)), "c-range"),
			toWeighted("lane", withQuery(withHeaders(path("/mock"),
				header("x-tag", ignoreCase(strSuffixM("V3"))),
				inverted(headerPresentM("x-skip", true)),
				header(":method", strExactM("GET")),
				header("x-env", ignoreCase(strContainsM("PROD")))),
				queryPresentM("lane", true), query("debug", strRegexM(`[0-9]`))),
				weight{"c-v3a", 1}, weight{"c-v3b", 3}),
			toCluster("default", prefix("/"), "c-default"),
		),
		vhost("suffix", []string{"*.mocka.svc"}, toCluster("all", prefix("/"), "c-suffix")),
		vhost("prefix", []string{"mocka.*"}, toCluster("all", prefix("/"), "c-prefix")),
		vhost("any", []string{"*"}, toCluster("v1", withHeaders(prefix("/"), header("x-tag", strExactM("v1"))), "c-any-v1")),
	)
}

func matchersRequest() *Request {
	return req("mocka:8000", "/mock?lane=v3&debug=0", "X-Tag", "v3", "X-Env", "eu-prod-2", "X-N", "5")
}

var benchCases = []struct {
	name    string
	config  func() *routev3.RouteConfiguration
	request func() *Request
	want    string
}{
	{"small", smallConfig, smallRequest, "outbound|8000|v3|mocka.default.svc.cluster.local"},
	{"large", largeConfig, largeRequest, "outbound|8000|v3|svc-05000.ns.svc.cluster.local"},
	{"matchers", matchersConfig, matchersRequest, "c-v3b"},
}

func BenchmarkDecide(b *testing.B) {
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) {
			tbl, r := mustNew(b, bc.config()), bc.request()
			if got := tbl.Decide(r, 3).Cluster; got != bc.want {
				b.Fatalf("cluster = %q, want %q", got, bc.want)
			}
			b.ReportAllocs()
			var rnd uint32
			for b.Loop() {
				rnd++
				tbl.Decide(r, rnd)
			}
		})
	}
}

func BenchmarkNew(b *testing.B) {
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) {
			rc := bc.config()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := New(rc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

var sink Decision

// TestDecideZeroAlloc holds Decide to its contract: no allocation per request.
func TestDecideZeroAlloc(t *testing.T) {
	for _, bc := range benchCases {
		t.Run(bc.name, func(t *testing.T) {
			tbl, r := mustNew(t, bc.config()), bc.request()
			if got := tbl.Decide(r, 3).Cluster; got != bc.want {
				t.Fatalf("cluster = %q, want %q", got, bc.want)
			}
			var rnd uint32
			allocs := testing.AllocsPerRun(1000, func() {
				rnd++
				sink = tbl.Decide(r, rnd)
			})
			if allocs != 0 {
				t.Errorf("Decide allocates %v times per call, want 0", allocs)
			}
		})
	}
}
