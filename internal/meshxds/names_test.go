package meshxds

import (
	"slices"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	aggregatev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/clusters/aggregate/v3"
	"google.golang.org/protobuf/types/known/anypb"
)

func TestClusterNameRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		port         uint32
		subset, host string
	}{{8000, "v2", "mockb.default.svc.cluster.local"}, {80, "", "mocka.default.svc.cluster.local"}} {
		port, subset, host, ok := ParseClusterName(ClusterName(tc.port, tc.subset, tc.host))
		if !ok || port != tc.port || subset != tc.subset || host != tc.host {
			t.Errorf("ParseClusterName(ClusterName(%d, %q, %q)) = %d, %q, %q, %v", tc.port, tc.subset, tc.host, port, subset, host, ok)
		}
	}
	for _, bad := range []string{"", "inbound|8000|v1|a", "outbound|x|v1|a", "outbound|8000|v1", FallbackClusterName("a", "b")} {
		if _, _, _, ok := ParseClusterName(bad); ok {
			t.Errorf("ParseClusterName(%q) ok", bad)
		}
	}
}

func TestAggregateMembers(t *testing.T) {
	primary, fallback := ClusterName(8000, "v2", "mockb"), ClusterName(8000, "v1", "mockb")
	if p, f, ok := SplitFallbackName(FallbackClusterName(primary, fallback)); !ok || p != primary || f != fallback {
		t.Errorf("SplitFallbackName = %q, %q, %v", p, f, ok)
	}
	cfg, err := anypb.New(&aggregatev3.ClusterConfig{Clusters: []string{primary, fallback}})
	if err != nil {
		t.Fatal(err)
	}
	agg := &clusterv3.Cluster{ClusterDiscoveryType: &clusterv3.Cluster_ClusterType{
		ClusterType: &clusterv3.Cluster_CustomClusterType{Name: AggregateClusterType, TypedConfig: cfg}}}
	if got := AggregateMembers(agg); !slices.Equal(got, []string{primary, fallback}) {
		t.Errorf("AggregateMembers = %q", got)
	}
	agg.GetClusterType().Name = "envoy.clusters.dynamic_forward_proxy"
	if got := AggregateMembers(agg); got != nil {
		t.Errorf("AggregateMembers of another custom type = %q, want nil", got)
	}
	if got := AggregateMembers(&clusterv3.Cluster{Name: primary}); got != nil {
		t.Errorf("AggregateMembers of an EDS cluster = %q, want nil", got)
	}
}
