package proxy

import (
	"errors"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"

	"google.golang.org/protobuf/types/known/wrapperspb"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/lanemesh/lanemesh/internal/meshxds"
	"github.com/lanemesh/lanemesh/internal/route"
)

// editHCM rewrites the HTTP connection manager of listener l.
func editHCM(t testing.TB, l *listenerv3.Listener, edit func(*hcmv3.HttpConnectionManager)) {
	t.Helper()
	f := l.FilterChains[0].Filters[0]
	var hcm hcmv3.HttpConnectionManager
	if err := f.GetTypedConfig().UnmarshalTo(&hcm); err != nil {
		t.Fatal(err)
	}
	edit(&hcm)
	a, err := anypb.New(&hcm)
	if err != nil {
		t.Fatal(err)
	}
	f.ConfigType = &listenerv3.Filter_TypedConfig{TypedConfig: a}
}

func findCluster(res *meshxds.Resources, name string) *clusterv3.Cluster {
	for _, c := range res.Clusters {
		if c.Name == name {
			return c
		}
	}
	return nil
}

const (
	mockbV1  = "outbound|8000|v1|mockb.default.svc.cluster.local"
	mockbV2  = "outbound|8000|v2|mockb.default.svc.cluster.local"
	mockbAgg = mockbV2 + ">" + mockbV1
)

