package xdsserver

import (
	"errors"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/envoyproxy/go-control-plane/pkg/server/stream/v3"
	"github.com/lanemesh/lanemesh/internal/meshxds"
)

// cacheWatch opens a watch as go-control-plane's stream loop does, with a
// channel that has room for every type.
func cacheWatch(t *testing.T, c *watchCache, node, typ, version string, names ...string) chan cachev3.Response {
	t.Helper()
	out := make(chan cachev3.Response, numKinds)
	sub := stream.NewSotwSubscription(names, true)
	req := &discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: node}, TypeUrl: typ, VersionInfo: version, ResourceNames: names}
	if _, err := c.CreateWatch(req, &sub, out); err != nil {
		t.Fatal(err)
	}
	return out
}

// received returns the responses waiting in out.
func received(t *testing.T, out chan cachev3.Response) []*discoveryv3.DiscoveryResponse {
	t.Helper()
	var got []*discoveryv3.DiscoveryResponse
	for {
		select {
		case r := <-out:
			d, err := r.GetDiscoveryResponse()
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, d)
		default:
			return got
		}
	}
}

// TestCacheSharesResources: two nodes given one Snapshot get responses
// that share its marshaled resources, in envelopes of their own (the
// server writes each stream's nonce into the envelope).
func TestCacheSharesResources(t *testing.T) {
	_, snap := compiled(t, sidecarID, nil, baseDir)
	served := mustSnapshot(t, snap)
	c := newWatchCache()
	var got []*discoveryv3.DiscoveryResponse
	for _, node := range []string{"a", "b"} {
		out := cacheWatch(t, c, node, resource.ClusterType, "")
		c.set(node, served)
		got = append(got, received(t, out)...)
	}
	if len(got) != 2 {
		t.Fatalf("got %d responses, want 2", len(got))
	}
	a, b := got[0], got[1]
	if a == b {
		t.Error("two nodes share one response envelope")
	}
	if len(a.Resources) == 0 || len(a.Resources) != len(b.Resources) || a.Resources[0] != b.Resources[0] {
		t.Error("the nodes' responses do not share the marshaled resources")
	}
	if a.VersionInfo != snap.GetVersion(resource.ClusterType) || a.TypeUrl != resource.ClusterType {
		t.Errorf("response is %s at %q", a.TypeUrl, a.VersionInfo)
	}
}

// TestCacheAnswers: when the cache answers a watch, and in which order.
func TestCacheAnswers(t *testing.T) {
	_, snap := compiled(t, sidecarID, nil, baseDir)
	served := mustSnapshot(t, snap)
	eds := served.types[endpoints].names
	if len(eds) < 2 {
		t.Fatalf("the fixture has %d EDS names; the test needs two", len(eds))
	}
	cds, lds := resource.ClusterType, resource.ListenerType

	t.Run("on set, in type order", func(t *testing.T) {
		c := newWatchCache()
		out := make(chan cachev3.Response, numKinds)
		for _, typ := range []string{resource.RouteType, lds, resource.EndpointType, cds} {
			var names []string
			switch typ {
			case resource.RouteType:
				names = served.types[routes].names
			case resource.EndpointType:
				names = eds
			}
			sub := stream.NewSotwSubscription(names, true)
			req := &discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: "n"}, TypeUrl: typ, ResourceNames: names}
			if _, err := c.CreateWatch(req, &sub, out); err != nil {
				t.Fatal(err)
			}
		}
		c.set("n", served)
		var order []string
		for _, r := range received(t, out) {
			order = append(order, r.TypeUrl)
		}
		want := []string{cds, resource.EndpointType, lds, resource.RouteType}
		if len(order) != len(want) {
			t.Fatalf("answered %v, want %v", order, want)
		}
		for i := range want {
			if order[i] != want[i] {
				t.Fatalf("answered %v, want %v", order, want)
			}
		}
	})
	t.Run("current version", func(t *testing.T) {
		c := newWatchCache()
		c.set("n", served)
		// A new stream (a reconnect) has been sent nothing yet: it is
		// answered even at the current version.
		out := cacheWatch(t, c, "n", cds, snap.GetVersion(cds))
		got := received(t, out)
		if len(got) != 1 {
			t.Fatalf("a new stream at the current version got %d responses, want 1", len(got))
		}
		// A stream that has it waits.
		sub := stream.NewSotwSubscription(nil, true)
		sent := map[string]string{}
		for _, n := range served.types[clusters].names {
			sent[n] = snap.GetVersion(cds)
		}
		sub.SetReturnedResources(sent)
		req := &discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: "n"}, TypeUrl: cds, VersionInfo: snap.GetVersion(cds)}
		if _, err := c.CreateWatch(req, &sub, out); err != nil {
			t.Fatal(err)
		}
		if got := received(t, out); len(got) != 0 {
			t.Errorf("a stream that has the current version was answered again")
		}
	})
	t.Run("EDS names that do not cover the snapshot wait", func(t *testing.T) {
		c := newWatchCache()
		c.set("n", served)
		out := cacheWatch(t, c, "n", resource.EndpointType, "", eds[:1]...)
		if got := received(t, out); len(got) != 0 {
			t.Fatalf("a request for %v of %v was answered", eds[:1], eds)
		}
		out = cacheWatch(t, c, "n", resource.EndpointType, "", eds...)
		if got := received(t, out); len(got) != 1 || len(got[0].Resources) != len(eds) {
			t.Fatalf("a request naming every EDS name got %v", got)
		}
	})
	t.Run("unknown type waits", func(t *testing.T) {
		c := newWatchCache()
		c.set("n", served)
		out := cacheWatch(t, c, "n", resource.SecretType, "")
		if got := received(t, out); len(got) != 0 {
			t.Errorf("a request for secrets was answered: %v", got)
		}
	})
}

