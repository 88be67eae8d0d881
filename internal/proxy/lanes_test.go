package proxy

import (
	"net/http"
	"testing"

	"github.com/lanemesh/lanemesh/internal/explain"
	"github.com/lanemesh/lanemesh/internal/lanes"
	"github.com/lanemesh/lanemesh/internal/meshxds"
	"github.com/lanemesh/lanemesh/internal/registry"
)

// expectedPod asks explain where a request goes on these resources: the
// pod behind the first healthy endpoint of the serving cluster.
func expectedPod(t *testing.T, res *meshxds.Resources, role meshxds.Role, rawURL string, headers []string) *explain.Result {
	t.Helper()
	req, err := explain.Request("GET", rawURL, headers)
	if err != nil {
		t.Fatal(err)
	}
	r, err := explain.Explain(res, explain.RouteConfigFor(res, role, req.Authority), req)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func firstHealthyPod(r *explain.Result) string {
	for _, e := range r.Endpoints {
		if e.Healthy {
			return e.Pod
		}
	}
	return ""
}

// TestGatewayLanesMatchExplain sends each lane's request through a real
// gateway and checks that the pod that answers, and the rule the access log
// names, are what `lanemesh explain` says for the same resources.
func TestGatewayLanesMatchExplain(t *testing.T) {
	m := newMesh(t, lanesDir)
	res := m.resources(gatewayIdentity, nil)
	var log logBuffer
	p := startProxy(t, Options{Role: meshxds.Gateway, AccessLog: &log}, res)
	c := newClient(nil)
	for _, lane := range []string{"v1", "v2", "v3"} {
		want := expectedPod(t, res, meshxds.Gateway, "http://gateway/mock", []string{"x-asm-prefer-tag: " + lane})
		status, body, _ := call(t, c, "GET", gatewayURL(p, "/mock"), "gateway", map[string]string{"x-asm-prefer-tag": lane})
		if status != http.StatusOK || body != firstHealthyPod(want) || body != "mocka-"+lane+"-0" {
			t.Errorf("lane %s: got %d %q, explain says %q", lane, status, body, firstHealthyPod(want))
		}
		entries := log.entries(t)
		last := entries[len(entries)-1]
		if last["virtual_service"] != want.VirtualService || int(last["route_index"].(float64)) != want.RouteIndex ||
			last["upstream_cluster"] != want.ServedBy || last["lane"] != lane {
			t.Errorf("lane %s: access log %v, explain says %s rule %d via %s", lane, last, want.VirtualService, want.RouteIndex, want.ServedBy)
		}
	}
	// No lane header: explain says 404 NR, and so does the gateway.
	want := expectedPod(t, res, meshxds.Gateway, "http://gateway/mock", nil)
	status, body, h := call(t, c, "GET", gatewayURL(p, "/mock"), "gateway", nil)
	if status != want.Status || h.Get("X-Lanemesh-Flags") != want.Flag {
		t.Errorf("no lane: got %d %s %q, explain says %d %s", status, h.Get("X-Lanemesh-Flags"), body, want.Status, want.Flag)
	}
}

// TestSidecarLanesMatchExplain runs the sidecar of each mocka version and
// calls mockb and mockc through it, both as an HTTP proxy (absolute-form
// URLs, as the tutorial's apps do with HTTP_PROXY) and with a plain Host
// header, and compares with explain.
func TestSidecarLanesMatchExplain(t *testing.T) {
	m := newMesh(t, lanesDir)
	for _, v := range []string{"v1", "v2", "v3"} {
		t.Run(v, func(t *testing.T) {
			id := sidecarIdentity("mocka", v)
			res := m.resources(id, nil)
			p := startProxy(t, Options{Role: meshxds.Sidecar, Source: SourceInfo{Namespace: "default", Name: "mocka-" + v + "-0", Labels: id.Labels}}, res)
			viaProxy, plain := newClient(p.OutboundAddr()), newClient(nil)
			for _, svc := range []string{"mockb", "mockc"} {
				u := "http://" + svc + ":8000/"
				want := firstHealthyPod(expectedPod(t, res, meshxds.Sidecar, u, nil))
				if want != svc+"-"+v+"-0" {
					t.Fatalf("explain sends %s from mocka-%s to %q", svc, v, want)
				}
				if _, body, _ := call(t, viaProxy, "GET", u, "", nil); body != want {
					t.Errorf("HTTP proxy request to %s: got %q, want %q", u, body, want)
				}
				if _, body, _ := call(t, plain, "GET", "http://"+p.OutboundAddr().String()+"/", svc+":8000", nil); body != want {
					t.Errorf("Host %s:8000: got %q, want %q", svc, body, want)
				}
			}
		})
	}
}

// TestFallbackWhenSubsetEmptied applies an update in which mockb-v2 has no
// healthy endpoint (unhealthy, then scaled to zero): the v2 sidecar's
// requests for mockb go to mockb-v1, flagged FB, as explain says.
func TestFallbackWhenSubsetEmptied(t *testing.T) {
	m := newMesh(t, lanesDir, fallbackDir)
	id := sidecarIdentity("mocka", "v2")
	var log logBuffer
	p := startProxy(t, Options{Role: meshxds.Sidecar, AccessLog: &log}, m.resources(id, nil))
	c := newClient(p.OutboundAddr())
	if _, body, _ := call(t, c, "GET", "http://mockb:8000/", "", nil); body != "mockb-v2-0" {
		t.Fatalf("before the update: got %q, want mockb-v2-0", body)
	}
	for name, edit := range map[string]func(*registry.Instance){
		"unhealthy": podDown("mockb-v2"),
		"no endpoints": func(in *registry.Instance) {
			if in.Owner == "Deployment/mockb-v2" {
				in.Labels = map[string]string{"app": "gone"}
			}
		},
	} {
		res := m.resources(id, edit)
		if err := p.Apply(res); err != nil {
			t.Fatal(err)
		}
		want := expectedPod(t, res, meshxds.Sidecar, "http://mockb:8000/", nil)
		status, body, _ := call(t, c, "GET", "http://mockb:8000/", "", nil)
		if status != 200 || body != "mockb-v1-0" || body != firstHealthyPod(want) || !want.FellBack {
			t.Errorf("%s: got %d %q; explain says %q (fell back %v)", name, status, body, firstHealthyPod(want), want.FellBack)
		}
		entries := log.entries(t)
		last := entries[len(entries)-1]
		if last["response_flags"] != "FB" || last["fallback"] != true || last["attempts"].(float64) != 1 {
			t.Errorf("%s: access log %v, want flag FB after one attempt", name, last)
		}
	}
}

// TestFallbackWhenUpstreamStopsAccepting kills mockb-v2's only pod without
// any update: the endpoint still looks healthy, each attempt on it is
// refused, and the fallback attempt serves every request from mockb-v1.
func TestFallbackWhenUpstreamStopsAccepting(t *testing.T) {
	m := newMesh(t, lanesDir, fallbackDir)
	var log logBuffer
	p := startProxy(t, Options{Role: meshxds.Sidecar, AccessLog: &log}, m.resources(sidecarIdentity("mocka", "v2"), nil))
	c := newClient(p.OutboundAddr())
	if _, body, _ := call(t, c, "GET", "http://mockb:8000/", "", nil); body != "mockb-v2-0" {
		t.Fatalf("before: got %q", body)
	}
	m.pods["mockb-v2-0"].kill()
	for i := range 50 {
		status, body, _ := call(t, c, "GET", "http://mockb:8000/", "", nil)
		if status != 200 || body != "mockb-v1-0" {
			t.Fatalf("request %d after the kill: got %d %q, want mockb-v1-0", i, status, body)
		}
	}
	entries := log.entries(t)
	last := entries[len(entries)-1]
	if last["response_flags"] != "FB" || last["attempts"].(float64) != 2 || last["upstream_cluster"] != "outbound|8000|v1|mockb.default.svc.cluster.local" {
		t.Errorf("access log %v: want FB after two attempts, served by the v1 cluster", last)
	}
}

// TestPermissiveGatewayLogsTheLaneEntered: a permissive group's gateway
// sets the route header to the lane it chose, and that lane, not what the
// client sent, is the request's lane in the access log (and metrics).
func TestPermissiveGatewayLogsTheLaneEntered(t *testing.T) {
	m := newMesh(t, "../../examples/lane-group-permissive")
	resolved, diags := lanes.Resolve(m.cfg) // the group's own objects, as the control plane makes them
	if diags.HasErrors() {
		t.Fatal(diags.Err())
	}
	m.cfg = resolved
	var log logBuffer
	p := startProxy(t, Options{Role: meshxds.Gateway, AccessLog: &log}, m.resources(gatewayIdentity, nil))
	for sent, want := range map[string]string{"v2": "v2", "V2": "v1", "v9": "v1"} {
		if status, _, _ := call(t, newClient(nil), "GET", gatewayURL(p, "/mock"), "gateway", map[string]string{"x-asm-prefer-tag": sent}); status != http.StatusOK {
			t.Fatalf("lane %s: status %d", sent, status)
		}
		entries := log.entries(t)
		if got := entries[len(entries)-1]["lane"]; got != want {
			t.Errorf("sent lane %q: access log lane %q, want %q", sent, got, want)
		}
	}
}
