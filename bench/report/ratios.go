package main

// peers are the targets every other one is compared with: HAProxy as the
// issue measures it, HAProxy doing the gateway's header work too (the
// like-for-like figure), and the Go baseline.
var peers = []string{"haproxy", "haproxy-headers", "baseline"}

// computeRatios fills each measured target's Ratios against each measured
// peer: throughput (higher is better) and CPU per 1k req/s, p99 at the
// fixed rate and RSS (lower is better).
func computeRatios(rep *Report) {
	for _, sc := range rep.Scenarios {
		for _, peerName := range peers {
			peer := find(sc, peerName)
			if peer == nil || peer.Status != "ok" {
				continue
			}
			for _, t := range sc.Targets {
				if t.Status != "ok" || t.Kind != "proxy" || t == peer {
					continue
				}
				if t.Ratios == nil {
					t.Ratios = map[string]float64{}
				}
				addRatio(t.Ratios, "rps_vs_"+peerName, sat(t).RPS, sat(peer).RPS)
				addRatio(t.Ratios, "cpu_per_1k_vs_"+peerName, rate(t).CPUPer1k, rate(peer).CPUPer1k)
				addRatio(t.Ratios, "p99_vs_"+peerName, rate(t).Latency.P99, rate(peer).Latency.P99)
				addRatio(t.Ratios, "rss_vs_"+peerName, float64(proc(rate(t)).RSSKB), float64(proc(rate(peer)).RSSKB))
			}
		}
	}
}

func addRatio(m map[string]float64, key string, a, b float64) {
	if a > 0 && b > 0 {
		m[key] = a / b
	}
}

func find(sc *Scenario, name string) *Target {
	for _, t := range sc.Targets {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// sat, rate and proc return zero values for missing parts, so that callers
// need no nil checks.
func sat(t *Target) *Saturation {
	if t.Saturation == nil {
		return &Saturation{}
	}
	return t.Saturation
}

func rate(t *Target) *FixedRate {
	if t.FixedRate == nil {
		return &FixedRate{}
	}
	return t.FixedRate
}

func proc(r *FixedRate) *Proc {
	if r.Proxy == nil {
		return &Proc{}
	}
	return r.Proxy
}
