package config

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/lanemesh/lanemesh/api"
)

// match checks one match entry at path: the gateways it names, its string
// matches, and whether its sourceLabels can ever hold. bound is what the
// VirtualService binds to; a match's own gateways override it.
func (a *analyzer) match(o object, m *api.HTTPMatchRequest, path string, bound []string) {
	for k, gw := range m.Gateways {
		a.gatewayRef(o, gw, fmt.Sprintf("%s.gateways[%d]", path, k))
	}
	for _, f := range []struct {
		name string
		sm   *api.StringMatch
	}{{"uri", m.URI}, {"scheme", m.Scheme}, {"method", m.Method}, {"authority", m.Authority}} {
		if f.sm != nil {
			a.stringMatch(o, f.sm, path+"."+f.name, f.name == "uri") // empty: no condition, as in Istio
		}
	}
	for _, f := range []struct {
		name string
		ms   map[string]api.StringMatch
	}{{"headers", m.Headers}, {"withoutHeaders", m.WithoutHeaders}, {"queryParams", m.QueryParams}} {
		a.namedMatches(o, f.ms, path+"."+f.name)
	}
	if len(m.Gateways) > 0 {
		bound = bindings(m.Gateways, o.meta.Namespace)
	}
	if slices.Contains(bound, meshGateway) {
		a.sourceLabels(o, m, path+".sourceLabels")
	}
}

// namedMatches checks a headers, withoutHeaders or queryParams map at path.
// An entry with none of exact, prefix and regex is Istio's "is present"
// match and is accepted; a name must not be empty.
func (a *analyzer) namedMatches(o object, ms map[string]api.StringMatch, path string) {
	for _, name := range slices.Sorted(maps.Keys(ms)) {
		field := path + "[" + strconv.Quote(name) + "]"
		if strings.TrimSpace(name) == "" {
			a.errorf(o, CodeSchema, field, "match name is empty", "write the header or query parameter name")
		}
		sm := ms[name]
		if kind, v := sm.Kind(); strings.HasSuffix(path, ".withoutHeaders") && kind == api.MatchRegex && v == "*" {
			continue // Istio's "absent" match: `*` is no RE2 regex, and Istio reads it as presence
		}
		a.stringMatch(o, &sm, field, false)
	}
}

// stringMatch checks that at most one of exact, prefix and regex is set
// (none is no condition for uri, scheme, method and authority, and
// presence for headers and queries) and, as Istio's validateStringMatch,
// that a prefix is not empty, except a uri's (which then matches every
// path), and that a regex is not empty and compiles as RE2, which is what
// Envoy's safe_regex and Go both speak. An exact "" is a match of the empty
// value.
func (a *analyzer) stringMatch(o object, sm *api.StringMatch, path string, uri bool) {
	var set []string
	for _, f := range []struct {
		name  string
		value *string
	}{{api.MatchExact, sm.Exact}, {api.MatchPrefix, sm.Prefix}, {api.MatchRegex, sm.Regex}} {
		if f.value != nil {
			set = append(set, f.name)
		}
	}
	if len(set) > 1 {
		a.errorf(o, CodeSchema, path, "only one of exact, prefix or regex may be set, got "+strings.Join(set, " and "),
			"keep one of "+strings.Join(set, ", ")+"; to combine conditions, use several match entries or fields")
	}
	switch kind, v := sm.Kind(); {
	case kind == api.MatchPrefix && v == "" && !uri:
		a.errorf(o, CodeSchema, path+".prefix", "prefix string match should not be empty",
			`write the prefix, or use {} to match any value (a header or query parameter that is present)`)
	case kind == api.MatchRegex && v == "":
		a.errorf(o, CodeSchema, path+".regex", "regex string match should not be empty",
			`write the regular expression, or use {} to match any value (a header or query parameter that is present)`)
	}
	switch re := sm.GetRegex(); {
	case len(re) > maxRegex:
		a.errorf(o, CodeSchema, path+".regex", fmt.Sprintf("regex is too large, max length allowed is %d", maxRegex),
			"shorten the expression: Envoy bounds an RE2 program's size, and Istio its length")
	case re != "":
		if _, p := re2Problem(re); p != "" {
			a.errorf(o, CodeSchema, path+".regex", p, re2Hint)
		}
	}
}

// maxRegex is the longest regex Istio's validateStringRegexp accepts.
const maxRegex = 1024

// re2Problem compiles expr, or says why it is not an RE2 expression.
func re2Problem(expr string) (*regexp.Regexp, string) {
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, fmt.Sprintf("%q is not a valid RE2 regular expression: %v", expr, err)
	}
	return re, ""
}

const re2Hint = "fix the expression; lanemesh and Envoy use RE2 syntax (no lookahead or backreferences)"

// sourceLabels warns when a match's sourceLabels (within sourceNamespace,
// if set) select no workload the configuration describes: the rule could
// never apply. A configuration without any workload is rules applied on
// their own, so there is nothing to compare with and the check is skipped.
func (a *analyzer) sourceLabels(o object, m *api.HTTPMatchRequest, field string) {
	if len(m.SourceLabels) == 0 || len(a.workloads) == 0 {
		return
	}
	for _, w := range a.candidates(m.SourceNamespace, m.SourceLabels) {
		if (m.SourceNamespace == "" || w.Namespace == m.SourceNamespace) && SubsetOf(m.SourceLabels, w.Labels) {
			return
		}
	}
	where := ""
	if m.SourceNamespace != "" {
		where = " in namespace " + m.SourceNamespace
	}
	a.warnf(o, CodeSubsetNoWorkload, field,
		fmt.Sprintf("sourceLabels %s select no workload%s, so this match never applies", formatLabels(m.SourceLabels), where),
		"label a Deployment's pod template or a WorkloadEntry with these labels, or fix them")
}
