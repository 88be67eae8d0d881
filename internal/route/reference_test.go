package route

import (
	"regexp"
	"strconv"
	"strings"
	"sync"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
)

// This file is a deliberately simple reference implementation of Decide. It reads the Envoy
// protos directly on every call, scores every domain of every virtual host, scans headers by
// ASCII case-folded name, splits the query with strings.Split and compiles regexes on demand.
// It shares no matching code with the package, so the differential and fuzz tests catch the
// fast path drifting from the semantics.

type refResult struct {
	vhost   string
	route   *routev3.Route
	cluster string
}

// agrees reports whether a Table decision is the reference's: same virtual host, same envoy
// route (by identity) and same cluster.
func (want refResult) agrees(got Decision) bool {
	var route *routev3.Route
	if got.Route != nil {
		route = got.Route.Envoy
	}
	return got.VirtualHost == want.vhost && route == want.route && got.Cluster == want.cluster
}

// envoyName is the route's envoy name, or "" for a nil route, for failure messages.
func (rt *Route) envoyName() string {
	if rt == nil {
		return ""
	}
	return rt.Name
}

func refDecide(rc *routev3.RouteConfiguration, r *Request, rnd uint32) refResult {
	vh := refVirtualHost(rc, r.Authority)
	if vh == nil {
		return refResult{}
	}
	for _, rt := range vh.GetRoutes() {
		if refRouteMatches(rt.GetMatch(), r) {
			return refResult{vhost: vh.GetName(), route: rt, cluster: refCluster(rt.GetRoute(), rnd)}
		}
	}
	return refResult{vhost: vh.GetName()}
}

// refVirtualHost ranks every domain: exact 4, suffix wildcard 3, prefix wildcard 2, "*" 1, with
// the longer wildcard winning within a rank.
func refVirtualHost(rc *routev3.RouteConfiguration, authority string) *routev3.VirtualHost {
	host := authority
	if rc.GetIgnorePortInHostMatching() {
		if i := strings.LastIndex(host, ":"); i >= 0 && !strings.Contains(host[i:], "]") {
			host = host[:i]
		}
	}
	host = refLower(host)
	var best *routev3.VirtualHost
	bestRank, bestLen := 0, -1
	for _, vh := range rc.GetVirtualHosts() {
		for _, d := range vh.GetDomains() {
			d = refLower(d)
			rank, n := 0, len(d)
			switch {
			case d == "*":
				rank = 1
			case strings.HasPrefix(d, "*"):
				if len(d)-1 < len(host) && strings.HasSuffix(host, d[1:]) {
					rank = 3
				}
			case strings.HasSuffix(d, "*"):
				if len(d)-1 < len(host) && strings.HasPrefix(host, d[:len(d)-1]) {
					rank = 2
				}
			case d == host:
				rank = 4
			}
			if rank > bestRank || rank == bestRank && rank > 0 && n > bestLen {
				best, bestRank, bestLen = vh, rank, n
			}
		}
	}
	return best
}

func refLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 32
		}
	}
	return string(b)
}

func refRouteMatches(m *routev3.RouteMatch, r *Request) bool {
	target, _, _ := strings.Cut(r.Path, "#")
	p, q, _ := strings.Cut(target, "?")
	if !refPathMatches(m, p) {
		return false
	}
	for _, h := range m.GetHeaders() {
		if !refHeaderMatches(h, r) {
			return false
		}
	}
	for _, qm := range m.GetQueryParameters() {
		v, ok := refQueryValue(q, qm.GetName())
		if sm := qm.GetStringMatch(); sm != nil {
			if !ok || !refStringMatches(sm, v) {
				return false
			}
			continue
		}
		want := true
		if pm, isPresent := qm.GetQueryParameterMatchSpecifier().(*routev3.QueryParameterMatcher_PresentMatch); isPresent {
			want = pm.PresentMatch
		}
		if ok != want {
			return false
		}
	}
	return true
}

func refPathMatches(m *routev3.RouteMatch, p string) bool {
	fold := m.GetCaseSensitive() != nil && !m.GetCaseSensitive().GetValue()
	cmp := func(s string) string {
		if fold {
			return refLower(s)
		}
		return s
	}
	switch s := m.GetPathSpecifier().(type) {
	case *routev3.RouteMatch_Prefix:
		return strings.HasPrefix(cmp(p), cmp(s.Prefix))
	case *routev3.RouteMatch_Path:
		return cmp(p) == cmp(s.Path)
	case *routev3.RouteMatch_PathSeparatedPrefix:
		pre := cmp(s.PathSeparatedPrefix)
		return cmp(p) == pre || strings.HasPrefix(cmp(p), pre+"/")
	case *routev3.RouteMatch_SafeRegex:
		return refRegex(s.SafeRegex.GetRegex(), p)
	}
	panic("reference: unexpected path specifier")
}