// TestSynced: Synced waits for the node's ACK of every type of its
// snapshot, not for a NACKed one, and not for a node that is gone.
func TestSynced(t *testing.T) {
	checkLeaks(t)
	_, snap1 := compiled(t, sidecarID, nil, baseDir)
	_, snap2 := compiled(t, sidecarID, nil, baseDir, fallbackDir)
	srv := startServer(t, "127.0.0.1:0", nil)
	select {
	case <-srv.Synced("proxy-1"):
	default:
		t.Fatal("Synced waits for a node that never connected")
	}

	r := &recorder{reject: rejectFallback}
	_, stop := startClient(t, srv.addr, meshxds.NodeFor("proxy-1", sidecarID), r)
	waitUntil(t, "the proxy to connect", func() bool { ps, ok := srv.proxy("proxy-1"); return ok && ps.Connected })
	srv.set(t, "proxy-1", snap1)
	synced := srv.Synced("proxy-1")
	waitClosed(t, "Synced after the ACKs", synced)
	srv.waitAcked(t, "proxy-1", snap1) // Synced said so

	srv.set(t, "proxy-1", snap2) // the proxy rejects its routes
	synced = srv.Synced("proxy-1")
	waitNACK(t, srv, "proxy-1", func(n *NACK) bool { return n.Version == snap2.GetVersion(resource.RouteType) })
	select {
	case <-synced:
		t.Fatal("Synced closed for a snapshot the proxy rejected")
	default:
	}

	stop()
	waitClosed(t, "Synced once the proxy is gone", synced)
}

func waitClosed(t *testing.T, what string, c <-chan struct{}) {
	t.Helper()
	waitUntil(t, what, func() bool {
		select {
		case <-c:
			return true
		default:
			return false
		}
	})
}

// TestCacheFetch: a unary fetch gets the named resources of its type, and
// nothing when it already has the version.
func TestCacheFetch(t *testing.T) {
	_, snap := compiled(t, sidecarID, nil, baseDir)
	served := mustSnapshot(t, snap)
	c := newWatchCache()
	c.set("n", served)
	eds := served.types[endpoints].names
	node := &corev3.Node{Id: "n"}
	fetch := func(version string, names ...string) (*discoveryv3.DiscoveryResponse, error) {
		r, err := c.Fetch(t.Context(), &discoveryv3.DiscoveryRequest{Node: node, TypeUrl: resource.EndpointType, VersionInfo: version, ResourceNames: names})
		if err != nil {
			return nil, err
		}
		return r.GetDiscoveryResponse()
	}
	if got, err := fetch(""); err != nil || len(got.Resources) != len(eds) {
		t.Errorf("fetch of all: %v, %v", got, err)
	}
	if got, err := fetch("", eds[0]); err != nil || len(got.Resources) != 1 {
		t.Errorf("fetch of %s: %v, %v", eds[0], got, err)
	}
	var skip *types.SkipFetchError
	if _, err := fetch(snap.GetVersion(resource.EndpointType)); !errors.As(err, &skip) {
		t.Errorf("fetch at the current version: %v, want SkipFetchError", err)
	}
	if _, err := c.Fetch(t.Context(), &discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: "other"}, TypeUrl: resource.ClusterType}); err == nil {
		t.Error("fetch for a node without a snapshot succeeded")
	}
}
