package policy

import (
	"fmt"
	"sync/atomic"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/lanemesh/lanemesh/internal/route"
)

// Outlier is a cluster's passive outlier detection, with Envoy's
// defaults filled in. A threshold of 0 turns that detector off.
type Outlier struct {
	consec5xx, consecGateway, consecLocal uint32
	split                                 bool // count local-origin failures apart (split_external_local_origin_errors)
	Interval, baseEjection, maxEjection   time.Duration
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
func BuildOutlier(od *clusterv3.OutlierDetection) (*Outlier, error) {
	if od == nil {
		return nil, nil
	}
	if UInt32Or(od.GetEnforcingFailurePercentage(), 0) > 0 || UInt32Or(od.GetEnforcingFailurePercentageLocalOrigin(), 0) > 0 {
		return nil, fmt.Errorf("%w: outlier_detection failure-percentage ejection is not supported", route.ErrUnsupported)
	}
	o := &Outlier{
		consec5xx:     enforced(od.GetConsecutive_5Xx(), od.GetEnforcingConsecutive_5Xx(), 100),
		consecGateway: enforced(od.GetConsecutiveGatewayFailure(), od.GetEnforcingConsecutiveGatewayFailure(), 0),
		consecLocal:   enforced(od.GetConsecutiveLocalOriginFailure(), od.GetEnforcingConsecutiveLocalOriginFailure(), 100),
		split:         od.GetSplitExternalLocalOriginErrors(),
		Interval:      DurationOr(od.GetInterval().AsDuration(), defaultOutlierInterval),
		baseEjection:  DurationOr(od.GetBaseEjectionTime().AsDuration(), defaultBaseEjectionTime),
		maxEjection:   DurationOr(od.GetMaxEjectionTime().AsDuration(), defaultMaxEjectionTime),
		maxPercent:    UInt32Or(od.GetMaxEjectionPercent(), defaultMaxEjectionPct),
	}
	return o, nil
}

// enforced is a consecutive-failure threshold (default 5), or 0 when its
// enforcement percentage is 0. Enforcement between 0 and 100 is treated as
// 100: a deterministic detector is easier to reason about than a coin flip.
func enforced(threshold, enforcing *wrapperspb.UInt32Value, defaultEnforcing uint32) uint32 {
	if UInt32Or(enforcing, defaultEnforcing) == 0 {
		return 0
	}
	if threshold == nil {
		return defaultConsecutive
	}
	return threshold.GetValue()
}

// UInt32Or is v's value, or def when v is unset: Envoy's reading of an
// optional number.
func UInt32Or(v *wrapperspb.UInt32Value, def uint32) uint32 {
	if v == nil {
		return def
	}
	return v.GetValue()
}

// Counters are an endpoint's consecutive-failure counters. They live with
// the endpoint's other health, in the proxy's store, so that they outlast
// configuration updates.
type Counters struct {
	Consec5xx, ConsecGateway, ConsecLocal atomic.Uint32
}

// Trips counts an attempt's result (status for a response) on c, and
// reports whether it reaches a threshold: the endpoint is to be ejected
// (see MayEject). Success resets the counters; the loads before the stores
// keep the common path free of cache-line writes. A cancelled attempt is
// the client's doing and counts for nothing.
func (od *Outlier) Trips(c *Counters, o Outcome, status int) bool {
	if o == Cancel {
		return false
	}
	if o == Response && status < 500 {
		resetCounter(&c.Consec5xx)
		resetCounter(&c.ConsecGateway)
		resetCounter(&c.ConsecLocal)
		return false
	}
	switch local := o.Local() || o == Idle; {
	case local && od.split:
		return hit(c.ConsecLocal.Add(1), od.consecLocal)
	case local: // counted as a 503, as Envoy does without split
		return hit(c.Consec5xx.Add(1), od.consec5xx) || hit(c.ConsecGateway.Add(1), od.consecGateway)
	}
	tripped := hit(c.Consec5xx.Add(1), od.consec5xx)
	if status == 502 || status == 503 || status == 504 {
		tripped = hit(c.ConsecGateway.Add(1), od.consecGateway) || tripped
	} else {
		resetCounter(&c.ConsecGateway)
	}
	return tripped
}

func hit(n, threshold uint32) bool { return threshold > 0 && n >= threshold }

func resetCounter(c *atomic.Uint32) {
	if c.Load() != 0 {
		c.Store(0)
	}
}

// MayEject reports whether one more endpoint of a cluster of total
// endpoints, ejected of which are ejected now, may be ejected: not past
// max_ejection_percent, except that the first ejection in a cluster is
// always allowed, even of its only endpoint: a lane whose only pod keeps
// failing must count as empty so that its fallback takes over.
func (od *Outlier) MayEject(ejected, total int) bool {
	return ejected == 0 || uint32((ejected+1)*100) <= od.maxPercent*uint32(total)
}

// Ejection is how long an endpoint is ejected for, and its new multiplier,
// given its multiplier so far (m) and when its last ejection ended (lastEnd,
// 0 for never) on the same clock as now: base ejection time × the
// multiplier, capped at the max ejection time. The multiplier decays by
// one per interval the endpoint stayed healthy since its last ejection
// ended, as Envoy decrements it on each interval.
func (od *Outlier) Ejection(m uint32, lastEnd, now int64) (time.Duration, uint32) {
	if lastEnd > 0 && m > 0 {
		healthy := uint32(max(0, (now-lastEnd)/int64(od.Interval)))
		m -= min(m, healthy)
	}
	return min(od.baseEjection*time.Duration(m+1), max(od.maxEjection, od.baseEjection)), m + 1
}
