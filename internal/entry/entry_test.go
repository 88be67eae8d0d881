package entry_test

import (
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/lanemesh/lanemesh/internal/entry"
	"github.com/lanemesh/lanemesh/internal/entry/entrytest"
)

var now = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

// noRemote fails the test if a policy asks for a remote key set.
func noRemote(t *testing.T) func(entry.Source) entry.Keys {
	return func(s entry.Source) entry.Keys {
		t.Fatalf("unexpected remote key source %+v", s)
		return nil
	}
}

func mustPolicy(t *testing.T, spec entry.Spec) *entry.Policy {
	t.Helper()
	p, err := entry.New(entry.Config{Namespace: "istio-system", Name: "lane-entry", Spec: spec}, noRemote(t))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDecideSource(t *testing.T) {
	p := mustPolicy(t, entry.Spec{
		BaselineLanes: []string{"v1"}, NumTrustedProxies: 1,
		Rules: []entry.Rule{
			{SourceCIDRs: []string{"10.0.0.0/8", "2001:db8::/32"}},
			{Lanes: []string{"v3"}, SourceCIDRs: []string{"192.0.2.7"}},
		},
	})
	lb := netip.MustParseAddr("172.16.0.1") // the load balancer in front
	cases := []struct {
		name   string
		lane   string
		xff    []string
		peer   netip.Addr
		denied bool
		reason error
	}{
		{name: "no lane header", lane: "", peer: lb},
		{name: "baseline lane from anywhere", lane: "v1", xff: []string{"203.0.113.9"}, peer: lb},
		{name: "allowed CIDR", lane: "v2", xff: []string{"10.1.2.3"}, peer: lb},
		{name: "allowed IPv6 CIDR", lane: "v2", xff: []string{"2001:db8::1"}, peer: lb},
		{name: "disallowed source", lane: "v2", xff: []string{"203.0.113.9"}, peer: lb, denied: true, reason: entry.ErrSource},
		{name: "forged left entry is not believed", lane: "v2", xff: []string{"10.1.2.3, 203.0.113.9"}, peer: lb, denied: true, reason: entry.ErrSource},
		{name: "trusted hop across header lines", lane: "v2", xff: []string{"203.0.113.9", "10.9.9.9"}, peer: lb},
		{name: "no XFF: the peer is the client", lane: "v2", peer: netip.MustParseAddr("10.0.0.5")},
		{name: "no XFF: a disallowed peer", lane: "v2", peer: lb, denied: true, reason: entry.ErrSource},
		{name: "unparseable XFF entry falls back to the peer", lane: "v2", xff: []string{"10.0.0.1, bogus"}, peer: lb, denied: true, reason: entry.ErrSource},
		{name: "single-address rule for v3 only", lane: "v3", xff: []string{"192.0.2.7"}, peer: lb},
		{name: "single-address rule does not open v2", lane: "v2", xff: []string{"192.0.2.7"}, peer: lb, denied: true, reason: entry.ErrSource},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.lane != "" {
				h.Set("x-asm-prefer-tag", tc.lane)
			}
			v := p.Decide(&entry.Request{Header: h, Peer: tc.peer, ForwardedFor: tc.xff, Now: now})
			if v.Denied != tc.denied {
				t.Fatalf("denied = %v (%v), want %v", v.Denied, v.Reason, tc.denied)
			}
			if tc.reason != nil && !errors.Is(v.Reason, tc.reason) {
				t.Fatalf("reason = %v, want %v", v.Reason, tc.reason)
			}
		})
	}
}

func TestClientAddr(t *testing.T) {
	peer := netip.MustParseAddr("10.0.0.1")
	cases := []struct {
		xff     []string
		trusted int
		want    string
	}{
		{nil, 0, "10.0.0.1"},
		{[]string{"1.1.1.1, 2.2.2.2"}, 0, "10.0.0.1"},
		{[]string{"1.1.1.1, 2.2.2.2"}, 1, "2.2.2.2"},
		{[]string{"1.1.1.1, 2.2.2.2"}, 2, "1.1.1.1"},
		{[]string{"1.1.1.1, 2.2.2.2"}, 3, "10.0.0.1"},
		{[]string{"1.1.1.1", "2.2.2.2,3.3.3.3"}, 3, "1.1.1.1"},
		{[]string{" ::ffff:1.2.3.4 "}, 1, "1.2.3.4"},
		{[]string{"1.1.1.1,,"}, 1, "1.1.1.1"},
	}
	for _, tc := range cases {
		if got := entry.ClientAddr(peer, tc.xff, tc.trusted); got.String() != tc.want {
			t.Errorf("ClientAddr(%q, %d) = %s, want %s", tc.xff, tc.trusted, got, tc.want)
		}
	}
}

