package route

import (
	"errors"
	"net/http"
	"testing"

	"github.com/cespare/xxhash/v2"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	corsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func headerHash(name string) *routev3.RouteAction_HashPolicy {
	return &routev3.RouteAction_HashPolicy{PolicySpecifier: &routev3.RouteAction_HashPolicy_Header_{Header: &routev3.RouteAction_HashPolicy_Header{HeaderName: name}}}
}

func cookieHash(name, path string, ttl *durationpb.Duration) *routev3.RouteAction_HashPolicy {
	return &routev3.RouteAction_HashPolicy{PolicySpecifier: &routev3.RouteAction_HashPolicy_Cookie_{Cookie: &routev3.RouteAction_HashPolicy_Cookie{Name: name, Path: path, Ttl: ttl}}}
}

func queryHash(name string) *routev3.RouteAction_HashPolicy {
	return &routev3.RouteAction_HashPolicy{PolicySpecifier: &routev3.RouteAction_HashPolicy_QueryParameter_{QueryParameter: &routev3.RouteAction_HashPolicy_QueryParameter{Name: name}}}
}

var sourceIPHash = &routev3.RouteAction_HashPolicy{PolicySpecifier: &routev3.RouteAction_HashPolicy_ConnectionProperties_{
	ConnectionProperties: &routev3.RouteAction_HashPolicy_ConnectionProperties{SourceIp: true}}}

func rotate(h uint64) uint64 { return h<<1 | h>>63 }

// TestHashPolicy: Envoy's hash methods and how they combine.
func TestHashPolicy(t *testing.T) {
	x := xxhash.Sum64String
	req := &Request{Method: "GET", Authority: "shop", Path: "/cart?user=u%201&user=second&flag",
		Header:     http.Header{"X-User": {"alice"}, "X-Multi": {"b", "a"}, "Cookie": {"a=1; session=\"s1\"", "session=late"}},
		RemoteAddr: "10.0.0.9:5555", LocalAddr: "10.0.0.1:80"}
	cases := []struct {
		name     string
		policies []*routev3.RouteAction_HashPolicy
		want     Hash
	}{
		{"header", []*routev3.RouteAction_HashPolicy{headerHash("x-user")}, Hash{Value: x("alice"), OK: true}},
		{"header values sorted, as one stream", []*routev3.RouteAction_HashPolicy{headerHash("x-multi")}, Hash{Value: x("ab"), OK: true}},
		{"authority pseudo-header", []*routev3.RouteAction_HashPolicy{headerHash(":authority")}, Hash{Value: x("shop"), OK: true}},
		{"missing header", []*routev3.RouteAction_HashPolicy{headerHash("x-none")}, Hash{}},
		{"cookie, first, unquoted", []*routev3.RouteAction_HashPolicy{cookieHash("session", "", nil)}, Hash{Value: x("s1"), OK: true}},
		{"source ip", []*routev3.RouteAction_HashPolicy{sourceIPHash}, Hash{Value: x("10.0.0.9"), OK: true}},
		{"query, first, raw", []*routev3.RouteAction_HashPolicy{queryHash("user")}, Hash{Value: x("u%201"), OK: true}},
		{"query without value", []*routev3.RouteAction_HashPolicy{queryHash("flag")}, Hash{Value: x(""), OK: true}},
		{"combined: rotate, then xor", []*routev3.RouteAction_HashPolicy{headerHash("x-user"), sourceIPHash},
			Hash{Value: rotate(x("alice")) ^ x("10.0.0.9"), OK: true}},
		{"a missing key contributes nothing", []*routev3.RouteAction_HashPolicy{headerHash("x-none"), sourceIPHash}, Hash{Value: x("10.0.0.9"), OK: true}},
		{"terminal stops once a hash exists", []*routev3.RouteAction_HashPolicy{
			{PolicySpecifier: headerHash("x-user").PolicySpecifier, Terminal: true}, sourceIPHash}, Hash{Value: x("alice"), OK: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hp, err := compileHashPolicy(tc.policies)
			if err != nil {
				t.Fatal(err)
			}
			if got := hp.Compute(req); got != tc.want {
				t.Errorf("Compute = %+v, want %+v", got, tc.want)
			}
			if allocs := testing.AllocsPerRun(100, func() { _ = hp.Compute(req) }); allocs != 0 {
				t.Errorf("Compute allocates %v times", allocs)
			}
		})
	}
}

// TestHashCookieMadeUp: a cookie policy with a ttl makes the cookie up
// from the connection's addresses and asks for it to be set.
func TestHashCookieMadeUp(t *testing.T) {
	hp, _ := compileHashPolicy([]*routev3.RouteAction_HashPolicy{cookieHash("sid", "/app", durationpb.New(90_000_000_000))})
	r := &Request{Header: http.Header{}, RemoteAddr: "10.0.0.9:5555", LocalAddr: "10.0.0.1:80"}
	got := hp.Compute(r)
	var d xxhash.Digest
	d.Reset()
	_, _ = d.WriteString("10.0.0.9:5555")
	_, _ = d.WriteString("10.0.0.1:80")
	value := "00000000000000000000" + strconvHex(d.Sum64())
	value = value[len(value)-16:]
	if want := `sid="` + value + `"; Max-Age=90; Path=/app; HttpOnly`; got.SetCookie != want || !got.OK || got.Value != xxhash.Sum64String(value) {
		t.Errorf("Compute = %+v, want Set-Cookie %q and the hash of %q", got, want, value)
	}
	// A zero ttl makes a session cookie: no Max-Age.
	hp, _ = compileHashPolicy([]*routev3.RouteAction_HashPolicy{cookieHash("sid", "", durationpb.New(0))})
	if got := hp.Compute(r).SetCookie; got != `sid="`+value+`"; HttpOnly` {
		t.Errorf("zero ttl: Set-Cookie %q", got)
	}
	// No ttl: nothing is made up.
	hp, _ = compileHashPolicy([]*routev3.RouteAction_HashPolicy{cookieHash("sid", "", nil)})
	if got := hp.Compute(r); got.OK || got.SetCookie != "" {
		t.Errorf("no ttl: %+v", got)
	}
}

func strconvHex(v uint64) string {
	const digits = "0123456789abcdef"
	var b [16]byte
	for i := 15; i >= 0; i-- {
		b[i] = digits[v&15]
		v >>= 4
	}
	return string(b[:])
}

func corsAny(t *testing.T, p *corsv3.CorsPolicy) map[string]*anypb.Any {
	t.Helper()
	a, err := anypb.New(p)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]*anypb.Any{CorsFilterName: a}
}

