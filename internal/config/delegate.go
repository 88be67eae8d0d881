package config

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/lanemesh/lanemesh/api"
)

// ResolveDelegates returns the VirtualServices as Istio applies them
// (pilot's mergeVirtualServices): a VirtualService without hosts is a
// delegate and routes nothing itself; in every other one, a rule with
// `delegate` is replaced by the delegate's rules, each merged under it.
//
// A delegate is named by name and namespace (the root's namespace when
// omitted) and must be exported to the root's namespace; if it is not found
// or not exported, that rule is left out and the root's others stay. A
// delegate rule whose match conflicts with the root rule's (say the root
// matches prefix /api and the delegate /web) is left out, as Istio drops
// it. The delegate's host names are resolved in its own namespace.
//
// Nothing given is changed: a root with delegated rules is a copy.
func ResolveDelegates(vss []*api.VirtualService) []*api.VirtualService {
	delegates := map[string]*api.VirtualService{}
	for _, vs := range vss {
		if len(vs.Spec.Hosts) == 0 {
			delegates[vs.Metadata.Key()] = vs
		}
	}
	out := make([]*api.VirtualService, 0, len(vss))
	for _, vs := range vss {
		if len(vs.Spec.Hosts) == 0 {
			continue
		}
		if !slices.ContainsFunc(vs.Spec.HTTP, func(r api.HTTPRoute) bool { return r.Delegate != nil }) {
			out = append(out, vs)
			continue
		}
		root := *vs
		root.Spec.HTTP = nil
		for i, r := range vs.Spec.HTTP {
			if r.Delegate == nil {
				r.Origin = &api.RuleOrigin{VirtualService: vs.Metadata.Key(), Index: i}
				root.Spec.HTTP = append(root.Spec.HTTP, r)
				continue
			}
			d := delegates[DelegateKey(r.Delegate, vs.Metadata.Namespace)]
			if d == nil || !exportedTo(d.Spec.ExportTo, d.Metadata.Namespace, vs.Metadata.Namespace) {
				continue
			}
			for j, leaf := range d.Spec.HTTP {
				if merged, ok := mergeHTTPRoute(r, resolveHosts(leaf, d.Metadata.Namespace)); ok {
					merged.Origin = &api.RuleOrigin{VirtualService: d.Metadata.Key(), Index: j}
					root.Spec.HTTP = append(root.Spec.HTTP, merged)
				}
			}
		}
		out = append(out, &root)
	}
	return out
}

// DelegateKey is "namespace/name" of the VirtualService d names, for a
// root in namespace ns.
func DelegateKey(d *api.Delegate, ns string) string {
	if d.Namespace != "" {
		ns = d.Namespace
	}
	return ns + "/" + d.Name
}

// exportedTo applies a VirtualService's exportTo for namespace ns.
func exportedTo(exportTo []string, own, ns string) bool {
	if len(exportTo) == 0 {
		return true
	}
	for _, e := range exportTo {
		if e == "*" || e == ns || (e == "." && own == ns) {
			return true
		}
	}
	return false
}

// resolveHosts returns r with its destinations' hosts as FQDNs of
// namespace ns, so that they keep their meaning under a root elsewhere.
func resolveHosts(r api.HTTPRoute, ns string) api.HTTPRoute {
	r.Route = slices.Clone(r.Route)
	for i := range r.Route {
		d := &r.Route[i]
		d.Destination.Host = FQDN(d.Destination.Host, ns)
		if d.Fallback != nil {
			fb := *d.Fallback
			fb.Target.Host = FQDN(fb.Target.Host, ns)
			d.Fallback = &fb
		}
	}
	if r.Mirror != nil {
		m := *r.Mirror
		m.Host = FQDN(m.Host, ns)
		r.Mirror = &m
	}
	if r.Mirrors != nil {
		r.Mirrors = slices.Clone(r.Mirrors)
		for i := range r.Mirrors {
			if d := r.Mirrors[i].Destination; d != nil {
				m := *d
				m.Host = FQDN(m.Host, ns)
				r.Mirrors[i].Destination = &m
			}
		}
	}
	return r
}

