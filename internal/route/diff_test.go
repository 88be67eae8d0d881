package route

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"testing"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// TestDifferential runs the compiled Table against the reference implementation on random
// configurations and requests drawn from small pools, so that matches, near misses and
// collisions between virtual hosts are all common.
func TestDifferential(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const configs, requests = 300, 300
	decisions, matched, vhosts := 0, 0, 0
	for i := range configs {
		rc := genConfig(rng)
		tbl, err := New(rc)
		if err != nil {
			t.Fatalf("config %d: generator produced a config New rejects: %v\n%s", i, err, prototext.Format(rc))
		}
		for range requests {
			r, rnd := genRequest(rng), rng.Uint32()
			got, want := tbl.Decide(r, rnd), refDecide(rc, r, rnd)
			decisions++
			if got.Route != nil {
				matched++
			}
			if got.VirtualHost != "" {
				vhosts++
			}
			if !want.agrees(got) {
				t.Fatalf("config %d disagrees on %+v (rnd %d):\n table:     vhost %q route %q cluster %q\n reference: vhost %q route %q cluster %q\nconfig:\n%s",
					i, *r, rnd, got.VirtualHost, got.Route.envoyName(), got.Cluster,
					want.vhost, want.route.GetName(), want.cluster, prototext.Format(rc))
			}
		}
	}
	// A generator that never matches would make this test pass vacuously.
	if matched < decisions/6 || matched > decisions*9/10 {
		t.Errorf("%d of %d decisions matched a route; adjust the generator pools", matched, decisions)
	}
	t.Logf("%d decisions: %d found a virtual host, %d a route", decisions, vhosts, matched)
}

func pick[T any](rng *rand.Rand, xs ...T) T { return xs[rng.IntN(len(xs))] }

var (
	genDomains     = []string{"*", "a.com", "b.com", "x.a.com", "*.a.com", "*a.com", "*.com", "a.*", "x.*", "x.a.*", "*", "Mock.B", "mock.b:80", "[::1]", ""}
	genAuthorities = []string{"a.com", "A.COM", "x.a.com", "y.a.com", "a.com:80", "x.b", "b.com", "mock.b", "MOCK.B:80", "[::1]:80", "[::1]", "", "a.", ".a.com", "zz", "x.a.com:8"}
	genPaths       = []string{"/", "/a", "/A", "/a/b", "/a/b?x=1", "/mock?a=1&b=2", "/a1?a=%41", "/ab?a&b=", "/a?a=1&a=2", "/a#x?a=1", "/a/?c%20d=1", "/mock", "/Mock?b=%zz", "/ab/", "/a?a=%4", ""}
	genValues      = []string{"v1", "V1", "v2", "1", "", " 7 ", "-5", "a,b", "v1,v2"}
	genHeaderNames = []string{"x-tag", "X-Other", ":method", ":authority", ":path", "host"}
)

func genConfig(rng *rand.Rand) *routev3.RouteConfiguration {
	rc := &routev3.RouteConfiguration{Name: "gen", IgnorePortInHostMatching: rng.IntN(2) == 0}
	used := map[string]bool{}
	for i := range 1 + rng.IntN(4) {
		vh := &routev3.VirtualHost{Name: fmt.Sprintf("vh%d", i)}
		for range 1 + rng.IntN(3) {
			if d := pick(rng, genDomains...); !used[refLower(d)] {
				used[refLower(d)] = true
				vh.Domains = append(vh.Domains, d)
			}
		}
		if len(vh.Domains) == 0 {
			continue // every candidate was taken; an empty domain list is invalid
		}
		for j := range rng.IntN(6) {
			vh.Routes = append(vh.Routes, genRoute(rng, fmt.Sprintf("vh%d-r%d", i, j)))
		}
		rc.VirtualHosts = append(rc.VirtualHosts, vh)
	}
	return rc
}

