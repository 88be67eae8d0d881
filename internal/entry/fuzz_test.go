package entry_test

import (
	"net/http"
	"net/netip"
	"testing"

	"github.com/lanemesh/lanemesh/internal/entry"
	"github.com/lanemesh/lanemesh/internal/entry/entrytest"
)

// FuzzDecide feeds arbitrary lane headers, baggage, X-Forwarded-For and
// tokens to a policy: Decide never panics, never lets a request into a
// lane without a valid token or an allowed address, and Strip always
// leaves a request that asks for no lane outside the baseline.
func FuzzDecide(f *testing.F) {
	rs := entrytest.NewRSA(f, "k")
	valid := rs.Sign(f, map[string]any{"iss": "i", "lane": []string{"v2"}})
	f.Add("v2", "x-asm-prefer-tag=v3,a=b", "10.0.0.1, 192.0.2.1", "Bearer "+valid)
	f.Add("v1", "", "", "")
	f.Add("", "x-asm-prefer-tag=%zz;p", ",,,", "Bearer a.b.c")
	f.Add("v2", "=,;=", "::ffff:10.0.0.1", "bearer "+valid[:len(valid)-3]+"AAA")
	p, err := entry.New(entry.Config{Name: "fuzz", Spec: entry.Spec{
		BaselineLanes: []string{"v1"}, NumTrustedProxies: 2,
		Rules: []entry.Rule{
			{SourceCIDRs: []string{"10.0.0.0/8"}, Lanes: []string{"v3"}},
			{JWT: &entry.JWT{Issuer: "i", Jwks: entrytest.JWKS(rs)}},
		}}}, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, lane, baggage, xff, auth string) {
		h := http.Header{}
		if lane != "" {
			h.Set("X-Asm-Prefer-Tag", lane)
		}
		if baggage != "" {
			h.Set("Baggage", baggage)
		}
		if auth != "" {
			h.Set("Authorization", auth)
		}
		r := &entry.Request{Header: h, Peer: netip.MustParseAddr("192.0.2.1"), ForwardedFor: []string{xff}, Now: now}
		v := p.Decide(r)
		if v.Lane == "v2" && !v.Denied && auth != "Bearer "+valid && auth != "bearer "+valid {
			t.Fatalf("entered v2 without the valid token: auth %q", auth)
		}
		if v.Denied {
			p.Strip(h)
			if v2 := p.Decide(r); v2.Lane != "" || v2.Denied {
				t.Fatalf("after Strip the request still asks for lane %q (headers %v)", v2.Lane, h)
			}
		}
	})
}