// mergeHTTPRoute is Istio's mergeHTTPRoute: the delegate's rule under the
// root's, its matches narrowed by the root's, and what it leaves unset
// taken from the root. ok is false when the matches conflict.
func mergeHTTPRoute(root, leaf api.HTTPRoute) (api.HTTPRoute, bool) {
	match, ok := mergeMatches(root.Match, leaf.Match)
	if !ok {
		return api.HTTPRoute{}, false
	}
	leaf.Match = match
	leaf.Delegate = nil
	leaf.Name = joinNames(root.Name, leaf.Name)
	if leaf.Rewrite == nil {
		leaf.Rewrite = root.Rewrite
	}
	if leaf.Timeout == nil {
		leaf.Timeout = root.Timeout
	}
	if leaf.Retries == nil {
		leaf.Retries = root.Retries
	}
	if leaf.Fault == nil {
		leaf.Fault = root.Fault
	}
	if leaf.Headers == nil {
		leaf.Headers = root.Headers
	}
	if leaf.Mirror == nil {
		leaf.Mirror = root.Mirror
	}
	if leaf.MirrorPercent == nil {
		leaf.MirrorPercent = root.MirrorPercent
	}
	if leaf.MirrorPercentage == nil {
		leaf.MirrorPercentage = root.MirrorPercentage
	}
	if leaf.CorsPolicy == nil {
		leaf.CorsPolicy = root.CorsPolicy
	}
	if leaf.Mirrors == nil {
		leaf.Mirrors = root.Mirrors
	}
	return leaf, true
}

// mergeMatches is Istio's mergeHTTPMatchRequests: every delegate match
// merged with each root match it does not conflict with; a delegate match
// that conflicts with all of them makes the whole rule a conflict.
func mergeMatches(root, leaf []api.HTTPMatchRequest) ([]api.HTTPMatchRequest, bool) {
	if len(root) == 0 {
		return leaf, true
	}
	if len(leaf) == 0 {
		return root, true
	}
	var out []api.HTTPMatchRequest
	for _, l := range leaf {
		found := false
		for _, r := range root {
			if matchesConflict(r, l) {
				continue
			}
			out = append(out, mergeMatch(r, l))
			found = true
		}
		if !found {
			return nil, false
		}
	}
	return out, len(out) > 0
}

// mergeMatch is the delegate's match with what it leaves unset taken from
// the root's; header, query and source-label conditions of both hold.
func mergeMatch(root, leaf api.HTTPMatchRequest) api.HTTPMatchRequest {
	out := leaf
	out.Name = joinNames(root.Name, leaf.Name)
	if out.URI == nil {
		out.URI = root.URI
	}
	if out.Scheme == nil {
		out.Scheme = root.Scheme
	}
	if out.Method == nil {
		out.Method = root.Method
	}
	if out.Authority == nil {
		out.Authority = root.Authority
	}
	out.Headers = mergeMaps(root.Headers, leaf.Headers)
	out.WithoutHeaders = mergeMaps(root.WithoutHeaders, leaf.WithoutHeaders)
	out.QueryParams = mergeMaps(root.QueryParams, leaf.QueryParams)
	out.SourceLabels = mergeMaps(root.SourceLabels, leaf.SourceLabels)
	if out.Port == 0 {
		out.Port = root.Port
	}
	if out.SourceNamespace == "" {
		out.SourceNamespace = root.SourceNamespace
	}
	if len(out.Gateways) == 0 {
		out.Gateways = root.Gateways
	}
	return out
}

// joinNames names a merged rule or match as Istio does: "root-leaf", or
// whichever of the two is set.
func joinNames(root, leaf string) string {
	switch {
	case leaf == "":
		return root
	case root == "":
		return leaf
	}
	return root + "-" + leaf
}

// mergeMaps is a copy of a with b's entries over it; nil when both are
// empty.
func mergeMaps[V any](a, b map[string]V) map[string]V {
	if len(a)+len(b) == 0 {
		return nil
	}
	out := maps.Clone(a)
	if out == nil {
		out = map[string]V{}
	}
	maps.Copy(out, b)
	return out
}

// matchesConflict is Istio's hasConflict: whether a delegate match asks
// for something its root match rules out.
func matchesConflict(root, leaf api.HTTPMatchRequest) bool {
	for _, p := range [][2]*api.StringMatch{{root.URI, leaf.URI}, {root.Scheme, leaf.Scheme}, {root.Method, leaf.Method}, {root.Authority, leaf.Authority}} {
		if stringMatchConflict(p[0], p[1]) {
			return true
		}
	}
	for _, pair := range [][2]map[string]api.StringMatch{{root.Headers, leaf.Headers}, {root.WithoutHeaders, leaf.WithoutHeaders}, {root.QueryParams, leaf.QueryParams}} {
		for k, l := range pair[1] {
			if r, ok := pair[0][k]; ok && stringMatchConflict(&r, &l) {
				return true
			}
		}
	}
	switch {
	case root.IgnoreURICase != leaf.IgnoreURICase,
		root.Port > 0 && leaf.Port > 0 && root.Port != leaf.Port,
		root.SourceNamespace != "" && leaf.SourceNamespace != root.SourceNamespace:
		return true
	}
	for k, v := range leaf.SourceLabels {
		if rv, ok := root.SourceLabels[k]; ok && rv != v {
			return true
		}
	}
	if len(root.Gateways) > 0 && len(leaf.Gateways) > 0 {
		for _, g := range leaf.Gateways {
			if !slices.Contains(root.Gateways, g) {
				return true
			}
		}
	}
	return false
}

