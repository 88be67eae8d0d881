package proxy

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"

	"github.com/lanemesh/lanemesh/internal/h1"
	"github.com/lanemesh/lanemesh/internal/policy"
	"github.com/lanemesh/lanemesh/internal/re2sub"
	"github.com/lanemesh/lanemesh/internal/route"
)

// routePlan is everything the proxy does for one route beyond choosing it,
// read once from the RouteAction at Apply so that no request parses
// protobufs, retry_on strings or header names.
type routePlan struct {
	timeout     time.Duration // 0: none
	retry       policy.Retry
	rewrite     rewrite
	hostRewrite string
	ops         headerOps     // the route's own header operations
	weighted    []headerOps   // per weighted_clusters entry, by position, applied before ops; nil when none has any
	fault       *policy.Fault // nil: none; used only where the listener runs the fault filter
	notFound    int           // status when the cluster does not exist (503, or 404)
	// single is the route's only cluster when the action names one that
	// exists, saving a map lookup per request.
	single *cluster
	// mirrors are the clusters of the route's request mirror policies, in
	// their order; nil where the cluster does not exist (Envoy then sends
	// no copy).
	mirrors []*cluster
}

// rewrite is a RouteAction's prefix_rewrite: the matched prefix (or, for
// other matchers, the whole path) is replaced by to; or its regex_rewrite:
// every match of re in the path is replaced by to, a template for
// re.ReplaceAllString (package re2sub).
type rewrite struct {
	enabled bool
	prefix  string // "" with enabled: replace the whole path
	re      *regexp.Regexp
	to      string
}

// buildPlans compiles the plan of every route in rc, keyed by the
// *routev3.Route that route.Table hands back as Decision.Route.Envoy.
func buildPlans(rc *routev3.RouteConfiguration, st *state) error {
	if err := checkRouteConfig(rc); err != nil {
		return err
	}
	for _, vh := range rc.GetVirtualHosts() {
		if err := checkVirtualHost(vh); err != nil {
			return fmt.Errorf("virtual host %q: %w", vh.GetName(), err)
		}
		for i, rt := range vh.GetRoutes() {
			plan, err := buildPlan(rt, st)
			if err != nil {
				return fmt.Errorf("virtual host %q route %d %q: %w", vh.GetName(), i, rt.GetName(), err)
			}
			st.plans[rt] = plan
		}
	}
	return nil
}

func buildPlan(rt *routev3.Route, st *state) (*routePlan, error) {
	a := rt.GetRoute() // route.New has already rejected other actions
	if err := checkAction(a); err != nil {
		return nil, err
	}
	plan := &routePlan{timeout: a.GetTimeout().AsDuration(), hostRewrite: a.GetHostRewriteLiteral(), notFound: http.StatusServiceUnavailable}
	switch a.GetClusterNotFoundResponseCode() {
	case routev3.RouteAction_NOT_FOUND:
		plan.notFound = http.StatusNotFound
	case routev3.RouteAction_INTERNAL_SERVER_ERROR:
		plan.notFound = http.StatusInternalServerError
	}
	if name := a.GetCluster(); name != "" {
		plan.single = st.clusters[name]
	}
	for _, m := range a.GetRequestMirrorPolicies() {
		plan.mirrors = append(plan.mirrors, st.clusters[m.GetCluster()])
	}
	var err error
	if plan.retry, err = policy.BuildRetry(a.GetRetryPolicy()); err != nil {
		return nil, err
	}
	if plan.fault, err = policy.BuildRouteFault(rt.GetTypedPerFilterConfig()); err != nil {
		return nil, err
	}
	if a.GetPrefixRewrite() != "" {
		plan.rewrite = rewrite{enabled: true, prefix: rt.GetMatch().GetPrefix() + rt.GetMatch().GetPathSeparatedPrefix(), to: a.GetPrefixRewrite()}
	}
	if rr := a.GetRegexRewrite(); rr != nil {
		if plan.rewrite, err = regexRewrite(rr); err != nil {
			return nil, err
		}
	}
	if err := checkHost(plan.hostRewrite); err != nil {
		return nil, err
	}
	plan.ops = buildHeaderOps(rt.GetRequestHeadersToAdd(), rt.GetRequestHeadersToRemove(), rt.GetResponseHeadersToAdd(), rt.GetResponseHeadersToRemove())
	if err := plan.ops.check(); err != nil {
		return nil, err
	}
	wcs := a.GetWeightedClusters().GetClusters()
	for i, wc := range wcs {
		if len(wc.GetTypedPerFilterConfig()) > 0 || wc.GetHostRewriteLiteral() != "" {
			return nil, fmt.Errorf("%w: weighted cluster %q: typed_per_filter_config and host_rewrite_literal are not supported", route.ErrUnsupported, wc.GetName())
		}
		ops := buildHeaderOps(wc.GetRequestHeadersToAdd(), wc.GetRequestHeadersToRemove(), wc.GetResponseHeadersToAdd(), wc.GetResponseHeadersToRemove())
		if err := ops.check(); err != nil {
			return nil, fmt.Errorf("weighted cluster %q: %w", wc.GetName(), err)
		}
		if !ops.empty() {
			if plan.weighted == nil {
				plan.weighted = make([]headerOps, len(wcs))
			}
			plan.weighted[i] = ops
		}
	}
	return plan, nil
}

