package proxy

import (
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/lanemesh/lanemesh/internal/route"
)

// outlierConfig is a cluster's passive outlier detection, with Envoy's
// defaults filled in. A threshold of 0 turns that detector off.
type outlierConfig struct {
	consec5xx, consecGateway, consecLocal uint32
	split                                 bool // count local-origin failures apart (split_external_local_origin_errors)
	interval, baseEjection, maxEjection   time.Duration
	maxPercent                            uint32
}

// Envoy's outlier-detection defaults.
const (
	defaultConsecutive      = 5
	defaultOutlierInterval  = 10 * time.Second
	defaultBaseEjectionTime = 30 * time.Second
	defaultMaxEjectionTime  = 300 * time.Second
	defaultMaxEjectionPct   = 10
)

// buildOutlier reads a cluster's OutlierDetection. Success-rate and
// failure-percentage detection are not implemented; they only act on
// clusters with enough request volume, and configuring them is refused
// rather than silently ignored.
func buildOutlier(od *clusterv3.OutlierDetection) (*outlierConfig, error) {
	if od == nil {
		return nil, nil
	}
	if pct(od.GetEnforcingFailurePercentage(), 0) > 0 || pct(od.GetEnforcingFailurePercentageLocalOrigin(), 0) > 0 {
		return nil, fmt.Errorf("%w: outlier_detection failure-percentage ejection is not supported", route.ErrUnsupported)
	}
	o := &outlierConfig{
		consec5xx:     enforced(od.GetConsecutive_5Xx(), od.GetEnforcingConsecutive_5Xx(), 100),
		consecGateway: enforced(od.GetConsecutiveGatewayFailure(), od.GetEnforcingConsecutiveGatewayFailure(), 0),
		consecLocal:   enforced(od.GetConsecutiveLocalOriginFailure(), od.GetEnforcingConsecutiveLocalOriginFailure(), 100),
		split:         od.GetSplitExternalLocalOriginErrors(),
		interval:      durationOr(od.GetInterval().AsDuration(), defaultOutlierInterval),
		baseEjection:  durationOr(od.GetBaseEjectionTime().AsDuration(), defaultBaseEjectionTime),
		maxEjection:   durationOr(od.GetMaxEjectionTime().AsDuration(), defaultMaxEjectionTime),
		maxPercent:    pct(od.GetMaxEjectionPercent(), defaultMaxEjectionPct),
	}
	return o, nil
}

// enforced is a consecutive-failure threshold (default 5), or 0 when its
// enforcement percentage is 0. Enforcement between 0 and 100 is treated as
// 100: a deterministic detector is easier to reason about than a coin flip.
func enforced(threshold, enforcing *wrapperspb.UInt32Value, defaultEnforcing uint32) uint32 {
	if pct(enforcing, defaultEnforcing) == 0 {
		return 0
	}
	if threshold == nil {
		return defaultConsecutive
	}
	return threshold.GetValue()
}

func pct(v *wrapperspb.UInt32Value, def uint32) uint32 {
	if v == nil {
		return def
	}
	return v.GetValue()
}

func durationOr(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// outcome is what one attempt did, as outlier detection and retries see it.
type outcome uint8

const (
	outcomeResponse outcome = iota // a response arrived (its status decides)
	outcomeConnect                 // connect failure or connect timeout
	outcomeReset                   // connection closed or reset before a response
	outcomeTimeout                 // per-try or route timeout before a response
	outcomeCancel                  // the client went away; not the upstream's fault
)

// local reports whether the failure happened below HTTP (Envoy's
// "local origin" errors).
func (o outcome) local() bool { return o == outcomeConnect || o == outcomeReset || o == outcomeTimeout }

// record counts an attempt's result against endpoint e of cluster cl and
// ejects e when a threshold is reached. Success resets the counters; the
// loads before the stores keep the common path free of cache-line writes.
func (p *Proxy) record(cl *cluster, e *endpoint, o outcome, status int, now int64) {
	od := cl.outlier
	if od == nil || o == outcomeCancel {
		return
	}
	h := e.host
	if o == outcomeResponse && status < 500 {
		resetCounter(&h.consec5xx)
		resetCounter(&h.consecGateway)
		resetCounter(&h.consecLocal)
		return
	}
	tripped := false
	switch {
	case o.local() && od.split:
		tripped = hit(h.consecLocal.Add(1), od.consecLocal)
	case o.local(): // counted as a 503, as Envoy does without split
		tripped = hit(h.consec5xx.Add(1), od.consec5xx) || hit(h.consecGateway.Add(1), od.consecGateway)
	default:
		tripped = hit(h.consec5xx.Add(1), od.consec5xx)
		if status == 502 || status == 503 || status == 504 {
			tripped = hit(h.consecGateway.Add(1), od.consecGateway) || tripped
		} else {
			resetCounter(&h.consecGateway)
		}
	}
	if tripped {
		p.eject(cl, e, now)
	}
}

func hit(n, threshold uint32) bool { return threshold > 0 && n >= threshold }

func resetCounter(c *atomic.Uint32) {
	if c.Load() != 0 {
		c.Store(0)
	}
}

// eject takes e out of rotation for base ejection time × its multiplier,
// unless that would eject more than max_ejection_percent of the cluster.
// The first ejection in a cluster is always allowed, even of its only
// endpoint: a lane whose only pod keeps failing must count as empty so that
// its fallback takes over.
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
	if ejected > 0 && uint32((ejected+1)*100) > od.maxPercent*uint32(len(cl.endpoints)) {
		return
	}
	// The multiplier decays by one per interval the endpoint stayed healthy
	// since its last ejection ended, as Envoy decrements it on each interval.
	m := h.multiplier.Load()
	if last := h.ejectedUntil.Load(); last > 0 && m > 0 {
		healthy := uint32(max(0, (now-last)/int64(od.interval)))
		m -= min(m, healthy)
	}
	d := min(od.baseEjection*time.Duration(m+1), max(od.maxEjection, od.baseEjection))
	h.multiplier.Store(m + 1)
	h.ejectedUntil.Store(now + int64(d))
	h.consec5xx.Store(0)
	h.consecGateway.Store(0)
	h.consecLocal.Store(0)
	h.ejections.Add(1)
	cs.ejections.Add(1)
	p.log.Warn("endpoint ejected", slog.String("cluster", cl.name), slog.String("address", e.addr),
		slog.Duration("for", d), slog.Int("cluster_ejected", ejected+1), slog.Int("cluster_endpoints", len(cl.endpoints)))
}
