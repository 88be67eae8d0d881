package main

// peers are the targets every other one is compared with: HAProxy as the
// issue measures it, HAProxy doing the gateway's header work too (the
// like-for-like figure), and the Go baseline.
var peers = []string{"haproxy", "haproxy-headers", "baseline"}

// computeRatios fills each measured target's Ratios against each measured
// peer: throughput and throughput per proxy core (higher is better), and
// user and system CPU per request at saturation, CPU per 1k req/s, p99 at
// the fixed rate and RSS (lower is better).
//
// Throughput and the CPU figures are the median of the ratios of paired repetitions
// (a target's run i against the peer's run i, made minutes apart), not
// the ratio of the medians: the host's speed drifts by 10–25% for minutes
// at a time, which moves both runs of a pair together, so that pairing
// cancels most of it. Without the same number of repetitions on both
// sides it falls back to the ratio of the medians.
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
				rps := func(s *Saturation) float64 { return s.RPS }
				perCore := func(s *Saturation) float64 { return s.RPSPerProxyCore }
				user := func(s *Saturation) float64 { return s.UserUSPerReq }
				system := func(s *Saturation) float64 { return s.SystemUSPerReq }
				cpu := func(r *FixedRate) float64 { return r.CPUPer1k }
				setRatio(t.Ratios, "rps_vs_"+peerName, paired(t.SaturationRuns, peer.SaturationRuns, rps, sat(t), sat(peer)))
				setRatio(t.Ratios, "rps_per_core_vs_"+peerName, paired(t.SaturationRuns, peer.SaturationRuns, perCore, sat(t), sat(peer)))
				setRatio(t.Ratios, "user_per_request_vs_"+peerName, paired(t.SaturationRuns, peer.SaturationRuns, user, sat(t), sat(peer)))
				setRatio(t.Ratios, "system_per_request_vs_"+peerName, paired(t.SaturationRuns, peer.SaturationRuns, system, sat(t), sat(peer)))
				setRatio(t.Ratios, "cpu_per_1k_vs_"+peerName, paired(t.FixedRateRuns, peer.FixedRateRuns, cpu, rate(t), rate(peer)))
				setRatio(t.Ratios, "p99_vs_"+peerName, div(rate(t).Latency.P99, rate(peer).Latency.P99))
				setRatio(t.Ratios, "rss_vs_"+peerName, div(float64(proc(rate(t)).RSSKB), float64(proc(rate(peer)).RSSKB)))
			}
		}
	}
}

// paired is the median over repetitions of f(a[i]) / f(b[i]), or
// f(am) / f(bm), the medians' figures, when the runs cannot be paired:
// different counts, or a run without the figure. It is 0 when a figure
// is missing.
func paired[T any](a, b []*T, f func(*T) float64, am, bm *T) float64 {
	if len(a) == 0 || len(a) != len(b) {
		return div(f(am), f(bm))
	}
	ratios := make([]float64, len(a))
	for i := range a {
		if ratios[i] = div(f(a[i]), f(b[i])); ratios[i] == 0 {
			return div(f(am), f(bm))
		}
	}
	return median(ratios, func(r float64) float64 { return r })
}

// div is a/b, or 0 when either figure is missing.
func div(a, b float64) float64 {
	if a > 0 && b > 0 {
		return a / b
	}
	return 0
}

// setRatio records r unless it is missing.
func setRatio(m map[string]float64, key string, r float64) {
	if r > 0 {
		m[key] = r
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
