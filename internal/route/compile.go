package route

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/lanemesh/lanemesh/internal/xdsrules"
)

// MetadataNamespace is the FilterMetadata key under which the lanemesh compiler records where a
// route came from: a struct with string field "virtualService" ("ns/name") and number field
// "routeIndex" (index of the http route inside that VirtualService).
const MetadataNamespace = "lanemesh"

// New compiles rc into a Table. It returns an error wrapping ErrInvalid or ErrUnsupported for
// anything Decide could not honour exactly as Envoy would; the message names the virtual host and
// route and is meant to be sent back verbatim as the xDS NACK. The Table keeps pointers into rc
// (Route.Action, Route.Envoy), so rc must not be modified afterwards; an xDS client decodes a
// fresh message per update, which satisfies this.
func New(rc *routev3.RouteConfiguration) (*Table, error) {
	if rc == nil {
		return nil, fmt.Errorf("%w: nil route configuration", ErrInvalid)
	}
	t, err := build(rc)
	if err == nil {
		// Envoy's validation rules run last so that the checks above, which name the virtual
		// host and route, report first; they still catch constraints those do not repeat
		// (required fields, string lengths, header name syntax).
		if verr := xdsrules.RouteConfiguration(rc); verr != nil {
			err = fmt.Errorf("%w: %w", ErrInvalid, verr)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("route configuration %q: %w", rc.GetName(), err)
	}
	return t, nil
}

// build does the work of New once rc is known to be non-nil.
func build(rc *routev3.RouteConfiguration) (*Table, error) {
	if err := checkConfigFeatures(rc); err != nil {
		return nil, err
	}
	idx := newDomainIndex()
	clusters := map[string]bool{}
	for i, cfg := range rc.GetVirtualHosts() {
		vh, err := compileVirtualHost(cfg, clusters)
		if err == nil {
			err = idx.add(vh, cfg.GetDomains())
		}
		if err != nil {
			return nil, fmt.Errorf("virtual host %q (#%d): %w", cfg.GetName(), i, err)
		}
	}
	t := &Table{
		name:       rc.GetName(),
		ignorePort: rc.GetIgnorePortInHostMatching(),
		exact:      idx.exact,
		suffixes:   sortedGroups(idx.suffixes),
		prefixes:   sortedGroups(idx.prefixes),
		catchAll:   idx.catchAll,
	}
	for c := range clusters {
		t.clusters = append(t.clusters, c)
	}
	slices.Sort(t.clusters)
	return t, nil
}

// checkConfigFeatures rejects RouteConfiguration fields that change how a virtual host or route
// is chosen and that Decide does not implement.
func checkConfigFeatures(rc *routev3.RouteConfiguration) error {
	switch {
	case rc.GetVhds() != nil:
		return fmt.Errorf("%w: vhds (on-demand virtual hosts) is not supported; list the virtual hosts inline", ErrUnsupported)
	case rc.GetVhostHeader() != "":
		return fmt.Errorf("%w: vhost_header %q is not supported; virtual hosts are chosen by :authority", ErrUnsupported, rc.GetVhostHeader())
	case rc.GetIgnorePathParametersInPathMatching():
		return fmt.Errorf("%w: ignore_path_parameters_in_path_matching is not supported yet", ErrUnsupported)
	case len(rc.GetRouteSpecifiers()) > 0:
		return fmt.Errorf("%w: route_specifiers are not supported", ErrUnsupported)
	}
	return nil
}

// domainIndex collects the domains of every virtual host while New runs.
type domainIndex struct {
	exact              map[string]*virtualHost
	suffixes, prefixes map[int]map[string]*virtualHost
	catchAll           *virtualHost
	owner              map[string]string // lower-cased domain → virtual host name, for duplicates
}

func newDomainIndex() *domainIndex {
	return &domainIndex{
		exact:    map[string]*virtualHost{},
		suffixes: map[int]map[string]*virtualHost{},
		prefixes: map[int]map[string]*virtualHost{},
		owner:    map[string]string{},
	}
}

// add registers vh under each domain, classified as Envoy's RouteMatcher does: "*" is the
// catch-all, a leading '*' makes a suffix wildcard, a trailing '*' a prefix wildcard, anything
// else is exact. Domains are compared lower-cased and must be unique across the configuration.
func (d *domainIndex) add(vh *virtualHost, domains []string) error {
	for _, domain := range domains {
		key := asciiLower(domain)
		if prev, dup := d.owner[key]; dup {
			return fmt.Errorf("%w: domain %q is already used by virtual host %q; each domain may appear once per route configuration", ErrInvalid, domain, prev)
		}
		d.owner[key] = vh.name
		switch {
		case key == "*":
			d.catchAll = vh
		case strings.HasPrefix(key, "*"):
			addWildcard(d.suffixes, key[1:], vh)
		case strings.HasSuffix(key, "*"):
			addWildcard(d.prefixes, key[:len(key)-1], vh)
		default:
			d.exact[key] = vh
		}
	}
	return nil
}

func addWildcard(groups map[int]map[string]*virtualHost, key string, vh *virtualHost) {
	g := groups[len(key)]
	if g == nil {
		g = map[string]*virtualHost{}
		groups[len(key)] = g
	}
	g[key] = vh
}

// sortedGroups orders wildcard groups longest first; see wildcardGroup.
func sortedGroups(groups map[int]map[string]*virtualHost) []wildcardGroup {
	out := make([]wildcardGroup, 0, len(groups))
	for n, hosts := range groups {
		out = append(out, wildcardGroup{length: n, hosts: hosts})
	}
	slices.SortFunc(out, func(a, b wildcardGroup) int { return cmp.Compare(b.length, a.length) })
	return out
}

// compileVirtualHost compiles one virtual host and adds the clusters its routes can choose to
// clusters.
func compileVirtualHost(cfg *routev3.VirtualHost, clusters map[string]bool) (*virtualHost, error) {
	switch {
	case cfg.GetMatcher() != nil:
		return nil, fmt.Errorf("%w: matcher (matcher tree) is not supported; use routes", ErrUnsupported)
	case len(cfg.GetRouteSpecifiers()) > 0:
		return nil, fmt.Errorf("%w: route_specifiers are not supported", ErrUnsupported)
	}
	vh := &virtualHost{name: cfg.GetName(), requireTLS: cfg.GetRequireTls()}
	for i, rc := range cfg.GetRoutes() {
		rt, err := compileRoute(rc, cfg.GetTypedPerFilterConfig())
		if err != nil {
			return nil, fmt.Errorf("route %d %q: %w", i, rc.GetName(), err)
		}
		vh.routes = append(vh.routes, rt)
		if rt.pick.cluster != "" {
			clusters[rt.pick.cluster] = true
		}
		for _, c := range rt.pick.weighted {
			clusters[c] = true
		}
	}
	return vh, nil
}

// compileRoute compiles one envoy Route: its action, matchers and lanemesh metadata.
func compileRoute(cfg *routev3.Route, vhostFilters map[string]*anypb.Any) (*Route, error) {
	if len(cfg.GetRouteSpecifiers()) > 0 {
		return nil, fmt.Errorf("%w: route_specifiers are not supported", ErrUnsupported)
	}
	rt := &Route{Name: cfg.GetName(), Envoy: cfg}
	var err error
	switch a := cfg.GetAction().(type) {
	case *routev3.Route_Redirect:
		if rt.Redirect, err = checkRedirect(a.Redirect, cfg.GetMatch()); err != nil {
			return nil, err
		}
	case *routev3.Route_DirectResponse:
		if rt.DirectResponse, err = checkDirectResponse(a.DirectResponse); err != nil {
			return nil, err
		}
	default:
		if rt.Action, err = routeAction(cfg); err != nil {
			return nil, err
		}
		if rt.pick, err = compilePicker(rt.Action); err != nil {
			return nil, err
		}
		if rt.Hash, err = compileHashPolicy(rt.Action.GetHashPolicy()); err != nil {
			return nil, err
		}
		if rt.Mirrors, err = compileMirrors(rt.Action.GetRequestMirrorPolicies()); err != nil {
			return nil, err
		}
		// Envoy's CORS filter acts only on routes with a route entry, so a
		// redirect or a direct response gets no CORS handling.
		if rt.CORS, err = compileCORS(cfg.GetTypedPerFilterConfig(), vhostFilters); err != nil {
			return nil, err
		}
	}
	if err = compileMatch(rt, cfg.GetMatch()); err != nil {
		return nil, err
	}
	if rt.VirtualService, rt.RouteIndex, err = lanemeshMetadata(cfg); err != nil {
		return nil, err
	}
	return rt, nil
}

// routeAction returns the route's RouteAction, rejecting the action kinds the proxy does not
// implement (redirects and direct responses are compiled apart).
func routeAction(cfg *routev3.Route) (*routev3.RouteAction, error) {
	switch a := cfg.GetAction().(type) {
	case *routev3.Route_Route:
		if a.Route == nil {
			return nil, fmt.Errorf("%w: route action is empty", ErrInvalid)
		}
		return a.Route, nil
	case nil:
		return nil, fmt.Errorf("%w: route has no action", ErrInvalid)
	default:
		return nil, fmt.Errorf("%w: action %T is not supported; only route actions are", ErrUnsupported, a)
	}
}

// compilePicker turns the action's cluster specifier into a picker.
func compilePicker(a *routev3.RouteAction) (picker, error) {
	switch s := a.GetClusterSpecifier().(type) {
	case *routev3.RouteAction_Cluster:
		if s.Cluster == "" {
			return picker{}, fmt.Errorf("%w: cluster name is empty", ErrInvalid)
		}
		return picker{cluster: s.Cluster}, nil
	case *routev3.RouteAction_WeightedClusters:
		return compileWeighted(s.WeightedClusters)
	case nil:
		return picker{}, fmt.Errorf("%w: route action names no cluster", ErrInvalid)
	default:
		return picker{}, fmt.Errorf("%w: cluster specifier %T is not supported; use cluster or weighted_clusters", ErrUnsupported, s)
	}
}

// compileWeighted builds cumulative weights. The total must be positive (Envoy rejects zero too)
// and fit the uint32 that rnd is, or some clusters could never be picked.
func compileWeighted(wc *routev3.WeightedCluster) (picker, error) {
	if wc.GetRandomValueSpecifier() != nil {
		return picker{}, fmt.Errorf("%w: weighted_clusters random_value_specifier is not supported; the proxy supplies the random value", ErrUnsupported)
	}
	var p picker
	var total uint64
	for i, c := range wc.GetClusters() {
		switch {
		case c.GetClusterHeader() != "":
			return picker{}, fmt.Errorf("%w: weighted cluster %d: cluster_header is not supported; name the cluster", ErrUnsupported, i)
		case c.GetName() == "":
			return picker{}, fmt.Errorf("%w: weighted cluster %d: name is empty", ErrInvalid, i)
		}
		w := uint64(c.GetWeight().GetValue())
		if w == 0 {
			continue
		}
		total += w
		p.weighted = append(p.weighted, c.GetName())
		p.position = append(p.position, i)
		p.ends = append(p.ends, total)
	}
	switch {
	case total == 0:
		return picker{}, fmt.Errorf("%w: weighted_clusters weights sum to 0; give at least one cluster a positive weight", ErrInvalid)
	case total > math.MaxUint32:
		return picker{}, fmt.Errorf("%w: weighted_clusters weights sum to %d, more than %d", ErrInvalid, total, uint64(math.MaxUint32))
	case wc.GetTotalWeight().GetValue() > 0 && uint64(wc.GetTotalWeight().GetValue()) != total:
		return picker{}, fmt.Errorf("%w: weighted_clusters total_weight is %d but the weights sum to %d", ErrInvalid, wc.GetTotalWeight().GetValue(), total)
	}
	return p, nil
}

// lanemeshMetadata reads the route's origin from FilterMetadata[MetadataNamespace]. Absent
// metadata is fine (routes from other control planes); malformed metadata is an error because
// it means the compiler and the proxy disagree about the convention.
func lanemeshMetadata(cfg *routev3.Route) (vs string, index int, err error) {
	md := cfg.GetMetadata().GetFilterMetadata()[MetadataNamespace]
	index = -1
	if f, ok := md.GetFields()["virtualService"]; ok {
		s, isString := f.GetKind().(*structpb.Value_StringValue)
		if !isString {
			return "", -1, fmt.Errorf("%w: metadata %s.virtualService must be a string", ErrInvalid, MetadataNamespace)
		}
		vs = s.StringValue
	}
	if f, ok := md.GetFields()["routeIndex"]; ok {
		n, isNumber := f.GetKind().(*structpb.Value_NumberValue)
		if !isNumber || n.NumberValue < 0 || n.NumberValue != math.Trunc(n.NumberValue) || n.NumberValue > math.MaxInt32 {
			return "", -1, fmt.Errorf("%w: metadata %s.routeIndex must be a non-negative integer", ErrInvalid, MetadataNamespace)
		}
		index = int(n.NumberValue)
	}
	return vs, index, nil
}

// checkRedirect accepts what Redirect implements: host, port, scheme, path or prefix rewrites and
// the response code. A prefix rewrite needs a prefix match, as in Envoy.
func checkRedirect(r *routev3.RedirectAction, m *routev3.RouteMatch) (*routev3.RedirectAction, error) {
	switch {
	case r == nil:
		return nil, fmt.Errorf("%w: redirect action is empty", ErrInvalid)
	case r.GetRegexRewrite() != nil:
		return nil, fmt.Errorf("%w: redirect regex_rewrite is not supported", ErrUnsupported)
	case r.GetStripQuery():
		return nil, fmt.Errorf("%w: redirect strip_query is not supported", ErrUnsupported)
	case r.GetPrefixRewrite() != "" && m.GetPrefix() == "" && m.GetPathSeparatedPrefix() == "":
		return nil, fmt.Errorf("%w: redirect prefix_rewrite needs a prefix match", ErrInvalid)
	case r.GetPortRedirect() > 65535:
		return nil, fmt.Errorf("%w: redirect port %d", ErrInvalid, r.GetPortRedirect())
	}
	if RedirectStatus(r.GetResponseCode()) == 0 {
		return nil, fmt.Errorf("%w: redirect response code %v", ErrInvalid, r.GetResponseCode())
	}
	return r, nil
}

// RedirectStatus is the HTTP status of a redirect response code, 0 for none.
func RedirectStatus(c routev3.RedirectAction_RedirectResponseCode) int { return redirectStatus[c] }

var redirectStatus = map[routev3.RedirectAction_RedirectResponseCode]int{
	routev3.RedirectAction_MOVED_PERMANENTLY: 301, routev3.RedirectAction_FOUND: 302, routev3.RedirectAction_SEE_OTHER: 303,
	routev3.RedirectAction_TEMPORARY_REDIRECT: 307, routev3.RedirectAction_PERMANENT_REDIRECT: 308,
}

// checkDirectResponse accepts a status Envoy accepts (200 to 599) and an inline body.
func checkDirectResponse(d *routev3.DirectResponseAction) (*routev3.DirectResponseAction, error) {
	switch {
	case d == nil:
		return nil, fmt.Errorf("%w: direct_response action is empty", ErrInvalid)
	case d.GetStatus() < 200 || d.GetStatus() > 599:
		return nil, fmt.Errorf("%w: direct_response status %d is not in 200-599", ErrInvalid, d.GetStatus())
	case d.GetBody() != nil && d.GetBody().GetInlineString() == "" && d.GetBody().GetInlineBytes() == nil:
		return nil, fmt.Errorf("%w: direct_response body must be inline_string or inline_bytes", ErrUnsupported)
	}
	return d, nil
}
