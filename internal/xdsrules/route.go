package xdsrules

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
)

// RouteConfiguration checks the fields of rc the proxy reads, its virtual
// hosts and their routes included. The proxy refuses header operations,
// typed_per_filter_config, vhds, vhost_header and route_specifiers on a
// route configuration, so their rules do not matter to it.
func RouteConfiguration(rc *routev3.RouteConfiguration) error {
	for i, vh := range rc.GetVirtualHosts() {
		if e := checkVirtualHost(vh); e != nil {
			return e.at("VirtualHosts", i).asError("RouteConfiguration")
		}
	}
	return nil
}

// VirtualHost checks the fields of vh the proxy reads, its routes
// included. The proxy refuses on virtual hosts everything but domains,
// routes, require_tls and the CORS filter's per-filter config (whose
// CorsPolicy route compilation checks with CorsPolicy).
func VirtualHost(vh *routev3.VirtualHost) error { return checkVirtualHost(vh).asError("VirtualHost") }

func checkVirtualHost(vh *routev3.VirtualHost) *fieldError {
	if e := checkVirtualHostOwn(vh); e != nil {
		return e
	}
	for i, r := range vh.GetRoutes() {
		if e := checkRoute(r); e != nil {
			return e.at("Routes", i)
		}
	}
	return nil
}

// VirtualHostOwn is VirtualHost without the routes, for a client that
// checks each route on its own (Route) and reuses checked routes.
func VirtualHostOwn(vh *routev3.VirtualHost) error {
	return checkVirtualHostOwn(vh).asError("VirtualHost")
}

func checkVirtualHostOwn(vh *routev3.VirtualHost) *fieldError {
	if e := nonEmpty("Name", vh.GetName()); e != nil {
		return e
	}
	if len(vh.GetDomains()) == 0 {
		return broken("Domains", atLeastOneItem)
	}
	for i, d := range vh.GetDomains() {
		if !lineSafe(d) {
			return broken("Domains["+itoa(i)+"]", noLineBreak)
		}
	}
	return definedIn("RequireTls", vh.GetRequireTls(), routev3.VirtualHost_TlsRequirementType_name)
}

// Route checks the fields of r the proxy reads.
func Route(r *routev3.Route) error { return checkRoute(r).asError("Route") }

func checkRoute(r *routev3.Route) *fieldError {
	if r.GetMatch() == nil {
		return broken("Match", required)
	}
	if e := checkMatch(r.GetMatch()).in("Match"); e != nil {
		return e
	}
	var e *fieldError
	switch a := r.GetAction().(type) {
	case *routev3.Route_Route:
		e = checkAction(a.Route).in("Route")
	case *routev3.Route_Redirect:
		e = checkRedirect(a.Redirect).in("Redirect")
	case nil:
		e = broken("Action", required)
	}
	if e != nil {
		return e
	}
	return first(
		checkMetadata(r.GetMetadata()).in("Metadata"),
		checkHeadersToAdd("RequestHeadersToAdd", r.GetRequestHeadersToAdd()),
		checkHeadersToRemove("RequestHeadersToRemove", r.GetRequestHeadersToRemove(), true),
		checkHeadersToAdd("ResponseHeadersToAdd", r.GetResponseHeadersToAdd()),
		checkHeadersToRemove("ResponseHeadersToRemove", r.GetResponseHeadersToRemove(), true),
	)
}

// checkMatch checks a route's match. The proxy refuses the path
// specifiers it does not implement (connect_matcher, path_match_policy)
// and the match fields it does not see (runtime_fraction, cookies, grpc,
// tls_context, dynamic_metadata, filter_state).
func checkMatch(m *routev3.RouteMatch) *fieldError {
	var e *fieldError
	switch p := m.GetPathSpecifier().(type) {
	case *routev3.RouteMatch_SafeRegex:
		e = checkRegex(p.SafeRegex, true).in("SafeRegex")
	case *routev3.RouteMatch_PathSeparatedPrefix:
		if !pathSeparatedPrefix(p.PathSeparatedPrefix) {
			e = broken("PathSeparatedPrefix", `value does not match regex pattern "^[^?#]+[^?#/]$"`)
		}
	case nil:
		e = broken("PathSpecifier", required)
	}
	if e != nil {
		return e
	}
	for i, h := range m.GetHeaders() {
		if e := checkHeaderMatcher(h); e != nil {
			return e.at("Headers", i)
		}
	}
	for i, q := range m.GetQueryParameters() {
		if e := checkQueryMatcher(q); e != nil {
			return e.at("QueryParameters", i)
		}
	}
	return nil
}

