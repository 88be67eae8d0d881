package config

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/lanemesh/lanemesh/api"
)

// matchValues checks what validateHTTPRouteMatchRequest checks of one
// match beyond analyze_match.go: header names, the port, sourceLabels,
// sourceNamespace and gateway names.
func (a *analyzer) matchValues(o object, m *api.HTTPMatchRequest, path string) {
	for _, f := range []struct {
		name string
		ms   map[string]api.StringMatch
	}{{"headers", m.Headers}, {"withoutHeaders", m.WithoutHeaders}} {
		for _, name := range slices.Sorted(maps.Keys(f.ms)) {
			field := path + "." + f.name + "[" + strconv.Quote(name) + "]"
			if p := matchHeaderProblem(name); p != "" {
				a.badValue(o, field, p, "header names are letters, digits and !#$%&'*+-.^_`|~")
			}
			if strings.HasPrefix(name, jwtClaimPrefix) {
				// Istio matches it on RequestAuthentication's verified
				// claims, a kind lanemesh does not enforce: as a header it
				// could never match, and inverted it would match all.
				a.errorf(o, CodeUnsupported, field, fmt.Sprintf("matching on a JWT claim (%s) is valid Istio but lanemesh does not implement it: it verifies no JWTs (RequestAuthentication)", name),
					"match on a header your authentication layer sets from the claim, or remove the match")
			}
		}
	}
	a.labels(o, m.SourceLabels, path+".sourceLabels")
	a.gatewayNames(o, m.Gateways, path+".gateways")
	if m.Port != 0 { // Istio cannot tell 0 from unset: both mean any port
		a.port(o, m.Port, path+".port")
	}
	if ns := m.SourceNamespace; ns != "" && (len(ns) > 63 || !dnsLabelRE.MatchString(ns)) {
		a.badValue(o, path+".sourceNamespace", fmt.Sprintf("sourceNamespace %q is not a valid namespace", ns), "write a namespace name")
	}
}

// headerValues checks header operations (a route's or a destination's) at
// path, as Istio's validateHTTPRoute does.
func (a *analyzer) headerValues(o object, h *api.Headers, path string) {
	if h == nil {
		return
	}
	for _, side := range []struct {
		name    string
		ops     *api.HeaderOperations
		request bool
	}{{"request", h.Request, true}, {"response", h.Response, false}} {
		if side.ops == nil {
			continue
		}
		p := path + "." + side.name
		for _, op := range []struct {
			name string
			m    map[string]string
		}{{"set", side.ops.Set}, {"add", side.ops.Add}} {
			for _, name := range slices.Sorted(maps.Keys(op.m)) {
				field := p + "." + op.name + "[" + strconv.Quote(name) + "]"
				if prob := headerOpProblem(name, side.request); prob != "" {
					a.badValue(o, field, prob, "name a header lanemesh may change")
				} else if prob := headerValueProblem(op.m[name]); prob != "" {
					a.badValue(o, field, prob, "remove control characters; write %% for a literal %")
				}
			}
		}
		for i, name := range side.ops.Remove {
			if prob := headerOpProblem(name, false); prob != "" {
				a.badValue(o, fmt.Sprintf("%s.remove[%d]", p, i), prob, "name a header lanemesh may remove")
			}
		}
	}
}

// duplicateHosts is Istio's check that no two hosts of a VirtualService
// overlap ("a.example.com" and "*.example.com" do), as written: short
// names are not expanded. Hosts that are invalid are reported elsewhere.
func (a *analyzer) duplicateHosts(o object, hosts []string) {
	for _, h := range hosts {
		if wildcardDomainProblem(h) != "" && !isIP(h) {
			return
		}
	}
	for i := range hosts {
		for j := i + 1; j < len(hosts); j++ {
			if hostsOverlap(hosts[i], hosts[j]) {
				a.badValue(o, fmt.Sprintf("spec.hosts[%d]", j), fmt.Sprintf("duplicate hosts in virtual service: %s & %s", hosts[i], hosts[j]),
					"list each host once; a wildcard already covers the names under it")
			}
		}
	}
}

// hostsOverlap is Istio's host.Name.Matches: equal names, or a wildcard
// that covers the other name (or the other wildcard's names).
func hostsOverlap(x, y string) bool {
	covers := func(w, h string) bool {
		if w == "*" {
			return true
		}
		suffix, ok := strings.CutPrefix(w, "*")
		return ok && strings.HasSuffix(h, suffix)
	}
	return x == y || covers(x, y) || covers(y, x)
}
