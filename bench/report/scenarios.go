package main

import (
	"cmp"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
)

// Chain is scenario B's comparison of the mesh with a direct chain at the
// same fixed rate.
type Chain struct {
	// AddedPerHopUS is (mesh − direct) / hops at p50, p90 and p99.
	AddedPerHopUS Latency `json:"added_per_hop_us"`
	// AddedCPUPer1kPerHop is (mesh − direct) / hops of the CPU per 1k
	// req/s: the cores one proxy hop costs per 1,000 requests/s.
	AddedCPUPer1kPerHop float64 `json:"added_cpu_per_1k_per_hop"`
	// Ratios are mesh / direct: "p50", "p90", "p99", "cpu_per_1k", "rss".
	Ratios map[string]float64 `json:"ratios"`
}

// Chains are the mesh against each direct chain: three processes (the
// issue's zero line) and one process (bench/chain, up's own structure).
type Chains struct {
	Direct     *Chain `json:"vs_direct,omitempty"`
	OneProcess *Chain `json:"vs_one_process,omitempty"`
}

// HopChain is scenario E's comparison of one mesh (one proxy build, each
// proxy its own process) with the three-process direct chain.
type HopChain struct {
	Mesh  string `json:"mesh"`  // the mesh target's name: "lanemesh", "slim" or the peer, "haproxy"
	Label string `json:"label"` // its label in the tables
	Chain
}

// hopTargetUS is the target for scenario E: a proxy hop adds at
// most 0.5 ms at p99 at 1,000 req/s.
const (
	hopTargetUS   = 500
	hopTargetRate = 1000
)

// Convergence is what bench/converge wrote for one client count.
type Convergence struct {
	N int `json:"n"`
	// Workers is how many processes the clients ran in; 0 in results
	// from before bench/converge had workers, which ran them in one.
	Workers    int              `json:"workers"`
	Identities []string         `json:"identities"`
	Trigger    string           `json:"trigger"`
	ConnectMS  float64          `json:"connect_ms"`
	Changes    []ConvergeChange `json:"changes"`
	Summary    struct {
		AllP50MS   float64 `json:"all_p50_ms"`
		AllP99MS   float64 `json:"all_p99_ms"`
		AllMaxMS   float64 `json:"all_max_ms"`
		ProxyP50MS float64 `json:"proxy_p50_ms"`
		ProxyP99MS float64 `json:"proxy_p99_ms"`
		ProxyMaxMS float64 `json:"proxy_max_ms"`
		ApplyP50MS float64 `json:"apply_p50_ms"`
		PushP50MS  float64 `json:"push_p50_ms"`
		Missed     int     `json:"missed"`
	} `json:"summary"`
	ControlPlane *struct {
		PID            int     `json:"pid"`
		ConnectedRSSKB int64   `json:"connected_rss_kb"`
		RSSKB          int64   `json:"rss_kb"`
		PeakRSSKB      int64   `json:"peak_rss_kb"`
		CPUPerChangeMS float64 `json:"cpu_per_change_ms"`
	} `json:"control_plane,omitempty"`
	Clients struct {
		CPUPerChangeMS  float64 `json:"cpu_per_change_ms"`
		FullProxyCPUMS  float64 `json:"full_proxy_cpu_per_change_ms"`
		LightProxyCPUMS float64 `json:"light_proxy_cpu_per_change_ms"`
	} `json:"clients"`
	// Sample is the full xds.Clients' own figures; N is 0 in results from
	// before bench/converge had light clients, when every client was full.
	Sample struct {
		Every      int     `json:"every"`
		N          int     `json:"n"`
		AllP50MS   float64 `json:"all_p50_ms"`
		AllP99MS   float64 `json:"all_p99_ms"`
		AllMaxMS   float64 `json:"all_max_ms"`
		ProxyP50MS float64 `json:"proxy_p50_ms"`
		ProxyP99MS float64 `json:"proxy_p99_ms"`
		ProxyMaxMS float64 `json:"proxy_max_ms"`
	} `json:"sample"`
	// Messages is per light client and change; nil in results from before
	// bench/converge counted them.
	Messages *struct {
		CDS   float64 `json:"cds"`
		EDS   float64 `json:"eds"`
		LDS   float64 `json:"lds"`
		RDS   float64 `json:"rds"`
		NACKs float64 `json:"nacks"`
	} `json:"messages_per_proxy_per_change"`
}

