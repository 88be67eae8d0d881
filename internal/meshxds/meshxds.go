// Package meshxds is the vocabulary both ends of lanemesh's xDS share: what
// a control plane (internal/compile, internal/xdsserver) writes and a data
// plane (internal/xds, internal/proxy) reads. It holds the resource set one
// proxy receives, the proxy's identity and how it travels in the xDS node,
// the names lanemesh gives clusters, listeners and route configurations,
// the Envoy extension names it emits, the members of its aggregate
// (fallback) clusters, the four resource kinds in update order, and the
// HTTP/2 window both ends use.
//
// It sits at the bottom of the import graph: it imports Envoy's API types
// and nothing of lanemesh, so a proxy links the contract without the
// configuration loader, the compiler or the control plane that produce it.
// Everything here is pure: constants, plain types and functions of their
// arguments.
package meshxds

import (
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
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

// Resources is everything one proxy receives, each kind sorted by name.
type Resources struct {
	Listeners []*listenerv3.Listener
	Routes    []*routev3.RouteConfiguration
	Clusters  []*clusterv3.Cluster
	Endpoints []*endpointv3.ClusterLoadAssignment
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

// Envoy extension names lanemesh emits, and the only ones its proxy runs.
const (
	FaultFilter  = "envoy.filters.http.fault"
	RouterFilter = "envoy.filters.http.router"
	// CorsFilter is Envoy's CORS filter; routes carry its per-route
	// CorsPolicy under this name in typed_per_filter_config.
	CorsFilter = "envoy.filters.http.cors"
	// WebSocketUpgrade is the upgrade type of an HTTP connection manager's
	// upgrade_configs that allows WebSocket, as Istio sets on every one.
	WebSocketUpgrade = "websocket"
	// TLSTransportSocket is the transport socket that carries a
	// DownstreamTlsContext or UpstreamTlsContext.
	TLSTransportSocket = "envoy.transport_sockets.tls"
	// RetryPreviousHosts is the retry host predicate that sends a retry to
	// another host than the attempt before.
	RetryPreviousHosts = "envoy.retry_host_predicates.previous_hosts"
	// AggregateClusterType is the Envoy extension name of aggregate
	// clusters.
	AggregateClusterType = "envoy.clusters.aggregate"
)

// SystemRoots is the trusted CA file name that means the system's roots,
// as Istio writes it when a policy verifies without caCertificates. The
// proxy reads the system pool for it rather than the file, which not every
// system has.
const SystemRoots = "/etc/ssl/certs/ca-certificates.crt"

// FlowWindow is the HTTP/2 flow-control window, per stream and per
// connection, of both ends of lanemesh's xDS (internal/xdsserver and internal/xds). It is fixed because
// gRPC's default, dynamic windows probe bandwidth with a BDP ping on the
// first DATA frame after each pause, which for xDS's small, bursty
// messages is nearly every one, and the peer must answer each ping: a
// ping and its answer, written and read on both sides, per message, at a
// thousand proxies per change. xDS needs no bandwidth probing, and 1 MiB
// holds a large configuration in one round trip.
const FlowWindow = 1 << 20
