package lanes

import (
	"cmp"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/lanemesh/lanemesh/api"
)

// objects returns what the group generates: per service a DestinationRule
// and a VirtualService (named <group>-<service>, in the service's
// namespace), and the ingress VirtualService (<group>-ingress, in the
// gateway's namespace).
func (b *group) objects() []any {
	var out []any
	lanes := sortedLanes(b.lanes)
	for _, s := range b.services {
		out = append(out, b.destinationRule(s, lanes), b.virtualService(s, lanes))
	}
	for _, vs := range b.ingress(lanes) {
		out = append(out, vs)
	}
	return out
}

// meta is the metadata of a generated object: named after the group, marked
// with its owner, and located at the group in the user's files so that a
// message about it points there.
func (b *group) meta(name, ns string) api.ObjectMeta {
	return api.ObjectMeta{Name: name, Namespace: ns,
		Labels:      map[string]string{api.SwimLaneGroupLabel: b.group.Metadata.Name},
		Annotations: map[string]string{GeneratedBy: "ASMSwimLaneGroup/" + b.group.Metadata.Name},
		Source:      api.Source{File: b.group.Metadata.Source.File, Line: b.group.Metadata.Source.Line}}
}

var (
	drType = api.TypeMeta{APIVersion: "networking.istio.io/v1", Kind: "DestinationRule"}
	vsType = api.TypeMeta{APIVersion: "networking.istio.io/v1", Kind: "VirtualService"}
)

func (b *group) destinationRule(s service, lanes []*api.ASMSwimLane) *api.DestinationRule {
	dr := &api.DestinationRule{TypeMeta: drType, Metadata: b.meta(b.group.Metadata.Name+"-"+s.ref.Name, s.ref.Namespace),
		Spec: api.DestinationRuleSpec{Host: s.host}}
	for _, l := range lanes {
		if b.holds[l.Metadata.Name][s.key] {
			dr.Spec.Subsets = append(dr.Spec.Subsets, api.Subset{Name: l.Metadata.Name, Labels: maps.Clone(l.Spec.LabelSelector)})
		}
	}
	dr.Spec.TrafficPolicy = patchPolicy(patchPolicy(nil, b.group.Spec.DefaultTrafficPolicyPatch), s.ref.TrafficPolicyPatch)
	return dr
}

func (b *group) virtualService(s service, lanes []*api.ASMSwimLane) *api.VirtualService {
	vs := &api.VirtualService{TypeMeta: vsType, Metadata: b.meta(b.group.Metadata.Name+"-"+s.ref.Name, s.ref.Namespace),
		Spec: api.VirtualServiceSpec{Hosts: []string{s.host}}}
	to := func(subset string) api.HTTPRouteDestination {
		return api.HTTPRouteDestination{Destination: api.Destination{Host: s.host, Subset: subset}}
	}
	var routes []api.HTTPRoute
	if b.routeHeader == "" { // strict: the caller's lane is its labels
		for _, l := range lanes {
			routes = append(routes, api.HTTPRoute{Name: l.Metadata.Name,
				Match: []api.HTTPMatchRequest{{SourceLabels: maps.Clone(l.Spec.LabelSelector)}},
				Route: []api.HTTPRouteDestination{to(l.Metadata.Name)}})
		}
		// Callers in no lane reach the service as if it had no lanes.
		routes = append(routes, api.HTTPRoute{Name: "outside-lanes", Route: []api.HTTPRouteDestination{{Destination: api.Destination{Host: s.host}}}})
	} else { // permissive: the request's lane is its route header
		base := b.fallback[s.key]
		for _, l := range lanes {
			name := l.Metadata.Name
			if name == base || !b.holds[name][s.key] {
				continue // the baseline route below serves it
			}
			d := to(name)
			d.Fallback = &api.Fallback{Target: api.Destination{Host: s.host, Subset: base}}
			routes = append(routes, api.HTTPRoute{Name: name,
				Match: []api.HTTPMatchRequest{{Headers: map[string]api.StringMatch{b.routeHeader: api.Exact(name)}}},
				Route: []api.HTTPRouteDestination{d}})
		}
		routes = append(routes, api.HTTPRoute{Name: base, Route: []api.HTTPRouteDestination{to(base)}})
	}
	for i := range routes {
		patchRoute(&routes[i], b.group.Spec.DefaultHTTPRoutePatch)
		patchRoute(&routes[i], s.ref.HTTPRoutePatch)
	}
	vs.Spec.HTTP = routes
	return vs
}