// ConvergeChange is one timed change.
type ConvergeChange struct {
	Fallback bool    `json:"fallback"`
	ApplyMS  float64 `json:"apply_ms"`
	AllMS    float64 `json:"all_ms"`
	PushMS   float64 `json:"push_ms"`
	ProxyP50 float64 `json:"proxy_p50"`
	ProxyP99 float64 `json:"proxy_p99"`
	Missed   int     `json:"missed"`
}

// convergeTargetMS is the target: every one of 1,000 proxies has
// a change within 200 ms, at p99 over changes.
const (
	convergeTargetMS = 200
	convergeTargetN  = 1000
)

// Failover is one run of scenario D: `load rate -at` with its event.
type Failover struct {
	Name      string    `json:"name"` // "kill" or "scale"
	Rate      float64   `json:"rate"`
	DurationS float64   `json:"duration_s"`
	Scheduled int       `json:"scheduled"`
	OK        int       `json:"ok"`
	FellBack  int       `json:"fell_back"`
	Errors    int       `json:"errors"`
	Misrouted int       `json:"misrouted"`
	Dropped   int       `json:"dropped"`
	Latency   Latency   `json:"latency"`
	Event     *Event    `json:"event"`
	Timeline  []TimeBin `json:"timeline,omitempty"`
}

// Event is what a failover event did to the traffic; times in ms from the
// event, -1 for never.
type Event struct {
	What            string  `json:"what"`
	AtMS            float64 `json:"at_ms"`
	CmdMS           float64 `json:"cmd_ms,omitempty"`
	Error           string  `json:"error,omitempty"`
	Lost            int     `json:"lost"`
	FellBack        int     `json:"fell_back"`
	FirstFallbackMS float64 `json:"first_fallback_ms"`
	LastInLaneMS    float64 `json:"last_in_lane_ms"`
	BackInLaneMS    float64 `json:"back_in_lane_ms"`
	NearEvent       Latency `json:"near_event"`
}

// TimeBin is the answers that arrived in 100 ms of a failover run.
type TimeBin struct {
	StartMS  int `json:"start_ms"`
	InLane   int `json:"in_lane"`
	FellBack int `json:"fell_back"`
	Failed   int `json:"failed"`
}

// loadExtras reads a scenario's own files beside its targets: C's
// converge.N.json and D's kill.json and scale.json.
func loadExtras(dir string, sc *Scenario) error {
	switch sc.ID {
	case "C":
		files, _ := filepath.Glob(filepath.Join(dir, "converge.*.json"))
		for _, f := range files {
			var c Convergence
			if err := readJSON(f, &c); err != nil {
				return err
			}
			sc.Convergence = append(sc.Convergence, &c)
		}
		sort.Slice(sc.Convergence, func(i, j int) bool { return sc.Convergence[i].N < sc.Convergence[j].N })
	case "D":
		for _, name := range []string{"kill", "scale"} {
			var f Failover
			err := readJSON(filepath.Join(dir, name+".json"), &f)
			if err != nil && !isNotExist(err) {
				return err
			}
			if err == nil {
				f.Name = name
				sc.Failover = append(sc.Failover, &f)
			}
		}
	}
	return nil
}

// computeChain fills scenario B's comparisons.
func computeChain(sc *Scenario) {
	sc.Chain = &Chains{Direct: compareChain(sc, "direct"), OneProcess: compareChain(sc, "direct1")}
}

