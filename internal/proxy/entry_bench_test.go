package proxy

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/lanemesh/lanemesh/internal/meshxds"

	"github.com/lanemesh/lanemesh/internal/entry"
	"github.com/lanemesh/lanemesh/internal/entry/entrytest"
)

// benchEntry is a gateway proxy (not running) and a lane-entry filter with
// a CIDR rule and a token rule of RS256 and ES256 keys.
func benchEntry(b testing.TB) (*Proxy, *laneEntry, *entrytest.Signer, *entrytest.Signer) {
	rs, ec := entrytest.NewRSA(b, "rs"), entrytest.NewEC(b, "ec")
	pol, err := entry.New(entry.Config{Namespace: "istio-system", Name: "bench", Spec: entry.Spec{
		BaselineLanes: []string{"v1"}, NumTrustedProxies: 1,
		Rules: []entry.Rule{
			{SourceCIDRs: []string{"10.0.0.0/8"}},
			{JWT: &entry.JWT{Issuer: "ci", Jwks: entrytest.JWKS(rs, ec)}},
		}}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	p, err := New(Options{Role: meshxds.Gateway})
	if err != nil {
		b.Fatal(err)
	}
	return p, &laneEntry{policies: []*entry.Policy{pol}}, rs, ec
}

// BenchmarkLaneEntry is the cost lane entry adds to a gateway request, by
// kind of request: it runs admit alone, on a fresh header each time.
func BenchmarkLaneEntry(b *testing.B) {
	p, le, rs, ec := benchEntry(b)
	claims := map[string]any{"iss": "ci", "lane": "v2", "exp": time.Now().Add(time.Hour).Unix()}
	for _, bc := range []struct {
		name   string
		header http.Header
		xff    []string
	}{
		{"no-lane", http.Header{"Accept": {"*/*"}}, nil},
		{"baseline", http.Header{"X-Asm-Prefer-Tag": {"v1"}}, nil},
		{"cidr-allowed", http.Header{"X-Asm-Prefer-Tag": {"v2"}}, []string{"10.1.2.3"}},
		{"rs256-allowed", http.Header{"X-Asm-Prefer-Tag": {"v2"}, "Authorization": {"Bearer " + rs.Sign(b, claims)}}, []string{"203.0.113.9"}},
		{"es256-allowed", http.Header{"X-Asm-Prefer-Tag": {"v2"}, "Authorization": {"Bearer " + ec.Sign(b, claims)}}, []string{"203.0.113.9"}},
		{"denied", http.Header{"X-Asm-Prefer-Tag": {"v2"}}, []string{"203.0.113.9"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := &http.Request{Header: http.Header{}, URL: &url.URL{Path: "/mock"}, RemoteAddr: "127.0.0.1:5000"}
			x := &exchange{p: p, r: r, start: time.Now()}
			b.ReportAllocs()
			for b.Loop() {
				for k, v := range bc.header {
					r.Header[k] = v
				}
				le.admit(x, bc.xff)
			}
		})
	}
}

// TestLaneEntryNoLaneIsFree: a request without a lane, or with the
// baseline, costs no allocation in the filter.
func TestLaneEntryNoLaneIsFree(t *testing.T) {
	p, le, _, _ := benchEntry(t)
	for _, h := range []http.Header{{"Accept": {"*/*"}}, {"X-Asm-Prefer-Tag": {"v1"}, "Baggage": {"k=v"}}} {
		r := &http.Request{Header: h, URL: &url.URL{Path: "/mock"}, RemoteAddr: "127.0.0.1:5000"}
		x := &exchange{p: p, r: r, start: time.Now()}
		if n := testing.AllocsPerRun(100, func() { le.admit(x, nil) }); n != 0 {
			t.Errorf("%v: %v allocations", h, n)
		}
	}
}
