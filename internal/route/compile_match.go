package route

import (
	"fmt"
	"net/textproto"
	"regexp"
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
)

// compileMatch fills rt's matchers from a RouteMatch. Every RouteMatch field that narrows a
// match is either compiled here or rejected: a matcher silently dropped would widen the route.
func compileMatch(rt *Route, m *routev3.RouteMatch) error {
	if m == nil {
		return fmt.Errorf("%w: route has no match", ErrInvalid)
	}
	if err := checkMatchFeatures(m); err != nil {
		return err
	}
	var err error
	if rt.path, err = compilePath(m); err != nil {
		return err
	}
	for i, h := range m.GetHeaders() {
		hm, err := compileHeader(h)
		if err != nil {
			return fmt.Errorf("header matcher %d %q: %w", i, h.GetName(), err)
		}
		rt.headers = append(rt.headers, hm)
	}
	for i, q := range m.GetQueryParameters() {
		qm, err := compileQuery(q)
		if err != nil {
			return fmt.Errorf("query parameter matcher %d %q: %w", i, q.GetName(), err)
		}
		rt.queries = append(rt.queries, qm)
	}
	return nil
}

// checkMatchFeatures rejects RouteMatch fields whose inputs (runtime, TLS, cookies, gRPC
// framing, dynamic metadata, filter state) Decide does not see.
func checkMatchFeatures(m *routev3.RouteMatch) error {
	var field string
	switch {
	case m.GetRuntimeFraction() != nil:
		field = "runtime_fraction"
	case len(m.GetCookies()) > 0:
		field = "cookies"
	case m.GetGrpc() != nil:
		field = "grpc"
	case m.GetTlsContext() != nil:
		field = "tls_context"
	case len(m.GetDynamicMetadata()) > 0:
		field = "dynamic_metadata"
	case len(m.GetFilterState()) > 0:
		field = "filter_state"
	default:
		return nil
	}
	return fmt.Errorf("%w: match field %s is not supported yet", ErrUnsupported, field)
}

// compilePath compiles the path specifier. case_sensitive (default true) applies to exact and
// prefix forms only, as in Envoy.
func compilePath(m *routev3.RouteMatch) (pathMatcher, error) {
	fold := m.GetCaseSensitive() != nil && !m.GetCaseSensitive().GetValue()
	literal := func(kind pathKind, v string) pathMatcher {
		if fold {
			v = asciiLower(v)
		}
		return pathMatcher{kind: kind, value: v, ignoreCase: fold}
	}
	switch p := m.GetPathSpecifier().(type) {
	case *routev3.RouteMatch_Prefix:
		return literal(pathPrefix, p.Prefix), nil
	case *routev3.RouteMatch_Path:
		return literal(pathExact, p.Path), nil
	case *routev3.RouteMatch_PathSeparatedPrefix:
		v := p.PathSeparatedPrefix
		if strings.ContainsAny(v, "?#") || strings.HasSuffix(v, "/") {
			return pathMatcher{}, fmt.Errorf("%w: path_separated_prefix %q must not contain '?' or '#' nor end in '/'", ErrInvalid, v)
		}
		return literal(pathSeparatedPrefix, v), nil
	case *routev3.RouteMatch_SafeRegex:
		re, err := compileRegex(p.SafeRegex)
		if err != nil {
			return pathMatcher{}, fmt.Errorf("path safe_regex: %w", err)
		}
		return pathMatcher{kind: pathRegex, re: re}, nil
	case nil:
		return pathMatcher{}, fmt.Errorf("%w: match has no path specifier; use prefix \"/\" to match every path", ErrInvalid)
	default:
		return pathMatcher{}, fmt.Errorf("%w: path specifier %T is not supported; use prefix, path, safe_regex or path_separated_prefix", ErrUnsupported, p)
	}
}

// compileRegex compiles an RE2 pattern anchored at both ends: Envoy's safe_regex always matches
// the whole input (RE2::FullMatch).
func compileRegex(m *matcherv3.RegexMatcher) (*regexp.Regexp, error) {
	re, err := regexp.Compile("^(?:" + m.GetRegex() + ")$")
	if err != nil {
		return nil, fmt.Errorf("%w: bad regex %q: %w", ErrInvalid, m.GetRegex(), err)
	}
	return re, nil
}