// computeHops fills scenario E's comparisons: each measured mesh against
// the direct chain.
func computeHops(sc *Scenario) {
	sc.HopChains = nil
	for _, t := range sc.Targets {
		if t.Kind != "proxy" {
			continue
		}
		if c := compareTargets(sc, "direct", t.Name); c != nil {
			sc.HopChains = append(sc.HopChains, &HopChain{Mesh: t.Name, Label: t.Label, Chain: *c})
		}
	}
}

// compareChain compares B's mesh with one direct chain, nil if either was
// not measured.
func compareChain(sc *Scenario, name string) *Chain { return compareTargets(sc, name, "lanemesh") }

// compareTargets compares a mesh target with a direct one: the ratios and
// (mesh − direct) / hops at each percentile; nil if either was not
// measured.
func compareTargets(sc *Scenario, directName, meshName string) *Chain {
	direct, mesh := find(sc, directName), find(sc, meshName)
	if direct == nil || mesh == nil || direct.Status != "ok" || mesh.Status != "ok" || sc.Hops == 0 {
		return nil
	}
	d, m := rate(direct), rate(mesh)
	hops := float64(sc.Hops)
	c := &Chain{Ratios: map[string]float64{},
		AddedPerHopUS: Latency{P50: (m.Latency.P50 - d.Latency.P50) / hops,
			P90: (m.Latency.P90 - d.Latency.P90) / hops, P99: (m.Latency.P99 - d.Latency.P99) / hops},
		AddedCPUPer1kPerHop: (m.CPUPer1k - d.CPUPer1k) / hops}
	setRatio(c.Ratios, "p50", div(m.Latency.P50, d.Latency.P50))
	setRatio(c.Ratios, "p90", div(m.Latency.P90, d.Latency.P90))
	setRatio(c.Ratios, "p99", div(m.Latency.P99, d.Latency.P99))
	setRatio(c.Ratios, "cpu_per_1k", div(m.CPUPer1k, d.CPUPer1k))
	setRatio(c.Ratios, "rss", div(float64(proc(m).RSSKB), float64(proc(d).RSSKB)))
	return c
}

// chainMarkdown renders scenario B.
func chainMarkdown(b *strings.Builder, rep *Report, sc *Scenario) {
	fmt.Fprintf(b, "### Fixed rate: %g req/s open loop for %g s, lane v1 (`x-asm-prefer-tag: v1`), latency from the scheduled send time\n\n",
		sc.Rate, rep.Run.DurationS)
	fmt.Fprintln(b, "| target | p50 | p90 | p99 | ok / errors | CPU per 1k req/s | RSS |")
	fmt.Fprintln(b, "|---|--:|--:|--:|--:|--:|--:|")
	for _, t := range sc.Targets {
		if t.Status != "ok" || t.FixedRate == nil {
			fmt.Fprintf(b, "| %s | %s | | | | | |\n", t.Label, notMeasured(t))
			continue
		}
		r := t.FixedRate
		cpu, rss := cpuAndRSS(r)
		fmt.Fprintf(b, "| %s | %s | %s | %s | %d / %d | %s | %s |\n", label(t),
			micros(r.Latency.P50), micros(r.Latency.P90), micros(r.Latency.P99),
			r.OK, r.Errors+r.Misrouted+r.Dropped, cpu, rss)
	}
	if sc.Chain != nil {
		chainRows(b, sc.Chain.Direct, "direct", sc.Hops)
		chainRows(b, sc.Chain.OneProcess, "direct, one process", sc.Hops)
	}
	fmt.Fprintln(b)
	stealNotes(b, sc)
	if sc.HopsNote != "" {
		fmt.Fprintf(b, "- Hops: %s\n", sc.HopsNote)
	}
	fmt.Fprintln(b, "- CPU and RSS: the mesh's figures are the whole `lanemesh up` process (control plane, gateway, nine sidecars,"+
		" nine in-process mock apps, six of them idle); the direct chains' are their three `lanemesh mock` processes, or bench/chain's one."+
		" All ran pinned to core 0.")
	fmt.Fprintln(b, "- `lanemesh up` runs apps and proxies as goroutines of one process, so a hop costs it a goroutine switch where the"+
		" three-process chain pays for switching processes on the one core; the one-process chain has up's structure without the"+
		" proxies, and the per-hop figure against it is the proxies' own cost.")
}

