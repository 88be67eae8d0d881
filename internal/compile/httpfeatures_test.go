package compile_test

import (
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	corsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/encoding/prototext"

	"github.com/lanemesh/lanemesh/internal/compile"
	"github.com/lanemesh/lanemesh/internal/meshxds"
)

const features = "../config/testdata/valid/http-features.yaml"

func clusterNamed(t *testing.T, res *meshxds.Resources, name string) *clusterv3.Cluster {
	t.Helper()
	for _, c := range res.Clusters {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no cluster %s", name)
	return nil
}

// TestConsistentHashClusters: Istio's ApplyRingHashLoadBalancer, with the
// DestinationRule's merge rules: top level (ringHash 2048), the port's
// entry replacing it wholesale (maglev 65537), subsets (useSourceIp
// without an algorithm: RING_HASH with Envoy's 1024; ringHash 4096).
func TestConsistentHashClusters(t *testing.T) {
	c, in := load(t, features)
	res := compile.Compile(c, in, sidecar("client", "v1"))
	cases := map[string]string{
		"outbound|8000||shop.default.svc.cluster.local":        "MAGLEV 65537",
		"outbound|8000|v1|shop.default.svc.cluster.local":      "RING_HASH 1024",
		"outbound|8000|v2|shop.default.svc.cluster.local":      "RING_HASH 4096",
		"outbound|8000||shop-canary.default.svc.cluster.local": "RING_HASH 1024",
	}
	for name, want := range cases {
		cl := clusterNamed(t, res, name)
		size := cl.GetRingHashLbConfig().GetMinimumRingSize().GetValue() + cl.GetMaglevLbConfig().GetTableSize().GetValue()
		if got := cl.LbPolicy.String() + " " + itoa(size); got != want {
			t.Errorf("%s: %s, want %s", name, got, want)
		}
	}
}

func itoa(v uint64) string {
	if v == 0 {
		return "0"
	}
	var b []byte
	for ; v > 0; v /= 10 {
		b = append([]byte{byte('0' + v%10)}, b...)
	}
	return string(b)
}

// TestHTTPFeatureRoutes: the routes carry Istio's hash policies (the
// subset's, since the destinations name no port), request mirror
// policies with their fractions, and the CORS filter's per-route policy;
// the listener runs the CORS filter between fault and router.
func TestHTTPFeatureRoutes(t *testing.T) {
	c, in := load(t, features)
	res := compile.Compile(c, in, sidecar("client", "v1"))
	var routes []*routev3.Route
	for _, vh := range res.Routes[0].VirtualHosts {
		if vh.Name == "shop.default.svc.cluster.local:8000" {
			routes = vh.Routes
		}
	}
	if len(routes) != 2 {
		t.Fatalf("shop has %d routes, want 2", len(routes))
	}
	api, rest := routes[0].GetRoute(), routes[1].GetRoute()
	if len(api.HashPolicy) != 1 || !api.HashPolicy[0].GetConnectionProperties().GetSourceIp() {
		t.Errorf("route 0 hash policy %v, want the v1 subset's source IP", api.HashPolicy)
	}
	if got := rest.HashPolicy[0].GetQueryParameter().GetName(); got != "user" {
		t.Errorf("route 1 hash policy %v, want the v2 subset's query parameter", rest.HashPolicy)
	}
	if m := api.RequestMirrorPolicies; len(m) != 1 || m[0].Cluster != "outbound|8000||shop-canary.default.svc.cluster.local" ||
		m[0].RuntimeFraction.DefaultValue.Numerator != 125_000 || m[0].TraceSampled.GetValue() {
		t.Errorf("route 0 mirrors %v, want shop-canary at 12.5%%", m)
	}
	if m := rest.RequestMirrorPolicies; len(m) != 2 || m[0].RuntimeFraction.DefaultValue.Numerator != 500_000 ||
		m[1].Cluster != "outbound|8000|v2|shop.default.svc.cluster.local" || m[1].RuntimeFraction.DefaultValue.Numerator != 1_000_000 {
		t.Errorf("route 1 mirrors %v, want canary at 50%% and v2 at 100%%", m)
	}
	var cors corsv3.CorsPolicy
	if err := routes[0].TypedPerFilterConfig[meshxds.CorsFilter].UnmarshalTo(&cors); err != nil {
		t.Fatal(err)
	}
	if cors.AllowMethods != "GET,POST" || cors.AllowHeaders != "content-type,x-user" || cors.ExposeHeaders != "x-trace" || cors.MaxAge != "86400" ||
		!cors.AllowCredentials.GetValue() || cors.ForwardNotMatchingPreflights.GetValue() || len(cors.AllowOriginStringMatch) != 3 ||
		cors.FilterEnabled.DefaultValue.Numerator != 100 {
		t.Errorf("route 0 CORS policy %v", prototext.Format(&cors))
	}
	if err := routes[1].TypedPerFilterConfig[meshxds.CorsFilter].UnmarshalTo(&cors); err != nil {
		t.Fatal(err)
	}
	if len(cors.AllowOriginStringMatch) != 1 || cors.AllowOriginStringMatch[0].GetExact() != "https://legacy.example.com" || !cors.ForwardNotMatchingPreflights.GetValue() {
		t.Errorf("route 1 (legacy allowOrigin) CORS policy %v", prototext.Format(&cors))
	}
	var hcm hcmv3.HttpConnectionManager
	if err := res.Listeners[0].FilterChains[0].Filters[0].GetTypedConfig().UnmarshalTo(&hcm); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range hcm.HttpFilters {
		names = append(names, f.Name)
	}
	if len(names) != 3 || names[0] != meshxds.FaultFilter || names[1] != meshxds.CorsFilter || names[2] != meshxds.RouterFilter {
		t.Errorf("http filters %v, want fault, cors, router as Istio orders them", names)
	}
}

// TestDefaultRouteHash: a service without a VirtualService gets the
// hash policy of its DestinationRule on its default route (Istio's
// hashForService): the port's entry when it sets one.
func TestDefaultRouteHash(t *testing.T) {
	c, in := load(t, features)
	res := compile.Compile(c, in, sidecar("client", "v1"))
	for _, vh := range res.Routes[0].VirtualHosts {
		if vh.Name != "shop-canary.default.svc.cluster.local:8000" {
			continue
		}
		if hp := vh.Routes[0].GetRoute().HashPolicy; len(hp) != 1 || hp[0].GetHeader().GetHeaderName() != "x-canary" {
			t.Errorf("shop-canary's default route hashes by %v, want its DestinationRule's header x-canary", hp)
		}
		return
	}
	t.Fatal("no virtual host for shop-canary")
}
