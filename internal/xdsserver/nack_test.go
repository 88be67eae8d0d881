package xdsserver

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/lanemesh/lanemesh/internal/compile"
	"github.com/lanemesh/lanemesh/internal/meshxds"
	"github.com/lanemesh/lanemesh/internal/registry"
	"github.com/lanemesh/lanemesh/internal/xds"
)

var errNoFallback = errors.New("test proxy: routes to fallback clusters are not supported")

// rejectFallback is the Apply verdict of a proxy that cannot route to
// fallback (aggregate) clusters: the tutorial's step 6 is rejected.
func rejectFallback(res *meshxds.Resources) error {
	for _, c := range routeClusters(res.Routes) {
		if _, _, ok := meshxds.SplitFallbackName(c); ok {
			return errNoFallback
		}
	}
	return nil
}

// waitNACK waits until the server records a NACK that match accepts.
func waitNACK(t *testing.T, srv *testServer, id string, match func(*NACK) bool) ProxyStatus {
	t.Helper()
	var ps ProxyStatus
	waitUntil(t, "a NACK", func() bool {
		ps, _ = srv.proxy(id)
		return ps.LastNACK != nil && match(ps.LastNACK)
	})
	return ps
}

// TestNACK: a configuration Apply rejects is NACKed with Apply's message,
// logged by the server, and never becomes or joins the configuration in
// force; a later good snapshot is applied and ACKed.
func TestNACK(t *testing.T) {
	checkLeaks(t)
	res1, snap1 := compiled(t, sidecarID, nil, baseDir)
	_, snap2 := compiled(t, sidecarID, nil, baseDir, fallbackDir)
	res3, snap3 := compiled(t, sidecarID, unhealthy, baseDir)
	rds := resource.RouteType

	srv := startServer(t, "127.0.0.1:0", nil)
	srv.set(t, "proxy-1", snap1)
	r := &recorder{reject: rejectFallback}
	c, _ := startClient(t, srv.addr, meshxds.NodeFor("proxy-1", sidecarID), r)
	r.waitApplied(t, res1)
	srv.waitAcked(t, "proxy-1", snap1)
	if ps, _ := srv.proxy("proxy-1"); ps.Sync[rds] != Synced || ps.Sync[resource.ClusterType] != Synced {
		t.Errorf("sync after the first ACK = %v, want RDS and CDS %s", ps.Sync, Synced)
	}
	if got, ver, ok := srv.Served("proxy-1", rds); !ok || ver != snap1.GetVersion(rds) || len(got) == 0 {
		t.Errorf("Served(RDS) = %d resources at %q (%v), want snap1's", len(got), ver, ok)
	}

	srv.set(t, "proxy-1", snap2)
	// CDS comes first and is applied with the routes in force; the fallback
	// routes that follow are what the proxy rejects.
	ps := waitNACK(t, srv, "proxy-1", func(*NACK) bool { return true })
	if n := ps.LastNACK; n.TypeURL != rds || n.Version != snap2.GetVersion(rds) || n.Message != errNoFallback.Error() {
		t.Errorf("NACK = %+v, want %s version %s message %q", n, rds, snap2.GetVersion(rds), errNoFallback)
	}
	if ps.Acked[rds] != snap1.GetVersion(rds) {
		t.Errorf("server: acked RDS %q, want the previous good %q", ps.Acked[rds], snap1.GetVersion(rds))
	}
	if ps.Sync[rds] != Stale {
		t.Errorf("RDS after a NACK is %s, want %s", ps.Sync[rds], Stale)
	}
	// Glance, what the dashboard polls, has the same NACK and the one
	// connected node.
	if g := srv.Glance(); g.Connected != 1 || len(g.NACKs) != 1 || g.NACKs[0].ID != "proxy-1" || g.NACKs[0].NACK != *ps.LastNACK {
		t.Errorf("Glance = %+v, want 1 connected and proxy-1's NACK %+v", g, *ps.LastNACK)
	}
	// The server logs a NACK after recording it.
	waitUntil(t, "the server to log the NACK", func() bool { return strings.Contains(srv.logs.String(), "NACK") })
	logs := srv.logs.String()
	for _, want := range []string{"level=WARN", "node=proxy-1", "type=" + rds, errNoFallback.Error()} {
		if !strings.Contains(logs, want) {
			t.Errorf("server log has no %q:\n%s", want, logs)
		}
	}
	if st := c.Status(); !errors.Is(st.LastError, errNoFallback) || st.Acked[rds] != snap1.GetVersion(rds) {
		t.Errorf("client status = %+v", st)
	}
	inForce := r.last()
	if d := diffList("routes", inForce.Routes, res1.Routes); d != "" {
		t.Errorf("routes in force are not the previous good ones: %s", d)
	}
	calls, _ := r.snapshot()
	rejectedCalls := len(calls)

	srv.set(t, "proxy-1", snap3)
	r.waitApplied(t, res3)
	srv.waitAcked(t, "proxy-1", snap3)
	if ps, _ := srv.proxy("proxy-1"); ps.Sync[rds] != Synced {
		t.Errorf("RDS once a good snapshot is ACKed is %s, want %s", ps.Sync[rds], Synced)
	}
	// go-control-plane alone would answer the NACK with the rejected version
	// again, and again after each NACK.
	if n := strings.Count(srv.logs.String(), "proxy rejected configuration"); n != 1 {
		t.Errorf("server logged %d NACKs, want 1", n)
	}
	calls, _ = r.snapshot()
	for i, res := range calls[rejectedCalls:] {
		if rejectFallback(res) != nil {
			t.Errorf("Apply call #%d after the NACK carried the rejected routes", rejectedCalls+i)
		}
	}
}

