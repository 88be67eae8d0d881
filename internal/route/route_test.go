package route

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// matchCase is one matcher under test: a single catch-all virtual host with one route to "hit";
// the request either reaches it or gets no route.
type matchCase struct {
	name  string
	match *routev3.RouteMatch
	req   *Request
	want  bool
}

func runMatchCases(t *testing.T, tests []matchCase) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tbl := mustNew(t, config(vhost("all", []string{"*"}, toCluster("r", tc.match, "hit"))))
			d := tbl.Decide(tc.req, 0)
			if got := d.Cluster == "hit"; got != tc.want {
				t.Errorf("Decide(%+v) = %+v, want match %v", tc.req, d, tc.want)
			}
			if (d.Route != nil) != tc.want {
				t.Errorf("Route = %v, want non-nil %v", d.Route, tc.want)
			}
			if d.VirtualHost != "all" {
				t.Errorf("VirtualHost = %q, want %q", d.VirtualHost, "all")
			}
		})
	}
}

// TestPathMatchers covers prefix, path, safe_regex and path_separated_prefix, with case_sensitive.
func TestPathMatchers(t *testing.T) {
	runMatchCases(t, []matchCase{
		{"prefix", prefix("/api"), req("h", "/api/x"), true},
		{"prefix no", prefix("/api"), req("h", "/ap"), false},
		{"prefix case sensitive by default", prefix("/api"), req("h", "/API"), false},
		{"prefix case insensitive", caseInsensitive(prefix("/Api")), req("h", "/aPI/x"), true},
		{"empty prefix matches all", prefix(""), req("h", "/anything?q"), true},
		{"exact", path("/mock"), req("h", "/mock"), true},
		{"exact ignores query", path("/mock"), req("h", "/mock?a=b"), true},
		{"exact ignores fragment", path("/mock"), req("h", "/mock#top"), true},
		{"exact longer", path("/mock"), req("h", "/mock/"), false},
		{"exact case insensitive", caseInsensitive(path("/MOCK")), req("h", "/Mock?x"), true},
		{"exact case insensitive is ascii only", caseInsensitive(path("/k")), req("h", "/\u212a"), false},
		{"regex whole path", pathRegexMatch(`/a\d`), req("h", "/a1"), true},
		{"regex must match whole path", pathRegexMatch(`/a\d`), req("h", "/a12"), false},
		{"regex not anchored at start by user", pathRegexMatch(`a\d`), req("h", "/a1"), false},
		{"regex alternation anchored", pathRegexMatch(`/x|/y`), req("h", "/yz"), false},
		{"regex ignores query", pathRegexMatch(`/a\d`), req("h", "/a1?b=2"), true},
		{"regex ignores case_sensitive", caseInsensitive(pathRegexMatch(`/a`)), req("h", "/A"), false},
		{"separated prefix equal", separated("/api"), req("h", "/api"), true},
		{"separated prefix segment", separated("/api"), req("h", "/api/v1"), true},
		{"separated prefix not mid-segment", separated("/api"), req("h", "/apix"), false},
		{"separated prefix query", separated("/api"), req("h", "/api?x=1"), true},
		{"separated prefix case insensitive", caseInsensitive(separated("/api")), req("h", "/API/v1"), true},
	})
}

