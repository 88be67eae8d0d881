package xds

import (
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/lanemesh/lanemesh/internal/meshxds"
	"google.golang.org/protobuf/proto"
)

// kind and its constants are short local names for meshxds's Kind, the
// four xDS types lanemesh uses, in the order an update flows: clusters
// before their endpoints, listeners before their routes.
type kind = meshxds.Kind

const (
	clusters  = meshxds.Clusters
	endpoints = meshxds.Endpoints
	listeners = meshxds.Listeners
	routes    = meshxds.Routes
	numKinds  = meshxds.NumKinds
)

func kindOf(typeURL string) (kind, bool) { return meshxds.KindOf(typeURL) }

// typeState holds the resources of one type as of one response. It is
// never modified once built, so typeStates are copied freely.
type typeState struct {
	have    bool // a response for this type has been accepted
	version string
	items   map[string]proto.Message // by resource name
	names   []string                 // the items' names, sorted
	// refs are, sorted, the names of the on-demand type these items
	// reference: the EDS service names of clusters, the RDS route
	// configuration names of listeners; nil for the other types. They
	// are worked out once per response, from each item's own, which are
	// worked out once per item: the client needs them for every request
	// it sends and every view it assembles, and finding a listener's
	// route names means unmarshaling its HTTP connection manager.
	refs []string
	// refsKey is refs joined by commas, for viewKey.
	refsKey string
	// wire holds the items by the bytes they were decoded from (those sent
	// without a TTL envelope), so that the next response of the type
	// decodes only what changed; see decode.
	wire map[string]*decoded
	// routeParts holds, for routes, the virtual hosts and routes of the
	// items by their bytes, so that a changed route configuration decodes
	// only the parts that changed; see unpackRoute. nil reuses nothing.
	routeParts *routeParts
}

// view is one picture of all four types.
type view [numKinds]typeState

// wanted returns, sorted, the names the client must subscribe to for an
// on-demand type: the EDS service names of the view's EDS clusters, or the
// RDS route configuration names of its listeners; nil for CDS and LDS,
// which are wildcard. The slice is shared: do not modify it.
func (v *view) wanted(k kind) []string {
	switch k {
	case endpoints:
		return v[clusters].refs
	case routes:
		return v[listeners].refs
	}
	return nil
}

// viewKey identifies the content of a complete view: it changes whenever
// the content may have. Of EDS and RDS it holds the version and the names
// the view takes from them (joined by commas), if it takes any. It is
// comparable, and cheap to make: no string is built for it.
type viewKey struct {
	complete            bool // the zero viewKey is no view's
	clusters, listeners string
	endpoints, routes   string
	edsNames, rdsNames  string
}

// key returns the view's key, and ok false while the view is incomplete:
// no clusters or listeners yet, or a referenced route configuration or
// load assignment missing.
func (v *view) key() (key viewKey, ok bool) {
	if !v[clusters].have || !v[listeners].have || !v.hasWanted(endpoints) || !v.hasWanted(routes) {
		return viewKey{}, false
	}
	key = viewKey{complete: true, clusters: v[clusters].version, listeners: v[listeners].version,
		edsNames: v[clusters].refsKey, rdsNames: v[listeners].refsKey}
	if key.edsNames != "" {
		key.endpoints = v[endpoints].version
	}
	if key.rdsNames != "" {
		key.routes = v[routes].version
	}
	return key, true
}

// hasWanted reports whether the view has every resource of on-demand kind
// k that it references.
func (v *view) hasWanted(k kind) bool {
	for _, n := range v.wanted(k) {
		if _, ok := v[k].items[n]; !ok {
			return false
		}
	}
	return true
}

// resources returns a complete view (see key) as meshxds.Resources, each
// kind sorted by name. Routes and endpoints not referenced (left over from
// before a change of names) are left out.
func (v *view) resources() *meshxds.Resources {
	return &meshxds.Resources{
		Clusters:  pick[*clusterv3.Cluster](v[clusters].items, v[clusters].names),
		Endpoints: pick[*endpointv3.ClusterLoadAssignment](v[endpoints].items, v.wanted(endpoints)),
		Listeners: pick[*listenerv3.Listener](v[listeners].items, v[listeners].names),
		Routes:    pick[*routev3.RouteConfiguration](v[routes].items, v.wanted(routes)),
	}
}

// versions returns the view's versions as log attributes.
func (v *view) versions() []any {
	out := make([]any, 0, 2*numKinds)
	for k := range numKinds {
		out = append(out, k.String(), v[k].version)
	}
	return out
}

// pick returns the named items in order; they must exist.
func pick[T proto.Message](items map[string]proto.Message, names []string) []T {
	if len(names) == 0 {
		return nil
	}
	out := make([]T, len(names))
	for i, n := range names {
		out[i] = items[n].(T)
	}
	return out
}
