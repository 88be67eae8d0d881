package xdsserver

import (
	"maps"
	"sync"
	"testing"

	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/lanemesh/lanemesh/internal/meshxds"
)

// TestRoundTrip is the control plane's intended flow: a node connects,
// OnNode compiles for its identity and sets its snapshot, and the proxy
// applies exactly the compiled resources and ACKs every type.
func TestRoundTrip(t *testing.T) {
	for name, p := range map[string]meshxds.Proxy{"gateway": gatewayID, "sidecar": sidecarID} {
		t.Run(name, func(t *testing.T) {
			checkLeaks(t)
			want, snap := compiled(t, p, nil, baseDir)
			served := mustSnapshot(t, snap)
			var mu sync.Mutex
			var seen []meshxds.Proxy
			var srv *testServer
			srv = startServer(t, "127.0.0.1:0", func(id string, got meshxds.Proxy) {
				mu.Lock()
				seen = append(seen, got)
				mu.Unlock()
				srv.SetSnapshot(id, served)
			})
			r := &recorder{}
			c, stopClient := startClient(t, srv.addr, meshxds.NodeFor("proxy-1", p), r)

			r.waitApplied(t, want)
			ps := srv.waitAcked(t, "proxy-1", snap)
			if !ps.Connected || ps.LastNACK != nil || meshxds.IdentityKey(ps.Proxy) != meshxds.IdentityKey(p) {
				t.Errorf("server status = %+v", ps)
			}
			mu.Lock()
			if len(seen) != 1 || meshxds.IdentityKey(seen[0]) != meshxds.IdentityKey(p) {
				t.Errorf("OnNode saw %v, want once %v", seen, p)
			}
			mu.Unlock()
			st := c.Status()
			if !st.Connected || st.LastError != nil || !maps.Equal(st.Acked, ps.Acked) {
				t.Errorf("client status = %+v, server acked %v", st, ps.Acked)
			}
			if calls, _ := r.snapshot(); len(calls) != 1 {
				t.Errorf("Apply called %d times, want once", len(calls))
			}

			stopClient()
			waitUntil(t, "the server to see the proxy leave", func() bool {
				ps, _ := srv.proxy("proxy-1")
				return !ps.Connected
			})
		})
	}
}

// TestUpdate: a second snapshot (the fallback step of the tutorial)
// reaches the proxy, and no configuration the proxy applies on the way has
// a route or aggregate cluster naming a cluster it lacks: new clusters are
// in place before the routes that use them (make-before-break).
func TestUpdate(t *testing.T) {
	checkLeaks(t)
	res1, snap1 := compiled(t, sidecarID, nil, baseDir)
	res2, snap2 := compiled(t, sidecarID, nil, baseDir, fallbackDir)
	for _, res := range []*meshxds.Resources{res1, res2} {
		if d := danglingClusters(res); len(d) > 0 {
			t.Fatalf("the tutorial names missing clusters %v; the make-before-break check needs another fixture", d)
		}
	}
	for _, typ := range []string{resource.ClusterType, resource.RouteType} {
		if snap1.GetVersion(typ) == snap2.GetVersion(typ) {
			t.Fatalf("fallback does not change %s; the test proves nothing", typ)
		}
	}

	srv := startServer(t, "127.0.0.1:0", nil)
	srv.set(t, "proxy-1", snap1)
	r := &recorder{}
	c, _ := startClient(t, srv.addr, meshxds.NodeFor("proxy-1", sidecarID), r)
	r.waitApplied(t, res1)
	srv.waitAcked(t, "proxy-1", snap1)

	srv.set(t, "proxy-1", snap2)
	r.waitApplied(t, res2)
	ps := srv.waitAcked(t, "proxy-1", snap2)
	if !maps.Equal(c.Status().Acked, ps.Acked) {
		t.Errorf("client acked %v, server recorded %v", c.Status().Acked, ps.Acked)
	}
	_, applied := r.snapshot()
	for i, res := range applied {
		if d := danglingClusters(res); len(d) > 0 {
			t.Errorf("applied configuration #%d names missing clusters %v", i, d)
		}
	}
}
