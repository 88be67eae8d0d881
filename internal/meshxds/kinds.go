package meshxds

import "slices"

// Kind is one of the four xDS resource types lanemesh serves, in the order
// an update flows: clusters before their endpoints, listeners before their
// routes. The server answers a node's watches in this order and the client
// applies only complete views; see internal/xds.
type Kind int

// Kinds, in update order.
const (
	Clusters Kind = iota
	Endpoints
	Listeners
	Routes
	NumKinds
)

// typeURLs are the kinds' type URLs, as go-control-plane's resource package
// spells them (a test holds them equal), written out so that the contract
// does not import the control plane's library.
var typeURLs = [NumKinds]string{
	"type.googleapis.com/envoy.config.cluster.v3.Cluster",
	"type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
	"type.googleapis.com/envoy.config.listener.v3.Listener",
	"type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
}

// TypeURL is the type URL of k's resources.
func (k Kind) TypeURL() string { return typeURLs[k] }

// String is the kind's discovery service: CDS, EDS, LDS or RDS.
func (k Kind) String() string { return [NumKinds]string{"CDS", "EDS", "LDS", "RDS"}[k] }

// KindOf returns the kind of a type URL, ok false for a type lanemesh does
// not serve.
func KindOf(typeURL string) (k Kind, ok bool) {
	i := slices.Index(typeURLs[:], typeURL)
	return Kind(i), i >= 0
}