// ingress returns the gateway VirtualServices that let requests into the
// lanes: one per distinct set of rule hosts (<group>-ingress, then
// <group>-ingress-2...), so that a rule applies to its own hosts only, as
// if each set were written as its own VirtualService; none when no rule is
// online.
func (b *group) ingress(lanes []*api.ASMSwimLane) []*api.VirtualService {
	gw := b.group.Spec.Ingress.Gateway
	ns := cmp.Or(gw.Namespace, DefaultGatewayNamespace)
	var out []*api.VirtualService
	byHosts := map[string]*api.VirtualService{}
	vsFor := func(hosts []string) *api.VirtualService {
		if len(hosts) == 0 {
			hosts = []string{"*"}
		}
		key := strings.Join(slices.Sorted(slices.Values(hosts)), ",")
		if vs := byHosts[key]; vs != nil {
			return vs
		}
		name := b.group.Metadata.Name + "-ingress"
		if len(out) > 0 {
			name += "-" + strconv.Itoa(len(out)+1)
		}
		vs := &api.VirtualService{TypeMeta: vsType, Metadata: b.meta(name, ns),
			Spec: api.VirtualServiceSpec{Gateways: []string{ns + "/" + gw.Name}, Hosts: slices.Compact(slices.Sorted(slices.Values(hosts)))}}
		byHosts[key] = vs
		out = append(out, vs)
		return vs
	}
	if r := b.group.Spec.Ingress.IngressRouting; r != nil && r.IngressRoutingStrategy == api.RoutingWeighted {
		route := api.HTTPRoute{Name: "weighted"}
		for _, m := range r.WeightedRoutingRule.RequestMatches {
			route.Match = append(route.Match, match(m))
		}
		for _, l := range lanes {
			if w := l.Spec.IngressWeight; w != nil && w.Weight > 0 {
				d := b.laneDestination(l, w.Destination)
				d.Weight = w.Weight
				route.Route = append(route.Route, d)
			}
		}
		vs := vsFor(r.WeightedRoutingRule.Hosts)
		vs.Spec.HTTP = []api.HTTPRoute{route}
		return out
	}
	type rule struct {
		vs    *api.VirtualService
		route api.HTTPRoute
		conds int // match conditions: more specific rules go first
		from  laneRule
	}
	var rules []rule
	for _, l := range lanes {
		for i, r := range l.Spec.IngressRules {
			if !r.Online {
				continue
			}
			m := match(r.Match)
			name := cmp.Or(r.Name, l.Metadata.Name+"-"+strconv.Itoa(i))
			rules = append(rules, rule{vsFor(r.Hosts), api.HTTPRoute{Name: name, Match: []api.HTTPMatchRequest{m},
				Route: []api.HTTPRouteDestination{b.laneDestination(l, r.Route.Destination)}}, len(m.Headers) + btoi(m.URI != nil),
				laneRule{l, fmt.Sprintf("spec.ingressRules[%d]", i)}})
		}
	}
	// A rule that matches every lane's requests (uri only) must not hide
	// a lane's rule that also matches a header.
	slices.SortStableFunc(rules, func(x, y rule) int { return y.conds - x.conds })
	b.rules = map[string]laneRule{}
	for _, r := range rules {
		b.rules[r.vs.Metadata.Key()+"/"+strconv.Itoa(len(r.vs.Spec.HTTP))] = r.from
		r.vs.Spec.HTTP = append(r.vs.Spec.HTTP, r.route)
	}
	return out
}

// laneDestination is lane l's version of an ingress destination: its
// subset, or in a permissive group the baseline's when the lane does not
// hold the service, with the route header set to the lane so that the
// next hops know it.
func (b *group) laneDestination(l *api.ASMSwimLane, d api.SwimLaneRouteDestination) api.HTTPRouteDestination {
	s, _ := b.service(d.Host) // checked
	out := api.HTTPRouteDestination{Destination: api.Destination{Host: s.host, Subset: l.Metadata.Name}}
	if d.PortNum != 0 {
		out.Destination.Port = &api.PortSelector{Number: d.PortNum}
	}
	if b.routeHeader == "" {
		return out
	}
	base := b.fallback[s.key]
	switch {
	case !b.holds[l.Metadata.Name][s.key]:
		out.Destination.Subset = base
	case l.Metadata.Name != base:
		fb := out.Destination
		fb.Subset = base
		out.Fallback = &api.Fallback{Target: fb}
	}
	out.Headers = &api.Headers{Request: &api.HeaderOperations{Set: map[string]string{b.routeHeader: l.Metadata.Name}}}
	return out
}

func match(m api.SwimLaneIngressRequestMatch) api.HTTPMatchRequest {
	out := api.HTTPMatchRequest{Headers: maps.Clone(m.Headers)}
	if m.URI != nil {
		u := *m.URI
		out.URI = &u
	}
	return out
}

// patchPolicy returns base with every field patch sets replacing base's.
func patchPolicy(base, patch *api.TrafficPolicy) *api.TrafficPolicy {
	if patch == nil {
		return base
	}
	out := &api.TrafficPolicy{}
	if base != nil {
		*out = *base
	}
	overlay(reflect.ValueOf(out).Elem(), reflect.ValueOf(patch).Elem())
	return out
}

// patchRoute sets on r every field patch sets (checked to leave name,
// match and destinations alone).
func patchRoute(r *api.HTTPRoute, patch *api.HTTPRoute) {
	if patch != nil {
		overlay(reflect.ValueOf(r).Elem(), reflect.ValueOf(patch).Elem())
	}
}

// overlay copies each exported, non-zero field of src onto dst.
func overlay(dst, src reflect.Value) {
	for i := range src.NumField() {
		if f := src.Field(i); dst.Type().Field(i).IsExported() && !f.IsZero() {
			dst.Field(i).Set(f)
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
