package main

import (
	"fmt"
	"strings"
)

// markdown renders the report as results.md.
func markdown(rep *Report) string {
	var b strings.Builder
	r := rep.Run
	fmt.Fprintf(&b, "# lanemesh benchmark results\n\n")
	fmt.Fprintf(&b, "- run: %s, mode **%s** (%g s per measurement, %s, %d connections, %s)\n",
		r.Started, r.Mode, r.DurationS, rates(r), r.Conns, repeats(r.Repeat))
	if len(r.Scenarios) > 0 {
		fmt.Fprintf(&b, "- scenarios: %s\n", strings.Join(r.Scenarios, ", "))
	}
	fmt.Fprintf(&b, "- machine: %d cores, %s; %s\n", r.Nproc, r.Kernel, r.Pinning)
	fmt.Fprintf(&b, "- `uptime` at start: %s\n- `uptime` at end: %s\n", r.UptimeStart, r.UptimeEnd)
	if la := loadAverage(r.UptimeStart); la > 0.5 {
		fmt.Fprintf(&b, "- **warning: the machine was not idle** (load average %.2f at the start): other processes shared the cores, "+
			"so absolute figures are noisy; compare ratios within this run, or rerun when `uptime` shows a load average under 0.3\n", la)
	}
	fmt.Fprintf(&b, "- versions: %s\n", versions(r.Versions))
	fmt.Fprintf(&b, "- most time the hypervisor took from a core in any run (steal): %s\n", percent(runMaxSteal(rep)))
	if r.ExtraComment != "" {
		fmt.Fprintf(&b, "- note: %s\n", r.ExtraComment)
	}
	for _, sc := range rep.Scenarios {
		fmt.Fprintf(&b, "\n## Scenario %s — %s\n\n", sc.ID, sc.Title)
		switch {
		case sc.Status == "failed":
			fmt.Fprintf(&b, "**FAILED**: %s\n", sc.Note)
			continue
		case sc.Status != "measured":
			fmt.Fprintf(&b, "%s\n", sc.Status)
			continue
		}
		switch sc.ID {
		case "B":
			chainMarkdown(&b, rep, sc)
		case "C":
			convergenceMarkdown(&b, sc)
		case "D":
			failoverMarkdown(&b, rep, sc)
		case "E":
			hopsMarkdown(&b, rep, sc)
		default:
			closedLoop(&b, rep, sc)
			fixedRate(&b, rep, sc)
			summary(&b, sc)
		}
	}
	return b.String()
}

// tablePeers are the peers scenario A's tables have a ratio column for:
// HAProxy and the Go baseline always, HAProxy with the gateway's headers
// when the run measured it.
func tablePeers(sc *Scenario) []string {
	cols := []string{"haproxy"}
	if find(sc, "haproxy-headers") != nil {
		cols = append(cols, "haproxy-headers")
	}
	return append(cols, "baseline")
}

// peerColumns are the table's header and alignment cells for peers, each
// with a leading "|".
func peerColumns(peers []string) (head, align string) {
	titles := map[string]string{"haproxy": "× HAProxy", "haproxy-headers": "× HAProxy with headers", "baseline": "× baseline"}
	for _, p := range peers {
		head += " | " + titles[p]
		align += "|--:"
	}
	return head, align
}

// ratioCells are t's ratios of kind ("rps_per_core", "cpu_per_1k") against peers,
// each cell with a leading "|".
func ratioCells(t *Target, kind string, peers []string) string {
	var cells string
	for _, p := range peers {
		cells += " | " + ratio(t, kind+"_vs_"+p)
	}
	return cells
}

