package proxy

import (
	"context"
	"net/http"
	"net/netip"
	"testing"
)

func TestRouteAuthority(t *testing.T) {
	dst := netip.MustParseAddrPort("10.96.0.7:8000")
	captured := context.WithValue(context.Background(), origDstKey{}, dst)
	for _, tc := range []struct {
		host     string
		captured bool
		want     string
	}{
		{"mockb", false, "mockb"},          // HTTP_PROXY: the Host as it is
		{"mockb", true, "mockb:8000"},      // redirected: the port called
		{"mockb:9000", true, "mockb:9000"}, // a port named wins
		{"", true, "10.96.0.7:8000"},       // no Host: the address called
		{"[fd00::1]", true, "[fd00::1]:8000"},
		{"[fd00::1]:81", true, "[fd00::1]:81"},
	} {
		ctx := context.Background()
		if tc.captured {
			ctx = captured
		}
		r := (&http.Request{Host: tc.host}).WithContext(ctx)
		if got := routeAuthority(r); got != tc.want {
			t.Errorf("routeAuthority(%q, captured %v) = %q, want %q", tc.host, tc.captured, got, tc.want)
		}
	}
}
