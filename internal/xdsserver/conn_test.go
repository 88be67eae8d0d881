package xdsserver

import (
	"context"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	clusterservice "github.com/envoyproxy/go-control-plane/envoy/service/cluster/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	listenerservice "github.com/envoyproxy/go-control-plane/envoy/service/listener/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/lanemesh/lanemesh/internal/meshxds"
	"github.com/lanemesh/lanemesh/internal/xds"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// TestReconnect: the control plane goes away and a new one comes up on the
// same address with a new snapshot; the proxy keeps its configuration
// meanwhile, reconnects and applies the new one.
func TestReconnect(t *testing.T) {
	checkLeaks(t)
	res1, snap1 := compiled(t, gatewayID, nil, baseDir)
	res2, snap2 := compiled(t, gatewayID, unhealthy, baseDir)
	if diffResources(res1, res2) == "" {
		t.Fatal("the second snapshot equals the first; the test proves nothing")
	}

	srv1 := startServer(t, "127.0.0.1:0", nil)
	srv1.set(t, "proxy-1", snap1)
	r := &recorder{}
	c, _ := startClient(t, srv1.addr, meshxds.NodeFor("proxy-1", gatewayID), r)
	r.waitApplied(t, res1)

	srv1.stop()
	waitUntil(t, "the client to notice", func() bool { return !c.Status().Connected })
	if diffResources(r.last(), res1) != "" {
		t.Fatal("the configuration in force changed while disconnected")
	}

	srv2 := startServer(t, srv1.addr, nil)
	srv2.set(t, "proxy-1", snap2)
	r.waitApplied(t, res2)
	srv2.waitAcked(t, "proxy-1", snap2)
	if st := c.Status(); !st.Connected || st.LastError == nil {
		t.Errorf("client status = %+v, want connected with the stream failure remembered", st)
	}
}

// TestBadNodeRefused: a node without lanemesh metadata gets InvalidArgument
// naming what is missing, and the server logs it.
func TestBadNodeRefused(t *testing.T) {
	checkLeaks(t)
	srv := startServer(t, "127.0.0.1:0", func(string, meshxds.Proxy) { t.Error("OnNode called for a bad node") })
	r := &recorder{}
	c, _ := startClient(t, srv.addr, &corev3.Node{Id: "envoy-1"}, r)
	waitUntil(t, "the refusal", func() bool { return c.Status().LastError != nil })
	err := c.Status().LastError
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "role is missing") {
		t.Errorf("client error = %v", err)
	}
	if ps := srv.Proxies(); len(ps) != 0 {
		t.Errorf("server recorded %+v", ps)
	}
	if !strings.Contains(srv.logs.String(), "refused node") {
		t.Errorf("server did not log the refusal:\n%s", srv.logs)
	}
}

// TestSeparateServices: an Envoy configured with plain CDS and LDS (not
// ADS) gets the same clusters and listeners.
func TestSeparateServices(t *testing.T) {
	checkLeaks(t)
	res, snap := compiled(t, gatewayID, nil, baseDir)
	srv := startServer(t, "127.0.0.1:0", nil)
	srv.set(t, "envoy-1", snap)
	conn := dial(t, srv.addr)
	node := meshxds.NodeFor("envoy-1", gatewayID)
	ctx := t.Context()

	cds, err := clusterservice.NewClusterDiscoveryServiceClient(conn).StreamClusters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	lds, err := listenerservice.NewListenerDiscoveryServiceClient(conn).StreamListeners(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		stream interface {
			Send(*discoveryv3.DiscoveryRequest) error
			Recv() (*discoveryv3.DiscoveryResponse, error)
		}
		typ  string
		want int
	}{{cds, resource.ClusterType, len(res.Clusters)}, {lds, resource.ListenerType, len(res.Listeners)}} {
		if err := tc.stream.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: tc.typ}); err != nil {
			t.Fatal(err)
		}
		resp, err := tc.stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.GetResources()) != tc.want || resp.GetVersionInfo() != snap.GetVersion(tc.typ) {
			t.Errorf("%s: %d resources at %q, want %d at %q", tc.typ, len(resp.GetResources()), resp.GetVersionInfo(), tc.want, snap.GetVersion(tc.typ))
		}
	}
}

// TestDeltaRefused: delta xDS is refused with a message saying what to do.
func TestDeltaRefused(t *testing.T) {
	checkLeaks(t)
	srv := startServer(t, "127.0.0.1:0", nil)
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(dial(t, srv.addr)).DeltaAggregatedResources(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	_ = stream.Send(&discoveryv3.DeltaDiscoveryRequest{Node: meshxds.NodeFor("envoy-1", gatewayID), TypeUrl: resource.ClusterType})
	_, err = stream.Recv()
	if status.Code(err) != codes.Unimplemented || !strings.Contains(err.Error(), "state-of-the-world") {
		t.Errorf("delta stream error = %v", err)
	}
}

func TestClientMisconfigured(t *testing.T) {
	apply := func(*meshxds.Resources) error { return nil }
	node := meshxds.NodeFor("p", sidecarID)
	for _, tc := range []struct {
		name string
		c    *xds.Client
		want string
	}{
		{"no target", &xds.Client{Node: node, Apply: apply}, "Target"},
		{"no node", &xds.Client{Target: "127.0.0.1:1", Apply: apply}, "Node"},
		{"no node id", &xds.Client{Target: "127.0.0.1:1", Node: &corev3.Node{}, Apply: apply}, "Node"},
		{"no apply", &xds.Client{Target: "127.0.0.1:1", Node: node}, "Apply"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.c.Run(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Run = %v, want an error about %s", err, tc.want)
			}
		})
	}
}

func dial(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}