func TestDecideJWT(t *testing.T) {
	rs := entrytest.NewRSA(t, "rsa-1")
	ec := entrytest.NewEC(t, "ec-1")
	other := entrytest.NewRSA(t, "rsa-1") // same kid, another key: a forgery
	const iss = "https://ci.example.com"
	p := mustPolicy(t, entry.Spec{
		BaselineLanes: []string{"v1"},
		Rules: []entry.Rule{{JWT: &entry.JWT{
			Issuer: iss, Audiences: []string{"lanemesh", "other"}, Jwks: entrytest.JWKS(rs, ec),
		}}},
	})
	good := func(extra map[string]any) map[string]any {
		c := map[string]any{"iss": iss, "aud": "lanemesh", "exp": now.Add(time.Hour).Unix(), "lane": "v2"}
		for k, v := range extra {
			if v == nil {
				delete(c, k)
			} else {
				c[k] = v
			}
		}
		return c
	}
	cases := []struct {
		name   string
		header string // Authorization
		query  string
		lane   string
		reason error // nil: allowed
	}{
		{name: "valid RS256", header: "Bearer " + rs.Sign(t, good(nil)), lane: "v2"},
		{name: "valid ES256", header: "Bearer " + ec.Sign(t, good(nil)), lane: "v2"},
		{name: "bearer scheme in other case", header: "bearer " + rs.Sign(t, good(nil)), lane: "v2"},
		{name: "token in access_token", query: "a=1&access_token=" + rs.Sign(t, good(nil)), lane: "v2"},
		{name: "audience list", header: "Bearer " + rs.Sign(t, good(map[string]any{"aud": []string{"x", "other"}})), lane: "v2"},
		{name: "lane claim list", header: "Bearer " + rs.Sign(t, good(map[string]any{"lane": []string{"v2", "v3"}})), lane: "v3"},
		{name: "no exp is valid, as in Envoy", header: "Bearer " + rs.Sign(t, good(map[string]any{"exp": nil})), lane: "v2"},
		{name: "expired within clock skew", header: "Bearer " + rs.Sign(t, good(map[string]any{"exp": now.Add(-30 * time.Second).Unix()})), lane: "v2"},
		{name: "no token", lane: "v2", reason: entry.ErrNoToken},
		{name: "expired", header: "Bearer " + rs.Sign(t, good(map[string]any{"exp": now.Add(-2 * time.Minute).Unix()})), lane: "v2", reason: entry.ErrExpired},
		{name: "not yet valid", header: "Bearer " + rs.Sign(t, good(map[string]any{"nbf": now.Add(2 * time.Minute).Unix()})), lane: "v2", reason: entry.ErrNotYetValid},
		{name: "wrong issuer", header: "Bearer " + rs.Sign(t, good(map[string]any{"iss": "https://evil.example.com"})), lane: "v2", reason: entry.ErrIssuer},
		{name: "wrong audience", header: "Bearer " + rs.Sign(t, good(map[string]any{"aud": "someone-else"})), lane: "v2", reason: entry.ErrAudience},
		{name: "no audience", header: "Bearer " + rs.Sign(t, good(map[string]any{"aud": nil})), lane: "v2", reason: entry.ErrAudience},
		{name: "bad signature: another key", header: "Bearer " + other.Sign(t, good(nil)), lane: "v2", reason: entry.ErrSignature},
		{name: "bad signature: payload swapped", header: "Bearer " + swapPayload(rs.Sign(t, good(map[string]any{"lane": "v1"})), rs.Sign(t, good(nil))), lane: "v2", reason: entry.ErrSignature},
		{name: "alg none", header: "Bearer " + noneToken(good(nil)), lane: "v2", reason: entry.ErrAlgorithm},
		{name: "garbage", header: "Bearer not.a.token", lane: "v2", reason: entry.ErrMalformed},
		{name: "claim missing", header: "Bearer " + rs.Sign(t, good(map[string]any{"lane": nil})), lane: "v2", reason: entry.ErrClaimMissing},
		{name: "claim names another lane", header: "Bearer " + rs.Sign(t, good(map[string]any{"lane": "v3"})), lane: "v2", reason: entry.ErrClaimLane},
		{name: "claim list without the lane", header: "Bearer " + rs.Sign(t, good(map[string]any{"lane": []string{"v3", "v4"}})), lane: "v2", reason: entry.ErrClaimLane},
		{name: "baseline needs no token", lane: "v1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{"X-Asm-Prefer-Tag": {tc.lane}}
			if tc.header != "" {
				h.Set("Authorization", tc.header)
			}
			v := p.Decide(&entry.Request{Header: h, Query: tc.query, Peer: netip.MustParseAddr("203.0.113.1"), Now: now})
			if tc.reason == nil {
				if v.Denied {
					t.Fatalf("denied: %v", v.Reason)
				}
				return
			}
			if !v.Denied || !errors.Is(v.Reason, tc.reason) {
				t.Fatalf("denied = %v, reason %v; want denied for %v", v.Denied, v.Reason, tc.reason)
			}
		})
	}
}

