package explain

import (
	"github.com/lanemesh/lanemesh/internal/meshxds"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lanemesh/lanemesh/internal/compile"
	"github.com/lanemesh/lanemesh/internal/config"
	"github.com/lanemesh/lanemesh/internal/local"
)

// TestLaneEntryIsExplained: explain applies examples/lane-entry's policy as
// the gateway does: an unknown client asking for v2 is routed as the
// baseline, with a note naming the policy; a client in the CIDR, or the
// demo CI token, keeps v2.
func TestLaneEntryIsExplained(t *testing.T) {
	c, diags := config.Load([]string{"../../examples/traffic-lanes", "../../examples/lane-entry"}, nil)
	if diags.HasErrors() {
		t.Fatal(diags.Err())
	}
	gw := meshxds.Proxy{Role: meshxds.Gateway, Namespace: "istio-system", Labels: map[string]string{"istio": "ingressgateway"}}
	res := compile.Compile(c, local.Predict(c), gw)
	tok, err := os.ReadFile("../../examples/lane-entry/ci-token-v2.jwt")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		headers []string
		client  string
		want    string // the pod that serves
		denied  bool
	}{
		{"unknown client", []string{"x-asm-prefer-tag: v2"}, "", "mocka-v1-0", true},
		{"client in the CIDR", []string{"x-asm-prefer-tag: v2"}, "10.1.2.3", "mocka-v2-0", false},
		{"demo CI token", []string{"x-asm-prefer-tag: v2", "Authorization: Bearer " + strings.TrimSpace(string(tok))}, "", "mocka-v2-0", false},
		{"baseline", []string{"x-asm-prefer-tag: v1"}, "", "mocka-v1-0", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := Request("GET", "http://gateway/mock", tc.headers)
			if err != nil {
				t.Fatal(err)
			}
			var client netip.Addr
			if tc.client != "" {
				client = netip.MustParseAddr(tc.client)
			}
			rc := RouteConfigForRequest(res, meshxds.Gateway, req)
			note, err := LaneEntry(res, rc, req, client, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if (note != "") != tc.denied || tc.denied && !strings.Contains(note, "istio-system/lane-entry") {
				t.Fatalf("note %q, want denied = %v", note, tc.denied)
			}
			r, err := Explain(res, rc, req)
			if err != nil {
				t.Fatal(err)
			}
			if pod := r.Endpoints[0].Pod; !strings.HasSuffix(pod, tc.want) {
				t.Fatalf("served by %s, want %s", pod, tc.want)
			}
		})
	}
}