func exactOrigin(o string) *matcherv3.StringMatcher {
	return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: o}}
}

// TestCORSCheck: Envoy's CORS decode step, and the route's policy
// overriding its virtual host's attribute by attribute.
func TestCORSCheck(t *testing.T) {
	route := &corsv3.CorsPolicy{AllowOriginStringMatch: []*matcherv3.StringMatcher{exactOrigin("https://a.example")},
		ForwardNotMatchingPreflights: wrapperspb.Bool(false)}
	vhost := &corsv3.CorsPolicy{AllowOriginStringMatch: []*matcherv3.StringMatcher{exactOrigin("https://vhost.example")},
		AllowMethods: "GET", AllowCredentials: wrapperspb.Bool(true)}
	c, err := compileCORS(corsAny(t, route), corsAny(t, vhost))
	if err != nil {
		t.Fatal(err)
	}
	if c.AllowMethods != "GET" || !c.AllowCredentials || c.ForwardUnmatched || c.Allows("https://vhost.example") {
		t.Errorf("merged policy %+v: want the vhost's methods and credentials, the route's origins and preflight rule", c)
	}
	pre := http.Header{"Origin": {"https://a.example"}, "Access-Control-Request-Method": {"POST"}}
	cases := []struct {
		name   string
		method string
		header http.Header
		want   CORSVerdict
	}{
		{"no origin", "GET", http.Header{}, CORSNone},
		{"allowed actual", "GET", http.Header{"Origin": {"https://a.example"}}, CORSActual},
		{"allowed OPTIONS without request method", "OPTIONS", http.Header{"Origin": {"https://a.example"}}, CORSActual},
		{"allowed preflight", "OPTIONS", pre, CORSPreflight},
		{"foreign actual", "GET", http.Header{"Origin": {"https://b.example"}}, CORSNone},
		{"foreign preflight, not forwarded", "OPTIONS", http.Header{"Origin": {"https://b.example"}, "Access-Control-Request-Method": {"GET"}}, CORSRefusePreflight},
	}
	for _, tc := range cases {
		r := &Request{Method: tc.method, Header: tc.header}
		if got := c.Check(r, 0); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
		if allocs := testing.AllocsPerRun(100, func() { _ = c.Check(r, 0) }); allocs != 0 {
			t.Errorf("%s: Check allocates %v times", tc.name, allocs)
		}
	}
	// An allowed origin that matches "*" allows every origin.
	star, _ := compileCORS(corsAny(t, &corsv3.CorsPolicy{AllowOriginStringMatch: []*matcherv3.StringMatcher{{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: "*"}}}}), nil)
	if !star.Allows("https://anything.example") {
		t.Error(`a prefix "*" origin does not allow every origin`)
	}
	// filter_enabled at 25%: draws below a quarter run the filter.
	half, _ := compileCORS(corsAny(t, &corsv3.CorsPolicy{AllowOriginStringMatch: []*matcherv3.StringMatcher{exactOrigin("https://a.example")},
		FilterEnabled: &corev3.RuntimeFractionalPercent{DefaultValue: &typev3.FractionalPercent{Numerator: 25}}}), nil)
	r := &Request{Method: "GET", Header: http.Header{"Origin": {"https://a.example"}}}
	if half.Check(r, 24) != CORSActual || half.Check(r, 25) != CORSNone {
		t.Error("filter_enabled 25% does not split draws at 25")
	}
}

