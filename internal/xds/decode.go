package xds

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/lanemesh/lanemesh/internal/xdsrules"
)

// ErrDecode is wrapped by the error of a response the client could not
// decode; such a response is NACKed without reaching Apply.
var ErrDecode = errors.New("cannot decode xDS response")

// decoded is one resource as decoded and checked from the wire, with what
// the client needs of it for every later response that repeats it. It is
// never modified once built.
type decoded struct {
	// raw is the bytes it was decoded from, the key of typeState.wire; ""
	// for a resource that came in a TTL envelope, which is not cached. A
	// state built from the next response reuses the string rather than
	// copying the bytes again.
	raw  string
	res  proto.Message
	name string
	// refs are, sorted, the names of the on-demand type it references (see
	// typeState.refs).
	refs []string
	// vhosts are a route configuration's virtual hosts; see unpackRoute.
	vhosts []*vhost
}

// decode unpacks a response into the state of its type. It is strict, as
// Envoy is: a resource of another type, one that breaks Envoy's
// validation rules on a field the proxy reads, a nameless one or a
// duplicate name rejects the whole response.
//
// A resource with the very bytes of one in prev, the type's last accepted
// state, is taken from prev instead of being decoded, checked and walked
// for references again: a state-of-the-world response repeats every
// resource of its type, and a change leaves most of them as they were.
func decode(k kind, resp *discoveryv3.DiscoveryResponse, prev *typeState) (typeState, error) {
	n := len(resp.GetResources())
	all := make([]*decoded, 0, n)
	st := typeState{have: true, version: resp.GetVersionInfo(),
		items: make(map[string]proto.Message, n), wire: make(map[string]*decoded, n)}
	for i, a := range resp.GetResources() {
		d, err := prev.unpack(k, a)
		if err != nil {
			return typeState{}, fmt.Errorf("%w: %s resource #%d: %w", ErrDecode, k, i, err)
		}
		switch _, dup := st.items[d.name]; {
		case d.name == "":
			return typeState{}, fmt.Errorf("%w: %s resource #%d has no name", ErrDecode, k, i)
		case dup:
			return typeState{}, fmt.Errorf("%w: %s resource %q appears twice", ErrDecode, k, d.name)
		}
		st.items[d.name] = d.res
		if d.raw != "" {
			st.wire[d.raw] = d
		}
		all = append(all, d)
	}
	// Server sends each type sorted by name; other servers may not.
	byName := func(a, b *decoded) int { return cmp.Compare(a.name, b.name) }
	if !slices.IsSortedFunc(all, byName) {
		slices.SortFunc(all, byName)
	}
	st.names = make([]string, len(all))
	for i, d := range all {
		st.names[i] = d.name
	}
	st.refs, st.refsKey = unionRefs(all, prev.refs), prev.refsKey
	if !sameSlice(st.refs, prev.refs) {
		st.refsKey = strings.Join(st.refs, ",")
	}
	if k == routes {
		st.routeParts = routePartsOf(all)
	}
	return st, nil
}