func closedLoop(b *strings.Builder, rep *Report, sc *Scenario) {
	fmt.Fprintf(b, "### Closed loop: wrk -t1 -c%d -d%gs, lanes v1/v2/v3 rotating\n\n", rep.Run.Conns, rep.Run.DurationS)
	peers := tablePeers(sc)
	head, align := peerColumns(peers)
	fmt.Fprintf(b, "| target | req/s | p50 | p99 | core 0: proxy / all | core 1 (load) | req/s per proxy core%s |\n", head)
	fmt.Fprintf(b, "|---|--:|--:|--:|--:|--:|--:%s|\n", align)
	for _, t := range sc.Targets {
		if t.Status != "ok" || t.Saturation == nil {
			fmt.Fprintf(b, "| %s | %s |%s\n", t.Label, notMeasured(t), strings.Repeat(" |", 5+len(peers)))
			continue
		}
		s := t.Saturation
		proxy, perCore := "—", "—"
		if s.Proxy != nil {
			proxy = percent(s.Proxy.CPUCores)
			perCore = thousands(s.RPSPerProxyCore)
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s / %s | %s | %s%s |\n", label(t), rpsRange(s),
			micros(s.P50), micros(s.P99), proxy, coreBusy(s.Cores, 0), coreBusy(s.Cores, 1), perCore,
			ratioCells(t, "rps_per_core", peers))
	}
	fmt.Fprintln(b)
	if rep.Run.Repeat > 1 {
		fmt.Fprintf(b, "The × columns here and below are medians of paired repetitions (each target's run i against the peer's run i), not ratios of the medians.\n\n")
	}
	stealNotes(b, sc)
}

// stealWarn is the share of a core taken by the hypervisor from which a
// target's figures get a warning.
const stealWarn = 0.05

// label is the target's name in the tables, marked when the hypervisor
// took enough CPU during its runs to distort them.
func label(t *Target) string {
	if t.MaxSteal >= stealWarn {
		return t.Label + " ⚠"
	}
	return t.Label
}

// stealNotes explains the ⚠ marks under the first table.
func stealNotes(b *strings.Builder, sc *Scenario) {
	for _, t := range sc.Targets {
		if t.MaxSteal >= stealWarn {
			fmt.Fprintf(b, "⚠ %s: the hypervisor took up to %s of a core (steal) during its runs; its figures are less reliable, rerun to confirm.\n\n",
				t.Label, percent(t.MaxSteal))
		}
	}
}

// rpsRange is the median req/s, with the range when there were several
// repetitions.
func rpsRange(s *Saturation) string {
	if s.RPSMin == s.RPSMax {
		return thousands(s.RPS)
	}
	return fmt.Sprintf("%s (%s–%s)", thousands(s.RPS), thousands(s.RPSMin), thousands(s.RPSMax))
}

// coreBusy formats how busy core i was, every process counted.
func coreBusy(c *Cores, i int) string {
	if c == nil || i >= len(c.Busy) {
		return "—"
	}
	return percent(c.Busy[i])
}

func percent(f float64) string { return fmt.Sprintf("%.0f%%", 100*f) }

// runMaxSteal is the largest share of a core the hypervisor took in any run.
func runMaxSteal(rep *Report) float64 {
	var m float64
	for _, sc := range rep.Scenarios {
		for _, t := range sc.Targets {
			m = max(m, t.MaxSteal)
		}
	}
	return m
}

// cpuAndRSS formats a fixed-rate run's CPU per 1k req/s and RSS, or "—"
// when the target has no process of its own (the direct call).
func cpuAndRSS(r *FixedRate) (cpu, rss string) {
	if r.Proxy == nil {
		return "—", "—"
	}
	return fmt.Sprintf("%.1f%% of a core", 100*r.CPUPer1k), fmt.Sprintf("%.1f MiB", float64(r.Proxy.RSSKB)/1024)
}

func fixedRate(b *strings.Builder, rep *Report, sc *Scenario) {
	fmt.Fprintf(b, "### Fixed rate: %g req/s open loop for %g s, latency from the scheduled send time\n\n", rep.Run.Rate, rep.Run.DurationS)
	peers := tablePeers(sc)
	head, align := peerColumns(peers)
	fmt.Fprintf(b, "| target | p50 | p90 | p99 | ok / errors | proxy CPU per 1k req/s%s | proxy RSS |\n", head)
	fmt.Fprintf(b, "|---|--:|--:|--:|--:|--:%s|--:|\n", align)
	for _, t := range sc.Targets {
		if t.Status != "ok" || t.FixedRate == nil {
			fmt.Fprintf(b, "| %s | %s | | | | |%s |\n", t.Label, notMeasured(t), strings.Repeat(" |", len(peers)))
			continue
		}
		r := t.FixedRate
		cpu, rss := cpuAndRSS(r)
		fmt.Fprintf(b, "| %s | %s | %s | %s | %d / %d | %s%s | %s |\n", label(t),
			micros(r.Latency.P50), micros(r.Latency.P90), micros(r.Latency.P99),
			r.OK, r.Errors+r.Misrouted+r.Dropped, cpu, ratioCells(t, "cpu_per_1k", peers), rss)
	}
	fmt.Fprintln(b)
}

