package proxy

import (
	"log/slog"

	"github.com/lanemesh/lanemesh/internal/policy"
)

// record counts an attempt's result against endpoint e of cluster cl and
// ejects e when a threshold is reached (policy.Outlier.Trips).
func (p *Proxy) record(cl *cluster, e *endpoint, o policy.Outcome, status int, now int64) {
	if od := cl.outlier; od != nil && od.Trips(&e.host.counters, o, status) {
		p.eject(cl, e, now)
	}
}

// eject takes e out of rotation for as long as policy.Outlier.Ejection
// says, unless policy.Outlier.MayEject refuses.
func (p *Proxy) eject(cl *cluster, e *endpoint, now int64) {
	od, h, cs := cl.outlier, e.host, cl.stats
	cs.ejectMu.Lock()
	defer cs.ejectMu.Unlock()
	if h.ejected(now) {
		return
	}
	ejected := 0
	for _, other := range cl.endpoints {
		if other.host.ejected(now) {
			ejected++
		}
	}
	if !od.MayEject(ejected, len(cl.endpoints)) {
		return
	}
	d, m := od.Ejection(h.multiplier.Load(), h.ejectedUntil.Load(), now)
	h.multiplier.Store(m)
	h.ejectedUntil.Store(now + int64(d))
	h.counters.Consec5xx.Store(0)
	h.counters.ConsecGateway.Store(0)
	h.counters.ConsecLocal.Store(0)
	h.ejections.Add(1)
	cs.ejections.Add(1)
	p.log.Warn("endpoint ejected", slog.String("cluster", cl.name), slog.String("address", e.addr),
		slog.Duration("for", d), slog.Int("cluster_ejected", ejected+1), slog.Int("cluster_endpoints", len(cl.endpoints)))
}
