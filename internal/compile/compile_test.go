package compile_test

import (
	"bytes"
	"slices"
	"testing"

	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"google.golang.org/protobuf/proto"

	"github.com/lanemesh/lanemesh/internal/compile"
	"github.com/lanemesh/lanemesh/internal/config"
	"github.com/lanemesh/lanemesh/internal/local"
	"github.com/lanemesh/lanemesh/internal/meshxds"
	"github.com/lanemesh/lanemesh/internal/registry"
	"github.com/lanemesh/lanemesh/internal/route"
)

func load(t testing.TB, paths ...string) (*config.Config, []registry.Instance) {
	t.Helper()
	c, diags := config.Load(paths, nil)
	if diags.HasErrors() {
		t.Fatal(diags.Err())
	}
	return c, local.Predict(c)
}

var (
	base     = "../../examples/traffic-lanes"
	fallback = "../../examples/traffic-lanes-fallback"
	gateway  = meshxds.Proxy{Role: meshxds.Gateway, Namespace: "istio-system", Labels: map[string]string{"istio": "ingressgateway"}}
)

func sidecar(app, version string) meshxds.Proxy {
	return meshxds.Proxy{Role: meshxds.Sidecar, Namespace: "default", Labels: map[string]string{"app": app, "version": version}}
}

// identities are every proxy of the tutorial.
func identities() map[string]meshxds.Proxy {
	out := map[string]meshxds.Proxy{"gateway": gateway}
	for _, app := range []string{"mocka", "mockb", "mockc"} {
		for _, v := range []string{"v1", "v2", "v3"} {
			out[app+"-"+v] = sidecar(app, v)
		}
	}
	return out
}

func TestSnapshotsAreConsistent(t *testing.T) {
	for _, paths := range [][]string{{base}, {base, fallback}} {
		c, in := load(t, paths...)
		for name, p := range identities() {
			res := compile.Compile(c, in, p)
			if _, err := compile.Snapshot(res); err != nil {
				t.Errorf("%v %s: %v", paths, name, err)
			}
			if len(res.Listeners) == 0 || len(res.Routes) == 0 || len(res.Clusters) == 0 {
				t.Errorf("%v %s: empty resources: %d listeners, %d routes, %d clusters", paths, name, len(res.Listeners), len(res.Routes), len(res.Clusters))
			}
		}
	}
}

// TestDeterministic compiles twice, the second time with the registry's
// instances in reverse order: the bytes and the versions must not change.
func TestDeterministic(t *testing.T) {
	c, in := load(t, base, fallback)
	rev := slices.Clone(in)
	slices.Reverse(rev)
	for name, p := range identities() {
		a, b := compile.Compile(c, in, p), compile.Compile(c, rev, p)
		if !bytes.Equal(marshal(t, a), marshal(t, b)) {
			t.Errorf("%s: two compilations of the same input differ", name)
		}
		sa, _ := compile.Snapshot(a)
		sb, _ := compile.Snapshot(b)
		for typ := range sa.Resources {
			if sa.Resources[typ].Version != sb.Resources[typ].Version {
				t.Errorf("%s: type %d version %s != %s", name, typ, sa.Resources[typ].Version, sb.Resources[typ].Version)
			}
		}
	}
}

