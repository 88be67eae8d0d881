package compile_test

import (
	"github.com/lanemesh/lanemesh/internal/meshxds"
	"testing"

	xdstypev3 "github.com/cncf/xds/go/xds/type/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"

	"github.com/lanemesh/lanemesh/internal/compile"
	"github.com/lanemesh/lanemesh/internal/entry"
)

// laneEntryFilters returns the lane-entry filters of every HTTP connection
// manager of the listeners, and the filter names of the first.
func laneEntryFilters(t *testing.T, ls []*listenerv3.Listener) (found []*hcmv3.HttpFilter, first []string) {
	t.Helper()
	for _, l := range ls {
		for _, fc := range l.GetFilterChains() {
			var hcm hcmv3.HttpConnectionManager
			if err := fc.GetFilters()[0].GetTypedConfig().UnmarshalTo(&hcm); err != nil {
				t.Fatal(err)
			}
			for _, f := range hcm.GetHttpFilters() {
				if first == nil {
					first = []string{}
				}
				if len(found) == 0 {
					first = append(first, f.GetName())
				}
				if f.GetName() == entry.FilterName {
					found = append(found, f)
				}
			}
		}
	}
	return found, first
}

// TestLaneEntryPolicySelection: a policy reaches the gateways its selector
// picks, in its namespace or from the root namespace, as the first HTTP
// filter, optional, with the policies in a TypedStruct; never a sidecar,
// and no filter at all without a policy.
func TestLaneEntryPolicySelection(t *testing.T) {
	policy := func(ns, sel string) string {
		return "apiVersion: lanemesh.io/v1alpha1\nkind: LaneEntryPolicy\nmetadata: {name: p, namespace: " + ns + "}\nspec:\n  selector: {matchLabels: " + sel + "}\n  rules: []\n"
	}
	cases := []struct {
		name   string
		yaml   string
		proxy  meshxds.Proxy
		filter bool
	}{
		{"no policy", "", gateway, false},
		{"root namespace, matching selector", policy("istio-system", "{istio: ingressgateway}"), gateway, true},
		{"empty selector", policy("istio-system", "{}"), gateway, true},
		{"other selector", policy("istio-system", "{istio: other}"), gateway, false},
		{"other namespace", policy("team-a", "{istio: ingressgateway}"), gateway, false},
		{"root namespace reaches a gateway elsewhere", policy("istio-system", "{istio: ingressgateway}"),
			meshxds.Proxy{Role: meshxds.Gateway, Namespace: "team-a", Labels: gateway.Labels}, true},
		{"never a sidecar", policy("default", "{}"), sidecar("mocka", "v1"), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, in := load(t, base)
			if diags := c.Parse("p.yaml", []byte(tc.yaml)); diags.HasErrors() {
				t.Fatal(diags.Err())
			}
			res := compile.Compile(c, in, tc.proxy)
			found, first := laneEntryFilters(t, res.Listeners)
			if (len(found) > 0) != tc.filter {
				t.Fatalf("lane-entry filters: %d, want present = %v", len(found), tc.filter)
			}
			if !tc.filter {
				return
			}
			if first[0] != entry.FilterName {
				t.Errorf("filters %v: lane entry must come first, before routing", first)
			}
			f := found[0]
			var ts xdstypev3.TypedStruct
			if !f.GetIsOptional() || f.GetTypedConfig().UnmarshalTo(&ts) != nil || ts.GetTypeUrl() != entry.TypeURL {
				t.Fatalf("filter %v: want an optional TypedStruct of %s", f, entry.TypeURL)
			}
			pols := ts.GetValue().GetFields()["policies"].GetListValue().GetValues()
			if len(pols) != 1 || pols[0].GetStructValue().GetFields()["name"].GetStringValue() != "p" {
				t.Errorf("policies %v, want p", pols)
			}
			if _, err := compile.Snapshot(res); err != nil {
				t.Errorf("snapshot: %v", err)
			}
		})
	}
}
