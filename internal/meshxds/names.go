package meshxds

import (
	"fmt"
	"strings"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	aggregatev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/clusters/aggregate/v3"
)

// ClusterName is Istio's name for the cluster of a service port and subset:
// "outbound|8000|v2|mockb.default.svc.cluster.local" (subset empty for all
// endpoints).
func ClusterName(port uint32, subset, host string) string {
	return fmt.Sprintf("outbound|%d|%s|%s", port, subset, host)
}

// ParseClusterName splits a ClusterName into its port, subset and host.
func ParseClusterName(name string) (port uint32, subset, host string, ok bool) {
	parts := strings.Split(name, "|")
	if len(parts) != 4 || parts[0] != "outbound" {
		return 0, "", "", false
	}
	if _, err := fmt.Sscanf(parts[1], "%d", &port); err != nil {
		return 0, "", "", false
	}
	return port, parts[2], parts[3], true
}

// FallbackClusterName names the aggregate cluster that tries primary, then
// fallback: "<primary>><fallback>".
func FallbackClusterName(primary, fallback string) string {
	return primary + ">" + fallback
}

// SplitFallbackName returns the members of a FallbackClusterName, or ok
// false for any other name.
func SplitFallbackName(name string) (primary, fallback string, ok bool) {
	return strings.Cut(name, ">")
}

// AggregateMembers returns the ordered members of an aggregate cluster, or
// nil for any other cluster.
func AggregateMembers(c *clusterv3.Cluster) []string {
	ct := c.GetClusterType()
	if ct == nil || ct.GetName() != AggregateClusterType {
		return nil
	}
	var cfg aggregatev3.ClusterConfig
	if err := ct.GetTypedConfig().UnmarshalTo(&cfg); err != nil {
		return nil
	}
	return cfg.GetClusters()
}

// GatewayRouteName is the route configuration of a gateway port.
func GatewayRouteName(port uint32) string { return fmt.Sprintf("http.%d", port) }

// GatewayTLSRouteName is the route configuration of one HTTPS server, as
// Istio names it: https.PORT.PORTNAME.GATEWAY.NAMESPACE. Each server has
// its own, so that a request reaches only the hosts of the server whose
// certificate it was given.
func GatewayTLSRouteName(port uint32, portName, gateway, namespace string) string {
	return fmt.Sprintf("https.%d.%s.%s.%s", port, portName, gateway, namespace)
}