// TestHeaderMatchers covers string matchers, presence, inversion, ranges, the legacy fields and
// pseudo-headers.
func TestHeaderMatchers(t *testing.T) {
	runMatchCases(t, []matchCase{
		{"header exact", withHeaders(path("/mock"), header("x-asm-prefer-tag", strExactM("v2"))), req("h", "/mock", "X-Asm-Prefer-Tag", "v2"), true},
		{"header exact other value", withHeaders(path("/mock"), header("x-asm-prefer-tag", strExactM("v2"))), req("h", "/mock", "X-Asm-Prefer-Tag", "v3"), false},
		{"header exact missing", withHeaders(path("/mock"), header("x-asm-prefer-tag", strExactM("v2"))), req("h", "/mock"), false},
		{"header name any case", withHeaders(prefix("/"), header("X-ASM-prefer-TAG", strExactM("v2"))), req("h", "/", "x-asm-prefer-tag", "v2"), true},
		{"header exact is case sensitive", withHeaders(prefix("/"), header("x-t", strExactM("v2"))), req("h", "/", "X-T", "V2"), false},
		{"header exact ignore case", withHeaders(prefix("/"), header("x-t", ignoreCase(strExactM("v2")))), req("h", "/", "X-T", "V2"), true},
		{"header prefix", withHeaders(prefix("/"), header("x-t", strPrefixM("ab"))), req("h", "/", "X-T", "abc"), true},
		{"header prefix ignore case", withHeaders(prefix("/"), header("x-t", ignoreCase(strPrefixM("AB")))), req("h", "/", "X-T", "aBc"), true},
		{"header suffix", withHeaders(prefix("/"), header("x-t", strSuffixM("bc"))), req("h", "/", "X-T", "abc"), true},
		{"header suffix no", withHeaders(prefix("/"), header("x-t", strSuffixM("bc"))), req("h", "/", "X-T", "ab"), false},
		{"header suffix ignore case", withHeaders(prefix("/"), header("x-t", ignoreCase(strSuffixM("BC")))), req("h", "/", "X-T", "abC"), true},
		{"header contains", withHeaders(prefix("/"), header("x-t", strContainsM("b"))), req("h", "/", "X-T", "abc"), true},
		{"header contains no", withHeaders(prefix("/"), header("x-t", strContainsM("d"))), req("h", "/", "X-T", "abc"), false},
		{"header contains ignore case", withHeaders(prefix("/"), header("x-t", ignoreCase(strContainsM("BC")))), req("h", "/", "X-T", "aBc"), true},
		{"header regex whole value", withHeaders(prefix("/"), header("x-t", strRegexM(`v\d`))), req("h", "/", "X-T", "v2"), true},
		{"header regex partial", withHeaders(prefix("/"), header("x-t", strRegexM(`v\d`))), req("h", "/", "X-T", "v22"), false},
		{"header values joined with comma", withHeaders(prefix("/"), header("x-t", strExactM("a,b"))), req("h", "/", "X-T", "a", "X-T", "b"), true},
		{"header joined value not single", withHeaders(prefix("/"), header("x-t", strExactM("a"))), req("h", "/", "X-T", "a", "X-T", "b"), false},
		{"header present", withHeaders(prefix("/"), headerPresentM("x-t", true)), req("h", "/", "X-T", ""), true},
		{"header present missing", withHeaders(prefix("/"), headerPresentM("x-t", true)), req("h", "/"), false},
		{"header present false missing", withHeaders(prefix("/"), headerPresentM("x-t", false)), req("h", "/"), true},
		{"header present false present", withHeaders(prefix("/"), headerPresentM("x-t", false)), req("h", "/", "X-T", "1"), false},
		{"header no specifier means present", withHeaders(prefix("/"), &routev3.HeaderMatcher{Name: "x-t"}), req("h", "/", "X-T", "1"), true},
		{"header no specifier missing", withHeaders(prefix("/"), &routev3.HeaderMatcher{Name: "x-t"}), req("h", "/"), false},
		{"inverted present missing", withHeaders(prefix("/"), inverted(headerPresentM("x-t", true))), req("h", "/"), true},
		{"inverted present present", withHeaders(prefix("/"), inverted(headerPresentM("x-t", true))), req("h", "/", "X-T", "1"), false},
		{"inverted exact other value", withHeaders(prefix("/"), inverted(header("x-t", strExactM("v1")))), req("h", "/", "X-T", "v2"), true},
		{"inverted exact same value", withHeaders(prefix("/"), inverted(header("x-t", strExactM("v1")))), req("h", "/", "X-T", "v1"), false},
		{"inverted exact missing never matches", withHeaders(prefix("/"), inverted(header("x-t", strExactM("v1")))), req("h", "/"), false},
		{"inverted exact missing as empty", withHeaders(prefix("/"), missingAsEmpty(inverted(header("x-t", strExactM("v1"))))), req("h", "/"), true},
		{"missing as empty matches empty", withHeaders(prefix("/"), missingAsEmpty(header("x-t", strExactM("")))), req("h", "/"), true},
		{"range inside", withHeaders(prefix("/"), headerRangeM("x-n", -5, 10)), req("h", "/", "X-N", " +9 "), true},
		{"range end exclusive", withHeaders(prefix("/"), headerRangeM("x-n", -5, 10)), req("h", "/", "X-N", "10"), false},
		{"range start inclusive", withHeaders(prefix("/"), headerRangeM("x-n", -5, 10)), req("h", "/", "X-N", "-5"), true},
		{"range not a number", withHeaders(prefix("/"), headerRangeM("x-n", -5, 10)), req("h", "/", "X-N", "1x"), false},
		{"range overflow", withHeaders(prefix("/"), headerRangeM("x-n", -5, 10)), req("h", "/", "X-N", "99999999999999999999"), false},
		{"inverted range", withHeaders(prefix("/"), inverted(headerRangeM("x-n", 0, 10))), req("h", "/", "X-N", "11"), true},
		{"legacy exact", withHeaders(prefix("/"), &routev3.HeaderMatcher{Name: "x-t", HeaderMatchSpecifier: &routev3.HeaderMatcher_ExactMatch{ExactMatch: "v1"}}), req("h", "/", "X-T", "v1"), true},
		{"legacy empty exact is any value", withHeaders(prefix("/"), &routev3.HeaderMatcher{Name: "x-t", HeaderMatchSpecifier: &routev3.HeaderMatcher_ExactMatch{}}), req("h", "/", "X-T", "zz"), true},
		{"legacy prefix", withHeaders(prefix("/"), &routev3.HeaderMatcher{Name: "x-t", HeaderMatchSpecifier: &routev3.HeaderMatcher_PrefixMatch{PrefixMatch: "v"}}), req("h", "/", "X-T", "v1"), true},
		{"legacy suffix", withHeaders(prefix("/"), &routev3.HeaderMatcher{Name: "x-t", HeaderMatchSpecifier: &routev3.HeaderMatcher_SuffixMatch{SuffixMatch: "1"}}), req("h", "/", "X-T", "v2"), false},
		{"legacy contains", withHeaders(prefix("/"), &routev3.HeaderMatcher{Name: "x-t", HeaderMatchSpecifier: &routev3.HeaderMatcher_ContainsMatch{ContainsMatch: "-"}}), req("h", "/", "X-T", "a-b"), true},
		{"legacy regex", withHeaders(prefix("/"), &routev3.HeaderMatcher{Name: "x-t", HeaderMatchSpecifier: &routev3.HeaderMatcher_SafeRegexMatch{SafeRegexMatch: regex("v[12]")}}), req("h", "/", "X-T", "v3"), false},
		{":method", withHeaders(prefix("/"), header(":method", strExactM("GET"))), req("h", "/"), true},
		{":method other", withHeaders(prefix("/"), header(":method", strExactM("POST"))), req("h", "/"), false},
		{":authority", withHeaders(prefix("/"), header(":authority", strPrefixM("mockb"))), req("mockb:8000", "/"), true},
		{"host is :authority", withHeaders(prefix("/"), header("host", strExactM("mockb"))), req("mockb", "/"), true},
		{":path includes query", withHeaders(prefix("/"), header(":path", strExactM("/a?b=c"))), req("h", "/a?b=c"), true},
	})
}

