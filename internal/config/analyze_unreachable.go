package config

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/lanemesh/lanemesh/api"
)

// unreachableRules is Istio's analyzeUnreachableHTTPRules (its webhook's
// warnings IST0130 and IST0131): rules are tried in order and the first
// that matches takes the request, so a rule after one without matches is
// never used, a match written before in an earlier rule is never used,
// and neither is a URI-prefix match an earlier prefix match covers with
// the same other conditions. Warnings: Istio accepts such objects.
func (a *analyzer) unreachableRules(o object, routes []api.HTTPRoute) {
	seen := map[string]int{} // a match, as JSON without its name: the first rule with it
	catchAll := -1
	var prefixes []prefixMatch
	for i := range routes {
		rt := &routes[i]
		field := fmt.Sprintf("spec.http[%d]", i)
		if len(rt.Match) == 0 {
			if catchAll >= 0 {
				a.unreachable(o, field, rt, i, "only the last rule can have no matches")
			}
			catchAll = i
			continue
		}
		dups := 0
		for j := range rt.Match {
			m := &rt.Match[j]
			if catchAll >= 0 {
				a.unreachable(o, field, rt, i, "route without matches defined before")
				continue
			}
			key := matchKey(m)
			if first, dup := seen[key]; dup {
				a.ineffective(o, fmt.Sprintf("%s.match[%d]", field, j), rt, i, m, j, ruleName(&routes[first], first))
				dups++
				continue
			}
			seen[key] = i
			if p, ok := newPrefixMatch(rt, i, m, j, field); ok {
				prefixes = append(prefixes, p)
			}
		}
		if dups == len(rt.Match) {
			a.unreachable(o, field, rt, i, "all matches used by prior rules")
		}
	}
	for x, earlier := range prefixes {
		for _, later := range prefixes[x+1:] {
			if later.prefix != earlier.prefix && earlier.covers(later) {
				a.warnf(o, CodeIneffectiveMatch, later.field,
					fmt.Sprintf("virtualService rule %s match %s is not used (duplicate/overlapping match in rule %s)",
						later.rule, later.match+" of prefix "+later.prefix, earlier.match+" of prefix "+earlier.prefix+" on "+earlier.rule),
					"put the narrower prefix's rule first, or remove it")
			}
		}
	}
}

func (a *analyzer) unreachable(o object, field string, rt *api.HTTPRoute, i int, reason string) {
	a.warnf(o, CodeUnreachableRule, field, fmt.Sprintf("virtualService rule %s not used (%s)", ruleName(rt, i), reason),
		"move the rule before the one that takes its requests, or remove it")
}

func (a *analyzer) ineffective(o object, field string, rt *api.HTTPRoute, i int, m *api.HTTPMatchRequest, j int, dup string) {
	a.warnf(o, CodeIneffectiveMatch, field,
		fmt.Sprintf("virtualService rule %s match %s is not used (duplicate/overlapping match in rule %s)", ruleName(rt, i), matchName(m, j), dup),
		"remove the match, or change it so that it differs from the earlier one")
}

// ruleName and matchName are Istio's routeName and requestName.
func ruleName(rt *api.HTTPRoute, i int) string {
	if rt.Name != "" {
		return fmt.Sprintf("%q", rt.Name)
	}
	return fmt.Sprintf("#%d", i)
}

func matchName(m *api.HTTPMatchRequest, j int) string {
	if m.Name != "" {
		return fmt.Sprintf("%q", m.Name)
	}
	return fmt.Sprintf("#%d", j)
}

// matchKey is a match's conditions as JSON, its name left out, so that
// equal conditions give equal keys (encoding/json sorts map keys).
func matchKey(m *api.HTTPMatchRequest) string {
	c := *m
	c.Name = ""
	b, err := json.Marshal(c)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// prefixMatch is Istio's OverlappingMatchValidationForHTTPRoute: a match
// on a URI prefix and the conditions beside it, each as "exact:v" or
// "prefix:v".
type prefixMatch struct {
	rule, match, field, prefix string
	port                       uint32
	method, authority          string
	headers, queries, without  map[string]string
}

// newPrefixMatch is Istio's genMatchHTTPRoutes: only a match with a
// non-empty URI prefix takes part.
func newPrefixMatch(rt *api.HTTPRoute, i int, m *api.HTTPMatchRequest, j int, field string) (prefixMatch, bool) {
	prefix := m.URI.GetPrefix()
	if prefix == "" {
		return prefixMatch{}, false
	}
	method := exactOrPrefix(m.Method)
	if method == "" {
		method = "exact:GET" // Istio's: no method compares as GET
	}
	values := func(ms map[string]api.StringMatch) map[string]string {
		out := make(map[string]string, len(ms))
		for k, sm := range ms {
			out[k] = exactOrPrefix(&sm)
		}
		return out
	}
	return prefixMatch{rule: ruleName(rt, i), match: matchName(m, j), field: fmt.Sprintf("%s.match[%d]", field, j), prefix: prefix,
		port: m.Port, method: method, authority: exactOrPrefix(m.Authority),
		headers: values(m.Headers), queries: values(m.QueryParams), without: values(m.WithoutHeaders)}, true
}

// exactOrPrefix is Istio's assignExactOrPrefix.
func exactOrPrefix(sm *api.StringMatch) string {
	switch {
	case sm.GetExact() != "":
		return "exact:" + sm.GetExact()
	case sm.GetPrefix() != "":
		return "prefix:" + sm.GetPrefix()
	}
	return ""
}

// covers is Istio's coveredValidation: whether a, earlier, takes every
// request b would, as Istio judges it.
func (a prefixMatch) covers(b prefixMatch) bool {
	if !strings.HasPrefix(b.prefix, a.prefix) || a.port != b.port {
		return false
	}
	if a.method != b.method && !strings.HasPrefix(a.method, b.method) {
		return false
	}
	if a.authority != b.authority && !strings.HasPrefix(a.authority, b.authority) {
		return false
	}
	return coveredValues(a.headers, b.headers) && coveredValues(a.queries, b.queries) && coveredValues(a.without, b.without)
}

func coveredValues(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, av := range a {
		bv, ok := b[k]
		if !ok || av != bv && !strings.HasPrefix(av, bv) {
			return false
		}
	}
	return true
}
