package compile

import (
	"encoding/base64"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	faultcommonv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/common/fault/v3"
	faultv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	previoushostsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/retry/host/previous_hosts/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/lanemesh/lanemesh/api"
	"github.com/lanemesh/lanemesh/internal/config"
	"github.com/lanemesh/lanemesh/internal/meshxds"
)

// Istio's retry policy when a route sets none, or sets attempts without
// retryOn, with 503 among its retriable status codes as in Istio up to
// 1.23 and in later ones' 1.23 compatibility profile
// (EXCLUDE_UNSAFE_503_FROM_DEFAULT_RETRY=false). Istio 1.24 dropped the
// 503, since a server may have acted on a request before answering 503;
// lanemesh keeps it because its lanes rely on it: when a lane's pod loses
// its sidecar, its app answers 503 to the requests that reach it in the
// moment before the mesh hears of it, and the retries carry them until
// the pod is marked unready and they go to the fallback. A route that
// must not repeat a request after a 503 sets a retryOn without it.
const (
	defaultRetryOn  = "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"
	defaultAttempts = 2
)

// translate compiles a VirtualService's HTTP rules for one scope. Each match
// entry becomes its own Envoy route (entries are ORed); entries that cannot
// apply to this proxy in this scope are left out.
func (b *builder) translate(vs *api.VirtualService, sc scope) []*routev3.Route {
	var out []*routev3.Route
	for i := range vs.Spec.HTTP {
		hr := &vs.Spec.HTTP[i]
		matches := hr.Match
		if len(matches) == 0 {
			matches = []api.HTTPMatchRequest{{}}
		}
		var action *routev3.RouteAction
		for _, m := range matches {
			if !b.applies(vs, m, sc) {
				continue
			}
			r := &routev3.Route{Name: hr.Name, Match: routeMatch(m), Metadata: routeMetadata(vs, hr, i)}
			switch {
			case hr.Redirect != nil:
				r.Action = redirectAction(hr.Redirect, sc.port)
			case hr.DirectResponse != nil:
				r.Action = directResponseAction(hr.DirectResponse)
			default:
				if action == nil {
					action = b.routeAction(vs, hr, sc)
				}
				r.Action = &routev3.Route_Route{Route: action}
			}
			addHeaderOps(r, hr.Headers)
			if len(hr.Route) == 1 {
				addHeaderOps(r, hr.Route[0].Headers)
			}
			if f := fault(hr.Fault); f != nil {
				r.TypedPerFilterConfig = map[string]*anypb.Any{meshxds.FaultFilter: mustAny(f)}
			}
			if c := corsPolicy(hr.CorsPolicy); c != nil {
				if r.TypedPerFilterConfig == nil {
					r.TypedPerFilterConfig = map[string]*anypb.Any{}
				}
				r.TypedPerFilterConfig[meshxds.CorsFilter] = mustAny(c)
			}
			out = append(out, r)
		}
	}
	return out
}

// applies resolves the parts of a match that depend on the proxy, not the
// request: port, sourceLabels, sourceNamespace and gateways.
func (b *builder) applies(vs *api.VirtualService, m api.HTTPMatchRequest, sc scope) bool {
	switch {
	case m.Port != 0 && m.Port != sc.port:
		return false
	case !config.SubsetOf(m.SourceLabels, b.proxy.Labels):
		return false
	case m.SourceNamespace != "" && m.SourceNamespace != b.proxy.Namespace:
		return false
	case len(m.Gateways) > 0 && !slices.Contains(boundGateways(vs, m.Gateways), sc.gateway):
		return false
	case m.Scheme != nil && !matchesStatic(m.Scheme, "http"):
		// lanemesh's listeners speak plain HTTP, so the scheme is known
		// when compiling and the proxy need not match on it.
		return false
	}
	return true
}

// matchesStatic evaluates a StringMatch against a value known at compile
// time. An invalid regex matches nothing (the analyzer reports it).
func matchesStatic(sm *api.StringMatch, v string) bool {
	switch kind, want := sm.Kind(); kind {
	case api.MatchExact:
		return want == v
	case api.MatchPrefix:
		return strings.HasPrefix(v, want)
	case api.MatchRegex:
		re, err := regexp.Compile("^(?:" + want + ")$")
		return err == nil && re.MatchString(v)
	}
	return true
}