// chainRows writes the ratio and per-hop rows against one direct chain.
func chainRows(b *strings.Builder, c *Chain, name string, hops int) {
	if c == nil {
		return
	}
	x := func(k string) string {
		if v, ok := c.Ratios[k]; ok {
			return fmt.Sprintf("%.2f×", v)
		}
		return "—"
	}
	fmt.Fprintf(b, "| **mesh / %s** | %s | %s | %s | | %s | %s |\n", name, x("p50"), x("p90"), x("p99"), x("cpu_per_1k"), x("rss"))
	fmt.Fprintf(b, "| **added per proxy hop** ((mesh − %s) / %d) | %s | %s | %s | | %+.1f%% of a core | |\n", name, hops,
		signedMicros(c.AddedPerHopUS.P50), signedMicros(c.AddedPerHopUS.P90), signedMicros(c.AddedPerHopUS.P99),
		100*c.AddedCPUPer1kPerHop)
}

// hopsMarkdown renders scenario E.
func hopsMarkdown(b *strings.Builder, rep *Report, sc *Scenario) {
	fmt.Fprintf(b, "### Fixed rate: %g req/s open loop for %g s, lane v1 (`x-asm-prefer-tag: v1`), latency from the scheduled send time\n\n",
		sc.Rate, rep.Run.DurationS)
	fmt.Fprintln(b, "| target | p50 | p90 | p99 | ok / errors | CPU per 1k req/s | RSS | core 0: system under test / all | core 1 (load) |")
	fmt.Fprintln(b, "|---|--:|--:|--:|--:|--:|--:|--:|--:|")
	for _, t := range sc.Targets {
		if t.Status != "ok" || t.FixedRate == nil {
			fmt.Fprintf(b, "| %s | %s | | | | | | | |\n", t.Label, notMeasured(t))
			continue
		}
		r := t.FixedRate
		cpu, rss := cpuAndRSS(r)
		sut := "—"
		if r.Proxy != nil {
			sut = percent(r.Proxy.CPUCores)
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %d / %d | %s | %s | %s / %s | %s |\n", label(t),
			micros(r.Latency.P50), micros(r.Latency.P90), micros(r.Latency.P99),
			r.OK, r.Errors+r.Misrouted+r.Dropped, cpu, rss, sut, coreBusy(r.Cores, 0), coreBusy(r.Cores, 1))
	}
	for _, h := range sc.HopChains {
		fmt.Fprintf(b, "| *%s:* | | | | | | | | |\n", h.Label)
		chainRows(b, &h.Chain, "direct", sc.Hops)
	}
	fmt.Fprintln(b)
	stealNotes(b, sc)
	if sc.HopsNote != "" {
		fmt.Fprintf(b, "- Hops: %s\n", sc.HopsNote)
	}
	fmt.Fprintln(b, "- Every process is its own: a `lanemesh controlplane` serving the tutorial's gateway, DestinationRules and"+
		" VirtualServices with lane v1's apps as WorkloadEntries; the gateway and the sidecars of mocka-v1 and mockb-v1 fed by it over"+
		" xDS; three `lanemesh mock` processes, mocka and mockb calling through their sidecars (HTTP_PROXY). CPU and RSS are all of"+
		" them together (the mesh) or the three mocks (direct), all pinned to core 0 with GOMAXPROCS=1; the load runs on core 1."+
		" The peer chain, where run, puts three `haproxy` processes (nbthread 1) in the gateway's and sidecars' places, the"+
		" gateway routing lane v1 on /mock and the sidecars forwarding every request to the next app.")
	fmt.Fprintln(b, "- CPU per 1k req/s near 100% of a core means core 0 was close to saturation at this rate, and the mesh's"+
		" percentiles include queueing behind the other processes on that core. *core 0: all* well above *system under test*"+
		" means processes outside the benchmark took core 0 during the run, and its tail is theirs as much as the mesh's.")
	fmt.Fprintln(b, hopTarget(sc))
}