// swapPayload puts the payload of b under the header and signature of a.
func swapPayload(a, b string) string {
	pa := strings.Split(a, ".")
	pb := strings.Split(b, ".")
	return pa[0] + "." + pb[1] + "." + pa[2]
}

func noneToken(claims map[string]any) string {
	t := entrytest.NewRSA(&testing.T{}, "x").Sign(&testing.T{}, claims)
	parts := strings.Split(t, ".")
	return "eyJhbGciOiJub25lIn0." + parts[1] + "."
}

func TestDecideRuleConditionsAreANDed(t *testing.T) {
	rs := entrytest.NewRSA(t, "k")
	p := mustPolicy(t, entry.Spec{Rules: []entry.Rule{{
		SourceCIDRs: []string{"10.0.0.0/8"},
		JWT: &entry.JWT{Issuer: "i", Jwks: entrytest.JWKS(rs),
			FromHeaders: []entry.JWTHeader{{Name: "x-ci-token"}}, LaneClaim: "lanes"},
	}}})
	tok := rs.Sign(t, map[string]any{"iss": "i", "lanes": []string{"v2"}})
	cases := []struct {
		name   string
		peer   string
		header http.Header
		denied bool
	}{
		{"both", "10.1.1.1", http.Header{"X-Ci-Token": {tok}}, false},
		{"token from the wrong network", "192.0.2.1", http.Header{"X-Ci-Token": {tok}}, true},
		{"network without token", "10.1.1.1", http.Header{}, true},
		{"token in Authorization is not looked at", "10.1.1.1", http.Header{"Authorization": {"Bearer " + tok}}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.header.Set("X-Asm-Prefer-Tag", "v2")
			v := p.Decide(&entry.Request{Header: tc.header, Peer: netip.MustParseAddr(tc.peer), Now: now})
			if v.Denied != tc.denied {
				t.Fatalf("denied = %v (%v), want %v", v.Denied, v.Reason, tc.denied)
			}
		})
	}
}

