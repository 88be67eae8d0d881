package main

import "slices"

// median of f over runs; 0 for none.
func median[T any](runs []T, f func(T) float64) float64 {
	if len(runs) == 0 {
		return 0
	}
	v := make([]float64, len(runs))
	for i, r := range runs {
		v[i] = f(r)
	}
	slices.Sort(v)
	if n := len(v); n%2 == 0 {
		return (v[n/2-1] + v[n/2]) / 2
	}
	return v[len(v)/2]
}

// medianProc is the median of the proxies' figures, or nil if no run
// measured a proxy.
func medianProc(procs []*Proc) *Proc {
	procs = slices.DeleteFunc(slices.Clone(procs), func(p *Proc) bool { return p == nil })
	if len(procs) == 0 {
		return nil
	}
	return &Proc{
		PIDs:        procs[len(procs)-1].PIDs,
		CPUSeconds:  median(procs, func(p *Proc) float64 { return p.CPUSeconds }),
		UserSeconds: median(procs, func(p *Proc) float64 { return p.UserSeconds }),
		CPUCores:    median(procs, func(p *Proc) float64 { return p.CPUCores }),
		RSSKB:       int64(median(procs, func(p *Proc) float64 { return float64(p.RSSKB) })),
	}
}

// medianCores is the per-core median of busy and steal.
func medianCores(cs []*Cores) *Cores {
	cs = slices.DeleteFunc(slices.Clone(cs), func(c *Cores) bool { return c == nil })
	if len(cs) == 0 {
		return nil
	}
	out := &Cores{}
	for i := range cs[0].Busy {
		out.Busy = append(out.Busy, median(cs, func(c *Cores) float64 { return at(c.Busy, i) }))
		out.Steal = append(out.Steal, median(cs, func(c *Cores) float64 { return at(c.Steal, i) }))
	}
	return out
}

func at(v []float64, i int) float64 {
	if i < len(v) {
		return v[i]
	}
	return 0
}

func medianSaturation(runs []*Saturation) *Saturation {
	if len(runs) == 0 {
		return nil
	}
	m := &Saturation{
		RPS:             median(runs, func(s *Saturation) float64 { return s.RPS }),
		P50:             median(runs, func(s *Saturation) float64 { return s.P50 }),
		P90:             median(runs, func(s *Saturation) float64 { return s.P90 }),
		P99:             median(runs, func(s *Saturation) float64 { return s.P99 }),
		Max:             median(runs, func(s *Saturation) float64 { return s.Max }),
		RPSPerProxyCore: median(runs, func(s *Saturation) float64 { return s.RPSPerProxyCore }),
		UserUSPerReq:    median(runs, func(s *Saturation) float64 { return s.UserUSPerReq }),
		SystemUSPerReq:  median(runs, func(s *Saturation) float64 { return s.SystemUSPerReq }),
		RPSMin:          runs[0].RPS,
		RPSMax:          runs[0].RPS,
	}
	var procs []*Proc
	var cores []*Cores
	for _, r := range runs {
		m.Errors += r.Errors
		m.RPSMin, m.RPSMax = min(m.RPSMin, r.RPS), max(m.RPSMax, r.RPS)
		procs, cores = append(procs, r.Proxy), append(cores, r.Cores)
	}
	m.Proxy, m.Cores = medianProc(procs), medianCores(cores)
	return m
}

func medianFixedRate(runs []*FixedRate) *FixedRate {
	if len(runs) == 0 {
		return nil
	}
	lat := func(f func(l Latency) float64) func(r *FixedRate) float64 {
		return func(r *FixedRate) float64 { return f(r.Latency) }
	}
	lag := func(f func(l Latency) float64) func(r *FixedRate) float64 {
		return func(r *FixedRate) float64 { return f(r.SendLag) }
	}
	p50 := func(l Latency) float64 { return l.P50 }
	p90 := func(l Latency) float64 { return l.P90 }
	p99 := func(l Latency) float64 { return l.P99 }
	p999 := func(l Latency) float64 { return l.P999 }
	mx := func(l Latency) float64 { return l.Max }
	m := &FixedRate{
		Rate:     runs[0].Rate,
		Achieved: median(runs, func(r *FixedRate) float64 { return r.Achieved }),
		Latency: Latency{P50: median(runs, lat(p50)), P90: median(runs, lat(p90)), P99: median(runs, lat(p99)),
			P999: median(runs, lat(p999)), Max: median(runs, lat(mx))},
		SendLag: Latency{P50: median(runs, lag(p50)), P90: median(runs, lag(p90)), P99: median(runs, lag(p99)),
			P999: median(runs, lag(p999)), Max: median(runs, lag(mx))},
		CPUPer1k: median(runs, func(r *FixedRate) float64 { return r.CPUPer1k }),
	}
	var procs []*Proc
	var cores []*Cores
	for _, r := range runs {
		m.Scheduled += r.Scheduled
		m.OK += r.OK
		m.Errors += r.Errors
		m.Misrouted += r.Misrouted
		m.Dropped += r.Dropped
		m.Latency.Count += r.Latency.Count
		m.SendLag.Count += r.SendLag.Count
		procs, cores = append(procs, r.Proxy), append(cores, r.Cores)
	}
	m.Proxy, m.Cores = medianProc(procs), medianCores(cores)
	return m
}

// maxSteal is the largest share of a core the hypervisor took in any of
// t's runs.
func maxSteal(t *Target) float64 {
	var cs []*Cores
	for _, s := range t.SaturationRuns {
		cs = append(cs, s.Cores)
	}
	for _, r := range t.FixedRateRuns {
		cs = append(cs, r.Cores)
	}
	var m float64
	for _, c := range cs {
		if c != nil {
			m = max(m, slices.Max(append([]float64{0}, c.Steal...)))
		}
	}
	return m
}
