package xds

import (
	"maps"
	"slices"
	"strings"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/lanemesh/lanemesh/internal/compile"
)

// kind indexes the four xDS types lanemesh uses, in the order an update
// flows: clusters before their endpoints, listeners before their routes.
type kind int

const (
	clusters kind = iota
	endpoints
	listeners
	routes
	numKinds
)

var typeURLs = [numKinds]string{resource.ClusterType, resource.EndpointType, resource.ListenerType, resource.RouteType}

func (k kind) String() string { return [numKinds]string{"CDS", "EDS", "LDS", "RDS"}[k] }

func kindOf(typeURL string) (kind, bool) {
	i := slices.Index(typeURLs[:], typeURL)
	return kind(i), i >= 0
}

// typeState holds the resources of one type as of one response. It is
// never modified once built, so typeStates are copied freely.
type typeState struct {
	have    bool // a response for this type has been accepted
	version string
	items   map[string]types.Resource // by resource name
	names   []string                  // the items' names, sorted
	// refs are, sorted, the names of the on-demand type these items
	// reference: the EDS service names of clusters, the RDS route
	// configuration names of listeners; nil for the other types. They
	// are worked out once per response: the client needs them for every
	// request it sends and every view it assembles, and finding a
	// listener's route names means unmarshaling its HTTP connection
	// manager.
	refs []string
	// wire holds the items by the bytes they were decoded from (those sent
	// without a TTL envelope), so that the next response of the type
	// decodes only what changed; see decode.
	wire map[string]types.Resource
}

// references returns, sorted, the names of the on-demand type that items
// of kind k reference, using go-control-plane's own reference walk, the
// one Snapshot.Consistent checks, so that client and server agree on what
// a complete set is.
func references(k kind, items map[string]types.Resource) []string {
	var on kind
	switch k {
	case clusters:
		on = endpoints
	case listeners:
		on = routes
	default:
		return nil
	}
	withTTL := make(map[string]types.ResourceWithTTL, len(items))
	for n, r := range items {
		withTTL[n] = types.ResourceWithTTL{Resource: r}
	}
	refs := cachev3.GetResourceReferences(withTTL)[typeURLs[on]]
	return slices.Sorted(maps.Keys(refs))
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

// assemble returns the view as compile.Resources, each kind sorted by name,
// with a key that changes whenever its content may have, and ok false while
// the view is incomplete: no clusters or listeners yet, or a referenced
// route configuration or load assignment missing. Routes and endpoints not
// referenced (left over from before a change of names) are left out.
func (v *view) assemble() (res *compile.Resources, key string, ok bool) {
	if !v[clusters].have || !v[listeners].have {
		return nil, "", false
	}
	res = &compile.Resources{
		Clusters:  pick[*clusterv3.Cluster](v[clusters].items, v[clusters].names),
		Listeners: pick[*listenerv3.Listener](v[listeners].items, v[listeners].names),
	}
	edsNames, rdsNames := v.wanted(endpoints), v.wanted(routes)
	if res.Endpoints, ok = pickAll[*endpointv3.ClusterLoadAssignment](v[endpoints].items, edsNames); !ok {
		return nil, "", false
	}
	if res.Routes, ok = pickAll[*routev3.RouteConfiguration](v[routes].items, rdsNames); !ok {
		return nil, "", false
	}
	key = strings.Join([]string{
		v[clusters].version, v[listeners].version,
		v.onDemandKey(endpoints, edsNames), v.onDemandKey(routes, rdsNames),
	}, "|")
	return res, key, true
}

// versions returns the view's versions as log attributes.
func (v *view) versions() []any {
	out := make([]any, 0, 2*numKinds)
	for k := range numKinds {
		out = append(out, k.String(), v[k].version)
	}
	return out
}

// onDemandKey identifies the part of an EDS or RDS response a view uses:
// its version and the names taken from it.
func (v *view) onDemandKey(k kind, names []string) string {
	if len(names) == 0 {
		return ""
	}
	return v[k].version + "[" + strings.Join(names, ",") + "]"
}

// pick returns the named items, which must exist.
func pick[T types.Resource](items map[string]types.Resource, names []string) []T {
	out, _ := pickAll[T](items, names)
	return out
}

// pickAll returns the named items in order, or ok false if one is missing.
func pickAll[T types.Resource](items map[string]types.Resource, names []string) ([]T, bool) {
	if len(names) == 0 {
		return nil, true
	}
	out := make([]T, 0, len(names))
	for _, n := range names {
		r, ok := items[n].(T)
		if !ok {
			return nil, false
		}
		out = append(out, r)
	}
	return out, true
}