// hopPeer is scenario E's peer chain: HAProxy processes in the proxies'
// places. The target is lanemesh's; the peer's figure is shown beside the
// verdicts, so a tail that no proxy meets on this machine reads as the
// machine's.
const hopPeer = "haproxy"

// hopTarget says whether the per-hop target was met by each
// lanemesh mesh, and what the peer chain added in the same run. A
// difference of two tails is only as good as both runs: when other
// processes took core 0 during either, or the direct chain's p99 came out
// above the mesh's, the verdict is "inconclusive", never "met".
func hopTarget(sc *Scenario) string {
	var parts, peers []string
	direct := find(sc, "direct")
	for _, h := range sc.HopChains {
		if h.Mesh == hopPeer {
			peers = append(peers, fmt.Sprintf("%s added %s", h.Label, signedMicros(h.AddedPerHopUS.P99)))
			continue
		}
		verdict := "**met**"
		switch {
		case disturbed(direct):
			verdict = "**inconclusive** (other processes took core 0 during the direct chain's run)"
		case disturbed(find(sc, h.Mesh)):
			verdict = "**inconclusive** (other processes took core 0 during the mesh's run)"
		case h.AddedPerHopUS.P99 < 0:
			verdict = "**inconclusive** (the direct chain's p99 was above the mesh's)"
		case h.AddedPerHopUS.P99 > hopTargetUS:
			verdict = "**not met**"
		}
		parts = append(parts, fmt.Sprintf("%s %s (%s)", h.Label, verdict, signedMicros(h.AddedPerHopUS.P99)))
	}
	if len(parts) == 0 {
		return "- Target (added p99 per hop ≤ 0.5 ms at 1,000 req/s): not measured in this run."
	}
	line := fmt.Sprintf("- Target (added p99 per hop ≤ %s at %s req/s): %s.", micros(hopTargetUS), thousands(hopTargetRate),
		strings.Join(parts, "; "))
	if len(peers) > 0 {
		line += " In the same run, " + strings.Join(peers, "; ") + " per hop at p99."
	}
	if sc.Rate != hopTargetRate {
		line += fmt.Sprintf(" This run was at %g req/s, not the target's rate.", sc.Rate)
	}
	return line
}

// disturbedShare is how much of core 0 processes outside the system under
// test may take during a fixed-rate run before its tail is not its own.
const disturbedShare = 0.2

// disturbed reports whether other processes took more than disturbedShare
// of core 0 during t's fixed-rate run (median over repetitions).
func disturbed(t *Target) bool {
	if t == nil || t.FixedRate == nil || t.FixedRate.Proxy == nil || t.FixedRate.Cores == nil || len(t.FixedRate.Cores.Busy) == 0 {
		return false
	}
	return t.FixedRate.Cores.Busy[0]-t.FixedRate.Proxy.CPUCores > disturbedShare
}