func TestBaggageAndStrip(t *testing.T) {
	p := mustPolicy(t, entry.Spec{
		LaneHeaders: []string{"x-asm-prefer-tag", "my-lane"}, BaselineLanes: []string{"v1"},
		Rules: []entry.Rule{{SourceCIDRs: []string{"10.0.0.0/8"}}},
	})
	outside := netip.MustParseAddr("203.0.113.1")
	cases := []struct {
		name        string
		header      http.Header
		denied      bool
		wantBaggage []string
	}{
		{"baggage member asks for a lane", http.Header{"Baggage": {"userId=alice, x-asm-prefer-tag=v2;p=1"}}, true, []string{"userId=alice"}},
		{"baggage member in other case and percent-encoded", http.Header{"Baggage": {"X-Asm-Prefer-Tag=%76%32"}}, true, nil},
		{"baggage baseline member", http.Header{"Baggage": {"x-asm-prefer-tag=v1,k=v"}}, false, []string{"x-asm-prefer-tag=v1,k=v"}},
		{"unrelated baggage", http.Header{"Baggage": {"k=v"}}, false, []string{"k=v"}},
		{"second guarded header", http.Header{"My-Lane": {"v3"}, "Baggage": {"a=b", "my-lane=v3"}}, true, []string{"a=b"}},
		{"one allowed, one baseline", http.Header{"X-Asm-Prefer-Tag": {"v1"}}, false, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := p.Decide(&entry.Request{Header: tc.header, Peer: outside, Now: now})
			if v.Denied != tc.denied {
				t.Fatalf("denied = %v (%v), want %v", v.Denied, v.Reason, tc.denied)
			}
			if !v.Denied {
				return
			}
			p.Strip(tc.header)
			if tc.header.Get("X-Asm-Prefer-Tag") != "" || tc.header.Get("My-Lane") != "" {
				t.Fatalf("lane headers left: %v", tc.header)
			}
			if got := tc.header["Baggage"]; strings.Join(got, "|") != strings.Join(tc.wantBaggage, "|") {
				t.Fatalf("baggage = %q, want %q", got, tc.wantBaggage)
			}
		})
	}
}

func TestNewRejects(t *testing.T) {
	cases := map[string]entry.Spec{
		"bad CIDR":   {Rules: []entry.Rule{{SourceCIDRs: []string{"10.0.0.0/33"}}}},
		"no jwks":    {Rules: []entry.Rule{{JWT: &entry.JWT{Issuer: "i"}}}},
		"bad jwks":   {Rules: []entry.Rule{{JWT: &entry.JWT{Issuer: "i", Jwks: `{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}`}}}},
		"empty jwks": {Rules: []entry.Rule{{JWT: &entry.JWT{Issuer: "i", Jwks: `{"keys":[]}`}}}},
	}
	for name, spec := range cases {
		if _, err := entry.New(entry.Config{Name: "p", Spec: spec}, noRemote(t)); !errors.Is(err, entry.ErrConfig) {
			t.Errorf("%s: err = %v, want ErrConfig", name, err)
		}
	}
}

func TestDecideWithoutLaneDoesNotAllocate(t *testing.T) {
	p := mustPolicy(t, entry.Spec{BaselineLanes: []string{"v1"}, Rules: []entry.Rule{{SourceCIDRs: []string{"10.0.0.0/8"}}}})
	r := &entry.Request{Header: http.Header{"Accept": {"*/*"}, "Baggage": {"k=v"}}, Now: now}
	if n := testing.AllocsPerRun(100, func() { p.Decide(r) }); n != 0 {
		t.Fatalf("Decide without a lane allocates %v times", n)
	}
	r.Header.Set("X-Asm-Prefer-Tag", "v1")
	if n := testing.AllocsPerRun(100, func() { p.Decide(r) }); n != 0 {
		t.Fatalf("Decide with the baseline lane allocates %v times", n)
	}
}

// TestCachedTokenIsJudgedAfresh: a token remembered as verified still
// expires, and still names only its lanes.
func TestCachedTokenIsJudgedAfresh(t *testing.T) {
	rs := entrytest.NewRSA(t, "k")
	p := mustPolicy(t, entry.Spec{Rules: []entry.Rule{{JWT: &entry.JWT{Issuer: "i", Jwks: entrytest.JWKS(rs)}}}})
	tok := "Bearer " + rs.Sign(t, map[string]any{"iss": "i", "lane": "v2", "exp": now.Add(time.Hour).Unix()})
	ask := func(lane string, at time.Time) entry.Verdict {
		return p.Decide(&entry.Request{Header: http.Header{"X-Asm-Prefer-Tag": {lane}, "Authorization": {tok}}, Now: at})
	}
	if v := ask("v2", now); v.Denied {
		t.Fatalf("first use: %v", v.Reason)
	}
	if v := ask("v2", now); v.Denied {
		t.Fatalf("second use (cached): %v", v.Reason)
	}
	if v := ask("v3", now); !errors.Is(v.Reason, entry.ErrClaimLane) {
		t.Fatalf("cached token for another lane: %v, want ErrClaimLane", v.Reason)
	}
	if v := ask("v2", now.Add(2*time.Hour)); !errors.Is(v.Reason, entry.ErrExpired) {
		t.Fatalf("cached token after exp: %v, want ErrExpired", v.Reason)
	}
}