func checkHeaderMatcher(h *routev3.HeaderMatcher) *fieldError {
	if e := requiredHeaderName("Name", h.GetName()); e != nil {
		return e
	}
	switch s := h.GetHeaderMatchSpecifier().(type) {
	case *routev3.HeaderMatcher_SafeRegexMatch:
		return checkRegex(s.SafeRegexMatch, false).in("SafeRegexMatch")
	case *routev3.HeaderMatcher_PrefixMatch:
		return nonEmpty("PrefixMatch", s.PrefixMatch)
	case *routev3.HeaderMatcher_SuffixMatch:
		return nonEmpty("SuffixMatch", s.SuffixMatch)
	case *routev3.HeaderMatcher_ContainsMatch:
		return nonEmpty("ContainsMatch", s.ContainsMatch)
	case *routev3.HeaderMatcher_StringMatch:
		return checkStringMatcher(s.StringMatch).in("StringMatch")
	}
	return nil
}

func checkQueryMatcher(q *routev3.QueryParameterMatcher) *fieldError {
	// An empty name the route compiler refuses itself.
	if e := maxBytes("Name", q.GetName(), 1024); e != nil {
		return e
	}
	if s, ok := q.GetQueryParameterMatchSpecifier().(*routev3.QueryParameterMatcher_StringMatch); ok {
		if s.StringMatch == nil {
			return broken("StringMatch", required)
		}
		return checkStringMatcher(s.StringMatch).in("StringMatch")
	}
	return nil
}

// checkStringMatcher checks a StringMatcher. One without a pattern, or
// with a custom one, the route compiler refuses.
func checkStringMatcher(m *matcherv3.StringMatcher) *fieldError {
	switch p := m.GetMatchPattern().(type) {
	case *matcherv3.StringMatcher_Prefix:
		return nonEmpty("Prefix", p.Prefix)
	case *matcherv3.StringMatcher_Suffix:
		return nonEmpty("Suffix", p.Suffix)
	case *matcherv3.StringMatcher_Contains:
		return nonEmpty("Contains", p.Contains)
	case *matcherv3.StringMatcher_SafeRegex:
		return checkRegex(p.SafeRegex, true).in("SafeRegex")
	}
	return nil
}

// checkRegex checks a RegexMatcher: a pattern that is not empty (one that
// does not compile the route compiler refuses). isRequired is the
// field's message.required.
func checkRegex(m *matcherv3.RegexMatcher, isRequired bool) *fieldError {
	if m == nil {
		if isRequired {
			return &fieldError{reason: required}
		}
		return nil
	}
	return nonEmpty("Regex", m.GetRegex())
}

// checkAction checks a route action. The route compiler refuses a missing
// or empty cluster and weighted clusters that name none, hash policies
// without a key, a mirror policy's cluster_header, and the rest of what
// the proxy does not implement (host rewrites other than a literal, regex
// rewrites, hedging, rate limits, upgrades, internal redirects,
// metadata_match).
func checkAction(a *routev3.RouteAction) *fieldError {
	e := first(
		definedIn("ClusterNotFoundResponseCode", a.GetClusterNotFoundResponseCode(), routev3.RouteAction_ClusterNotFoundResponseCode_name),
		headerValue("PrefixRewrite", a.GetPrefixRewrite()),
		headerValue("HostRewriteLiteral", a.GetHostRewriteLiteral()),
		checkRetryPolicy(a.GetRetryPolicy()).in("RetryPolicy"),
		checkRegexRewrite(a.GetRegexRewrite()).in("RegexRewrite"),
	)
	if e != nil {
		return e
	}
	for i, c := range a.GetWeightedClusters().GetClusters() {
		if e := checkClusterWeight(c); e != nil {
			return e.at("Clusters", i).in("WeightedClusters")
		}
	}
	for i, p := range a.GetRequestMirrorPolicies() {
		if e := checkRuntimeFraction(p.GetRuntimeFraction()).in("RuntimeFraction"); e != nil {
			return e.at("RequestMirrorPolicies", i)
		}
	}
	for i, p := range a.GetHashPolicy() {
		if e := checkHashPolicy(p); e != nil {
			return e.at("HashPolicy", i)
		}
	}
	return nil
}