// TestNACKRetried: the server sends a rejected type again with the node's
// next changed snapshot, even though its own version is unchanged, so a
// proxy that can take it by then converges.
func TestNACKRetried(t *testing.T) {
	checkLeaks(t)
	_, snap1 := compiled(t, sidecarID, nil, baseDir)
	_, snap2 := compiled(t, sidecarID, nil, baseDir, fallbackDir)
	_, snap2b := compiled(t, sidecarID, unhealthy, baseDir, fallbackDir)
	res2c, snap2c := compiled(t, sidecarID, func(in []registry.Instance) { in[1].Healthy = false }, baseDir, fallbackDir)
	rds := resource.RouteType
	if snap2b.GetVersion(rds) != snap2.GetVersion(rds) || snap2c.GetVersion(rds) != snap2.GetVersion(rds) {
		t.Fatal("an endpoints-only change changed the routes' version; the test proves nothing")
	}

	srv := startServer(t, "127.0.0.1:0", nil)
	srv.set(t, "proxy-1", snap1)
	r := &recorder{reject: rejectFallback}
	startClient(t, srv.addr, meshxds.NodeFor("proxy-1", sidecarID), r)
	srv.waitAcked(t, "proxy-1", snap1)
	srv.set(t, "proxy-1", snap2)
	waitNACK(t, srv, "proxy-1", func(n *NACK) bool { return n.Version == snap2.GetVersion(rds) })

	srv.set(t, "proxy-1", snap2b)
	waitNACK(t, srv, "proxy-1", func(n *NACK) bool { return n.Version == snap2.GetVersion(rds)+RetrySuffix })

	r.setReject(nil) // the proxy learns fallback clusters
	srv.set(t, "proxy-1", snap2c)
	r.waitApplied(t, res2c)
	srv.waitAcked(t, "proxy-1", snap2c)
}