// TestQueryMatchers covers query parameter matching, decoding and presence; the last cases AND
// all three kinds of matcher.
func TestQueryMatchers(t *testing.T) {
	runMatchCases(t, []matchCase{
		{"query exact", withQuery(prefix("/"), query("a", strExactM("b"))), req("h", "/mock?a=b"), true},
		{"query exact other", withQuery(prefix("/"), query("a", strExactM("b"))), req("h", "/mock?a=bb"), false},
		{"query second param", withQuery(prefix("/"), query("a", strExactM("b"))), req("h", "/mock?x=1&a=b"), true},
		{"query first occurrence wins", withQuery(prefix("/"), query("a", strExactM("b"))), req("h", "/mock?a=c&a=b"), false},
		{"query percent-decoded value", withQuery(prefix("/"), query("a", strExactM("b c"))), req("h", "/?a=b%20c"), true},
		{"query percent-decoded name", withQuery(prefix("/"), query("a b", strExactM("1"))), req("h", "/?a%20b=1"), true},
		{"query plus is not space", withQuery(prefix("/"), query("a", strExactM("b c"))), req("h", "/?a=b+c"), false},
		{"query truncated escape kept", withQuery(prefix("/"), query("a", strExactM("%4"))), req("h", "/?a=%4"), true},
		{"query bad escape kept", withQuery(prefix("/"), query("a", strExactM("%zz"))), req("h", "/?a=%zz"), true},
		{"query no equals is empty value", withQuery(prefix("/"), query("a", strExactM(""))), req("h", "/?a&b=1"), true},
		{"query value keeps later equals", withQuery(prefix("/"), query("a", strExactM("b=c"))), req("h", "/?a=b=c"), true},
		{"query ignore case value", withQuery(prefix("/"), query("a", ignoreCase(strExactM("B")))), req("h", "/?a=b"), true},
		{"query regex", withQuery(prefix("/"), query("a", strRegexM(`\d+`))), req("h", "/?a=123"), true},
		{"query missing", withQuery(prefix("/"), query("a", strExactM("b"))), req("h", "/mock"), false},
		{"query not in fragment", withQuery(prefix("/"), queryPresentM("a", true)), req("h", "/x#?a=1"), false},
		{"query present", withQuery(prefix("/"), queryPresentM("a", true)), req("h", "/?a="), true},
		{"query present false absent", withQuery(prefix("/"), queryPresentM("a", false)), req("h", "/?b=1"), true},
		{"query present false present", withQuery(prefix("/"), queryPresentM("a", false)), req("h", "/?a=1"), false},
		{"query no specifier is presence", withQuery(prefix("/"), &routev3.QueryParameterMatcher{Name: "a"}), req("h", "/?a"), true},
		{"all must match", withQuery(withHeaders(path("/mock"), header("x-t", strExactM("v2"))), query("q", strExactM("1"))), req("h", "/mock?q=1", "X-T", "v2"), true},
		{"all must match one fails", withQuery(withHeaders(path("/mock"), header("x-t", strExactM("v2"))), query("q", strExactM("1"))), req("h", "/mock?q=2", "X-T", "v2"), false},
	})
}