// regexRewrite compiles a regex_rewrite: its pattern (RE2) and its
// substitution (RE2's rewrite syntax), which Envoy applies to every match
// in the path.
func regexRewrite(rr *matcherv3.RegexMatchAndSubstitute) (rewrite, error) {
	re, err := regexp.Compile(rr.GetPattern().GetRegex())
	if err != nil {
		return rewrite{}, fmt.Errorf("%w: regex_rewrite pattern: %w", route.ErrInvalid, err)
	}
	to, err := re2sub.Template(re, rr.GetSubstitution())
	if err != nil {
		return rewrite{}, fmt.Errorf("%w: regex_rewrite: %w", route.ErrInvalid, err)
	}
	return rewrite{enabled: true, re: re, to: to}, nil
}

// checkRouteConfig and the two checks below refuse fields that would change
// what happens to a request if they were honoured, so that ignoring them
// would be a silent misroute. Fields that only tune observability (stat
// prefixes, decorators, tracing) pass.
func checkRouteConfig(rc *routev3.RouteConfiguration) error {
	if len(rc.GetRequestHeadersToAdd())+len(rc.GetRequestHeadersToRemove())+len(rc.GetResponseHeadersToAdd())+len(rc.GetResponseHeadersToRemove()) > 0 {
		return fmt.Errorf("%w: header operations on the route configuration are not supported; set them on routes", route.ErrUnsupported)
	}
	if len(rc.GetTypedPerFilterConfig()) > 0 {
		return fmt.Errorf("%w: typed_per_filter_config on the route configuration is not supported", route.ErrUnsupported)
	}
	return nil
}

func checkVirtualHost(vh *routev3.VirtualHost) error {
	switch {
	case len(vh.GetRequestHeadersToAdd())+len(vh.GetRequestHeadersToRemove())+len(vh.GetResponseHeadersToAdd())+len(vh.GetResponseHeadersToRemove()) > 0:
		return fmt.Errorf("%w: header operations on virtual hosts are not supported; set them on routes", route.ErrUnsupported)
	case vh.GetRetryPolicy() != nil || vh.GetRetryPolicyTypedConfig() != nil || vh.GetHedgePolicy() != nil:
		return fmt.Errorf("%w: retry and hedge policies on virtual hosts are not supported; set them on routes", route.ErrUnsupported)
	case len(vh.GetRateLimits()) > 0 || vh.GetCors() != nil || len(vh.GetRequestMirrorPolicies()) > 0:
		return fmt.Errorf("%w: rate_limits, cors (use typed_per_filter_config %s) and request_mirror_policies on virtual hosts are not supported", route.ErrUnsupported, route.CorsFilterName)
	}
	for name := range vh.GetTypedPerFilterConfig() {
		if name != route.CorsFilterName {
			return fmt.Errorf("%w: typed_per_filter_config %q on a virtual host; only %s is supported there", route.ErrUnsupported, name, route.CorsFilterName)
		}
	}
	return nil
}

func checkAction(a *routev3.RouteAction) error {
	switch {
	case a.GetPathRewritePolicy() != nil:
		return fmt.Errorf("%w: path_rewrite_policy is not supported; use prefix_rewrite or regex_rewrite", route.ErrUnsupported)
	case a.GetRegexRewrite() != nil && a.GetPrefixRewrite() != "":
		return fmt.Errorf("%w: prefix_rewrite and regex_rewrite are mutually exclusive", route.ErrInvalid)
	case a.GetAutoHostRewrite() != nil || a.GetHostRewriteHeader() != "" || a.GetHostRewritePathRegex() != nil:
		return fmt.Errorf("%w: only host_rewrite_literal is supported for host rewrites", route.ErrUnsupported)
	case a.GetHedgePolicy() != nil || a.GetRetryPolicyTypedConfig() != nil:
		return fmt.Errorf("%w: hedging and typed retry policies are not supported", route.ErrUnsupported)
	case len(a.GetRateLimits()) > 0 || a.GetCors() != nil || len(a.GetUpgradeConfigs()) > 0 || a.GetInternalRedirectPolicy() != nil:
		return fmt.Errorf("%w: rate_limits, cors, upgrade_configs and internal redirects are not supported", route.ErrUnsupported)
	case a.GetMetadataMatch() != nil:
		return fmt.Errorf("%w: metadata_match (subset load balancing) is not supported; route to a subset cluster", route.ErrUnsupported)
	}
	return nil
}