// routeMatch is Istio's translateRouteMatch for what a proxy matches on
// per request: the path, the method and authority, headers and queries.
func routeMatch(m api.HTTPMatchRequest) *routev3.RouteMatch {
	rm := &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}}
	switch kind, v := m.URI.Kind(); kind {
	case api.MatchExact:
		rm.PathSpecifier = &routev3.RouteMatch_Path{Path: v}
	case api.MatchPrefix:
		rm.PathSpecifier = &routev3.RouteMatch_Prefix{Prefix: v}
	case api.MatchRegex:
		rm.PathSpecifier = &routev3.RouteMatch_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: v}}
	}
	if m.IgnoreURICase {
		rm.CaseSensitive = wrapperspb.Bool(false)
	}
	for _, p := range []struct {
		name string
		sm   *api.StringMatch
	}{{":method", m.Method}, {":authority", m.Authority}} {
		if p.sm != nil {
			rm.Headers = append(rm.Headers, headerMatcher(p.name, *p.sm, false))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(m.Headers)) {
		rm.Headers = append(rm.Headers, headerMatcher(name, m.Headers[name], false))
	}
	for _, name := range slices.Sorted(maps.Keys(m.WithoutHeaders)) {
		rm.Headers = append(rm.Headers, headerMatcher(name, m.WithoutHeaders[name], true))
	}
	for _, name := range slices.Sorted(maps.Keys(m.QueryParams)) {
		qm := &routev3.QueryParameterMatcher{Name: name}
		if sm := m.QueryParams[name]; !presence(sm) {
			qm.QueryParameterMatchSpecifier = &routev3.QueryParameterMatcher_StringMatch{StringMatch: stringMatcher(sm)}
		} else {
			qm.QueryParameterMatchSpecifier = &routev3.QueryParameterMatcher_PresentMatch{PresentMatch: true}
		}
		rm.QueryParameters = append(rm.QueryParameters, qm)
	}
	return rm
}

// headerMatcher is Istio's translateHeaderMatch: a header by a StringMatch,
// or its presence (see presence). Inverted (withoutHeaders), a value match
// treats a missing header as empty, so that a request without the header
// is one "without" the value, as in Istio; a presence match cannot.
func headerMatcher(name string, sm api.StringMatch, invert bool) *routev3.HeaderMatcher {
	hm := &routev3.HeaderMatcher{Name: strings.ToLower(name), InvertMatch: invert}
	if presence(sm) {
		hm.HeaderMatchSpecifier = &routev3.HeaderMatcher_PresentMatch{PresentMatch: true}
		return hm
	}
	hm.HeaderMatchSpecifier = &routev3.HeaderMatcher_StringMatch{StringMatch: stringMatcher(sm)}
	hm.TreatMissingHeaderAsEmpty = invert
	return hm
}

// presence reports whether a header or query match is Istio's "present"
// match (canBeConvertedToPresentMatch): no value set, or the regex `*`,
// which is no RE2 expression.
func presence(sm api.StringMatch) bool {
	kind, v := sm.Kind()
	return kind == "" || kind == api.MatchRegex && v == "*"
}

// stringMatcher is Istio's ConvertToEnvoyMatch; nil when sm sets nothing.
// An empty exact value stays an exact match of the empty string.
func stringMatcher(sm api.StringMatch) *matcherv3.StringMatcher {
	switch kind, v := sm.Kind(); kind {
	case api.MatchExact:
		return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: v}}
	case api.MatchPrefix:
		return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: v}}
	case api.MatchRegex:
		return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: v}}}
	}
	return nil
}

