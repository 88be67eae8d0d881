package xds

import (
	"maps"
	"slices"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// TestReferencesAgreeWithGoControlPlane: the client's reference walk finds
// what go-control-plane's (the one the server's Snapshot.Consistent uses)
// finds, on the tutorial's resources and on the shapes lanemesh does not
// emit itself but another control plane may.
func TestReferencesAgreeWithGoControlPlane(t *testing.T) {
	pack := func(m proto.Message) *anypb.Any {
		a, err := anypb.New(m)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	hcmFilter := func(h *hcmv3.HttpConnectionManager) *listenerv3.Filter {
		return &listenerv3.Filter{Name: "hcm", ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: pack(h)}}
	}
	rds := func(name string) *hcmv3.HttpConnectionManager {
		return &hcmv3.HttpConnectionManager{RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{RouteConfigName: name}}}
	}
	scoped := &hcmv3.HttpConnectionManager{RouteSpecifier: &hcmv3.HttpConnectionManager_ScopedRoutes{ScopedRoutes: &hcmv3.ScopedRoutes{
		ConfigSpecifier: &hcmv3.ScopedRoutes_ScopedRouteConfigurationsList{ScopedRouteConfigurationsList: &hcmv3.ScopedRouteConfigurationsList{
			ScopedRouteConfigurations: []*routev3.ScopedRouteConfiguration{{Name: "s1", RouteConfigurationName: "scoped-a"}, {Name: "s2", RouteConfigurationName: "scoped-b"}}}}}}}
	tcp := &listenerv3.Filter{Name: "tcp", ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: pack(&tcpv3.TcpProxy{StatPrefix: "tcp"})}}
	eds := func(name, service string) *clusterv3.Cluster {
		c := &clusterv3.Cluster{Name: name, ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS}}
		if service != "" {
			c.EdsClusterConfig = &clusterv3.Cluster_EdsClusterConfig{ServiceName: service}
		}
		return c
	}
	type item struct {
		k kind
		r proto.Message
	}
	items := []item{
		{clusters, eds("plain", "")},
		{clusters, eds("named", "the-service")},
		{clusters, &clusterv3.Cluster{Name: "static", ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC}}},
		{clusters, &clusterv3.Cluster{Name: "none"}},
		{listeners, &listenerv3.Listener{Name: "empty"}},
		{listeners, &listenerv3.Listener{Name: "two chains", FilterChains: []*listenerv3.FilterChain{
			{Filters: []*listenerv3.Filter{tcp, hcmFilter(rds("a"))}}, {Filters: []*listenerv3.Filter{hcmFilter(rds("b")), hcmFilter(rds("a"))}}}}},
		{listeners, &listenerv3.Listener{Name: "default chain", DefaultFilterChain: &listenerv3.FilterChain{Filters: []*listenerv3.Filter{hcmFilter(rds("d"))}}}},
		{listeners, &listenerv3.Listener{Name: "scoped", FilterChains: []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{hcmFilter(scoped)}}}}},
		{listeners, &listenerv3.Listener{Name: "inline routes", FilterChains: []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{hcmFilter(&hcmv3.HttpConnectionManager{})}}}}},
	}
	for _, res := range []struct{ paths []string }{{[]string{baseDir}}, {[]string{baseDir, fallbackDir}}} {
		r := compiled(t, res.paths...)
		for _, c := range r.Clusters {
			items = append(items, item{clusters, c})
		}
		for _, l := range r.Listeners {
			items = append(items, item{listeners, l})
		}
	}
	for _, it := range items {
		on := endpoints
		if it.k == listeners {
			on = routes
		}
		want := slices.Sorted(maps.Keys(cachev3.GetResourceReferences(map[string]types.ResourceWithTTL{"": {Resource: it.r}})[on.TypeURL()]))
		if got := referencesOf(it.k, it.r); !slices.Equal(got, want) {
			t.Errorf("%s %s: references %q, go-control-plane %q", it.k, resourceName(it.r), got, want)
		}
	}
}