// headerOps are compiled header operations: removals first, then
// additions, as Envoy's header parser applies them.
type headerOps struct {
	reqRemove, respRemove []string // canonical header keys
	reqAdd, respAdd       []headerOp
}

// headerOp is one compiled HeaderValueOption.
type headerOp struct {
	key    string // canonical
	value  string
	vals   []string // []string{value} with capacity 1, shared by every request: never written in place
	action corev3.HeaderValueOption_HeaderAppendAction
}

// check refuses header names and values that cannot be sent as they are:
// the proxy writes upstream requests itself (see upstream.go) and does not
// re-check what Apply accepted, so a CR or LF here would split the request.
func (o headerOps) check() error {
	for _, ops := range [][]headerOp{o.reqAdd, o.respAdd} {
		for _, op := range ops {
			if !h1.ValidName(op.key) || !h1.ValidValue(op.value) {
				return fmt.Errorf("%w: header %q: %q is not a valid header field", route.ErrInvalid, op.key, op.value)
			}
		}
	}
	return nil
}

// checkHost refuses a host_rewrite_literal with a byte that cannot be in
// a Host header: the set net/http's httpguts.ValidHostHeader allows.
func checkHost(host string) error {
	for i := 0; i < len(host); i++ {
		c := host[i]
		alnum := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
		if !alnum && strings.IndexByte("!$%&'()*+,-.:;=[]_~", c) < 0 {
			return fmt.Errorf("%w: host_rewrite_literal %q is not a valid host", route.ErrInvalid, host)
		}
	}
	return nil
}

// weightedOps returns the header operations of the weighted_clusters entry
// at position i (a route.Decision's Weighted), and whether it has any.
func (p *routePlan) weightedOps(i int) (headerOps, bool) {
	if i < 0 || i >= len(p.weighted) || p.weighted[i].empty() {
		return headerOps{}, false
	}
	return p.weighted[i], true
}

func (o headerOps) empty() bool {
	return len(o.reqRemove)+len(o.respRemove)+len(o.reqAdd)+len(o.respAdd) == 0
}

func buildHeaderOps(reqAdd []*corev3.HeaderValueOption, reqRemove []string, respAdd []*corev3.HeaderValueOption, respRemove []string) headerOps {
	return headerOps{reqRemove: canonical(reqRemove), respRemove: canonical(respRemove),
		reqAdd: compileOps(reqAdd), respAdd: compileOps(respAdd)}
}

func canonical(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = http.CanonicalHeaderKey(n)
	}
	return out
}

// compileOps resolves each option's action, honouring the deprecated
// append flag, and drops empty values unless keep_empty_value is set, as
// Envoy does. Values are literal: Envoy's %FORMAT% substitutions are not
// interpreted.
func compileOps(opts []*corev3.HeaderValueOption) []headerOp {
	var out []headerOp
	for _, o := range opts {
		v := o.GetHeader().GetValue()
		if v == "" && len(o.GetHeader().GetRawValue()) > 0 {
			v = string(o.GetHeader().GetRawValue())
		}
		if v == "" && !o.GetKeepEmptyValue() {
			continue
		}
		action := o.GetAppendAction()
		if o.GetAppend() != nil && !o.GetAppend().GetValue() && action == corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD {
			action = corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD
		}
		vals := []string{v}
		out = append(out, headerOp{key: http.CanonicalHeaderKey(o.GetHeader().GetKey()), value: v, vals: vals[:1:1], action: action})
	}
	return out
}

// applyOps applies removals, then additions, to h.
func applyOps(h http.Header, remove []string, add []headerOp) {
	for _, k := range remove {
		delete(h, k)
	}
	for i := range add {
		op := &add[i]
		_, exists := h[op.key]
		switch op.action {
		case corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD:
			if exists {
				h[op.key] = append(h[op.key], op.value)
			} else {
				h[op.key] = op.vals
			}
		case corev3.HeaderValueOption_ADD_IF_ABSENT:
			if !exists {
				h[op.key] = op.vals
			}
		case corev3.HeaderValueOption_OVERWRITE_IF_EXISTS:
			if exists {
				h[op.key] = op.vals
			}
		default: // OVERWRITE_IF_EXISTS_OR_ADD
			h[op.key] = op.vals
		}
	}
}
