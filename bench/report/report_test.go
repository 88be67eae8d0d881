package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestThousands(t *testing.T) {
	for in, want := range map[float64]string{0: "0", 999: "999", 1000: "1,000", 1234567.4: "1,234,567"} {
		if got := thousands(in); got != want {
			t.Errorf("thousands(%v) = %q, want %q", in, got, want)
		}
	}
}

// measured is a target with three repetitions around rps and cpu.
func measured(name string, rps, cpu float64) *Target {
	t := &Target{Name: name, Label: name, Kind: "proxy", Status: "ok"}
	for _, f := range []float64{1.1, 1, 0.5} {
		t.SaturationRuns = append(t.SaturationRuns, &Saturation{RPS: rps * f, RPSPerProxyCore: rps * f / 0.9,
			Proxy: &Proc{CPUCores: 0.9}})
		t.FixedRateRuns = append(t.FixedRateRuns, &FixedRate{Rate: 1000, OK: 1000, Achieved: 1000, CPUPer1k: cpu * f,
			Latency: Latency{P99: 500}, Proxy: &Proc{RSSKB: 1024}})
	}
	t.Saturation, t.FixedRate = medianSaturation(t.SaturationRuns), medianFixedRate(t.FixedRateRuns)
	return t
}

// TestPairedRatios: with repetitions on both sides, throughput and CPU
// ratios are medians of each repetition against the peer's, which drift
// on the host moves together; the ratio of the medians would pair runs
// from different minutes.
func TestPairedRatios(t *testing.T) {
	runs := func(name string, perCore ...float64) *Target {
		t := &Target{Name: name, Kind: "proxy", Status: "ok"}
		for _, v := range perCore {
			t.SaturationRuns = append(t.SaturationRuns, &Saturation{RPS: v, RPSPerProxyCore: v, UserUSPerReq: 1 / v})
			t.FixedRateRuns = append(t.FixedRateRuns, &FixedRate{CPUPer1k: 1 / v})
		}
		t.Saturation, t.FixedRate = medianSaturation(t.SaturationRuns), medianFixedRate(t.FixedRateRuns)
		return t
	}
	// The host slowed down in the second and third repetitions: lanemesh
	// is 0.95× HAProxy in two of three pairs, 60/70 in the medians.
	hap, lm := runs("haproxy", 100, 60, 70), runs("lanemesh", 95, 57, 60)
	computeRatios(&Report{Scenarios: []*Scenario{{ID: "A", Targets: []*Target{hap, lm}}}})
	for key, want := range map[string]float64{"rps_vs_haproxy": 0.95, "rps_per_core_vs_haproxy": 0.95,
		"user_per_request_vs_haproxy": 1 / 0.95, "cpu_per_1k_vs_haproxy": 1 / 0.95} {
		if got := lm.Ratios[key]; math.Abs(got-want) > 1e-9 {
			t.Errorf("%s = %v, want %v", key, got, want)
		}
	}
	// Unequal repetitions cannot be paired: the ratio of the medians.
	lm = runs("lanemesh", 95, 57)
	computeRatios(&Report{Scenarios: []*Scenario{{ID: "A", Targets: []*Target{hap, lm}}}})
	if got, want := lm.Ratios["rps_per_core_vs_haproxy"], 76.0/70; math.Abs(got-want) > 1e-9 {
		t.Errorf("unpaired rps_per_core_vs_haproxy = %v, want %v", got, want)
	}
}