func checkClusterWeight(c *routev3.WeightedCluster_ClusterWeight) *fieldError {
	return first(
		headerValue("HostRewriteLiteral", c.GetHostRewriteLiteral()),
		checkHeadersToAdd("RequestHeadersToAdd", c.GetRequestHeadersToAdd()),
		checkHeadersToRemove("RequestHeadersToRemove", c.GetRequestHeadersToRemove(), false),
		checkHeadersToAdd("ResponseHeadersToAdd", c.GetResponseHeadersToAdd()),
		checkHeadersToRemove("ResponseHeadersToRemove", c.GetResponseHeadersToRemove(), false),
	)
}

// checkRegexRewrite checks a regex_rewrite: a pattern, and a substitution
// that can go into a request line's path (the route compiler refuses one
// RE2 cannot apply).
func checkRegexRewrite(r *matcherv3.RegexMatchAndSubstitute) *fieldError {
	if r == nil {
		return nil
	}
	return first(
		checkRegex(r.GetPattern(), true).in("Pattern"),
		headerValue("Substitution", r.GetSubstitution()),
	)
}

// checkRetryPolicy checks the back-off; the proxy refuses retry host
// predicates other than previous_hosts (whose typed config must be the
// predicate's) and the retry features it does not implement.
func checkRetryPolicy(p *routev3.RetryPolicy) *fieldError {
	b := p.GetRetryBackOff()
	if b == nil {
		return nil
	}
	if b.GetBaseInterval() == nil {
		return broken("BaseInterval", required).in("RetryBackOff")
	}
	return first(
		positive("BaseInterval", b.GetBaseInterval()),
		positive("MaxInterval", b.GetMaxInterval()),
	).in("RetryBackOff")
}

// checkHashPolicy checks the names a hash policy's key is read by. The
// route compiler refuses empty header, cookie and query parameter names
// and the policies it does not implement.
func checkHashPolicy(p *routev3.RouteAction_HashPolicy) *fieldError {
	switch s := p.GetPolicySpecifier().(type) {
	case *routev3.RouteAction_HashPolicy_Header_:
		return headerName("HeaderName", s.Header.GetHeaderName()).in("Header")
	case *routev3.RouteAction_HashPolicy_Cookie_:
		for i, a := range s.Cookie.GetAttributes() {
			e := first(
				requiredHeaderName("Name", a.GetName()),
				maxBytes("Name", a.GetName(), maxHeaderBytes),
				maxBytes("Value", a.GetValue(), maxHeaderBytes),
				headerValue("Value", a.GetValue()),
			)
			if e != nil {
				return e.at("Attributes", i).in("Cookie")
			}
		}
	}
	return nil
}

// checkRedirect checks a redirect's rewrites. The route compiler refuses
// an undefined response code, and a regex_rewrite.
func checkRedirect(r *routev3.RedirectAction) *fieldError {
	return first(
		headerValue("HostRedirect", r.GetHostRedirect()),
		headerValue("PathRedirect", r.GetPathRedirect()),
		headerValue("PrefixRewrite", r.GetPrefixRewrite()),
	)
}

// checkHeadersToAdd checks header additions: at most 1000, each with a
// header whose key, value and raw value pass Envoy's rules.
func checkHeadersToAdd(field string, ops []*corev3.HeaderValueOption) *fieldError {
	if e := maxItems(field, len(ops), 1000); e != nil {
		return e
	}
	for i, op := range ops {
		if e := checkHeaderValueOption(op); e != nil {
			return e.at(field, i)
		}
	}
	return nil
}

func checkHeaderValueOption(op *corev3.HeaderValueOption) *fieldError {
	h := op.GetHeader()
	if h == nil {
		return broken("Header", required)
	}
	e := first(
		requiredHeaderName("Key", h.GetKey()),
		maxBytes("Key", h.GetKey(), maxHeaderBytes),
		maxBytes("Value", h.GetValue(), maxHeaderBytes),
		headerValue("Value", h.GetValue()),
	)
	if e == nil && len(h.GetRawValue()) > maxHeaderBytes {
		e = broken("RawValue", "value length must be between 0 and 16384 bytes, inclusive")
	}
	if e != nil {
		return e.in("Header")
	}
	return definedIn("AppendAction", op.GetAppendAction(), corev3.HeaderValueOption_HeaderAppendAction_name)
}

// checkHeadersToRemove checks header removals: names with no NUL, CR or
// LF, and not empty where nonEmpty (a route's; a weighted cluster's may
// be).
func checkHeadersToRemove(field string, names []string, nonEmpty bool) *fieldError {
	for i, n := range names {
		if nonEmpty && n == "" {
			return broken(field+"["+itoa(i)+"]", notEmpty)
		}
		if !lineSafe(n) {
			return broken(field+"["+itoa(i)+"]", noLineBreak)
		}
	}
	return nil
}