// TestMirrors: mirror policies, their shares and the shadow host.
func TestMirrors(t *testing.T) {
	ms, err := compileMirrors([]*routev3.RouteAction_RequestMirrorPolicy{
		{Cluster: "all"},
		{Cluster: "tenth", RuntimeFraction: &corev3.RuntimeFractionalPercent{DefaultValue: &typev3.FractionalPercent{Numerator: 100_000, Denominator: typev3.FractionalPercent_MILLION}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !ms[0].Fires(999_999) || !ms[1].Fires(99_999) || ms[1].Fires(100_000) || ms[1].Percent() != 10 {
		t.Errorf("mirror shares: %+v", ms)
	}
	if allocs := testing.AllocsPerRun(100, func() { _ = ms[1].Fires(7) }); allocs != 0 {
		t.Errorf("Fires allocates %v times", allocs)
	}
	for host, want := range map[string]string{"mockb": "mockb-shadow", "mockb:8000": "mockb-shadow:8000", "[::1]:80": "[::1]-shadow:80", "[::1]": "[::1]-shadow"} {
		if got := ShadowHost(host); got != want {
			t.Errorf("ShadowHost(%q) = %q, want %q", host, got, want)
		}
	}
	if _, err := compileMirrors([]*routev3.RouteAction_RequestMirrorPolicy{{ClusterHeader: "x-cluster"}}); !errors.Is(err, ErrUnsupported) {
		t.Errorf("cluster_header: %v, want ErrUnsupported", err)
	}
}

// FuzzPolicies: hashing, cookie parsing and the CORS check never panic on
// any request, and a hash depends on the request only.
func FuzzPolicies(f *testing.F) {
	hp, err := compileHashPolicy([]*routev3.RouteAction_HashPolicy{headerHash("x-user"), cookieHash("sid", "/", durationpb.New(0)),
		queryHash("cart"), sourceIPHash})
	if err != nil {
		f.Fatal(err)
	}
	cors, err := compileCORS(map[string]*anypb.Any{}, nil)
	if err != nil || cors != nil {
		f.Fatalf("no policy compiled to %v, %v", cors, err)
	}
	p := &corsv3.CorsPolicy{AllowOriginStringMatch: []*matcherv3.StringMatcher{exactOrigin("https://a.example"),
		{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: `https://[a-z]+\.example\.org`}}}}}
	a, _ := anypb.New(p)
	if cors, err = compileCORS(map[string]*anypb.Any{CorsFilterName: a}, nil); err != nil {
		f.Fatal(err)
	}
	f.Add("alice", `a=1; sid="x"`, "/p?cart=1&x", "10.0.0.1:80", "https://a.example", "OPTIONS", "GET")
	f.Add("", "sid", "?cart", "[::1]:9", "", "GET", "")
	f.Add("b\x00", `;;=;sid=""`, "/?=&&cart=%zz", "weird", "https://x.example.org", "OPTIONS", "")
	f.Fuzz(func(t *testing.T, user, cookie, path, remote, origin, method, reqMethod string) {
		r := &Request{Method: method, Path: path, RemoteAddr: remote, LocalAddr: "10.0.0.2:80",
			Header: http.Header{"X-User": {user, cookie}, "Cookie": {cookie}, "Origin": {origin}, "Access-Control-Request-Method": {reqMethod}}}
		if a, b := hp.Compute(r), hp.Compute(r); a != b {
			t.Fatalf("hash of one request differs: %+v, %+v", a, b)
		}
		_, _ = CookieValue(r.Header, "sid")
		v := cors.Check(r, 0)
		if v == CORSPreflight && method != "OPTIONS" || v != CORSNone && origin == "" {
			t.Fatalf("verdict %v for method %q origin %q", v, method, origin)
		}
	})
}