// TestRejectedUpdateKeepsServing applies updates that must be NACKed, each
// with a message naming the resource at fault, and checks after each that
// the previous routes still serve.
func TestRejectedUpdateKeepsServing(t *testing.T) {
	m := newMesh(t, lanesDir, fallbackDir)
	id := sidecarIdentity("mocka", "v2")
	p := startProxy(t, Options{Role: meshxds.Sidecar}, m.resources(id, nil))
	c := newClient(p.OutboundAddr())
	cases := []struct {
		name, want string
		sentinel   error
		edit       func(*meshxds.Resources)
	}{
		{"listener names a missing route configuration", `listener "virtualOutbound": invalid: RDS route configuration "nowhere"`, route.ErrInvalid,
			func(r *meshxds.Resources) {
				editHCM(t, r.Listeners[0], func(h *hcmv3.HttpConnectionManager) { h.GetRds().RouteConfigName = "nowhere" })
			}},
		{"aggregate with a missing member", `cluster "` + mockbAgg + `": invalid: aggregate member "` + mockbV1 + `"`, route.ErrInvalid,
			func(r *meshxds.Resources) {
				r.Clusters = removeCluster(r.Clusters, mockbV1)
			}},
		{"EDS cluster without its load assignment", `cluster "` + mockbV2 + `": invalid: EDS cluster has no ClusterLoadAssignment`, route.ErrInvalid,
			func(r *meshxds.Resources) {
				for i, e := range r.Endpoints {
					if e.ClusterName == mockbV2 {
						r.Endpoints = append(r.Endpoints[:i], r.Endpoints[i+1:]...)
						break
					}
				}
			}},
		{"unsupported load balancer", `cluster "` + mockbV1 + `": unsupported: lb_policy CLUSTER_PROVIDED`, route.ErrUnsupported,
			func(r *meshxds.Resources) { findCluster(r, mockbV1).LbPolicy = clusterv3.Cluster_CLUSTER_PROVIDED }},
		{"an unsupported ring hash function", `cluster "` + mockbV1 + `": unsupported: ring_hash_lb_config hash_function MURMUR_HASH_2`, route.ErrUnsupported,
			func(r *meshxds.Resources) {
				c := findCluster(r, mockbV1)
				c.LbPolicy = clusterv3.Cluster_RING_HASH
				c.LbConfig = &clusterv3.Cluster_RingHashLbConfig_{RingHashLbConfig: &clusterv3.Cluster_RingHashLbConfig{HashFunction: clusterv3.Cluster_RingHashLbConfig_MURMUR_HASH_2}}
			}},
		{"a Maglev table size that is not prime", `cluster "` + mockbV1 + `": invalid: invalid consistent hash size: Maglev table_size 65536`, route.ErrInvalid,
			func(r *meshxds.Resources) {
				c := findCluster(r, mockbV1)
				c.LbPolicy = clusterv3.Cluster_MAGLEV
				c.LbConfig = &clusterv3.Cluster_MaglevLbConfig_{MaglevLbConfig: &clusterv3.Cluster_MaglevLbConfig{TableSize: wrapperspb.UInt64(65536)}}
			}},
		{"unsupported cluster type", `cluster "` + mockbV1 + `": unsupported: cluster type 42`, route.ErrUnsupported,
			func(r *meshxds.Resources) {
				findCluster(r, mockbV1).ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_DiscoveryType(42)}
			}},
		{"ORIGINAL_DST without CLUSTER_PROVIDED", `cluster "` + mockbV1 + `": invalid: an ORIGINAL_DST cluster needs lb_policy CLUSTER_PROVIDED`, route.ErrInvalid,
			func(r *meshxds.Resources) {
				findCluster(r, mockbV1).ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_ORIGINAL_DST}
			}},
		{"unknown retry condition", `route configuration "outbound": virtual host "mockb.default.svc.cluster.local:8000" route 0 "": invalid: retry_on "sometimes"`, route.ErrInvalid,
			func(r *meshxds.Resources) {
				r.Routes[0].VirtualHosts[1].Routes[0].GetRoute().RetryPolicy.RetryOn = "5xx,sometimes"
			}},
		{"an HTTP filter lanemesh does not run", `listener "virtualOutbound": unsupported: http filter "envoy.filters.http.lua"`, route.ErrUnsupported,
			func(r *meshxds.Resources) {
				editHCM(t, r.Listeners[0], func(h *hcmv3.HttpConnectionManager) {
					h.HttpFilters = append([]*hcmv3.HttpFilter{{Name: "envoy.filters.http.lua"}}, h.HttpFilters...)
				})
			}},
		{"a regex rewrite RE2 cannot apply", `invalid: regex_rewrite: substitution "/\\1" refers to group \1`, route.ErrInvalid,
			func(r *meshxds.Resources) {
				r.Routes[0].VirtualHosts[1].Routes[0].GetRoute().RegexRewrite = &matcherv3.RegexMatchAndSubstitute{
					Pattern: &matcherv3.RegexMatcher{Regex: "^/"}, Substitution: `/\1`}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := m.resources(id, nil)
			if vh := res.Routes[0].VirtualHosts[1]; !strings.HasPrefix(vh.Name, "mockb") {
				t.Fatalf("test assumes virtual host 1 is mockb's, got %s", vh.Name)
			}
			tc.edit(res)
			err := p.Apply(res)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, tc.sentinel) {
				t.Fatalf("Apply: %v\nwant an error wrapping %v containing %q", err, tc.sentinel, tc.want)
			}
			if _, body, _ := call(t, c, "GET", "http://mockb:8000/", "", nil); body != "mockb-v2-0" {
				t.Errorf("after the rejected update: got %q, want the previous routes (mockb-v2-0)", body)
			}
		})
	}
}

func removeCluster(cs []*clusterv3.Cluster, name string) []*clusterv3.Cluster {
	var out []*clusterv3.Cluster
	for _, c := range cs {
		if c.Name != name {
			out = append(out, c)
		}
	}
	return out
}

// withPort8080 adds a second gateway listener, port 8080, with a copy of
// port 80's routes.
func withPort8080(t testing.TB, res *meshxds.Resources) *meshxds.Resources {
	l := proto.Clone(res.Listeners[0]).(*listenerv3.Listener)
	l.Name = "0.0.0.0_8080"
	l.Address.GetSocketAddress().PortSpecifier = &corev3.SocketAddress_PortValue{PortValue: 8080}
	editHCM(t, l, func(h *hcmv3.HttpConnectionManager) { h.GetRds().RouteConfigName = "http.8080" })
	rc := proto.Clone(res.Routes[0]).(*routev3.RouteConfiguration)
	rc.Name = "http.8080"
	res.Listeners = append(res.Listeners, l)
	res.Routes = append(res.Routes, rc)
	return res
}