// TestNACKUndecodable: a response that fails proto validation is NACKed
// with ErrDecode before Apply sees anything.
func TestNACKUndecodable(t *testing.T) {
	checkLeaks(t)
	bad, _ := compiled(t, sidecarID, nil, baseDir)
	bad.Clusters[0].ConnectTimeout = durationpb.New(-time.Second)
	badSnap, err := compile.Snapshot(bad)
	if err != nil {
		t.Fatal(err)
	}
	good, goodSnap := compiled(t, sidecarID, nil, baseDir)
	cds, lds := resource.ClusterType, resource.ListenerType

	srv := startServer(t, "127.0.0.1:0", nil)
	srv.set(t, "proxy-1", badSnap)
	r := &recorder{}
	c, _ := startClient(t, srv.addr, meshxds.NodeFor("proxy-1", sidecarID), r)
	ps := waitNACK(t, srv, "proxy-1", func(n *NACK) bool { return n.TypeURL == cds })
	if !strings.Contains(ps.LastNACK.Message, "ConnectTimeout") || !strings.Contains(ps.LastNACK.Message, bad.Clusters[0].Name) {
		t.Errorf("NACK message %q does not name the cluster and field", ps.LastNACK.Message)
	}
	waitUntil(t, "the LDS ACK", func() bool {
		ps, _ := srv.proxy("proxy-1")
		return ps.Acked[lds] == badSnap.GetVersion(lds)
	})
	if calls, _ := r.snapshot(); len(calls) != 0 {
		t.Errorf("Apply called %d times without clusters", len(calls))
	}
	if err := c.Status().LastError; !errors.Is(err, xds.ErrDecode) {
		t.Errorf("client LastError = %v, want ErrDecode", err)
	}

	srv.set(t, "proxy-1", goodSnap)
	r.waitApplied(t, good)
	srv.waitAcked(t, "proxy-1", goodSnap)
	if calls, _ := r.snapshot(); !slices.ContainsFunc(calls, func(res *meshxds.Resources) bool { return diffResources(res, good) == "" }) {
		t.Error("the good snapshot was never applied")
	}
}

// TestNACKBrokenRule: a route configuration that breaks one of Envoy's
// validation rules on a field the proxy reads (a domain with a line break)
// is NACKed by the client's own checks (internal/xdsrules) with the
// resource, the field path and the rule; Apply never sees it, and the last
// good configuration stays in force and ACKed.
func TestNACKBrokenRule(t *testing.T) {
	checkLeaks(t)
	good, goodSnap := compiled(t, sidecarID, nil, baseDir)
	bad, _ := compiled(t, sidecarID, nil, baseDir)
	vh := bad.Routes[0].VirtualHosts[1]
	vh.Domains = append(vh.Domains, "mocka\r\nx-injected: 1")
	badSnap, err := compile.Snapshot(bad)
	if err != nil {
		t.Fatal(err)
	}
	rds := resource.RouteType
	if badSnap.GetVersion(rds) == goodSnap.GetVersion(rds) {
		t.Fatal("the broken domain left the routes' version as it was; the test proves nothing")
	}

	srv := startServer(t, "127.0.0.1:0", nil)
	srv.set(t, "proxy-1", goodSnap)
	r := &recorder{}
	c, _ := startClient(t, srv.addr, meshxds.NodeFor("proxy-1", sidecarID), r)
	r.waitApplied(t, good)
	srv.waitAcked(t, "proxy-1", goodSnap)
	calls, _ := r.snapshot()
	applied := len(calls)

	srv.set(t, "proxy-1", badSnap)
	ps := waitNACK(t, srv, "proxy-1", func(n *NACK) bool { return n.TypeURL == rds })
	want := fmt.Sprintf(`%q: invalid RouteConfiguration.VirtualHosts[1].Domains[%d]: value does not match regex pattern "^[^\x00\n\r]*$"`,
		bad.Routes[0].GetName(), len(vh.Domains)-1)
	if n := ps.LastNACK; n.Version != badSnap.GetVersion(rds) || !strings.Contains(n.Message, want) {
		t.Errorf("NACK = %+v, want version %s and a message with %q", n, badSnap.GetVersion(rds), want)
	}
	if ps.Acked[rds] != goodSnap.GetVersion(rds) {
		t.Errorf("server: acked RDS %q, want the previous good %q", ps.Acked[rds], goodSnap.GetVersion(rds))
	}
	if err := c.Status().LastError; !errors.Is(err, xds.ErrDecode) {
		t.Errorf("client LastError = %v, want ErrDecode", err)
	}
	if calls, _ := r.snapshot(); len(calls) != applied {
		t.Errorf("Apply called %d times after the broken routes; want none", len(calls)-applied)
	}
	if d := diffResources(r.last(), good); d != "" {
		t.Errorf("the configuration in force is not the last good one: %s", d)
	}
}
