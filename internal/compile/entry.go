package compile

import (
	"encoding/json"
	"github.com/lanemesh/lanemesh/api"
	"github.com/lanemesh/lanemesh/internal/meshxds"

	xdstypev3 "github.com/cncf/xds/go/xds/type/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/lanemesh/lanemesh/internal/config"
	"github.com/lanemesh/lanemesh/internal/entry"
)

// laneEntryFilters returns the lane-entry HTTP filter for a gateway proxy
// that LaneEntryPolicies select, or none: without a policy the filter
// chain is exactly what it was, so lane entry stays open by default.
//
// A policy selects the gateway when its selector's labels are a subset of
// the proxy's and it lives in the proxy's namespace or in the root
// namespace, as Istio's workload selectors do. Sidecars are never
// selected: lanes are entered at the edge.
//
// The filter's configuration is the policies as written, in a TypedStruct
// of type entry.TypeURL, and the filter is marked is_optional. Envoy's own
// jwt_authn was considered for the token part and does not fit: it answers
// 401 to a bad token (lane entry serves the baseline instead), it cannot
// remove the lane headers on failure, and source CIDRs would need RBAC
// beside it, whose deny is a 403 too. One filter of lanemesh's own type
// keeps the decision in one place (internal/entry); a standard Envoy that
// does not know the type skips it, as is_optional allows, and then
// enforces no lane entry, which is the same as having no policy.
func (b *builder) laneEntryFilters() []*hcmv3.HttpFilter {
	if b.proxy.Role != meshxds.Gateway {
		return nil
	}
	var f entry.Filter
	for _, p := range b.cfg.LaneEntryPolicies {
		ns := p.Metadata.Namespace
		if ns != b.proxy.Namespace && ns != entry.RootNamespace {
			continue
		}
		if p.Spec.Selector != nil && !config.SubsetOf(p.Spec.Selector.MatchLabels, b.proxy.Labels) {
			continue
		}
		f.Policies = append(f.Policies, entry.Config{Namespace: ns, Name: p.Metadata.Name, Spec: wireSpec(p.Spec)})
	}
	if len(f.Policies) == 0 {
		return nil
	}
	return []*hcmv3.HttpFilter{{
		Name:       entry.FilterName,
		IsOptional: true,
		ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(&xdstypev3.TypedStruct{
			TypeUrl: entry.TypeURL, Value: toStruct(f)})},
	}}
}

// toStruct converts v to a protobuf Struct through its JSON form. The
// policies are plain data that the loader has already decoded, so the
// conversion cannot fail.
func toStruct(v any) *structpb.Struct {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		panic(err)
	}
	s, err := structpb.NewStruct(m)
	if err != nil {
		panic(err)
	}
	return s
}

// wireSpec is a policy's spec as the filter carries it: the same fields,
// as the data plane's own types (the selector has done its work here).
// Both sides spell the fields alike, which entry's tests hold, so the JSON
// round trip loses nothing.
func wireSpec(spec api.LaneEntryPolicySpec) entry.Spec {
	spec.Selector = nil
	b, err := json.Marshal(spec)
	if err != nil {
		panic(err) // plain data the loader decoded
	}
	var out entry.Spec
	if err := json.Unmarshal(b, &out); err != nil {
		panic(err)
	}
	return out
}