func refHeaderMatches(h *routev3.HeaderMatcher, r *Request) bool {
	v, ok := refHeaderValue(h.GetName(), r)
	if pm, isPresent := h.GetHeaderMatchSpecifier().(*routev3.HeaderMatcher_PresentMatch); isPresent || h.GetHeaderMatchSpecifier() == nil {
		want := !isPresent || pm.PresentMatch
		return (ok == want) != h.GetInvertMatch()
	}
	if !ok && !h.GetTreatMissingHeaderAsEmpty() {
		return false
	}
	var res bool
	switch s := h.GetHeaderMatchSpecifier().(type) {
	case *routev3.HeaderMatcher_StringMatch:
		res = refStringMatches(s.StringMatch, v)
	case *routev3.HeaderMatcher_ExactMatch:
		res = s.ExactMatch == "" || v == s.ExactMatch
	case *routev3.HeaderMatcher_PrefixMatch:
		res = strings.HasPrefix(v, s.PrefixMatch)
	case *routev3.HeaderMatcher_SuffixMatch:
		res = strings.HasSuffix(v, s.SuffixMatch)
	case *routev3.HeaderMatcher_ContainsMatch:
		res = strings.Contains(v, s.ContainsMatch)
	case *routev3.HeaderMatcher_SafeRegexMatch:
		res = refRegex(s.SafeRegexMatch.GetRegex(), v)
	case *routev3.HeaderMatcher_RangeMatch:
		n, err := strconv.ParseInt(strings.Trim(v, " \t\n\v\f\r"), 10, 64)
		res = err == nil && n >= s.RangeMatch.GetStart() && n < s.RangeMatch.GetEnd()
	default:
		panic("reference: unexpected header specifier")
	}
	return res != h.GetInvertMatch()
}

// refHeaderValue finds a header by ASCII-case-insensitive name among all request headers.
func refHeaderValue(name string, r *Request) (string, bool) {
	switch refLower(name) {
	case ":method":
		return r.Method, r.Method != ""
	case ":authority", "host":
		return r.Authority, r.Authority != ""
	case ":path":
		return r.Path, r.Path != ""
	}
	var vals []string
	for k, vs := range r.Header {
		if refLower(k) == refLower(name) {
			vals = append(vals, vs...)
		}
	}
	return strings.Join(vals, ","), len(vals) > 0
}

func refStringMatches(m *matcherv3.StringMatcher, v string) bool {
	cmp := func(s string) string {
		if m.GetIgnoreCase() {
			return refLower(s)
		}
		return s
	}
	switch p := m.GetMatchPattern().(type) {
	case *matcherv3.StringMatcher_Exact:
		return cmp(v) == cmp(p.Exact)
	case *matcherv3.StringMatcher_Prefix:
		return strings.HasPrefix(cmp(v), cmp(p.Prefix))
	case *matcherv3.StringMatcher_Suffix:
		return strings.HasSuffix(cmp(v), cmp(p.Suffix))
	case *matcherv3.StringMatcher_Contains:
		return strings.Contains(cmp(v), cmp(p.Contains))
	case *matcherv3.StringMatcher_SafeRegex:
		return refRegex(p.SafeRegex.GetRegex(), v)
	}
	panic("reference: unexpected string matcher")
}

func refQueryValue(q, name string) (string, bool) {
	if q == "" {
		return "", false
	}
	for _, param := range strings.Split(q, "&") {
		k, v, _ := strings.Cut(param, "=")
		if refUnescape(k) == name {
			return refUnescape(v), true
		}
	}
	return "", false
}

func refUnescape(s string) string {
	var out []byte
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				out = append(out, byte(n))
				i += 2
				continue
			}
		}
		out = append(out, s[i])
	}
	return string(out)
}

// refRegexes caches compiled regexes only to keep the fuzzer fast.
var refRegexes sync.Map

func refRegex(re, v string) bool {
	c, ok := refRegexes.Load(re)
	if !ok {
		c, _ = refRegexes.LoadOrStore(re, regexp.MustCompile("^(?:"+re+")$"))
	}
	return c.(*regexp.Regexp).MatchString(v)
}

func refCluster(a *routev3.RouteAction, rnd uint32) string {
	if c := a.GetCluster(); c != "" {
		return c
	}
	var total uint64
	for _, c := range a.GetWeightedClusters().GetClusters() {
		total += uint64(c.GetWeight().GetValue())
	}
	v, acc := uint64(rnd)%total, uint64(0)
	for _, c := range a.GetWeightedClusters().GetClusters() {
		acc += uint64(c.GetWeight().GetValue())
		if v < acc {
			return c.GetName()
		}
	}
	panic("reference: weighted pick fell off the end")
}
