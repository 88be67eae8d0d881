package xdsrules

import (
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
)

// Cluster checks the fields of c the proxy reads. Its load_assignment is
// checked as a ClusterLoadAssignment, whatever the cluster's type.
func Cluster(c *clusterv3.Cluster) error { return checkCluster(c).asError("Cluster") }

func checkCluster(c *clusterv3.Cluster) *fieldError {
	if c == nil {
		return nil
	}
	e := first(
		nonEmpty("Name", c.GetName()),
		positive("ConnectTimeout", c.GetConnectTimeout()),
		definedIn("LbPolicy", c.GetLbPolicy(), clusterv3.Cluster_LbPolicy_name),
		// The proxy refuses health checks on the clusters it builds, but
		// not on an aggregate, which it reads only for its members.
		maxItems("HealthChecks", len(c.GetHealthChecks()), 8),
		checkTransportSocket(c.GetTransportSocket()).in("TransportSocket"),
		checkCircuitBreakers(c.GetCircuitBreakers()).in("CircuitBreakers"),
		checkOutlier(c.GetOutlierDetection()).in("OutlierDetection"),
		checkLoadAssignment(c.GetLoadAssignment()).in("LoadAssignment"),
		atLeast("HashBalanceFactor", c.GetCommonLbConfig().GetConsistentHashingLbConfig().GetHashBalanceFactor(), 100).
			in("ConsistentHashingLbConfig").in("CommonLbConfig"),
	)
	if e != nil {
		return e
	}
	switch t := c.GetClusterDiscoveryType().(type) {
	case *clusterv3.Cluster_Type:
		e = definedIn("Type", t.Type, clusterv3.Cluster_DiscoveryType_name)
	case *clusterv3.Cluster_ClusterType:
		e = nonEmpty("Name", t.ClusterType.GetName()).in("ClusterType")
	}
	if e != nil {
		return e
	}
	switch lb := c.GetLbConfig().(type) {
	case *clusterv3.Cluster_RingHashLbConfig_:
		r := lb.RingHashLbConfig
		e = first(
			atMost64("MinimumRingSize", r.GetMinimumRingSize(), 8388608),
			definedIn("HashFunction", r.GetHashFunction(), clusterv3.Cluster_RingHashLbConfig_HashFunction_name),
			atMost64("MaximumRingSize", r.GetMaximumRingSize(), 8388608),
		).in("RingHashLbConfig")
	case *clusterv3.Cluster_MaglevLbConfig_:
		e = atMost64("TableSize", lb.MaglevLbConfig.GetTableSize(), 5000011).in("MaglevLbConfig")
	}
	return e
}

func checkTransportSocket(t *corev3.TransportSocket) *fieldError {
	if t == nil {
		return nil
	}
	return nonEmpty("Name", t.GetName())
}

func checkCircuitBreakers(cb *clusterv3.CircuitBreakers) *fieldError {
	for i, th := range cb.GetThresholds() {
		e := first(
			definedIn("Priority", th.GetPriority(), corev3.RoutingPriority_name),
			checkPercent(th.GetRetryBudget().GetBudgetPercent()).in("BudgetPercent").in("RetryBudget"),
		)
		if e != nil {
			return e.at("Thresholds", i)
		}
	}
	return nil
}

func checkOutlier(o *clusterv3.OutlierDetection) *fieldError {
	if o == nil {
		return nil
	}
	return first(
		positive("Interval", o.GetInterval()),
		positive("BaseEjectionTime", o.GetBaseEjectionTime()),
		atMost("MaxEjectionPercent", o.GetMaxEjectionPercent(), 100),
		atMost("EnforcingConsecutive_5Xx", o.GetEnforcingConsecutive_5Xx(), 100),
		atMost("EnforcingConsecutiveGatewayFailure", o.GetEnforcingConsecutiveGatewayFailure(), 100),
		atMost("EnforcingConsecutiveLocalOriginFailure", o.GetEnforcingConsecutiveLocalOriginFailure(), 100),
		atMost("EnforcingFailurePercentage", o.GetEnforcingFailurePercentage(), 100),
		atMost("EnforcingFailurePercentageLocalOrigin", o.GetEnforcingFailurePercentageLocalOrigin(), 100),
		positive("MaxEjectionTime", o.GetMaxEjectionTime()),
	)
}

// ClusterLoadAssignment checks the fields of a the proxy reads.
func ClusterLoadAssignment(a *endpointv3.ClusterLoadAssignment) error {
	return checkLoadAssignment(a).asError("ClusterLoadAssignment")
}

func checkLoadAssignment(a *endpointv3.ClusterLoadAssignment) *fieldError {
	if a == nil {
		return nil
	}
	if e := nonEmpty("ClusterName", a.GetClusterName()); e != nil {
		return e
	}
	for i, loc := range a.GetEndpoints() {
		if loc.GetPriority() > 128 {
			return broken("Priority", "value must be less than or equal to 128").at("Endpoints", i)
		}
		for j, lb := range loc.GetLbEndpoints() {
			if e := checkLbEndpoint(lb); e != nil {
				return e.at("LbEndpoints", j).at("Endpoints", i)
			}
		}
	}
	return nil
}

func checkLbEndpoint(lb *endpointv3.LbEndpoint) *fieldError {
	return first(
		checkAddress(lb.GetEndpoint().GetAddress()).in("Address").in("Endpoint"),
		checkMetadata(lb.GetMetadata()).in("Metadata"),
		atLeast("LoadBalancingWeight", lb.GetLoadBalancingWeight(), 1),
	)
}

// checkAddress checks an address the proxy reads as a socket address. It
// refuses the other kinds (pipes, internal addresses) itself.
func checkAddress(a *corev3.Address) *fieldError {
	if a == nil {
		return nil
	}
	if a.GetAddress() == nil {
		return broken("Address", required)
	}
	sa := a.GetSocketAddress()
	if sa == nil {
		return nil
	}
	e := first(
		definedIn("Protocol", sa.GetProtocol(), corev3.SocketAddress_Protocol_name),
		nonEmpty("Address", sa.GetAddress()),
	)
	if e == nil {
		switch sa.GetPortSpecifier().(type) {
		case *corev3.SocketAddress_PortValue:
			if sa.GetPortValue() > 65535 {
				e = broken("PortValue", "value must be less than or equal to 65535")
			}
		case nil:
			e = broken("PortSpecifier", required)
		}
	}
	return e.in("SocketAddress")
}

// checkMetadata: filter_metadata keys must not be empty.
func checkMetadata(m *corev3.Metadata) *fieldError {
	for k := range m.GetFilterMetadata() {
		if k == "" {
			return broken("FilterMetadata[]", notEmpty)
		}
	}
	return nil
}
