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
			a.stringMatch(o, f.sm, path+"."+f.name, true) // empty: no condition, as in Istio
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
		if strings.HasSuffix(path, ".withoutHeaders") && sm.Regex == "*" {
			continue // Istio's "absent" match: `*` is no RE2 regex, and Istio reads it as presence
		}
		a.stringMatch(o, &sm, field, true)
	}
}

// stringMatch checks that exactly one of exact, prefix and regex is set
// (at most one when emptyOK: for uri, scheme, method and authority an empty
// match is no condition, for headers and queries presence) and that a regex
// compiles as RE2, which is what Envoy's safe_regex and Go both speak.
// An empty value written explicitly (exact: "") counts as set.
func (a *analyzer) stringMatch(o object, sm *api.StringMatch, path string, emptyOK bool) {
	var set []string
	for _, f := range []struct{ name, value string }{{"exact", sm.Exact}, {"prefix", sm.Prefix}, {"regex", sm.Regex}} {
		if f.value != "" || o.has(path+"."+f.name) {
			set = append(set, f.name)
		}
	}
	switch {
	case len(set) > 1:
		a.errorf(o, CodeSchema, path, "only one of exact, prefix or regex may be set, got "+strings.Join(set, " and "),
			"keep one of "+strings.Join(set, ", ")+"; to combine conditions, use several match entries or fields")
	case len(set) == 0 && !emptyOK:
		a.errorf(o, CodeSchema, path, "string match sets none of exact, prefix or regex",
			"set one of them, e.g. prefix: /, or remove the match field")
	}
	if sm.Regex != "" {
		if _, p := re2Problem(sm.Regex); p != "" {
			a.errorf(o, CodeSchema, path+".regex", p, re2Hint)
		}
	}
}

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