// routeAction compiles a rule's destinations, timeout, retries and rewrite.
func (b *builder) routeAction(vs *api.VirtualService, hr *api.HTTPRoute, sc scope) *routev3.RouteAction {
	clusters := make([]*routev3.WeightedCluster_ClusterWeight, len(hr.Route))
	total := uint32(0)
	for i, d := range hr.Route {
		clusters[i] = &routev3.WeightedCluster_ClusterWeight{Name: b.destinationCluster(vs, d, sc), Weight: wrapperspb.UInt32(uint32(max(d.Weight, 0)))}
		total += clusters[i].Weight.Value
		if len(hr.Route) > 1 && d.Headers != nil {
			// Istio's processWeightedDestination: both directions.
			if d.Headers.Request != nil {
				clusters[i].RequestHeadersToAdd, clusters[i].RequestHeadersToRemove = headerOps(d.Headers.Request)
			}
			if d.Headers.Response != nil {
				clusters[i].ResponseHeadersToAdd, clusters[i].ResponseHeadersToRemove = headerOps(d.Headers.Response)
			}
		}
	}
	if total == 0 { // weights omitted: share equally, as Istio does
		for _, c := range clusters {
			c.Weight = wrapperspb.UInt32(1)
		}
	}
	var a *routev3.RouteAction
	switch len(clusters) {
	case 0:
		a = &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: ""}}
	case 1:
		a = b.defaultAction(clusters[0].Name)
	default:
		a = b.defaultAction("")
		a.ClusterSpecifier = &routev3.RouteAction_WeightedClusters{WeightedClusters: &routev3.WeightedCluster{Clusters: clusters}}
	}
	if hr.Timeout != nil {
		a.Timeout = durationpb.New(hr.Timeout.Duration)
	}
	a.HashPolicy = b.routeHashPolicies(vs, hr)
	a.RetryPolicy = retryPolicy(hr.Retries, len(hr.Route) == 1 && len(a.HashPolicy) > 0)
	if rw := hr.Rewrite; rw != nil {
		a.PrefixRewrite = rw.URI
		if rr := rw.URIRegexRewrite; rr != nil {
			a.RegexRewrite = &matcherv3.RegexMatchAndSubstitute{Pattern: &matcherv3.RegexMatcher{Regex: rr.Match}, Substitution: rr.Rewrite}
		}
		if rw.Authority != "" {
			a.HostRewriteSpecifier = &routev3.RouteAction_HostRewriteLiteral{HostRewriteLiteral: rw.Authority}
		}
	}
	a.RequestMirrorPolicies = b.mirrorPolicies(vs, hr, sc)
	return a
}

// defaultAction routes to one cluster with Istio's defaults: no route
// timeout, two retries on connection failures.
func (b *builder) defaultAction(cluster string) *routev3.RouteAction {
	return &routev3.RouteAction{
		ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: cluster},
		Timeout:          durationpb.New(0),
		RetryPolicy:      retryPolicy(nil, false),
	}
}

// retryPolicy is Istio's ConvertPolicy, for a rule's retries or, nil,
// the default above. attempts 0 turns retries off. A retryOn list is Envoy's
// retry_on with HTTP status codes among its entries, which go to
// retriable_status_codes (with retriable-status-codes added to retry_on if
// the list does not name it). A retry goes to another host than the one
// before (previous_hosts, up to 5 picks), unless retryIgnorePreviousHosts
// is false or the route balances by consistent hash, where the hash
// decides; backoff is the base of Envoy's exponential back-off.
func retryPolicy(r *api.HTTPRetry, consistentHash bool) *routev3.RetryPolicy {
	if r != nil && r.Attempts <= 0 {
		return nil
	}
	p := &routev3.RetryPolicy{RetryOn: defaultRetryOn, NumRetries: wrapperspb.UInt32(defaultAttempts),
		RetriableStatusCodes: []uint32{http.StatusServiceUnavailable}, HostSelectionRetryMaxAttempts: 5}
	if !consistentHash {
		p.RetryHostPredicate = previousHosts
	}
	if r == nil {
		return p
	}
	p.NumRetries = wrapperspb.UInt32(uint32(r.Attempts))
	if r.RetryOn != "" {
		p.RetryOn, p.RetriableStatusCodes = splitRetryOn(r.RetryOn)
		if len(p.RetriableStatusCodes) > 0 && !slices.Contains(strings.Split(p.RetryOn, ","), "retriable-status-codes") {
			p.RetryOn = strings.TrimPrefix(p.RetryOn+",retriable-status-codes", ",")
		}
	}
	if r.PerTryTimeout != nil {
		p.PerTryTimeout = durationpb.New(r.PerTryTimeout.Duration)
	}
	if r.RetryIgnorePreviousHosts != nil {
		p.RetryHostPredicate = nil
		if *r.RetryIgnorePreviousHosts {
			p.RetryHostPredicate = previousHosts
		}
	}
	if r.Backoff != nil {
		p.RetryBackOff = &routev3.RetryPolicy_RetryBackOff{BaseInterval: durationpb.New(r.Backoff.Duration)}
	}
	return p
}

// previousHosts is Envoy's previous_hosts retry host predicate, shared by
// every policy that has it (nothing changes a compiled route).
var previousHosts = []*routev3.RetryPolicy_RetryHostPredicate{{
	Name:       meshxds.RetryPreviousHosts,
	ConfigType: &routev3.RetryPolicy_RetryHostPredicate_TypedConfig{TypedConfig: mustAny(&previoushostsv3.PreviousHostsPredicate{})},
}}

