package route

import corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"

// This file is the fallback decision, the one rule that both the proxy
// (live health: EDS status and outlier ejections) and `lanemesh explain`
// (EDS status alone) apply, so that the two cannot disagree. A route with
// an ASM fallback names an aggregate cluster whose members are the
// destination's cluster, then the fallback's; the member that takes a
// request is the first with an endpoint that may take it. That is Envoy's
// priority failover with all-or-nothing spill-over, which is what the
// compiler asks of a standard data plane for the same resources (DESIGN §4:
// the fallback fires when the destination has zero healthy endpoints,
// healthy meaning ready in the registry and not ejected).

// EDSEligible reports whether an endpoint's EDS health status lets it take
// requests: HEALTHY or UNKNOWN, as Envoy reads it. UNKNOWN is what a control
// plane sends when it does not health-check.
func EDSEligible(s corev3.HealthStatus) bool {
	return s == corev3.HealthStatus_HEALTHY || s == corev3.HealthStatus_UNKNOWN
}

// Usable reports whether an endpoint may take a request: EDS-eligible and
// not ejected by outlier detection. A view that has no outlier detection
// (explain's, from EDS alone) passes ejected false.
func Usable(eligible, ejected bool) bool { return eligible && !ejected }

// Members is a health view of a fallback cluster's members, in order: how
// many members there are, how many endpoints member m has, and whether
// endpoint i of member m is Usable at the moment of the decision. A plain
// cluster is a view of one member. Implementations answer from memory and
// do not block.
type Members interface {
	Len() int
	Endpoints(m int) int
	Usable(m, i int) bool
}

// FirstUsable returns the member that takes a request: the first, from
// member from on, with at least one usable endpoint; -1 when none has
// (the proxy answers 503 UH). A result above 0 is a fallback (the access
// log's FB flag). The proxy passes from above 0 to send a request that
// failed before any response byte on to the next member.
//
// It stops at the first usable endpoint, so a healthy destination costs
// one check, and it does not allocate.
func FirstUsable[V Members](v V, from int) int {
	for m := from; m < v.Len(); m++ {
		for i := range v.Endpoints(m) {
			if v.Usable(m, i) {
				return m
			}
		}
	}
	return -1
}