// TestListenersFollowUpdates adds a second gateway port by update and
// removes it again: the new port is bound and serves, port 80 keeps its
// socket throughout, and the removed one stops accepting.
func TestListenersFollowUpdates(t *testing.T) {
	m := newMesh(t, lanesDir)
	base := m.resources(gatewayIdentity, nil)
	// Port 8080's address is free when picked but may be taken before the
	// update binds it (tests run in parallel): pick again then.
	var p *Proxy
	for attempt := 1; ; attempt++ {
		p = startProxy(t, Options{Role: meshxds.Gateway, PortMap: map[uint32]string{80: "127.0.0.1:0", 8080: freeAddr(t)}}, base)
		err := p.Apply(withPort8080(t, m.resources(gatewayIdentity, nil)))
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EADDRINUSE) || attempt == 3 {
			t.Fatal(err)
		}
	}
	port80 := p.Addr(80).String()
	c := newClient(nil)
	lane := map[string]string{"x-asm-prefer-tag": "v3"}
	for _, addr := range []string{p.Addr(80).String(), p.Addr(8080).String()} {
		if _, body, _ := call(t, c, "GET", "http://"+addr+"/mock", "", lane); body != "mocka-v3-0" {
			t.Errorf("%s: got %q", addr, body)
		}
	}
	removed := p.Addr(8080).String()
	if err := p.Apply(base); err != nil {
		t.Fatal(err)
	}
	if p.Addr(80).String() != port80 || p.Addr(8080) != nil {
		t.Errorf("after removing 8080: port 80 at %v (was %s), port 8080 at %v", p.Addr(80), port80, p.Addr(8080))
	}
	waitFor(t, "the removed listener to close", func() bool {
		conn, err := net.Dial("tcp", removed)
		if err == nil {
			conn.Close()
		}
		return err != nil
	})
	if status, _, _ := call(t, c, "GET", "http://"+port80+"/mock", "", lane); status != http.StatusOK {
		t.Errorf("port 80 after removing 8080: %d", status)
	}
}

// TestTwoListenersOneAddressRejected maps two ports to one address.
func TestTwoListenersOneAddressRejected(t *testing.T) {
	m := newMesh(t, lanesDir)
	p, err := New(Options{Role: meshxds.Gateway, PortMap: map[uint32]string{80: "127.0.0.1:0", 8080: "127.0.0.1:0"}})
	if err != nil {
		t.Fatal(err)
	}
	err = p.Apply(withPort8080(t, m.resources(gatewayIdentity, nil)))
	if err == nil || !strings.Contains(err.Error(), "binds 127.0.0.1:0, as listener") {
		t.Errorf("Apply: %v, want the second listener on one address rejected", err)
	}
}

// freeAddr returns a loopback address nothing listens on right now.
func freeAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestBindFailureIsRejected applies a listener whose address is taken:
// the update is rejected and the proxy keeps serving the previous one.
func TestBindFailureIsRejected(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	m := newMesh(t, lanesDir)
	p := startProxy(t, Options{Role: meshxds.Gateway}, m.resources(gatewayIdentity, nil))
	before := p.Addr(80)
	q, err := New(Options{Role: meshxds.Gateway, PortMap: map[uint32]string{80: taken.Addr().String()}})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Apply(m.resources(gatewayIdentity, nil)); err == nil || !strings.Contains(err.Error(), "bind") {
		t.Errorf("Apply on a taken address: %v, want a bind error", err)
	}
	if q.Ready() {
		t.Error("a proxy whose only update was rejected must not be ready")
	}
	if p.Addr(80).String() != before.String() {
		t.Error("the other proxy's listener moved")
	}
}