// stringMatchConflict is Istio's: a delegate's condition must narrow the
// root's (an exact value equal to the root's, a prefix or exact value
// under the root's prefix); a regex on either side allows nothing else on
// the other.
func stringMatchConflict(root, leaf *api.StringMatch) bool {
	if root == nil || leaf == nil {
		return false
	}
	if root.GetRegex() != "" && (leaf.GetRegex() != "" || leaf.GetPrefix() != "" || leaf.GetExact() != "") {
		return true
	}
	if leaf.GetRegex() != "" && (root.GetRegex() != "" || root.GetPrefix() != "" || root.GetExact() != "") {
		return true
	}
	if root.GetExact() != "" {
		return leaf.GetPrefix() != "" || leaf.GetExact() != root.GetExact()
	}
	if root.GetPrefix() != "" {
		if leaf.GetPrefix() != "" {
			return !strings.HasPrefix(leaf.GetPrefix(), root.GetPrefix())
		}
		if leaf.GetExact() != "" {
			return !strings.HasPrefix(leaf.GetExact(), root.GetPrefix())
		}
	}
	return true
}

// delegateVS checks a VirtualService without hosts, which Istio takes for a
// delegate: it routes only under a root, so it names no gateways and
// delegates no further (Istio's validation). One that no root names is
// probably a VirtualService whose hosts were forgotten.
func (a *analyzer) delegateVS(o object, vs *api.VirtualService) {
	if len(vs.Spec.Gateways) > 0 {
		a.errorf(o, CodeSchema, "spec.gateways", "delegate virtual service must have no gateways specified",
			"a VirtualService without hosts is a delegate: bind its root to the gateways, or give it hosts")
	}
	for i, r := range vs.Spec.HTTP {
		if r.Delegate != nil {
			a.errorf(o, CodeSchema, fmt.Sprintf("spec.http[%d].delegate", i), "delegate HTTP route cannot contain delegate",
				"delegation is one level deep: route here, or give this VirtualService hosts to make it a root")
		}
	}
	for _, root := range a.c.VirtualServices {
		for _, r := range root.Spec.HTTP {
			if r.Delegate != nil && DelegateKey(r.Delegate, root.Metadata.Namespace) == vs.Metadata.Key() {
				return
			}
		}
	}
	a.warnf(o, CodeSchema, "spec.hosts", "VirtualService has no hosts and no VirtualService delegates to it, so it routes nothing",
		"list the hosts it routes under spec.hosts, or name it from a root VirtualService's http[].delegate")
}

// delegateRef checks a root rule's delegate: it must not route itself
// (Istio's validation), and the delegate should exist and be exported to
// the root's namespace, else proxies leave the rule out.
func (a *analyzer) delegateRef(o object, r *api.HTTPRoute, path string) {
	if len(r.Route) > 0 {
		a.errorf(o, CodeSchema, path+".route", "root HTTP route must not specify route",
			"a rule with delegate takes its destinations from the delegate: remove route, or remove delegate")
	}
	key := DelegateKey(r.Delegate, o.meta.Namespace)
	for _, vs := range a.c.VirtualServices {
		if vs.Metadata.Key() == o.meta.Key() && len(vs.Spec.Hosts) == 0 {
			return // a delegate that delegates: delegateVS said so
		}
	}
	for _, d := range a.c.VirtualServices {
		if d.Metadata.Key() != key {
			continue
		}
		switch {
		case len(d.Spec.Hosts) > 0:
			a.errorf(o, CodeSchema, path+".delegate", "delegate "+key+" has hosts, so it is a root, not a delegate",
				"remove spec.hosts from "+key+", or delegate to a VirtualService without hosts")
		case !exportedTo(d.Spec.ExportTo, d.Metadata.Namespace, o.meta.Namespace):
			a.warnf(o, CodeNotFound, path+".delegate", "delegate "+key+" is not exported to namespace "+o.meta.Namespace+"; this rule is left out",
				"add "+o.meta.Namespace+" to the exportTo of "+key)
		}
		return
	}
	a.warnf(o, CodeNotFound, path+".delegate", "Referenced virtualservice not found: "+strconv.Quote(key)+"; this rule is left out",
		"define VirtualService "+key+" (without hosts), or fix delegate.name and delegate.namespace")
}