// convergenceMarkdown renders scenario C.
func convergenceMarkdown(b *strings.Builder, sc *Scenario) {
	fmt.Fprintf(b, "%d changes per client count, fallback toggled on and off; trigger: %s.\n\n", sc.Changes, sc.Trigger)
	fmt.Fprintln(b, "| proxies | client processes | all have it: p50 | p99 | max | per proxy: p50 | p99 | max | apply command p50 | push done p50 | missed | first config to all |"+
		" control plane RSS: connected / after / peak | control plane CPU per change | clients' CPU per change |")
	fmt.Fprintln(b, "|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
	for _, c := range sc.Convergence {
		s := c.Summary
		rss, cpu := "—", "—"
		if cp := c.ControlPlane; cp != nil {
			rss = fmt.Sprintf("%s / %s / %s", mib(cp.ConnectedRSSKB), mib(cp.RSSKB), mib(cp.PeakRSSKB))
			cpu = fmt.Sprintf("%.0f ms", cp.CPUPerChangeMS)
		}
		fmt.Fprintf(b, "| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %d | %s | %s | %s | %.0f ms |\n", thousands(float64(c.N)),
			max(c.Workers, 1), millis(s.AllP50MS), millis(s.AllP99MS), millis(s.AllMaxMS), millis(s.ProxyP50MS), millis(s.ProxyP99MS), millis(s.ProxyMaxMS),
			millis(s.ApplyP50MS), millis(s.PushP50MS), s.Missed, millis(c.ConnectMS), rss, cpu, c.Clients.CPUPerChangeMS)
	}
	fmt.Fprintln(b)
	sampleMarkdown(b, sc)
	if len(sc.Convergence) > 0 {
		fmt.Fprintf(b, "- Identities: %s, spread round-robin over the clients; the change alters exactly these sidecars' routes.\n",
			strings.Join(sc.Convergence[0].Identities, ", "))
	}
	fmt.Fprintln(b, "- Times run from the start of `lanemesh apply` (its own process start included: see *apply command*) to the"+
		" client's Apply receiving routes that use (or stop using) the fallback cluster; *push done* is the last update any"+
		" client got for the change (all make-before-break phases); the next change starts once no client got anything, and the"+
		" control plane used no CPU, for 200 ms.")
	for _, c := range sc.Convergence {
		var on, off []float64
		var each []string
		for _, ch := range c.Changes {
			if ch.Fallback {
				on = append(on, ch.AllMS)
			} else {
				off = append(off, ch.AllMS)
			}
			each = append(each, fmt.Sprintf("%.0f", ch.AllMS))
		}
		fmt.Fprintf(b, "- N=%s, all have it, median: fallback on %s (new aggregate clusters first, then the routes), off %s (routes first).\n",
			thousands(float64(c.N)), millis(medianOf(on)), millis(medianOf(off)))
		fmt.Fprintf(b, "- N=%s, all have it, each change in order (ms): %s.\n", thousands(float64(c.N)), strings.Join(each, ", "))
		if m := c.Messages; m != nil {
			fmt.Fprintf(b, "- N=%s, responses per light client per change, each answered by an ACK or NACK: CDS %.2f, EDS %.2f, LDS %.2f, RDS %.2f; NACKs %.2f.\n",
				thousands(float64(c.N)), m.CDS, m.EDS, m.LDS, m.RDS, m.NACKs)
		}
	}
	cpus := cmp.Or(sc.ClientCPUs, "1")
	fmt.Fprintf(b, "- The control plane runs on one core (core 0). The clients run in *client processes* (bench/converge workers,"+
		" times on one CLOCK_MONOTONIC) pinned to CPU(s) %s, so their work shares that CPU (*clients' CPU per change*), where real"+
		" proxies each have their own. So that the harness does not set the pace, only the sample are full xds.Clients; the"+
		" others are light clients, the same on the wire but without decoding each resource (see bench/README.md).\n", cpus)
	fmt.Fprintln(b, convergeTarget(sc))
}

// sampleMarkdown renders the full sample's own figures, for the runs that
// had light clients.
func sampleMarkdown(b *strings.Builder, sc *Scenario) {
	var rows []*Convergence
	for _, c := range sc.Convergence {
		if c.Sample.N > 0 && c.Sample.N < c.N {
			rows = append(rows, c)
		}
	}
	if len(rows) == 0 {
		return
	}
	fmt.Fprintln(b, "The full sample, xds.Clients among the light ones, and the clients' CPU per change each:")
	fmt.Fprintln(b)
	fmt.Fprintln(b, "| proxies | full clients | all of them have it: p50 | p99 | max | per full client: p50 | p99 | max |"+
		" CPU per change: one full client | one light client | difference (decoding) |")
	fmt.Fprintln(b, "|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
	for _, c := range rows {
		s, cl := c.Sample, c.Clients
		cpu := "— | — | —"
		if cl.FullProxyCPUMS > 0 {
			cpu = fmt.Sprintf("%.3f ms | %.3f ms | %.3f ms", cl.FullProxyCPUMS, cl.LightProxyCPUMS, cl.FullProxyCPUMS-cl.LightProxyCPUMS)
		}
		fmt.Fprintf(b, "| %s | %d (1 in %d) | %s | %s | %s | %s | %s | %s | %s |\n", thousands(float64(c.N)), s.N, s.Every,
			millis(s.AllP50MS), millis(s.AllP99MS), millis(s.AllMaxMS), millis(s.ProxyP50MS), millis(s.ProxyP99MS), millis(s.ProxyMaxMS), cpu)
	}
	fmt.Fprintln(b)
}

// convergeTarget says whether the target was met.
func convergeTarget(sc *Scenario) string {
	for _, c := range sc.Convergence {
		if c.N == convergeTargetN {
			verdict := "**met**"
			if c.Summary.AllP99MS > convergeTargetMS || c.Summary.Missed > 0 {
				verdict = "**not met**"
			}
			return fmt.Sprintf("- Target (all %s proxies have a change within %d ms at p99): %s (p99 %s).",
				thousands(convergeTargetN), convergeTargetMS, verdict, millis(c.Summary.AllP99MS))
		}
	}
	return fmt.Sprintf("- Target (all %s proxies within %d ms at p99): not measured in this run (no N=%d).",
		thousands(convergeTargetN), convergeTargetMS, convergeTargetN)
}

// failoverMarkdown renders scenario D.
func failoverMarkdown(b *strings.Builder, rep *Report, sc *Scenario) {
	fmt.Fprintf(b, "Lane v2 at %g req/s open loop for %g s; mockb-v2 taken away %s into the window. Times are from the event.\n\n",
		sc.Rate, rep.Run.DurationS, eventAt(sc))
	fmt.Fprintln(b, "| event | answers: in lane / fell back / lost | first answer from the fallback | last from mockb-v2 | back to mockb-v2 |"+
		" latency in the second after: p99 / max | target: 0 lost |")
	fmt.Fprintln(b, "|---|--:|--:|--:|--:|--:|--:|")
	for _, f := range sc.Failover {
		e := f.Event
		if e == nil {
			continue
		}
		what := map[string]string{"kill": "`kill -9` of the mockb-v2 process", "scale": "`lanemesh scale deployment/mockb-v2 --replicas 0`"}[f.Name]
		if e.Error != "" {
			what += " (**event failed**: " + e.Error + ")"
		}
		lost := f.Errors + f.Misrouted + f.Dropped
		verdict := "**met**"
		if lost > 0 {
			verdict = "**not met**"
		}
		fmt.Fprintf(b, "| %s | %d / %d / %d | %s | %s | %s | %s / %s | %s |\n", what, f.OK, f.FellBack, lost,
			sinceEvent(e.FirstFallbackMS), sinceEvent(e.LastInLaneMS), sinceEvent(e.BackInLaneMS),
			micros(e.NearEvent.P99), micros(e.NearEvent.Max), verdict)
	}
	fmt.Fprintln(b)
	fmt.Fprintln(b, "- *fell back*: the chain shows `mockb(version: v1` (the fallback); *lost*: anything but a 200 with the v2 chain"+
		" or the fallback chain, including requests not sent by the deadline. *back to mockb-v2*: the first in-lane answer sent after"+
		" the first fallback answer (the runner restarts a killed pod after a 1 s back-off; a scaled-down one stays away).")
	for _, f := range sc.Failover {
		if f.Event != nil && f.Event.CmdMS > 0 {
			fmt.Fprintf(b, "- The %s command itself took %s (a process start and one admin API call).\n", f.Name, millis(f.Event.CmdMS))
		}
	}
}

func eventAt(sc *Scenario) string {
	for _, f := range sc.Failover {
		if f.Event != nil {
			return millis(f.Event.AtMS)
		}
	}
	return "—"
}

// checkChain lists scenario B's problems: a target not measured, or a
// fixed-rate run that was not clean.
func checkChain(sc *Scenario) []string {
	var problems []string
	for _, name := range []string{"direct", "direct1", "lanemesh"} {
		t := find(sc, name)
		switch {
		case t == nil || t.Status == "":
			problems = append(problems, fmt.Sprintf("B: %s was not measured", name))
		case t.Status == "failed":
			problems = append(problems, fmt.Sprintf("B: %s failed: %s", name, t.Note))
		case t.Status == "ok":
			problems = append(problems, prefixed("B: ", checkFixedRate(t))...)
		}
	}
	return problems
}

// checkHops lists scenario E's problems: the direct chain or the full
// proxy's mesh not measured, any target failed (the slim proxy's row may be
// absent, in a tree without it), or a fixed-rate run that was not clean.
// The per-hop target is reported, not checked.
func checkHops(sc *Scenario) []string {
	var problems []string
	for _, name := range []string{"direct", "lanemesh"} {
		if t := find(sc, name); t == nil || t.Status == "" {
			problems = append(problems, fmt.Sprintf("E: %s was not measured", name))
		}
	}
	for _, t := range sc.Targets {
		switch t.Status {
		case "failed":
			problems = append(problems, fmt.Sprintf("E: %s failed: %s", t.Name, t.Note))
		case "ok":
			problems = append(problems, prefixed("E: ", checkFixedRate(t))...)
		}
	}
	return problems
}

// checkConvergence lists scenario C's problems: a proxy that never got a
// change.
func checkConvergence(sc *Scenario) []string {
	if len(sc.Convergence) == 0 {
		return []string{"C: no results"}
	}
	var problems []string
	for _, c := range sc.Convergence {
		if c.Summary.Missed > 0 || len(c.Changes) == 0 {
			problems = append(problems, fmt.Sprintf("C: N=%d: %d proxies missed a change, %d changes timed", c.N, c.Summary.Missed, len(c.Changes)))
		}
	}
	return problems
}

// checkFailover lists scenario D's problems: an event that failed or whose
// fallback never answered. Lost requests are the figure under test, held
// against the target in the table, not a failure of the run.
func checkFailover(sc *Scenario) []string {
	var problems []string
	for _, name := range []string{"kill", "scale"} {
		var f *Failover
		for _, x := range sc.Failover {
			if x.Name == name {
				f = x
			}
		}
		switch {
		case f == nil || f.Event == nil:
			problems = append(problems, fmt.Sprintf("D: the %s run is missing", name))
		case f.Event.Error != "":
			problems = append(problems, fmt.Sprintf("D: the %s event failed: %s", name, f.Event.Error))
		case f.FellBack == 0:
			problems = append(problems, fmt.Sprintf("D: after the %s no answer came from the fallback", name))
		}
	}
	return problems
}

func medianOf(v []float64) float64 { return median(v, func(x float64) float64 { return x }) }

func prefixed(p string, v []string) []string {
	for i := range v {
		v[i] = p + v[i]
	}
	return v
}

func millis(ms float64) string {
	switch {
	case ms >= 100:
		return fmt.Sprintf("%.0f ms", ms)
	case ms >= 10:
		return fmt.Sprintf("%.1f ms", ms)
	}
	return fmt.Sprintf("%.2f ms", ms)
}

func sinceEvent(ms float64) string {
	if ms < 0 {
		return "never"
	}
	return "+" + millis(ms)
}

// signedMicros formats a latency difference: +120 µs, −35 µs, ±0 µs.
func signedMicros(us float64) string {
	switch {
	case us <= -0.5:
		return "−" + micros(-us)
	case us < 0.5:
		return "±0 µs"
	}
	return "+" + micros(us)
}

func mib(kb int64) string { return fmt.Sprintf("%.1f MiB", float64(kb)/1024) }
