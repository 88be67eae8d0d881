package proxy

import "github.com/lanemesh/lanemesh/internal/route"

// firstUsable returns the index of the first target, from index from on,
// that has a usable endpoint at monotonic time now, or -1. For an aggregate
// cluster this is the fallback decision, route.FirstUsable over the
// members' live health (EDS status and outlier ejections).
func (cl *cluster) firstUsable(from int, now int64) int {
	return route.FirstUsable(liveMembers{cl, now}, from)
}

// liveMembers is the proxy's health view of a cluster's targets at
// monotonic time now, for route.FirstUsable.
type liveMembers struct {
	cl  *cluster
	now int64
}

func (v liveMembers) Len() int             { return len(v.cl.targets) }
func (v liveMembers) Endpoints(m int) int  { return len(v.cl.targets[m].endpoints) }
func (v liveMembers) Usable(m, i int) bool { return v.cl.targets[m].endpoints[i].usable(v.now) }

// FirstUsable and RetryBudget make the view policy.Members.
func (v *liveMembers) FirstUsable(from int) int { return route.FirstUsable(v, from) }
func (v *liveMembers) RetryBudget(m int) bool   { return v.cl.targets[m].budgetAllows() }

// pick chooses a usable endpoint of a non-aggregate cluster by its load
// balancing policy, preferring one other than avoid (the endpoint a retry
// is leaving); nil when none is usable.
func (cl *cluster) pick(now int64, rnd func() uint32, avoid *endpoint) *endpoint {
	n := len(cl.endpoints)
	switch {
	case n == 0:
		return nil
	case n == 1:
		if e := cl.endpoints[0]; e.usable(now) {
			return e
		}
		return nil
	}
	switch cl.lb {
	case lbRoundRobin:
		return cl.pickFrom(cl.stats.rr.Add(1), now, avoid)
	case lbRandom:
		return cl.pickFrom(rnd(), now, avoid)
	}
	// LEAST_REQUEST: power of two choices. Two random usable endpoints,
	// the one with fewer requests in flight wins.
	a := cl.pickFrom(rnd(), now, avoid)
	b := cl.pickFrom(rnd(), now, avoid)
	if a == nil || b == nil {
		return a
	}
	if b.host.active.Load() < a.host.active.Load() {
		return b
	}
	return a
}

// pickFrom returns the endpoint draw selects: endpoint draw mod n when it
// is usable and not avoid, which is nearly always; else the (draw mod m)th
// of the m usable endpoints other than avoid, so that what an ejected or
// unhealthy endpoint would have had spreads evenly over the others (Envoy
// balances over the healthy hosts only); avoid when it is the only usable
// one.
func (cl *cluster) pickFrom(draw uint32, now int64, avoid *endpoint) *endpoint {
	if e := cl.endpoints[draw%uint32(len(cl.endpoints))]; e != avoid && e.usable(now) {
		return e
	}
	m := 0
	for _, e := range cl.endpoints {
		if e != avoid && e.usable(now) {
			m++
		}
	}
	if m > 0 {
		k := int(draw % uint32(m))
		for _, e := range cl.endpoints {
			if e == avoid || !e.usable(now) {
				continue
			}
			if k == 0 {
				return e
			}
			k--
		}
	}
	return cl.scan(0, now, avoid) // avoid alone, or none
}

// scan returns the first usable endpoint at or after start (wrapping),
// skipping avoid unless it is the only usable one.
func (cl *cluster) scan(start int, now int64, avoid *endpoint) *endpoint {
	n := len(cl.endpoints)
	var only *endpoint
	for k := range n {
		e := cl.endpoints[(start+k)%n]
		if !e.usable(now) {
			continue
		}
		if e != avoid {
			return e
		}
		only = e
	}
	return only
}

// admit applies the circuit breakers of cl to one more request: at most
// max_requests in flight, and at most max_pending beyond max_connections
// (the requests that would wait for a connection). It counts the request
// in; release counts it out.
func (cl *cluster) admit() bool {
	n := cl.stats.active.Add(1)
	lim := cl.limits
	if n > int64(lim.maxRequests) || n > int64(lim.maxConnections)+int64(lim.maxPending) {
		cl.stats.active.Add(-1)
		return false
	}
	return true
}

// budgetAllows reports whether cluster cl may start another retry: the
// retries in flight stay under max_retries or, when the cluster has a
// retry budget, under its share of the active requests (with a floor, so
// that a quiet cluster can still retry). This is what keeps retries from
// multiplying the load on a cluster that is already failing.
func (cl *cluster) budgetAllows() bool {
	lim := cl.limits
	allowed := lim.maxRetries
	if lim.budget {
		allowed = max(uint32(float64(cl.stats.active.Load())*lim.budgetPercent/100), lim.minRetryConcurrency)
	}
	return cl.stats.retries.Load() < int64(allowed)
}