// summary spells out lanemesh's ratios, the figures the design asks for.
func summary(b *strings.Builder, sc *Scenario) {
	t := find(sc, "lanemesh")
	fmt.Fprintln(b, "### lanemesh against its peers")
	fmt.Fprintln(b)
	if t == nil || t.Status != "ok" {
		status := "not run"
		if t != nil {
			status = notMeasured(t)
		}
		fmt.Fprintf(b, "- lanemesh: %s\n", status)
		if t != nil && t.Detail != "" {
			fmt.Fprintf(b, "- %s\n", t.Detail)
		}
		return
	}
	for _, peer := range peers {
		fmt.Fprintf(b, "- lanemesh / %s: req/s per proxy core = %s (CPU per request at saturation: user = %s, system = %s), rps = %s, CPU per 1k req/s = %s, p99 at fixed rate = %s, RSS = %s\n", peer,
			ratio(t, "rps_per_core_vs_"+peer), ratio(t, "user_per_request_vs_"+peer), ratio(t, "system_per_request_vs_"+peer),
			ratio(t, "rps_vs_"+peer), ratio(t, "cpu_per_1k_vs_"+peer), ratio(t, "p99_vs_"+peer), ratio(t, "rss_vs_"+peer))
	}
}

func notMeasured(t *Target) string {
	if t.Status == "failed" {
		return "**FAILED**: " + t.Note
	}
	return "not measured: " + t.Note
}

func ratio(t *Target, key string) string {
	v, ok := t.Ratios[key]
	if !ok {
		return "—"
	}
	return fmt.Sprintf("%.2f×", v)
}

// micros formats a latency in µs, switching to ms from 1 ms on.
func micros(us float64) string {
	if us >= 1000 {
		return fmt.Sprintf("%.2f ms", us/1000)
	}
	return fmt.Sprintf("%.0f µs", us)
}

// thousands formats n rounded, with thin separators: 12,345.
func thousands(n float64) string {
	s := fmt.Sprintf("%.0f", n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func versions(v map[string]string) string {
	var parts []string
	for _, k := range []string{"go", "nginx", "haproxy", "wrk", "lanemesh"} {
		if v[k] != "" {
			parts = append(parts, k+" "+v[k])
		}
	}
	return strings.Join(parts, ", ")
}

// loadAverage is the 1-minute load average in an `uptime` line, or -1.
func loadAverage(uptime string) float64 {
	_, after, ok := strings.Cut(uptime, "load average:")
	if !ok {
		return -1
	}
	var la float64
	if _, err := fmt.Sscanf(strings.TrimSpace(strings.Split(after, ",")[0]), "%g", &la); err != nil {
		return -1
	}
	return la
}

// rates names the fixed rates of the scenarios that ran.
func rates(r Run) string {
	var parts []string
	for _, id := range asked(r) {
		switch id {
		case "A":
			parts = append(parts, fmt.Sprintf("A at %g req/s", r.Rate))
		case "B":
			parts = append(parts, fmt.Sprintf("B at %g req/s", r.ChainRate))
		case "D":
			parts = append(parts, fmt.Sprintf("D at %g req/s", r.FailoverRate))
		case "E":
			parts = append(parts, fmt.Sprintf("E at %g req/s", r.HopRate))
		}
	}
	if len(parts) == 0 {
		return "no fixed-rate runs"
	}
	return "fixed rate " + strings.Join(parts, ", ")
}

func repeats(n int) string {
	if n <= 1 {
		return "one repetition"
	}
	return fmt.Sprintf("%d interleaved repetitions, medians shown", n)
}