func TestFirstMatchWins(t *testing.T) {
	tbl := mustNew(t, config(vhost("gw", []string{"*"},
		toCluster("v2", withHeaders(path("/mock"), header("x-asm-prefer-tag", strExactM("v2"))), "mocka-v2"),
		toCluster("any-mock", path("/mock"), "mocka-v1"),
		toCluster("v3", withHeaders(path("/mock"), header("x-asm-prefer-tag", strExactM("v3"))), "mocka-v3"),
	)))
	tests := []struct {
		name, tag, want string
	}{
		{"first route", "v2", "mocka-v2"},
		{"shadowed route never reached", "v3", "mocka-v1"},
		{"no header falls through", "", "mocka-v1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := req("gw", "/mock")
			if tc.tag != "" {
				r.Header.Set("x-asm-prefer-tag", tc.tag)
			}
			if got := tbl.Decide(r, 0).Cluster; got != tc.want {
				t.Errorf("cluster = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestVirtualHostSelection(t *testing.T) {
	route := func(c string) *routev3.Route { return toCluster(c, prefix("/"), c) }
	tbl := mustNew(t, config(
		vhost("exact", []string{"foo.example.com", "mockb", "mockb:8000"}, route("exact")),
		vhost("suffix", []string{"*.example.com"}, route("suffix")),
		vhost("longer-suffix", []string{"*-bar.example.com"}, route("longer-suffix")),
		vhost("prefix", []string{"foo.*"}, route("prefix")),
		vhost("longer-prefix", []string{"foo.bar.*"}, route("longer-prefix")),
		vhost("upper", []string{"UPPER.Example.ORG"}, route("upper")),
		vhost("catch-all", []string{"*"}, route("catch-all")),
	))
	tests := []struct{ authority, want string }{
		{"foo.example.com", "exact"},
		{"FOO.Example.Com", "exact"},
		{"mockb", "exact"},
		{"mockb:8000", "exact"},
		{"mockb:9000", "catch-all"},
		{"upper.example.org", "upper"},
		{"a.example.com", "suffix"},
		{"x-bar.example.com", "longer-suffix"},
		{"-bar.example.com", "suffix"},
		{".example.com", "catch-all"},
		{"foo.example.com:80", "prefix"},
		{"foo.bar.baz", "longer-prefix"},
		{"foo.", "catch-all"},
		{"foo.bar.example.com", "suffix"},
		{"", "catch-all"},
		{"other", "catch-all"},
	}
	for _, tc := range tests {
		t.Run(tc.authority, func(t *testing.T) {
			d := tbl.Decide(req(tc.authority, "/"), 0)
			if d.VirtualHost != tc.want || d.Cluster != tc.want {
				t.Errorf("Decide(%q) = vhost %q cluster %q, want %q", tc.authority, d.VirtualHost, d.Cluster, tc.want)
			}
		})
	}
}

func TestNoVirtualHost(t *testing.T) {
	tbl := mustNew(t, config(vhost("only", []string{"a"}, toCluster("r", prefix("/"), "c"))))
	if d := tbl.Decide(req("b", "/"), 0); d != (Decision{}) {
		t.Errorf("Decide = %+v, want zero Decision", d)
	}
	if d := tbl.Decide(req("a", "/"), 0); d.Cluster != "c" {
		t.Errorf("Decide = %+v, want cluster c", d)
	}
	var zero Table
	if d := zero.Decide(req("a", "/"), 0); d != (Decision{}) {
		t.Errorf("zero Table Decide = %+v, want zero Decision", d)
	}
}

func TestIgnorePortInHostMatching(t *testing.T) {
	build := func(ignore bool) *Table {
		rc := config(
			vhost("mockb", []string{"mockb"}, toCluster("r", prefix("/"), "mockb")),
			vhost("v6", []string{"[::1]"}, toCluster("r", prefix("/"), "v6")),
			vhost("default", []string{"*"}, toCluster("r", prefix("/"), "default")),
		)
		rc.IgnorePortInHostMatching = ignore
		return mustNew(t, rc)
	}
	tests := []struct {
		name      string
		ignore    bool
		authority string
		want      string
	}{
		{"port kept", false, "mockb:8000", "default"},
		{"port stripped", true, "mockb:8000", "mockb"},
		{"no port", true, "mockb", "mockb"},
		{"empty port", true, "mockb:", "mockb"},
		{"ipv6 with port", true, "[::1]:80", "v6"},
		{"ipv6 without port keeps colons", true, "[::1]", "v6"},
		{"ipv6 port kept", false, "[::1]:80", "default"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := build(tc.ignore).Decide(req(tc.authority, "/"), 0).VirtualHost; got != tc.want {
				t.Errorf("virtual host = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestWeightedClusters(t *testing.T) {
	tbl := mustNew(t, config(vhost("vh", []string{"*"},
		toWeighted("w", prefix("/"), weight{"a", 1}, weight{"never", 0}, weight{"b", 3}, weight{"c", 6}))))
	t.Run("boundaries", func(t *testing.T) {
		for rnd, want := range map[uint32]string{0: "a", 1: "b", 3: "b", 4: "c", 9: "c", 10: "a", 4294967295: "c"} {
			if got := tbl.Decide(req("h", "/"), rnd).Cluster; got != want {
				t.Errorf("rnd %d: cluster %q, want %q", rnd, got, want)
			}
		}
	})
	t.Run("distribution", func(t *testing.T) {
		counts := map[string]int{}
		for rnd := range uint32(10_000) {
			counts[tbl.Decide(req("h", "/"), rnd*7919).Cluster]++
		}
		want := map[string]int{"a": 1000, "b": 3000, "c": 6000}
		for c, n := range want {
			if counts[c] != n {
				t.Errorf("cluster %q chosen %d times, want %d (counts %v)", c, counts[c], n, counts)
			}
		}
		if counts["never"] != 0 {
			t.Errorf("zero-weight cluster chosen %d times", counts["never"])
		}
	})
	t.Run("clusters", func(t *testing.T) {
		if got, want := tbl.Clusters(), []string{"a", "b", "c"}; !slices.Equal(got, want) {
			t.Errorf("Clusters() = %v, want %v", got, want)
		}
	})
	t.Run("split", func(t *testing.T) {
		got := tbl.Decide(req("h", "/"), 0).Route.Split()
		want := []Share{{"a", 1}, {"b", 3}, {"c", 6}}
		if !slices.Equal(got, want) {
			t.Errorf("Split() = %v, want %v", got, want)
		}
		single := mustNew(t, config(vhost("vh", []string{"*"}, toCluster("r", prefix("/"), "one"))))
		if s := single.Decide(req("h", "/"), 0).Route.Split(); s != nil {
			t.Errorf("Split() of a single-cluster route = %v, want nil", s)
		}
	})
}

func TestClustersSortedAndDeduplicated(t *testing.T) {
	tbl := mustNew(t, config(
		vhost("a", []string{"a"}, toCluster("r1", prefix("/x"), "z"), toCluster("r2", prefix("/"), "m")),
		vhost("b", []string{"b"}, toWeighted("r", prefix("/"), weight{"m", 1}, weight{"a", 1})),
	))
	got := tbl.Clusters()
	if want := []string{"a", "m", "z"}; !slices.Equal(got, want) {
		t.Fatalf("Clusters() = %v, want %v", got, want)
	}
	got[0] = "mutated"
	if tbl.Clusters()[0] != "a" {
		t.Error("Clusters() returned the table's own slice; callers could mutate the table")
	}
}

func TestRouteMetadata(t *testing.T) {
	tbl := mustNew(t, config(vhost("vh", []string{"*"},
		withMetadata(toCluster("with", path("/with"), "c"), "default/mockb", 2),
		toCluster("without", prefix("/"), "c"),
	)))
	if tbl.Name() != "test" {
		t.Errorf("Name() = %q, want %q", tbl.Name(), "test")
	}
	tests := []struct {
		path, wantName, wantVS string
		wantIndex              int
	}{
		{"/with", "with", "default/mockb", 2},
		{"/other", "without", "", -1},
	}
	for _, tc := range tests {
		t.Run(tc.wantName, func(t *testing.T) {
			rt := tbl.Decide(req("h", tc.path), 0).Route
			if rt == nil {
				t.Fatal("no route")
			}
			if rt.Name != tc.wantName || rt.VirtualService != tc.wantVS || rt.RouteIndex != tc.wantIndex {
				t.Errorf("route = %q %q %d, want %q %q %d", rt.Name, rt.VirtualService, rt.RouteIndex, tc.wantName, tc.wantVS, tc.wantIndex)
			}
			if rt.Action == nil || rt.Envoy == nil || rt.Envoy.GetName() != tc.wantName {
				t.Errorf("route does not carry its envoy action and route: %+v", rt)
			}
		})
	}
}

// TestNewErrors checks that New rejects what it cannot honour and says where and why.
func TestNewErrors(t *testing.T) {
	one := func(r *routev3.Route) *routev3.RouteConfiguration {
		return config(vhost("vh", []string{"*"}, toCluster("ok", path("/ok"), "c"), r))
	}
	direct := &routev3.Route{Name: "dr", Match: prefix("/"), Action: &routev3.Route_DirectResponse{DirectResponse: &routev3.DirectResponseAction{Status: 99}}}
	redirect := &routev3.Route{Name: "rd", Match: path("/a"), Action: &routev3.Route_Redirect{Redirect: &routev3.RedirectAction{
		PathRewriteSpecifier: &routev3.RedirectAction_PrefixRewrite{PrefixRewrite: "/b"}}}}
	stripQuery := &routev3.Route{Name: "sq", Match: prefix("/"), Action: &routev3.Route_Redirect{Redirect: &routev3.RedirectAction{StripQuery: true}}}
	clusterHeader := &routev3.Route{Name: "ch", Match: prefix("/"), Action: &routev3.Route_Route{Route: &routev3.RouteAction{
		ClusterSpecifier: &routev3.RouteAction_ClusterHeader{ClusterHeader: "x-cluster"}}}}
	badMeta := toCluster("meta", prefix("/"), "c")
	badMeta.Metadata = &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{
		MetadataNamespace: {Fields: map[string]*structpb.Value{"routeIndex": structpb.NewStringValue("1")}}}}
	runtimeFraction := prefix("/")
	runtimeFraction.RuntimeFraction = &corev3.RuntimeFractionalPercent{RuntimeKey: "k"}
	vhds := config(vhost("vh", []string{"*"}))
	vhds.Vhds = &routev3.Vhds{}

	tests := []struct {
		name     string
		rc       *routev3.RouteConfiguration
		sentinel error
		want     []string
	}{
		{"nil", nil, ErrInvalid, []string{"nil route configuration"}},
		{"bad path regex", one(toCluster("re", pathRegexMatch("(["), "c")),
			ErrInvalid, []string{`route configuration "test"`, `virtual host "vh" (#0)`, `route 1 "re"`, `bad regex "(["`}},
		{"bad header regex", one(toCluster("hre", withHeaders(prefix("/"), header("x-t", strRegexM("a{2,1}"))), "c")),
			ErrInvalid, []string{`route 1 "hre"`, `header matcher 0 "x-t"`, "bad regex"}},
		{"weights sum to zero", one(toWeighted("w0", prefix("/"), weight{"a", 0}, weight{"b", 0})),
			ErrInvalid, []string{`route 1 "w0"`, "weights sum to 0"}},
		{"total weight mismatch", func() *routev3.RouteConfiguration {
			r := toWeighted("tw", prefix("/"), weight{"a", 1})
			r.GetRoute().GetWeightedClusters().TotalWeight = wrapperspb.UInt32(100)
			return one(r)
		}(), ErrInvalid, []string{"total_weight is 100 but the weights sum to 1"}},
		{"direct response status", one(direct), ErrInvalid, []string{`route 1 "dr"`, "status 99 is not in 200-599"}},
		{"redirect prefix rewrite without prefix", one(redirect), ErrInvalid, []string{`route 1 "rd"`, "prefix_rewrite needs a prefix match"}},
		{"redirect strip_query", one(stripQuery), ErrUnsupported, []string{`route 1 "sq"`, "strip_query is not supported"}},
		{"cluster header", one(clusterHeader), ErrUnsupported, []string{"RouteAction_ClusterHeader is not supported", "use cluster or weighted_clusters"}},
		{"no path specifier", one(toCluster("np", &routev3.RouteMatch{}, "c")), ErrInvalid, []string{"no path specifier"}},
		{"runtime fraction", one(toCluster("rf", runtimeFraction, "c")), ErrUnsupported, []string{"runtime_fraction is not supported"}},
		{"unsupported pseudo-header", one(toCluster("ph", withHeaders(prefix("/"), header(":scheme", strExactM("https"))), "c")),
			ErrUnsupported, []string{"pseudo-header :scheme is not supported"}},
		{"regex with ignore_case", one(toCluster("ic", withHeaders(prefix("/"), header("x-t", ignoreCase(strRegexM("a")))), "c")),
			ErrInvalid, []string{"ignore_case has no effect on safe_regex"}},
		{"separated prefix with slash", one(toCluster("sp", separated("/a/"), "c")), ErrInvalid, []string{"path_separated_prefix"}},
		{"bad metadata", one(badMeta), ErrInvalid, []string{"routeIndex must be a non-negative integer"}},
		{"duplicate domain", config(vhost("a", []string{"Mockb"}), vhost("b", []string{"mockb"})),
			ErrInvalid, []string{`virtual host "b" (#1)`, `domain "mockb" is already used by virtual host "a"`}},
		{"vhds", vhds, ErrUnsupported, []string{"vhds"}},
		{"proto validation", one(toCluster("pv", withHeaders(prefix("/"), header("x-t", strPrefixM(""))), "c")),
			ErrInvalid, []string{"Prefix", "length"}},
		{"custom string matcher", one(toCluster("cm", withHeaders(prefix("/"), header("x-t", &matcherv3.StringMatcher{
			MatchPattern: &matcherv3.StringMatcher_Custom{}})), "c")), ErrUnsupported, []string{"StringMatcher_Custom is not supported"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tbl, err := New(tc.rc)
			if err == nil {
				t.Fatalf("New succeeded (%d clusters), want error", len(tbl.Clusters()))
			}
			if !errors.Is(err, tc.sentinel) {
				t.Errorf("error %q does not wrap %v", err, tc.sentinel)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// TestRequireTLS: a virtual host with require_tls redirects plain requests
// to https (Envoy's SslRedirector) and routes TLS ones; EXTERNAL_ONLY spares
// requests marked internal.
func TestRequireTLS(t *testing.T) {
	all := vhost("all", []string{"a.example.com"}, toCluster("r", prefix("/"), "hit"))
	all.RequireTls = routev3.VirtualHost_ALL
	ext := vhost("ext", []string{"b.example.com"}, toCluster("r", prefix("/"), "hit"))
	ext.RequireTls = routev3.VirtualHost_EXTERNAL_ONLY
	tbl := mustNew(t, config(all, ext, vhost("plain", []string{"*"}, toCluster("r", prefix("/"), "hit"))))
	internal := req("b.example.com", "/")
	internal.Header = map[string][]string{"X-Envoy-Internal": {"true"}}
	for _, tc := range []struct {
		name     string
		r        *Request
		redirect bool
	}{
		{"plain to ALL", req("a.example.com", "/x"), true},
		{"tls to ALL", &Request{Authority: "a.example.com", Path: "/x", TLS: true}, false},
		{"plain external to EXTERNAL_ONLY", req("b.example.com", "/"), true},
		{"plain internal to EXTERNAL_ONLY", internal, false},
		{"plain to a host without require_tls", req("c.example.com", "/"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := tbl.Decide(tc.r, 0)
			if d.Route == nil {
				t.Fatal("no route")
			}
			if d.Route.SSLRedirect != tc.redirect || tc.redirect && (d.Cluster != "" || d.Route.Redirect.GetResponseCode() != routev3.RedirectAction_MOVED_PERMANENTLY) {
				t.Errorf("Decide = %+v, want redirect %v", d, tc.redirect)
			}
			if !tc.redirect && d.Cluster != "hit" {
				t.Errorf("cluster %q, want hit", d.Cluster)
			}
		})
	}
}

// TestWeightedClustersStickToTheHash: a weighted route that hashes (Istio's
// consistentHash on its destinations) keeps each key on one cluster
// whatever rnd says, splits keys in the weights' proportion, and picks at
// random for a request without the key.
func TestWeightedClustersStickToTheHash(t *testing.T) {
	r := toWeighted("w", prefix("/"), weight{"lane-v1", 90}, weight{"lane-v2", 10})
	r.GetRoute().HashPolicy = []*routev3.RouteAction_HashPolicy{{PolicySpecifier: &routev3.RouteAction_HashPolicy_Header_{
		Header: &routev3.RouteAction_HashPolicy_Header{HeaderName: "x-user"}}}}
	tbl := mustNew(t, config(vhost("vh", []string{"*"}, r)))
	counts := map[string]int{}
	const users = 2000
	for u := range users {
		rq := req("h", "/")
		rq.Header = http.Header{"X-User": {fmt.Sprintf("user-%d", u)}}
		first := tbl.Decide(rq, 0).Cluster
		for rnd := uint32(1); rnd < 50; rnd++ {
			if got := tbl.Decide(rq, rnd*2654435761).Cluster; got != first {
				t.Fatalf("user-%d went to %s, then to %s", u, first, got)
			}
		}
		counts[first]++
	}
	if share := float64(counts["lane-v2"]) / users; share < 0.08 || share > 0.12 {
		t.Errorf("lane-v2 took %.1f%% of users, want 10%% ± 2 (counts %v)", 100*share, counts)
	}
	noKey := map[string]bool{}
	for rnd := range uint32(100) {
		noKey[tbl.Decide(req("h", "/"), rnd).Cluster] = true
	}
	if len(noKey) != 2 {
		t.Errorf("without the key, requests reached only %v", noKey)
	}
}
