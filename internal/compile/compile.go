// Package compile turns a configuration, the registry's instances and one
// proxy's identity into the Envoy v3 xDS resources that proxy receives:
// Listeners, RouteConfigurations, Clusters and ClusterLoadAssignments.
//
// The identity it compiles for, the resource set it returns and the names
// it gives clusters, listeners and route configurations are
// internal/meshxds's: the vocabulary the proxy reads them with, which does
// not depend on this package.
//
// Compile is pure and deterministic: no I/O, clock, env or globals, and the
// same input gives the same resources in the same order, so snapshot
// versions (content hashes) only change when the content does.
//
// How lanemesh's semantics map onto xDS:
//   - sourceLabels, sourceNamespace, match gateways and port are resolved
//     here, per proxy, as Istio does: a match that cannot apply to this
//     proxy is left out and the request falls through to later routes.
//   - A route destination with an ASM fallback becomes an aggregate cluster
//     (envoy.clusters.aggregate) whose members are the destination's subset
//     cluster, then the fallback's. Each member's ClusterLoadAssignment
//     carries an overprovisioning factor so large that a priority level
//     counts as fully healthy while it has any healthy endpoint: Envoy then
//     spills over all-or-nothing, which is the meaning lanemesh's own proxy
//     gives to the same resources.
//   - Every route carries filter metadata "lanemesh" {virtualService,
//     routeIndex}, so that access logs and `lanemesh explain` can say which
//     rule matched.
package compile

import (
	"sort"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"github.com/lanemesh/lanemesh/internal/config"
	"github.com/lanemesh/lanemesh/internal/meshxds"
	"github.com/lanemesh/lanemesh/internal/registry"
)

// Compile builds the resources for proxy p from configuration c and the
// registry's instances. It never fails: a reference the analyzer would
// reject (an undefined subset, say) compiles to a route whose cluster does
// not exist, which the proxy answers with 503 NC, as DESIGN §4 says.
func Compile(c *config.Config, instances []registry.Instance, p meshxds.Proxy) *meshxds.Resources {
	return CompileWith(c, instances, p, Options{})
}

// CompileWith is Compile with options: the credentials that Gateway
// servers and DestinationRules name.
func CompileWith(c *config.Config, instances []registry.Instance, p meshxds.Proxy, opts Options) *meshxds.Resources {
	b := newBuilder(c, instances, p, opts)
	b.addServiceClusters()
	res := &meshxds.Resources{}
	switch p.Role {
	case meshxds.Gateway:
		res.Listeners, res.Routes = b.gatewayListeners()
	default:
		lp := b.propagation()
		res.Listeners = []*listenerv3.Listener{b.listener(meshxds.SidecarListener, meshxds.SidecarListenerPort, meshxds.SidecarRoutes, envoyServerName, propagationFilters(lp)...)}
		res.Routes = []*routev3.RouteConfiguration{b.sidecarRoutes()}
		if p.Inbound {
			l, rc := b.inbound(lp)
			res.Listeners = append([]*listenerv3.Listener{l}, res.Listeners...)   // "virtualInbound" sorts before "virtualOutbound"
			res.Routes = append([]*routev3.RouteConfiguration{rc}, res.Routes...) // "inbound" sorts before "outbound"
		}
	}
	res.Clusters, res.Endpoints = b.clusterList()
	return res
}

// clusterList returns the builder's clusters and, for each EDS cluster, its
// load assignment, both sorted by name.
func (b *builder) clusterList() ([]*clusterv3.Cluster, []*endpointv3.ClusterLoadAssignment) {
	names := make([]string, 0, len(b.clusters))
	for n := range b.clusters {
		names = append(names, n)
	}
	sort.Strings(names)
	clusters := make([]*clusterv3.Cluster, 0, len(names))
	var cla []*endpointv3.ClusterLoadAssignment
	for _, n := range names {
		clusters = append(clusters, b.clusters[n])
		if a, ok := b.endpoints[n]; ok {
			cla = append(cla, a)
		}
	}
	return clusters, cla
}
