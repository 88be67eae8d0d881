// Package compile turns a configuration, the registry's instances and one
// proxy's identity into the Envoy v3 xDS resources that proxy receives:
// Listeners, RouteConfigurations, Clusters and ClusterLoadAssignments.
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
	"github.com/lanemesh/lanemesh/internal/registry"
)

// Role is the kind of proxy a snapshot is for.
type Role string

// Roles.
const (
	Gateway Role = "gateway"
	Sidecar Role = "sidecar"
)

// Proxy is the identity a snapshot is compiled for: a gateway chosen by
// Gateways' selectors over its labels, or a sidecar beside a workload with
// these labels in this namespace. Two proxies with equal identities receive
// equal snapshots, which lets the control plane compile once per identity.
type Proxy struct {
	Role      Role
	Namespace string
	Labels    map[string]string
	// Inbound says the pod's inbound traffic reaches its sidecar
	// (iptables PREROUTING in Kubernetes, the sidecar bound to the pod's
	// port in local mode), so the sidecar gets InboundListener. It is
	// fixed when the pod starts, as its capture rules are.
	Inbound bool
}

// Names of the listeners and route configurations lanemesh emits.
const (
	// SidecarListener is the sidecar's outbound listener: apps send to it
	// as an HTTP proxy (absolute-form URLs) or with a service Host.
	SidecarListener = "virtualOutbound"
	// SidecarListenerPort is the port SidecarListener names.
	SidecarListenerPort = 15001
	// SidecarRoutes is the sidecar's one route configuration: a virtual
	// host per service port.
	SidecarRoutes = "outbound"
	// MetadataKey is the filter metadata namespace of lanemesh's route
	// metadata.
	MetadataKey = "lanemesh"
)

// Resources is everything one proxy receives, each kind sorted by name.
type Resources struct {
	Listeners []*listenerv3.Listener
	Routes    []*routev3.RouteConfiguration
	Clusters  []*clusterv3.Cluster
	Endpoints []*endpointv3.ClusterLoadAssignment
}

// Compile builds the resources for proxy p from configuration c and the
// registry's instances. It never fails: a reference the analyzer would
// reject (an undefined subset, say) compiles to a route whose cluster does
// not exist, which the proxy answers with 503 NC, as DESIGN §4 says.
func Compile(c *config.Config, instances []registry.Instance, p Proxy) *Resources {
	return CompileWith(c, instances, p, Options{})
}

// CompileWith is Compile with options: the credentials that Gateway
// servers and DestinationRules name.
func CompileWith(c *config.Config, instances []registry.Instance, p Proxy, opts Options) *Resources {
	b := newBuilder(c, instances, p, opts)
	b.addServiceClusters()
	res := &Resources{}
	switch p.Role {
	case Gateway:
		res.Listeners, res.Routes = b.gatewayListeners()
	default:
		lp := b.propagation()
		res.Listeners = []*listenerv3.Listener{listener(SidecarListener, SidecarListenerPort, SidecarRoutes, propagationFilters(lp)...)}
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