// splitRetryOn separates a retryOn list's HTTP status codes (numbers that
// name a status) from its conditions, dropping empty entries and spaces.
func splitRetryOn(retryOn string) (conditions string, codes []uint32) {
	var keep []string
	for part := range strings.SplitSeq(retryOn, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if n, err := strconv.Atoi(part); err == nil && http.StatusText(n) != "" {
			codes = append(codes, uint32(n))
			continue
		}
		keep = append(keep, part)
	}
	return strings.Join(keep, ","), codes
}

// destinationCluster names the cluster of a route destination, or the
// aggregate of it and its fallback.
func (b *builder) destinationCluster(vs *api.VirtualService, d api.HTTPRouteDestination, sc scope) string {
	host := config.FQDN(d.Destination.Host, vs.Metadata.Namespace)
	port := b.destinationPort(host, d.Destination.Port, sc)
	name := meshxds.ClusterName(port, d.Destination.Subset, host)
	if d.Fallback == nil {
		return name
	}
	t := d.Fallback.Target
	fbHost := config.FQDN(t.Host, vs.Metadata.Namespace)
	fbPort := port // the same service: the port being routed, unless the target names one
	if fbHost != host || t.Port != nil {
		fbPort = b.destinationPort(fbHost, t.Port, scope{port: port})
	}
	return b.fallbackCluster(name, meshxds.ClusterName(fbPort, t.Subset, fbHost))
}

// destinationPort picks the port of a destination: the one named, else the
// service's only port, else the port being routed (a sidecar routing a
// service to itself), else the service's first port.
func (b *builder) destinationPort(host string, sel *api.PortSelector, sc scope) uint32 {
	if sel != nil {
		return sel.Number
	}
	svc := b.hosts[host]
	switch {
	case svc == nil || len(svc.Ports) == 0:
		if sc.port != 0 {
			return sc.port
		}
		return 80
	case len(svc.Ports) == 1:
		return svc.Ports[0].Port
	}
	for _, p := range svc.Ports {
		if p.Port == sc.port {
			return p.Port
		}
	}
	return svc.Ports[0].Port
}

// routeMetadata names the rule a route comes from: the VirtualService and
// index the user wrote it at, a delegate's for a delegated rule.
func routeMetadata(vs *api.VirtualService, hr *api.HTTPRoute, index int) *corev3.Metadata {
	key := vs.Metadata.Key()
	if o := hr.Origin; o != nil {
		key, index = o.VirtualService, o.Index
	}
	return &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{meshxds.MetadataKey: {Fields: map[string]*structpb.Value{
		"virtualService": structpb.NewStringValue(key),
		"routeIndex":     structpb.NewNumberValue(float64(index)),
	}}}}
}

func addHeaderOps(r *routev3.Route, h *api.Headers) {
	if h == nil {
		return
	}
	if h.Request != nil {
		add, remove := headerOps(h.Request)
		r.RequestHeadersToAdd = append(r.RequestHeadersToAdd, add...)
		r.RequestHeadersToRemove = append(r.RequestHeadersToRemove, remove...)
	}
	if h.Response != nil {
		add, remove := headerOps(h.Response)
		r.ResponseHeadersToAdd = append(r.ResponseHeadersToAdd, add...)
		r.ResponseHeadersToRemove = append(r.ResponseHeadersToRemove, remove...)
	}
}

// headerOps compiles set (overwrite) and add (append) operations, in name
// order so the output is deterministic.
func headerOps(ops *api.HeaderOperations) ([]*corev3.HeaderValueOption, []string) {
	var add []*corev3.HeaderValueOption
	for _, k := range slices.Sorted(maps.Keys(ops.Set)) {
		add = append(add, &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: strings.ToLower(k), Value: ops.Set[k]},
			AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD})
	}
	for _, k := range slices.Sorted(maps.Keys(ops.Add)) {
		add = append(add, &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: strings.ToLower(k), Value: ops.Add[k]},
			AppendAction: corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD})
	}
	remove := make([]string, len(ops.Remove))
	for i, k := range ops.Remove {
		remove[i] = strings.ToLower(k)
	}
	return add, remove
}