func genRoute(rng *rand.Rand, name string) *routev3.Route {
	m := &routev3.RouteMatch{}
	switch rng.IntN(6) {
	case 0, 4, 5:
		m.PathSpecifier = &routev3.RouteMatch_Prefix{Prefix: pick(rng, "", "/", "/", "/a", "/A", "/a/b")}
	case 1:
		m.PathSpecifier = &routev3.RouteMatch_Path{Path: pick(rng, "/a", "/a/b", "/mock", "/A1")}
	case 2:
		m.PathSpecifier = &routev3.RouteMatch_SafeRegex{SafeRegex: regex(pick(rng, "/a/.*", "/[ab]+", `/a\d?`, "/(?i)mock"))}
	default:
		m.PathSpecifier = &routev3.RouteMatch_PathSeparatedPrefix{PathSeparatedPrefix: pick(rng, "/a", "/a/b", "/Mock")}
	}
	if rng.IntN(3) == 0 {
		m.CaseSensitive = wrapperspb.Bool(rng.IntN(2) == 0)
	}
	for range pick(rng, 0, 0, 0, 1, 1, 2) {
		m.Headers = append(m.Headers, genHeaderMatcher(rng))
	}
	for range pick(rng, 0, 0, 0, 1) {
		m.QueryParameters = append(m.QueryParameters, genQueryMatcher(rng))
	}
	if rng.IntN(3) > 0 {
		return toCluster(name, m, pick(rng, "c1", "c2", "c3"))
	}
	ws := []weight{{pick(rng, "c1", "c4"), uint32(1 + rng.IntN(5))}}
	for range rng.IntN(3) {
		ws = append(ws, weight{pick(rng, "c2", "c5", "c6"), uint32(rng.IntN(4))})
	}
	rng.Shuffle(len(ws), func(i, j int) { ws[i], ws[j] = ws[j], ws[i] })
	return toWeighted(name, m, ws...)
}

func genStringMatcher(rng *rand.Rand) *matcherv3.StringMatcher {
	var sm *matcherv3.StringMatcher
	switch rng.IntN(5) {
	case 0:
		sm = strExactM(pick(rng, genValues...))
	case 1:
		sm = strPrefixM(pick(rng, "v", "V", "/a", "a"))
	case 2:
		sm = strSuffixM(pick(rng, "1", "2", "b"))
	case 3:
		sm = strContainsM(pick(rng, ",", "1", "A"))
	default:
		return strRegexM(pick(rng, `v\d`, `.*`, `[a-z]+`, `(?i)V1`))
	}
	sm.IgnoreCase = rng.IntN(3) == 0
	return sm
}

func genHeaderMatcher(rng *rand.Rand) *routev3.HeaderMatcher {
	h := &routev3.HeaderMatcher{Name: pick(rng, genHeaderNames...)}
	switch rng.IntN(10) {
	case 0, 1, 2:
		h.HeaderMatchSpecifier = &routev3.HeaderMatcher_StringMatch{StringMatch: genStringMatcher(rng)}
	case 3:
		h.HeaderMatchSpecifier = &routev3.HeaderMatcher_PresentMatch{PresentMatch: rng.IntN(2) == 0}
	case 4:
		h = headerRangeM(h.Name, int64(rng.IntN(10)-5), int64(rng.IntN(10)))
	case 5:
		h.HeaderMatchSpecifier = &routev3.HeaderMatcher_ExactMatch{ExactMatch: pick(rng, genValues...)}
	case 6:
		h.HeaderMatchSpecifier = &routev3.HeaderMatcher_PrefixMatch{PrefixMatch: pick(rng, "v", "/")}
	case 7:
		h.HeaderMatchSpecifier = &routev3.HeaderMatcher_SuffixMatch{SuffixMatch: pick(rng, "1", "com")}
	case 8:
		h.HeaderMatchSpecifier = &routev3.HeaderMatcher_SafeRegexMatch{SafeRegexMatch: regex(pick(rng, `v\d`, `.*\.com`))}
	default:
		// No specifier: present_match true.
	}
	h.InvertMatch = rng.IntN(4) == 0
	h.TreatMissingHeaderAsEmpty = rng.IntN(4) == 0
	return h
}

func genQueryMatcher(rng *rand.Rand) *routev3.QueryParameterMatcher {
	name := pick(rng, "a", "b", "c d", "x")
	switch rng.IntN(3) {
	case 0:
		return query(name, genStringMatcher(rng))
	case 1:
		return queryPresentM(name, rng.IntN(2) == 0)
	default:
		return &routev3.QueryParameterMatcher{Name: name}
	}
}

func genRequest(rng *rand.Rand) *Request {
	r := &Request{
		Method:    pick(rng, "GET", "POST", ""),
		Authority: pick(rng, genAuthorities...),
		Path:      pick(rng, genPaths...),
		Header:    http.Header{},
	}
	for _, name := range []string{"X-Tag", "X-Other"} {
		for range rng.IntN(3) {
			r.Header.Add(name, pick(rng, genValues...))
		}
	}
	return r
}
