package xds

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"google.golang.org/protobuf/types/known/anypb"
)

// ErrDecode is wrapped by the error of a response the client could not
// decode; such a response is NACKed without reaching Apply.
var ErrDecode = errors.New("cannot decode xDS response")

// decode unpacks a response into the state of its type. It is strict, as
// Envoy is: a resource of another type, one that fails its proto
// validation rules, a nameless one or a duplicate name rejects the whole
// response.
//
// A resource with the very bytes of one in prev, the type's last accepted
// state, is taken from prev instead of being decoded and validated again:
// a state-of-the-world response repeats every resource of its type, and a
// change leaves most of them as they were.
func decode(k kind, resp *discoveryv3.DiscoveryResponse, prev *typeState) (typeState, error) {
	n := len(resp.GetResources())
	st := typeState{have: true, version: resp.GetVersionInfo(),
		items: make(map[string]types.Resource, n), wire: make(map[string]types.Resource, n)}
	for i, a := range resp.GetResources() {
		r, err := prev.unpack(k, a)
		if err != nil {
			return typeState{}, fmt.Errorf("%w: %s resource #%d: %w", ErrDecode, k, i, err)
		}
		name := cachev3.GetResourceName(r)
		switch _, dup := st.items[name]; {
		case name == "":
			return typeState{}, fmt.Errorf("%w: %s resource #%d has no name", ErrDecode, k, i)
		case dup:
			return typeState{}, fmt.Errorf("%w: %s resource %q appears twice", ErrDecode, k, name)
		}
		st.items[name] = r
		if a.GetTypeUrl() == typeURLs[k] {
			st.wire[string(a.GetValue())] = r
		}
	}
	st.names = slices.Sorted(maps.Keys(st.items))
	st.refs = references(k, st.items)
	return st, nil
}

// unpack decodes a resource of kind k, or returns the one t decoded from
// the same bytes.
func (t *typeState) unpack(k kind, a *anypb.Any) (types.Resource, error) {
	if r, ok := t.wire[string(a.GetValue())]; ok && a.GetTypeUrl() == typeURLs[k] {
		return r, nil
	}
	return unpack(k, a)
}

// unpack decodes one resource, unwrapping the discovery Resource envelope
// a server uses for resources with a TTL.
func unpack(k kind, a *anypb.Any) (types.Resource, error) {
	if a.MessageIs((*discoveryv3.Resource)(nil)) {
		var env discoveryv3.Resource
		if err := a.UnmarshalTo(&env); err != nil {
			return nil, err
		}
		a = env.GetResource()
	}
	if got := a.GetTypeUrl(); got != typeURLs[k] {
		return nil, fmt.Errorf("type %q in a %s response", got, typeURLs[k])
	}
	r := newResource(k)
	if err := a.UnmarshalTo(r); err != nil {
		return nil, err
	}
	if err := r.(interface{ Validate() error }).Validate(); err != nil {
		return nil, fmt.Errorf("%q: %w", cachev3.GetResourceName(r), err)
	}
	return r, nil
}

func newResource(k kind) types.Resource {
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