// compileHeader compiles a HeaderMatcher, mapping pseudo-headers to Request fields and
// precomputing the canonical key for ordinary headers.
func compileHeader(h *routev3.HeaderMatcher) (headerMatcher, error) {
	hm := headerMatcher{invert: h.GetInvertMatch(), missingAsEmpty: h.GetTreatMissingHeaderAsEmpty()}
	switch name := strings.ToLower(h.GetName()); name {
	case ":method":
		hm.source = fromMethod
	case ":authority", "host":
		hm.source = fromAuthority
	case ":path":
		hm.source = fromPath
	case "":
		return hm, fmt.Errorf("%w: header name is empty", ErrInvalid)
	default:
		if strings.HasPrefix(name, ":") {
			return hm, fmt.Errorf("%w: pseudo-header %s is not supported; use :method, :authority or :path", ErrUnsupported, name)
		}
		hm.key = textproto.CanonicalMIMEHeaderKey(name)
	}
	var err error
	switch s := h.GetHeaderMatchSpecifier().(type) {
	case nil:
		// Envoy's documented default: a matcher without a specifier is present_match: true.
		hm.kind, hm.present = headerPresent, true
	case *routev3.HeaderMatcher_PresentMatch:
		hm.kind, hm.present = headerPresent, s.PresentMatch
	case *routev3.HeaderMatcher_RangeMatch:
		hm.kind, hm.start, hm.end = headerRange, s.RangeMatch.GetStart(), s.RangeMatch.GetEnd()
	case *routev3.HeaderMatcher_StringMatch:
		hm.str, err = compileString(s.StringMatch)
	case *routev3.HeaderMatcher_ExactMatch:
		hm.str = stringMatcher{kind: strExact, value: s.ExactMatch}
		if s.ExactMatch == "" {
			// Envoy's legacy exact_match treats "" as "any value"; an empty prefix says so.
			hm.str.kind = strPrefix
		}
	case *routev3.HeaderMatcher_PrefixMatch:
		hm.str = stringMatcher{kind: strPrefix, value: s.PrefixMatch}
	case *routev3.HeaderMatcher_SuffixMatch:
		hm.str = stringMatcher{kind: strSuffix, value: s.SuffixMatch}
	case *routev3.HeaderMatcher_ContainsMatch:
		hm.str = stringMatcher{kind: strContains, value: s.ContainsMatch}
	case *routev3.HeaderMatcher_SafeRegexMatch:
		hm.str.kind = strRegex
		hm.str.re, err = compileRegex(s.SafeRegexMatch)
	default:
		err = fmt.Errorf("%w: header match specifier %T is not supported", ErrUnsupported, s)
	}
	return hm, err
}

// compileString compiles an envoy StringMatcher.
func compileString(m *matcherv3.StringMatcher) (stringMatcher, error) {
	sm := stringMatcher{ignoreCase: m.GetIgnoreCase()}
	switch p := m.GetMatchPattern().(type) {
	case *matcherv3.StringMatcher_Exact:
		sm.kind, sm.value = strExact, p.Exact
	case *matcherv3.StringMatcher_Prefix:
		sm.kind, sm.value = strPrefix, p.Prefix
	case *matcherv3.StringMatcher_Suffix:
		sm.kind, sm.value = strSuffix, p.Suffix
	case *matcherv3.StringMatcher_Contains:
		sm.kind, sm.value = strContains, p.Contains
	case *matcherv3.StringMatcher_SafeRegex:
		if sm.ignoreCase {
			// Envoy refuses this combination rather than guess; so do we.
			return sm, fmt.Errorf("%w: ignore_case has no effect on safe_regex; use (?i) in the regex", ErrInvalid)
		}
		var err error
		sm.kind = strRegex
		sm.re, err = compileRegex(p.SafeRegex)
		return sm, err
	case nil:
		return sm, fmt.Errorf("%w: string matcher has no pattern", ErrInvalid)
	default:
		return sm, fmt.Errorf("%w: string matcher %T is not supported", ErrUnsupported, p)
	}
	if sm.ignoreCase {
		sm.value = asciiLower(sm.value)
	}
	return sm, nil
}

// compileQuery compiles a QueryParameterMatcher. Names are compared after percent-decoding,
// exactly and case-sensitively, as Envoy does.
func compileQuery(q *routev3.QueryParameterMatcher) (queryMatcher, error) {
	if q.GetName() == "" {
		return queryMatcher{}, fmt.Errorf("%w: query parameter name is empty", ErrInvalid)
	}
	qm := queryMatcher{name: q.GetName()}
	switch s := q.GetQueryParameterMatchSpecifier().(type) {
	case *routev3.QueryParameterMatcher_StringMatch:
		var err error
		qm.str, err = compileString(s.StringMatch)
		return qm, err
	case *routev3.QueryParameterMatcher_PresentMatch:
		// Envoy since 1.34 (enable_new_query_param_present_match_behavior, on by default)
		// honours the value: present_match: false matches requests without the parameter.
		qm.presence, qm.present = true, s.PresentMatch
		return qm, nil
	case nil:
		qm.presence, qm.present = true, true
		return qm, nil
	default:
		return qm, fmt.Errorf("%w: query parameter match specifier %T is not supported", ErrUnsupported, s)
	}
}
