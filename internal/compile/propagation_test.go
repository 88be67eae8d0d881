package compile_test

import (
	"github.com/lanemesh/lanemesh/internal/meshxds"
	"os"
	"path/filepath"
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"

	"github.com/lanemesh/lanemesh/internal/compile"
)

// groupYAML is a lane group over mocka and mockb of the tutorial (its
// Services select app: mocka and app: mockb in namespace default).
const groupYAML = `
apiVersion: istio.alibabacloud.com/v1
kind: ASMSwimLaneGroup
metadata: {name: g}
spec:
  services: [{name: mocka}, {name: mockb, namespace: default}]
  ingress: {gateway: {name: ingressgateway, namespace: istio-system}}
  isPermissive: PERMISSIVE
  permissiveModeConfiguration: {routeHeader: X-Asm-Prefer-Tag, traceHeader: TRACE, fallbackTarget: v1}
`

func groupDir(t *testing.T, permissive, trace string) string {
	t.Helper()
	dir := t.TempDir()
	y := strings.NewReplacer("PERMISSIVE", permissive, "TRACE", trace).Replace(groupYAML)
	if err := os.WriteFile(filepath.Join(dir, "group.yaml"), []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// chainFilters returns the HTTP filters of a listener's only chain.
func chainFilters(t *testing.T, l *listenerv3.Listener) []*hcmv3.HttpFilter {
	t.Helper()
	var hcm hcmv3.HttpConnectionManager
	if err := l.GetFilterChains()[0].GetFilters()[0].GetTypedConfig().UnmarshalTo(&hcm); err != nil {
		t.Fatal(err)
	}
	return hcm.GetHttpFilters()
}

func TestPropagationSelectsTheGroupsWorkloads(t *testing.T) {
	for name, tc := range map[string]struct {
		permissive, trace string
		proxy             meshxds.Proxy
		want              *meshxds.LanePropagation
	}{
		"trace id":            {"true", "x-request-id", sidecar("mockb", "v2"), &meshxds.LanePropagation{RouteHeader: "x-asm-prefer-tag", TraceHeader: "x-request-id"}},
		"baggage":             {"true", "baggage", sidecar("mocka", "v1"), &meshxds.LanePropagation{RouteHeader: "x-asm-prefer-tag", TraceHeader: "baggage"}},
		"not in the group":    {"true", "x-request-id", sidecar("mockc", "v2"), nil},
		"other namespace":     {"true", "x-request-id", meshxds.Proxy{Role: meshxds.Sidecar, Namespace: "other", Labels: map[string]string{"app": "mockb"}}, nil},
		"apps carry the lane": {"true", "x-asm-prefer-tag", sidecar("mockb", "v2"), nil},
		"strict group":        {"false", "x-request-id", sidecar("mockb", "v2"), nil},
		"a gateway":           {"true", "x-request-id", gateway, nil},
	} {
		c, _ := load(t, base, groupDir(t, tc.permissive, tc.trace))
		got := compile.Propagation(c, tc.proxy)
		switch {
		case (got == nil) != (tc.want == nil):
			t.Errorf("%s: %+v, want %+v", name, got, tc.want)
		case got != nil && (got.RouteHeader != tc.want.RouteHeader || got.TraceHeader != tc.want.TraceHeader ||
			got.TableCapacity != meshxds.DefaultTraceTableCapacity || got.TableTTL != meshxds.DefaultTraceTableTTL):
			t.Errorf("%s: %+v, want %+v with the default table", name, got, tc.want)
		}
	}
}

// TestPropagationFilterAndInboundListener: a group's workload gets the
// filter on its outbound listener, as an optional TypedStruct a stock
// Envoy skips, and, when its inbound traffic is intercepted, the
// virtualInbound listener with the filter and an ORIGINAL_DST passthrough.
// Others get neither.
func TestPropagationFilterAndInboundListener(t *testing.T) {
	c, in := load(t, base, groupDir(t, "true", "x-request-id"))
	p := sidecar("mockb", "v2")
	p.Inbound = true
	res := compile.Compile(c, in, p)
	if _, err := compile.Snapshot(res); err != nil {
		t.Fatal(err)
	}
	if len(res.Listeners) != 2 || res.Listeners[0].GetName() != meshxds.InboundListener || res.Listeners[1].GetName() != meshxds.SidecarListener {
		t.Fatalf("listeners %v, want virtualInbound then virtualOutbound", res.Listeners)
	}
	in0 := res.Listeners[0]
	if in0.GetTrafficDirection() != corev3.TrafficDirection_INBOUND || in0.GetAddress().GetSocketAddress().GetPortValue() != meshxds.InboundListenerPort {
		t.Errorf("inbound listener %v", in0)
	}
	for _, l := range res.Listeners {
		f := chainFilters(t, l)[0]
		if f.GetName() != meshxds.LanePropagationFilter || !f.GetIsOptional() {
			t.Errorf("%s: first filter %v, want the optional lane propagation filter", l.GetName(), f)
			continue
		}
		lp, err := meshxds.ParseLanePropagation(f.GetTypedConfig())
		if err != nil || lp.RouteHeader != "x-asm-prefer-tag" || lp.TraceHeader != "x-request-id" {
			t.Errorf("%s: filter config %+v, %v", l.GetName(), lp, err)
		}
	}
	var passthrough *clusterv3.Cluster
	for _, cl := range res.Clusters {
		if cl.GetName() == meshxds.InboundPassthroughCluster {
			passthrough = cl
		}
	}
	if passthrough.GetType() != clusterv3.Cluster_ORIGINAL_DST || passthrough.GetLbPolicy() != clusterv3.Cluster_CLUSTER_PROVIDED {
		t.Errorf("passthrough cluster %v", passthrough)
	}
	if res.Routes[0].GetName() != meshxds.InboundRoutes {
		t.Errorf("routes %v: want %q first", res.Routes, meshxds.InboundRoutes)
	}

	// Outside the group: no filter, and no inbound listener unless the
	// pod's inbound traffic is intercepted.
	other := compile.Compile(c, in, sidecar("mockc", "v2"))
	if len(other.Listeners) != 1 || len(chainFilters(t, other.Listeners[0])) != 3 {
		t.Errorf("mockc: %d listeners, filters %v", len(other.Listeners), chainFilters(t, other.Listeners[0]))
	}
}

func TestParseLanePropagationIsStrict(t *testing.T) {
	good := meshxds.LanePropagation{RouteHeader: "x-asm-prefer-tag", TraceHeader: "baggage", TableCapacity: 10, TableTTL: 5e9}
	if got, err := meshxds.ParseLanePropagation(good.Any()); err != nil || got != good {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	for name, lp := range map[string]meshxds.LanePropagation{
		"no route header":  {TraceHeader: "baggage", TableCapacity: 1, TableTTL: 1},
		"bad trace header": {RouteHeader: "a", TraceHeader: "a b", TableCapacity: 1, TableTTL: 1},
		"huge table":       {RouteHeader: "a", TraceHeader: "b", TableCapacity: 1 << 30, TableTTL: 1},
		"negative ttl":     {RouteHeader: "a", TraceHeader: "b", TableCapacity: 1, TableTTL: -1},
	} {
		if _, err := meshxds.ParseLanePropagation(lp.Any()); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