func marshal(t *testing.T, r *meshxds.Resources) []byte {
	var buf bytes.Buffer
	opts := proto.MarshalOptions{Deterministic: true}
	for _, m := range r.Listeners {
		buf.Write(must(opts.Marshal(m)))
	}
	for _, m := range r.Routes {
		buf.Write(must(opts.Marshal(m)))
	}
	for _, m := range r.Clusters {
		buf.Write(must(opts.Marshal(m)))
	}
	for _, m := range r.Endpoints {
		buf.Write(must(opts.Marshal(m)))
	}
	return buf.Bytes()
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// TestEndpointChangeKeepsRouteVersion: health lives beside config, so a pod
// going unready changes only the endpoints' version.
func TestEndpointChangeKeepsRouteVersion(t *testing.T) {
	c, in := load(t, base, fallback)
	before, _ := compile.Snapshot(compile.Compile(c, in, sidecar("mocka", "v2")))
	down := slices.Clone(in)
	for i := range down {
		if down[i].Name == "mockb-v2-0" {
			down[i].Healthy = false
		}
	}
	after, _ := compile.Snapshot(compile.Compile(c, down, sidecar("mocka", "v2")))
	for typ, res := range before.Resources {
		changed := res.Version != after.Resources[typ].Version
		if wantChange := types.ResponseType(typ) == types.Endpoint; changed != wantChange {
			t.Errorf("type %d: version changed = %v, want %v", typ, changed, wantChange)
		}
	}
}

// TestSourceLabelsPerProxy: a caller's sidecar holds only the rules its
// labels allow, so the first route for mockb is its own lane's.
func TestSourceLabelsPerProxy(t *testing.T) {
	c, in := load(t, base, fallback)
	for _, tc := range []struct {
		version, want string
	}{
		{"v1", "outbound|8000|v1|mockb.default.svc.cluster.local"},
		{"v2", "outbound|8000|v2|mockb.default.svc.cluster.local>outbound|8000|v1|mockb.default.svc.cluster.local"},
		{"v3", "outbound|8000|v3|mockb.default.svc.cluster.local>outbound|8000|v1|mockb.default.svc.cluster.local"},
	} {
		res := compile.Compile(c, in, sidecar("mocka", tc.version))
		table, err := route.New(res.Routes[0])
		if err != nil {
			t.Fatal(err)
		}
		for _, host := range []string{"mockb:8000", "mockb.default:8000", "mockb.default.svc.cluster.local:8000"} {
			d := table.Decide(&route.Request{Method: "GET", Authority: host, Path: "/", Header: map[string][]string{}}, 0)
			if d.Cluster != tc.want {
				t.Errorf("caller %s → %s: cluster %q, want %q", tc.version, host, d.Cluster, tc.want)
			}
		}
	}
}

func TestFallbackIsOrderedAggregate(t *testing.T) {
	c, in := load(t, base, fallback)
	res := compile.Compile(c, in, sidecar("mocka", "v2"))
	name := "outbound|8000|v2|mockb.default.svc.cluster.local>outbound|8000|v1|mockb.default.svc.cluster.local"
	for _, cl := range res.Clusters {
		if cl.Name == name {
			got := meshxds.AggregateMembers(cl)
			want := []string{"outbound|8000|v2|mockb.default.svc.cluster.local", "outbound|8000|v1|mockb.default.svc.cluster.local"}
			if !slices.Equal(got, want) {
				t.Fatalf("members %v, want %v", got, want)
			}
			return
		}
	}
	t.Fatalf("no aggregate cluster %s", name)
}

// TestRoutesNameOnlyExistingClusters: for an analyzer-clean configuration,
// no route of any proxy can send to a cluster its snapshot lacks.
func TestRoutesNameOnlyExistingClusters(t *testing.T) {
	c, in := load(t, base, fallback)
	for name, p := range identities() {
		res := compile.Compile(c, in, p)
		have := map[string]bool{}
		for _, cl := range res.Clusters {
			have[cl.Name] = true
		}
		for _, rc := range res.Routes {
			table, err := route.New(rc)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			for _, cl := range table.Clusters() {
				if !have[cl] {
					t.Errorf("%s: route configuration %s names cluster %q, absent from the snapshot", name, rc.Name, cl)
				}
			}
		}
	}
}

// TestConnectionManagerHeaders: every HTTP connection manager allows
// WebSocket upgrades and overwrites the Server header, with Istio's names:
// istio-envoy at a gateway, Envoy's default (unset) on a sidecar's
// outbound listener.
func TestConnectionManagerHeaders(t *testing.T) {
	c, in := load(t, base)
	for _, tc := range []struct {
		proxy  meshxds.Proxy
		server string
	}{{gateway, "istio-envoy"}, {sidecar("mocka", "v1"), ""}} {
		res := compile.Compile(c, in, tc.proxy)
		if len(res.Listeners) == 0 {
			t.Fatalf("%v: no listeners", tc.proxy)
		}
		for _, l := range res.Listeners {
			var hcm hcmv3.HttpConnectionManager
			if err := l.GetFilterChains()[0].GetFilters()[0].GetTypedConfig().UnmarshalTo(&hcm); err != nil {
				t.Fatal(err)
			}
			if hcm.GetServerName() != tc.server || hcm.GetServerHeaderTransformation() != hcmv3.HttpConnectionManager_OVERWRITE ||
				len(hcm.GetUpgradeConfigs()) != 1 || hcm.GetUpgradeConfigs()[0].GetUpgradeType() != "websocket" ||
				hcm.GetHttpProtocolOptions().GetAcceptHttp_10() {
				t.Errorf("%s: server_name %q %v, upgrades %v, HTTP/1.0 %v; want %q OVERWRITE, websocket, no HTTP/1.0", l.Name, hcm.GetServerName(),
					hcm.GetServerHeaderTransformation(), hcm.GetUpgradeConfigs(), hcm.GetHttpProtocolOptions().GetAcceptHttp_10(), tc.server)
			}
		}
		// Istio's PILOT_HTTP10 makes every connection manager accept HTTP/1.0.
		for _, l := range compile.CompileWith(c, in, tc.proxy, compile.Options{HTTP10: true}).Listeners {
			var hcm hcmv3.HttpConnectionManager
			if err := l.GetFilterChains()[0].GetFilters()[0].GetTypedConfig().UnmarshalTo(&hcm); err != nil {
				t.Fatal(err)
			}
			if !hcm.GetHttpProtocolOptions().GetAcceptHttp_10() {
				t.Errorf("%s: with HTTP10, accept_http_10 is not set", l.Name)
			}
		}
	}
}