func TestRatiosAndCheck(t *testing.T) {
	skipped := &Target{Name: "lanemesh", Label: "lanemesh", Kind: "proxy", Status: "skipped", Note: "not available yet"}
	direct := measured("direct", 40000, 0)
	direct.Kind = "direct"
	a := &Scenario{ID: "A", Status: "measured", Targets: []*Target{
		direct, measured("haproxy", 20000, 0.10), measured("haproxy-headers", 16000, 0.125), measured("nginx", 18000, 0.12),
		measured("baseline", 10000, 0.20), skipped,
	}}
	rep := &Report{Scenarios: []*Scenario{a}}
	computeRatios(rep)
	if got := find(a, "nginx").Ratios["rps_vs_haproxy"]; got != 0.9 {
		t.Errorf("nginx rps_vs_haproxy = %v, want 0.9", got)
	}
	if got := find(a, "nginx").Ratios["rps_vs_haproxy-headers"]; got != 1.125 {
		t.Errorf("nginx rps_vs_haproxy-headers = %v, want 1.125", got)
	}
	if got := find(a, "nginx").Ratios["rps_vs_baseline"]; got != 1.8 {
		t.Errorf("nginx rps_vs_baseline = %v, want 1.8", got)
	}
	if find(a, "direct").Ratios != nil || skipped.Ratios != nil {
		t.Errorf("direct and skipped targets must have no ratios")
	}
	if s := find(a, "nginx").Saturation; s.RPS != 18000 || s.RPSMin != 9000 || s.RPSMax != 19800 {
		t.Errorf("nginx median/min/max = %v/%v/%v, want 18000/9000/19800", s.RPS, s.RPSMin, s.RPSMax)
	}
	if got := find(a, "nginx").FixedRate.OK; got != 3000 {
		t.Errorf("nginx ok = %d, want the sum 3000", got)
	}
	if p := checkReport(rep); len(p) != 0 {
		t.Errorf("clean run: check = %v, want none", p)
	}
	md := markdown(rep)
	if !strings.Contains(md, "lanemesh: not measured: not available yet") {
		t.Errorf("markdown lacks the lanemesh placeholder:\n%s", md)
	}
	// The headers peer has a column of its own in both tables: nginx is
	// 18,000 / 16,000 req/s and 0.12 / 0.125 of a core per 1k of it.
	for _, want := range []string{"| req/s per proxy core | × HAProxy | × HAProxy with headers | × baseline |", "| 0.90× | 1.12× | 1.80× |",
		"| proxy CPU per 1k req/s | × HAProxy | × HAProxy with headers | × baseline |", "| 1.20× | 0.96× | 0.60× |"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	checkTableShapes(t, md)

	find(a, "nginx").FixedRate.Misrouted = 1
	find(a, "haproxy").FixedRateRuns[2].Achieved = 900
	skipped.Status = "failed"
	if p := checkReport(rep); len(p) != 3 {
		t.Errorf("misrouted, short of rate and failed: check = %v, want 3 problems", p)
	}
}

func TestChainConvergenceFailover(t *testing.T) {
	direct := measured("direct", 0, 0.5)
	direct.Kind = "direct"
	mesh := measured("lanemesh", 0, 0.8)
	for _, r := range mesh.FixedRateRuns {
		r.Latency = Latency{P50: 1300, P90: 2000, P99: 3500}
	}
	mesh.FixedRate = medianFixedRate(mesh.FixedRateRuns)
	oneProc := measured("direct1", 0, 0.4)
	oneProc.Kind = "direct"
	for _, r := range oneProc.FixedRateRuns {
		r.Latency = Latency{P50: 400, P90: 500, P99: 800}
	}
	oneProc.FixedRate = medianFixedRate(oneProc.FixedRateRuns)
	b := &Scenario{ID: "B", Status: "measured", Hops: 3, Rate: 500, Targets: []*Target{direct, oneProc, mesh}}
	computeChain(b)
	if c := b.Chain.Direct; c == nil || c.AddedPerHopUS.P99 != 1000 || c.Ratios["p99"] != 7 {
		t.Fatalf("chain = %+v, want +1000 µs per hop at p99 and 7× p99", c)
	}
	if c := b.Chain.OneProcess; c == nil || c.AddedPerHopUS.P50 != 300 {
		t.Fatalf("one-process chain = %+v, want +300 µs per hop at p50", c)
	}

	c := &Scenario{ID: "C", Status: "measured", Changes: 2, Convergence: []*Convergence{{N: 1000, Workers: 8,
		Changes: []ConvergeChange{{AllMS: 150}, {AllMS: 250}}}}}
	c.Convergence[0].Summary.AllP99MS = 250
	if !strings.Contains(convergeTarget(c), "**not met**") {
		t.Errorf("p99 250 ms at N=1000: %s", convergeTarget(c))
	}

	kill := &Failover{Name: "kill", OK: 900, FellBack: 100, Event: &Event{FirstFallbackMS: 5, LastInLaneMS: -1, BackInLaneMS: 1200}}
	d := &Scenario{ID: "D", Status: "measured", Rate: 500, Failover: []*Failover{kill}}
	rep := &Report{Run: Run{Scenarios: []string{"B", "C", "D"}, DurationS: 3}, Scenarios: []*Scenario{b, c, d}}
	p := checkReport(rep)
	if len(p) != 1 || !strings.Contains(p[0], "scale run is missing") {
		t.Errorf("check = %v, want only the missing scale run", p)
	}
	md := markdown(rep)
	for _, want := range []string{"added per proxy hop", "+1.00 ms", "(mesh − direct, one process) / 3) | +300 µs", "| 1,000 | 8 | ", "each change in order (ms): 150, 250.", "| 900 / 100 / 0 | +5.00 ms | never | +1200 ms |"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

// withLatency sets every fixed-rate run of t to l and recomputes the median.
func withLatency(t *Target, l Latency) *Target {
	for _, r := range t.FixedRateRuns {
		r.Latency = l
	}
	t.FixedRate = medianFixedRate(t.FixedRateRuns)
	return t
}

func TestHops(t *testing.T) {
	direct := withLatency(measured("direct", 0, 0.4), Latency{P50: 600, P90: 800, P99: 1000})
	direct.Kind = "direct"
	full := withLatency(measured("lanemesh", 0, 0.9), Latency{P50: 1200, P90: 2000, P99: 2200})
	full.Label = "separate lanemesh proxy processes"
	slim := withLatency(measured("slim", 0, 0.8), Latency{P50: 900, P90: 1100, P99: 2800})
	slim.Label = "separate lanemesh-proxy processes"
	peer := withLatency(measured("haproxy", 0, 0.6), Latency{P50: 800, P90: 1000, P99: 1900})
	peer.Label = "separate HAProxy processes (peer)"
	e := &Scenario{ID: "E", Status: "measured", Hops: 3, Rate: 1000, Targets: []*Target{direct, full, slim, peer}}
	computeHops(e)
	if len(e.HopChains) != 3 {
		t.Fatalf("hop chains = %+v, want one per mesh", e.HopChains)
	}
	if h := e.HopChains[0]; h.Mesh != "lanemesh" || h.AddedPerHopUS.P50 != 200 || h.AddedPerHopUS.P99 != 400 || h.Ratios["p99"] != 2.2 {
		t.Errorf("full proxy = %+v, want +200 µs p50, +400 µs p99 per hop, 2.2× p99", h)
	}
	if h := e.HopChains[1]; h.Mesh != "slim" || h.AddedPerHopUS.P99 != 600 {
		t.Errorf("slim proxy = %+v, want +600 µs p99 per hop", h)
	}
	verdict := hopTarget(e)
	for _, want := range []string{"separate lanemesh proxy processes **met** (+400 µs)", "separate lanemesh-proxy processes **not met** (+600 µs)",
		"In the same run, separate HAProxy processes (peer) added +300 µs per hop at p99."} {
		if !strings.Contains(verdict, want) {
			t.Errorf("target line lacks %q: %s", want, verdict)
		}
	}
	if strings.Contains(verdict, "(peer) **") {
		t.Errorf("the peer chain got a verdict of its own: %s", verdict)
	}
	// A direct chain whose core 0 others took, or whose p99 came out
	// above the mesh's, makes no verdict.
	direct.FixedRate.Proxy.CPUCores, direct.FixedRate.Cores = 0.4, &Cores{Busy: []float64{0.9, 0.5}}
	if v := hopTarget(e); !strings.Contains(v, "**inconclusive** (other processes took core 0 during the direct chain's run)") {
		t.Errorf("disturbed direct run: %s", v)
	}
	direct.FixedRate.Cores.Busy[0] = 0.5
	full.FixedRate.Latency.P99 = 500
	computeHops(e)
	if v := hopTarget(e); !strings.Contains(v, "separate lanemesh proxy processes **inconclusive** (the direct chain's p99 was above the mesh's)") {
		t.Errorf("mesh p99 below the direct chain's: %s", v)
	}
	full.FixedRate = medianFixedRate(full.FixedRateRuns)
	computeHops(e)
	rep := &Report{Run: Run{Scenarios: []string{"E"}, HopRate: 1000, DurationS: 3}, Scenarios: []*Scenario{e}}
	if p := checkReport(rep); len(p) != 0 {
		t.Errorf("clean run: check = %v, want none", p)
	}
	md := markdown(rep)
	for _, want := range []string{"E at 1000 req/s", "| *separate lanemesh-proxy processes:* |", "((mesh − direct) / 3) | +200 µs | +400 µs | +400 µs | | +16.7% of a core |"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}

	// A failed slim row fails the check; a missing one (a tree without
	// cmd/lanemesh-proxy) does not, but a missing full mesh does.
	slim.Status, slim.Note = "failed", "chain check failed"
	if p := checkReport(rep); len(p) != 1 || !strings.Contains(p[0], "E: slim failed") {
		t.Errorf("failed slim: check = %v", p)
	}
	e.Targets = []*Target{direct, full}
	if p := checkReport(rep); len(p) != 0 {
		t.Errorf("no slim row: check = %v, want none", p)
	}
	e.Targets = []*Target{direct, peer}
	computeHops(e)
	if p := checkReport(rep); len(p) != 1 || !strings.Contains(p[0], "E: lanemesh was not measured") {
		t.Errorf("no mesh: check = %v", p)
	}
	if !strings.Contains(hopTarget(e), "not measured") {
		t.Errorf("no mesh: target line %q", hopTarget(e))
	}
}

// TestConvergenceSample: the full sample's table appears for runs with
// light clients, with each kind's CPU per change and their difference,
// and not for runs in which every client was full.
func TestConvergenceSample(t *testing.T) {
	light := &Convergence{N: 1000, Workers: 8, Changes: []ConvergeChange{{AllMS: 150}}}
	light.Sample.Every, light.Sample.N, light.Sample.AllP99MS = 50, 20, 170
	light.Clients.FullProxyCPUMS, light.Clients.LightProxyCPUMS = 0.25, 0.1
	if err := json.Unmarshal([]byte(`{"messages_per_proxy_per_change":{"cds":1,"rds":1}}`), light); err != nil {
		t.Fatal(err)
	}
	all := &Convergence{N: 100, Workers: 8, Changes: []ConvergeChange{{AllMS: 50}}}
	all.Sample.Every, all.Sample.N = 1, 100
	var b strings.Builder
	convergenceMarkdown(&b, &Scenario{ID: "C", Changes: 1, Convergence: []*Convergence{all, light}})
	md := b.String()
	if !strings.Contains(md, "| 1,000 | 20 (1 in 50) | ") || !strings.Contains(md, "| 170 ms |") ||
		!strings.Contains(md, "| 0.250 ms | 0.100 ms | 0.150 ms |") {
		t.Errorf("the sample's row is missing or wrong:\n%s", md)
	}
	if !strings.Contains(md, "N=1,000, responses per light client per change, each answered by an ACK or NACK: CDS 1.00, EDS 0.00, LDS 0.00, RDS 1.00; NACKs 0.00.") {
		t.Errorf("the messages per change are missing:\n%s", md)
	}
	if strings.Contains(md, "| 100 | 100 (1 in 1)") {
		t.Errorf("a run with every client full has a sample row:\n%s", md)
	}
}

// checkTableShapes fails if a row of a markdown table has another number
// of cells than the table's header.
func checkTableShapes(t *testing.T, md string) {
	t.Helper()
	want := 0
	for _, line := range strings.Split(md, "\n") {
		if !strings.HasPrefix(line, "|") {
			want = 0
			continue
		}
		n := strings.Count(line, "|")
		if want == 0 {
			want = n
		} else if n != want {
			t.Errorf("table row with %d separators, want %d: %s", n, want, line)
		}
	}
}

// TestSaturationSplitsCPU: a closed-loop run's proxy CPU is split per
// request into user and system time, from load measure's utime and the
// window wall time its CPU share implies; a run from before the split has
// neither.
func TestSaturationSplitsCPU(t *testing.T) {
	dir := t.TempDir()
	write := func(name, proxy string) string {
		p := filepath.Join(dir, name)
		body := `{"proxy":` + proxy + `,"result":{"rps":1000,"errors":{}}}`
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// 10 s of CPU at one core is a 10 s window: 10,000 requests.
	s, err := loadSaturation(write("new.json", `{"cpu_seconds":10,"user_seconds":4,"cpu_cores":1}`))
	if err != nil {
		t.Fatal(err)
	}
	if s.UserUSPerReq != 400 || s.SystemUSPerReq != 600 || s.RPSPerProxyCore != 1000 {
		t.Errorf("user/system/per core = %v/%v/%v, want 400/600/1000", s.UserUSPerReq, s.SystemUSPerReq, s.RPSPerProxyCore)
	}
	old, err := loadSaturation(write("old.json", `{"cpu_seconds":10,"cpu_cores":0.5}`))
	if err != nil {
		t.Fatal(err)
	}
	if old.UserUSPerReq != 0 || old.SystemUSPerReq != 0 || old.RPSPerProxyCore != 2000 {
		t.Errorf("without user_seconds: user/system/per core = %v/%v/%v, want 0/0/2000", old.UserUSPerReq, old.SystemUSPerReq, old.RPSPerProxyCore)
	}
}
