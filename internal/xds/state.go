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

// typeState holds the resources of one type as of one response. Its items
// map is never modified once built, so typeStates are copied freely.
type typeState struct {
	have    bool // a response for this type has been accepted
	version string
	items   map[string]types.Resource // by resource name
}

// view is one picture of all four types.
type view [numKinds]typeState

// wanted returns, sorted, the names the client must subscribe to for an
// on-demand type: the EDS service names of the view's EDS clusters, or the
// RDS route configuration names of its listeners; nil for CDS and LDS,
// which are wildcard. It uses go-control-plane's own reference walk, the
// one Snapshot.Consistent checks, so client and server agree on what a
// complete set is.
func (v *view) wanted(k kind) []string {
	var from kind
	switch k {
	case endpoints:
		from = clusters
	case routes:
		from = listeners
	default:
		return nil
	}
	withTTL := make(map[string]types.ResourceWithTTL, len(v[from].items))
	for n, r := range v[from].items {
		withTTL[n] = types.ResourceWithTTL{Resource: r}
	}
	refs := cachev3.GetResourceReferences(withTTL)[typeURLs[k]]
	return slices.Sorted(maps.Keys(refs))
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
		Clusters:  pick[*clusterv3.Cluster](v[clusters].items, slices.Sorted(maps.Keys(v[clusters].items))),
		Listeners: pick[*listenerv3.Listener](v[listeners].items, slices.Sorted(maps.Keys(v[listeners].items))),
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