// unionRefs returns, sorted, the names the resources reference, nil if
// none; prev if it holds just those names, so that an unchanged list stays
// the same slice.
func unionRefs(all []*decoded, prev []string) []string {
	var out []string
	for _, d := range all {
		out = append(out, d.refs...)
	}
	if len(out) == 0 {
		return nil
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if slices.Equal(out, prev) {
		return prev
	}
	return slices.Clip(out)
}

// sameSlice reports whether a and b are the very same slice.
func sameSlice(a, b []string) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// unpack decodes a resource of kind k, or returns the one t decoded from
// the same bytes.
func (t *typeState) unpack(k kind, a *anypb.Any) (*decoded, error) {
	if a.GetTypeUrl() == k.TypeURL() {
		if d, ok := t.wire[string(a.GetValue())]; ok {
			return d, nil
		}
	}
	inner, err := unwrap(k, a)
	if err != nil {
		return nil, err
	}
	d := &decoded{}
	if k == routes {
		d.res, d.vhosts, err = t.routeParts.unpackRoute(inner.GetValue())
	} else {
		d.res, err = unmarshal(k, inner.GetValue())
	}
	if err != nil {
		return nil, err
	}
	d.name, d.refs = resourceName(d.res), referencesOf(k, d.res)
	if inner == a {
		d.raw = string(a.GetValue())
	}
	return d, nil
}

// referencesOf returns, sorted, the names of the on-demand type that r, of
// kind k, references: the EDS service name (else the name) of an EDS
// cluster, the RDS and scoped route configuration names of a listener's
// HTTP connection managers; nil for the other kinds. It is the walk
// go-control-plane's Snapshot.Consistent makes on the server (a test holds
// the two equal), so that client and server agree on what a complete set
// is, without linking the server's cache into the proxy.
func referencesOf(k kind, r proto.Message) []string {
	refs := map[string]bool{}
	switch k {
	case clusters:
		c := r.(*clusterv3.Cluster)
		if c.GetType() == clusterv3.Cluster_EDS {
			refs[cmp.Or(c.GetEdsClusterConfig().GetServiceName(), c.GetName())] = true
		}
	case listeners:
		l := r.(*listenerv3.Listener)
		for _, chain := range l.GetFilterChains() {
			chainRoutes(chain, refs)
		}
		if l.GetDefaultFilterChain() != nil {
			chainRoutes(l.GetDefaultFilterChain(), refs)
		}
	}
	if len(refs) == 0 {
		return nil
	}
	return slices.Sorted(maps.Keys(refs))
}

// chainRoutes adds the route configurations the HTTP connection managers
// of chain name to refs.
func chainRoutes(chain *listenerv3.FilterChain, refs map[string]bool) {
	for _, f := range chain.GetFilters() {
		var hcm hcmv3.HttpConnectionManager
		if f.GetTypedConfig() == nil || f.GetTypedConfig().UnmarshalTo(&hcm) != nil {
			continue
		}
		if name := hcm.GetRds().GetRouteConfigName(); name != "" {
			refs[name] = true
		}
		for _, s := range hcm.GetScopedRoutes().GetScopedRouteConfigurationsList().GetScopedRouteConfigurations() {
			refs[s.GetRouteConfigurationName()] = true
		}
	}
}

// resourceName is the name a resource is known by: a load assignment's
// cluster name, any other resource's name.
func resourceName(r proto.Message) string {
	switch v := r.(type) {
	case *endpointv3.ClusterLoadAssignment:
		return v.GetClusterName()
	case interface{ GetName() string }:
		return v.GetName()
	default:
		return ""
	}
}

// unwrap returns the resource in a, unwrapping the discovery Resource
// envelope a server uses for resources with a TTL, and checks that it is
// of kind k.
func unwrap(k kind, a *anypb.Any) (*anypb.Any, error) {
	if a.MessageIs((*discoveryv3.Resource)(nil)) {
		var env discoveryv3.Resource
		if err := a.UnmarshalTo(&env); err != nil {
			return nil, err
		}
		a = env.GetResource()
	}
	if got := a.GetTypeUrl(); got != k.TypeURL() {
		return nil, fmt.Errorf("type %q in a %s response", got, k.TypeURL())
	}
	return a, nil
}

// unmarshal decodes and checks a resource of kind k other than routes
// (see unpackRoute).
func unmarshal(k kind, b []byte) (proto.Message, error) {
	r := newResource(k)
	if err := proto.Unmarshal(b, r); err != nil {
		return nil, err
	}
	if err := check(r); err != nil {
		return nil, fmt.Errorf("%q: %w", resourceName(r), err)
	}
	return r, nil
}

// check applies Envoy's validation rules to the fields of r the proxy
// reads (package xdsrules). The proxy does not link go-control-plane's
// generated Validate methods, which check every field.
func check(r proto.Message) error {
	switch r := r.(type) {
	case *clusterv3.Cluster:
		return xdsrules.Cluster(r)
	case *endpointv3.ClusterLoadAssignment:
		return xdsrules.ClusterLoadAssignment(r)
	case *listenerv3.Listener:
		return xdsrules.Listener(r)
	case *routev3.RouteConfiguration:
		return xdsrules.RouteConfiguration(r)
	}
	return fmt.Errorf("no rules for %T", r)
}

func newResource(k kind) proto.Message {
	switch k {
	case clusters:
		return &clusterv3.Cluster{}
	case endpoints:
		return &endpointv3.ClusterLoadAssignment{}
	case listeners:
		return &listenerv3.Listener{}
	default:
		return &routev3.RouteConfiguration{}
	}
}