// fault compiles Istio's fault injection to Envoy's per-route HTTPFault,
// as Istio's TranslateFault does: a delay without fixedDelay and an abort
// without httpStatus are left out (the analyzer warns of both), and a
// percentage left unset is 0%, "no request will be delayed" (or
// aborted) in Istio's words; a delay's legacy integer percent stands in
// for its percentage.
func fault(f *api.HTTPFaultInjection) *faultv3.HTTPFault {
	if f == nil {
		return nil
	}
	out := &faultv3.HTTPFault{}
	if d := f.Delay; d != nil && d.FixedDelay != nil {
		share := d.Percentage
		if share == nil {
			share = &api.Percent{Value: float64(d.Percent)}
		}
		out.Delay = &faultcommonv3.FaultDelay{
			FaultDelaySecifier: &faultcommonv3.FaultDelay_FixedDelay{FixedDelay: durationpb.New(d.FixedDelay.Duration)},
			Percentage:         percent(share),
		}
	}
	if a := f.Abort; a != nil && a.HTTPStatus != nil {
		out.Abort = &faultv3.FaultAbort{
			ErrorType:  &faultv3.FaultAbort_HttpStatus{HttpStatus: uint32(*a.HTTPStatus)},
			Percentage: percent(a.Percentage),
		}
	}
	if out.Delay == nil && out.Abort == nil {
		return nil
	}
	return out
}

// percent converts Istio's percentage (0–100, fractions allowed) to parts
// per million; unset is 0%.
func percent(p *api.Percent) *typev3.FractionalPercent {
	var v float64
	if p != nil {
		v = min(max(p.Value, 0), 100)
	}
	return &typev3.FractionalPercent{Numerator: uint32(v * 10_000), Denominator: typev3.FractionalPercent_MILLION}
}

// redirectCodes are the redirect codes Envoy can send (Istio's
// ApplyRedirect; the analyzer refuses others).
var redirectCodes = map[uint32]routev3.RedirectAction_RedirectResponseCode{
	0: routev3.RedirectAction_MOVED_PERMANENTLY, 301: routev3.RedirectAction_MOVED_PERMANENTLY,
	302: routev3.RedirectAction_FOUND, 303: routev3.RedirectAction_SEE_OTHER,
	307: routev3.RedirectAction_TEMPORARY_REDIRECT, 308: routev3.RedirectAction_PERMANENT_REDIRECT,
}

// redirectAction is Istio's ApplyRedirect for a plain-HTTP listener on
// port: derivePort FROM_REQUEST_PORT is the listener's port, and a port
// that is the scheme's default is left out of the Location.
func redirectAction(r *api.HTTPRedirect, port uint32) *routev3.Route_Redirect {
	a := &routev3.RedirectAction{HostRedirect: r.Authority, ResponseCode: redirectCodes[r.RedirectCode]}
	if r.PrefixRewrite != "" {
		a.PathRewriteSpecifier = &routev3.RedirectAction_PrefixRewrite{PrefixRewrite: r.PrefixRewrite}
	} else {
		a.PathRewriteSpecifier = &routev3.RedirectAction_PathRedirect{PathRedirect: r.URI}
	}
	if r.Scheme != "" {
		a.SchemeRewriteSpecifier = &routev3.RedirectAction_SchemeRedirect{SchemeRedirect: r.Scheme}
	}
	if r.Port != 0 || r.DerivePort != "" {
		a.PortRedirect = r.Port
		if r.DerivePort == "FROM_REQUEST_PORT" {
			a.PortRedirect = port
		}
		scheme := r.Scheme
		if scheme == "" {
			scheme = "http"
		}
		if a.PortRedirect == 80 && scheme == "http" || a.PortRedirect == 443 && scheme == "https" {
			a.PortRedirect = 0
		}
	}
	return &routev3.Route_Redirect{Redirect: a}
}

// directResponseAction is Istio's ApplyDirectResponse. A body in bytes is
// base64, which the analyzer has checked.
func directResponseAction(d *api.HTTPDirectResponse) *routev3.Route_DirectResponse {
	a := &routev3.DirectResponseAction{Status: d.Status}
	switch {
	case d.Body == nil:
	case d.Body.String != "":
		a.Body = &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: d.Body.String}}
	case d.Body.Bytes != "":
		b, _ := base64.StdEncoding.DecodeString(d.Body.Bytes)
		a.Body = &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: b}}
	}
	return &routev3.Route_DirectResponse{DirectResponse: a}
}
