// Command converge measures how fast a lanemesh control plane brings N
// proxies to a new configuration (scenario C of bench/run.sh).
//
// It connects N simulated proxies to a running `lanemesh controlplane`,
// each with its own node id and one of a few sidecar identities, and waits
// until every one has its first configuration. It then toggles the
// tutorial's fallback on and off K times by running
// `lanemesh apply -f FILE --server ADMIN` (vs-mock-fallback.yaml, then
// vs-mock.yaml, ...) and times, from the moment the apply command starts,
// until each proxy's Apply is handed route configurations that use (or no
// longer use) a fallback cluster. The next change waits until the previous
// one reached every proxy, then no proxy was handed anything for -quiet and
// the control plane used no CPU for as long (with -cp-pid): its
// make-before-break push, and its handling of the ACKs, are over.
//
// The identities are the sidecars whose routes the change alters: mocka,
// mockb and mockc in versions v2 and v3 (a v1 sidecar and the gateway route
// no lane with a fallback, so the change gives them nothing new). The
// result, as JSON, holds every change's "all N have it" time and per-proxy
// percentiles, and the control plane's RSS and CPU read from /proc.
//
// One proxy in -sample (default 50) is a full xds.Client, the proxy's own
// decoder; the others are light clients (light.go), the same on the wire
// but spared the decoding of each resource, since the N share the
// harness's core where real proxies decode on their own. The result has
// the sample's own times and each kind's CPU per change per client.
//
// With -workers K (K > 1) the N clients run in K worker processes, copies
// of this command, N/K each, which this one drives (worker.go), so that one
// process's scheduler, garbage collector and decoding do not stand between
// the control plane and every proxy; -workers 1 runs them all in this
// process. Either way the times are CLOCK_MONOTONIC readings (mono), one
// clock for every process on the machine.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"github.com/lanemesh/lanemesh/internal/guard"
	"github.com/lanemesh/lanemesh/internal/meshxds"
	"github.com/lanemesh/lanemesh/internal/xds"
)

func main() {
	var o options
	flag.StringVar(&o.xds, "xds", "127.0.0.1:15010", "the control plane's xDS address")
	flag.StringVar(&o.xdsToken, "xds-token-file", "", "the control plane's operator xDS token (default: the one it writes for -xds's port in $LANEMESH_HOME or ~/.config/lanemesh)")
	flag.StringVar(&o.admin, "admin", "http://127.0.0.1:15000", "the control plane's admin API, for lanemesh apply --server")
	flag.StringVar(&o.lanemesh, "lanemesh", "lanemesh", "the lanemesh binary that runs apply")
	flag.StringVar(&o.on, "on", "examples/traffic-lanes-fallback/vs-mock-fallback.yaml", "the change that turns fallback on")
	flag.StringVar(&o.off, "off", "examples/traffic-lanes/vs-mock.yaml", "the change that turns it off again")
	flag.IntVar(&o.n, "n", 100, "xDS clients (proxies)")
	flag.IntVar(&o.workers, "workers", 1, "processes the clients run in: 1 runs them in this one, K > 1 starts K workers with N/K each")
	flag.BoolVar(&o.worker, "worker", false, "run as a worker of another converge: clients -first .. -first+-n-1, driven over stdin and stdout")
	flag.IntVar(&o.first, "first", 0, "with -worker: the index of this worker's first client in the whole fleet")
	flag.IntVar(&o.sample, "sample", 50, "one simulated proxy in this many is a full xds.Client (the sample), the others light clients; 1 makes every one full")
	flag.IntVar(&o.full, "full", 0, "with -worker: clients 0 .. this-1 of the whole fleet are full xds.Clients")
	flag.IntVar(&o.changes, "changes", 10, "changes to time, alternately on and off")
	flag.IntVar(&o.cpPID, "cp-pid", 0, "the control plane's pid, for its RSS and CPU; 0 to skip")
	flag.DurationVar(&o.timeout, "timeout", 10*time.Second, "how long a change may take to reach every proxy")
	flag.DurationVar(&o.connectTimeout, "connect-timeout", time.Minute, "how long the first configuration may take to reach every proxy")
	flag.DurationVar(&o.quiet, "quiet", 200*time.Millisecond, "after a change reached every proxy, wait until no proxy got anything, and the control plane used no CPU, for this long")
	out := flag.String("out", "", "write the JSON result here instead of stdout")
	flag.Parse()
	if o.worker {
		if err := runWorker(o); err != nil {
			fmt.Fprintln(os.Stderr, "converge worker:", err)
			os.Exit(1)
		}
		return
	}
	res, err := run(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "converge:", err)
		os.Exit(1)
	}
	s := res.Summary
	fmt.Printf("converge n=%d in %d process(es): %d changes, all converged p50 %.1f ms p99 %.1f ms max %.1f ms; per proxy p50 %.1f ms p99 %.1f ms max %.1f ms; missed %d\n",
		res.N, res.Workers, len(res.Changes), s.AllP50MS, s.AllP99MS, s.AllMaxMS, s.ProxyP50MS, s.ProxyP99MS, s.ProxyMaxMS, s.Missed)
	sm := res.Sample
	fmt.Printf("converge n=%d sample of %d full clients (1 in %d): all converged p50 %.1f ms p99 %.1f ms; per proxy p50 %.1f ms p99 %.1f ms; CPU per change per client: full %.3f ms, light %.3f ms\n",
		res.N, sm.N, sm.Every, sm.AllP50MS, sm.AllP99MS, sm.ProxyP50MS, sm.ProxyP99MS, res.Clients.FullProxyCPUMS, res.Clients.LightProxyCPUMS)
	if m := res.Messages; m != nil {
		fmt.Printf("converge n=%d responses per light client per change: CDS %.2f EDS %.2f LDS %.2f RDS %.2f; NACKs %.2f\n",
			res.N, m.CDS, m.EDS, m.LDS, m.RDS, m.NACKs)
	}
	b, _ := json.MarshalIndent(res, "", "  ")
	b = append(b, '\n')
	if *out == "" {
		os.Stdout.Write(b)
	} else if err := os.WriteFile(*out, b, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "converge:", err)
		os.Exit(1)
	}
}

// sampled is how many clients, the first ones, are full xds.Clients.
func (o options) sampled() int { return o.full }

// options are the command's flags.
type options struct {
	xds, xdsToken, admin, lanemesh string
	on, off                        string
	n, changes, cpPID              int
	workers, first                 int
	// sample is -sample; full is how many clients (the first ones) are
	// full xds.Clients, worked out from it by run.
	sample, full            int
	worker                  bool
	timeout, connectTimeout time.Duration
	quiet                   time.Duration
}

// identities are the sidecars the fallback change reaches.
var identities = func() []meshxds.Proxy {
	var out []meshxds.Proxy
	for _, app := range []string{"mocka", "mockb", "mockc"} {
		for _, v := range []string{"v2", "v3"} {
			out = append(out, meshxds.Proxy{Role: meshxds.Sidecar, Namespace: "default",
				Labels: map[string]string{"app": app, "version": v}})
		}
	}
	return out
}()

// result is the command's JSON output.
type result struct {
	N int `json:"n"`
	// Workers is how many processes the clients ran in (1: this one).
	Workers    int      `json:"workers"`
	Identities []string `json:"identities"`
	Trigger    string   `json:"trigger"`
	// ConnectMS is how long all N took to get their first configuration.
	ConnectMS    float64        `json:"connect_ms"`
	Changes      []change       `json:"changes"`
	Summary      summary        `json:"summary"`
	ControlPlane *controlPlane  `json:"control_plane,omitempty"`
	Clients      clientsProcess `json:"clients"`
	// Sample is the figures of the full xds.Clients alone.
	Sample sample `json:"sample"`
	// Messages is what the control plane sent the light clients over the
	// changes, per light client and change: responses by type (CDS, EDS,
	// LDS, RDS; each was answered by one ACK or NACK) and NACKs.
	Messages *perChange `json:"messages_per_proxy_per_change,omitempty"`
}

// perChange is messages per light client and change.
type perChange struct {
	CDS   float64 `json:"cds"`
	EDS   float64 `json:"eds"`
	LDS   float64 `json:"lds"`
	RDS   float64 `json:"rds"`
	NACKs float64 `json:"nacks"`
}

// sample is the full xds.Clients' share of the fleet: their times, and
// their CPU, which is what a real proxy spends on a change.
type sample struct {
	// Every is -sample: one client in Every is full; N of them, the first
	// N by index, so spread round-robin over the identities.
	Every int `json:"every"`
	N     int `json:"n"`
	times     // of the sample's proxies
}

// times are a set of proxies' percentiles: AllP* over the changes, of the
// time until the last of them had the change; ProxyP* over every one's
// time in every change.
type times struct {
	AllP50MS   float64 `json:"all_p50_ms"`
	AllP99MS   float64 `json:"all_p99_ms"`
	AllMaxMS   float64 `json:"all_max_ms"`
	ProxyP50MS float64 `json:"proxy_p50_ms"`
	ProxyP99MS float64 `json:"proxy_p99_ms"`
	ProxyMaxMS float64 `json:"proxy_max_ms"`
}

// timesOf are the percentiles of all (per change) and proxies (per proxy
// and change).
func timesOf(all, proxies []float64) times {
	return times{AllP50MS: pct(all, 0.5), AllP99MS: pct(all, 0.99), AllMaxMS: pct(all, 1),
		ProxyP50MS: pct(proxies, 0.5), ProxyP99MS: pct(proxies, 0.99), ProxyMaxMS: pct(proxies, 1)}
}

// change is one timed configuration change.
type change struct {
	Fallback bool    `json:"fallback"`  // turned on (true) or off
	ApplyMS  float64 `json:"apply_ms"`  // the apply command, start to exit
	AllMS    float64 `json:"all_ms"`    // until the last proxy had it
	PushMS   float64 `json:"push_ms"`   // until the last proxy got its last update (all push phases)
	ProxyP50 float64 `json:"proxy_p50"` // per-proxy times, ms
	ProxyP99 float64 `json:"proxy_p99"`
	Missed   int     `json:"missed"` // proxies that did not have it within -timeout
}

// summary is over all changes, of all N proxies.
type summary struct {
	times
	ApplyP50MS float64 `json:"apply_p50_ms"`
	PushP50MS  float64 `json:"push_p50_ms"`
	Missed     int     `json:"missed"`
}

// controlPlane is the control plane process's memory and CPU.
type controlPlane struct {
	PID int `json:"pid"`
	// ConnectedRSSKB is VmRSS once all N had their first configuration,
	// RSSKB after the last change; PeakRSSKB is VmHWM, the most it ever
	// held.
	ConnectedRSSKB int64 `json:"connected_rss_kb"`
	RSSKB          int64 `json:"rss_kb"`
	PeakRSSKB      int64 `json:"peak_rss_kb"`
	// CPUPerChangeMS is its CPU time over the changes, per change.
	CPUPerChangeMS float64 `json:"cpu_per_change_ms"`
}

// clientsProcess is the clients' CPU per change, this process's and its
// workers': decoding and applying N proxies' updates on the one core the
// harness gives them.
type clientsProcess struct {
	CPUPerChangeMS float64 `json:"cpu_per_change_ms"`
	// FullProxyCPUMS and LightProxyCPUMS are one full xds.Client's and one
	// light client's CPU per change (their processes' CPU over the
	// changes, per change and per client), when the two kinds run in
	// separate processes; 0 otherwise. A full client's is what one real
	// proxy spends on a change on its own core: receiving, decoding,
	// checking, applying and answering; the difference is the decoding
	// the light clients leave out.
	FullProxyCPUMS  float64 `json:"full_proxy_cpu_per_change_ms"`
	LightProxyCPUMS float64 `json:"light_proxy_cpu_per_change_ms"`
}

func run(o options) (*result, error) {
	if o.n <= 0 || o.changes <= 0 || o.workers <= 0 || o.sample <= 0 {
		return nil, errors.New("-n, -changes, -workers and -sample must be positive")
	}
	o.workers = min(o.workers, o.n)
	o.full = (o.n + o.sample - 1) / o.sample
	res := &result{N: o.n, Workers: o.workers, Trigger: fmt.Sprintf("%s apply -f FILE --server %s (admin API)", o.lanemesh, o.admin),
		Sample: sample{Every: o.sample, N: o.full}}
	for _, p := range identities {
		res.Identities = append(res.Identities, "sidecar "+p.Labels["app"]+"-"+p.Labels["version"])
	}
	tokenPath, err := xdsTokenPath(o)
	if err != nil {
		return nil, err
	}
	start := mono()
	var f fleet
	if o.workers == 1 {
		f = newLocalFleet(o, xds.TokenFile(tokenPath), 0, o.n)
	} else if f, err = startWorkers(o, tokenPath); err != nil {
		return nil, err
	}
	defer f.close()
	if missed, err := f.connect(o.connectTimeout); err != nil {
		return nil, err
	} else if missed > 0 {
		return nil, fmt.Errorf("%d of %d proxies got no configuration within %v", missed, o.n, o.connectTimeout)
	}
	res.ConnectMS = msSince(start, mono())
	connectedRSS, _ := memory(o.cpPID)

	fullPIDs, lightPIDs, split := f.split()
	msgsBefore, err := f.messages()
	if err != nil {
		return nil, err
	}
	cpBefore, clientsBefore := cpuSeconds(o.cpPID), cpuOf(f.pids())
	fullBefore, lightBefore := cpuOf(fullPIDs), cpuOf(lightPIDs)
	var all, proxies, applies, pushes, sampleAll, sampleProxies []float64
	for k := range o.changes {
		ch, times, err := o.change(f, k%2 == 0)
		if err != nil {
			return nil, err
		}
		res.Changes = append(res.Changes, ch)
		res.Summary.Missed += ch.Missed
		all = append(all, ch.AllMS)
		applies = append(applies, ch.ApplyMS)
		proxies = append(proxies, times.all...)
		pushes = append(pushes, ch.PushMS)
		sampleAll = append(sampleAll, pct(times.sample, 1))
		sampleProxies = append(sampleProxies, times.sample...)
	}
	if split {
		perProxy := func(cpu float64, n int) float64 { return 1000 * cpu / float64(o.changes) / float64(max(n, 1)) }
		res.Clients.FullProxyCPUMS = perProxy(cpuOf(fullPIDs)-fullBefore, o.full)
		res.Clients.LightProxyCPUMS = perProxy(cpuOf(lightPIDs)-lightBefore, o.n-o.full)
	}
	if light := o.n - o.full; light > 0 {
		m, err := f.messages()
		if err != nil {
			return nil, err
		}
		m = m.minus(msgsBefore)
		per := func(v int64) float64 { return float64(v) / float64(light) / float64(o.changes) }
		res.Messages = &perChange{CDS: per(m.Responses[meshxds.Clusters]), EDS: per(m.Responses[meshxds.Endpoints]),
			LDS: per(m.Responses[meshxds.Listeners]), RDS: per(m.Responses[meshxds.Routes]), NACKs: per(m.NACKs)}
	}
	res.Sample.times = timesOf(sampleAll, sampleProxies)
	res.Summary.times = timesOf(all, proxies)
	res.Summary.ApplyP50MS, res.Summary.PushP50MS = pct(applies, 0.5), pct(pushes, 0.5)
	res.Clients.CPUPerChangeMS = 1000 * (cpuOf(f.pids()) - clientsBefore) / float64(o.changes)
	if o.cpPID != 0 {
		rss, peak := memory(o.cpPID)
		res.ControlPlane = &controlPlane{PID: o.cpPID, ConnectedRSSKB: connectedRSS, RSSKB: rss, PeakRSSKB: peak,
			CPUPerChangeMS: 1000 * (cpuSeconds(o.cpPID) - cpBefore) / float64(o.changes)}
	}
	return res, f.close()
}

// changeTimes are the proxies' times of one change, in ms from the start
// of the apply command: all of them's, and the full sample's alone. A
// proxy that did not have it within -timeout has none.
type changeTimes struct{ all, sample []float64 }

// change applies one change and times it to every proxy. Every proxy is
// waiting for the new state (begin) before the command starts, in
// whichever process it runs.
func (o options) change(f fleet, on bool) (change, changeTimes, error) {
	file := o.off
	if on {
		file = o.on
	}
	if err := f.begin(on); err != nil {
		return change{}, changeTimes{}, err
	}
	t0 := mono()
	out, err := exec.Command(o.lanemesh, "apply", "-f", file, "--server", o.admin).CombinedOutput()
	ch := change{Fallback: on, ApplyMS: msSince(t0, mono())}
	if err != nil {
		return ch, changeTimes{}, fmt.Errorf("lanemesh apply -f %s: %w: %s", file, err, out)
	}
	times, missed, err := f.wait(o.timeout)
	if err != nil {
		return ch, changeTimes{}, err
	}
	var ts changeTimes
	for i, t := range times {
		ms := 0.0
		switch t {
		case notYet:
			continue
		case before:
		default:
			ms = msSince(t0, t)
		}
		ts.all = append(ts.all, ms)
		if i < o.full {
			ts.sample = append(ts.sample, ms)
		}
	}
	ch.Missed = missed
	ch.AllMS, ch.ProxyP50, ch.ProxyP99 = pct(ts.all, 1), pct(ts.all, 0.5), pct(ts.all, 0.99)
	last, err := quiet(f, o.quiet, o.timeout)
	if err != nil {
		return ch, changeTimes{}, err
	}
	ch.PushMS = msSince(t0, last)
	idle(o.cpPID, o.quiet, o.timeout)
	return ch, ts, nil
}

// quiet waits until no proxy was handed anything for d (at most timeout)
// and returns the mono() time of the latest Apply.
func quiet(f fleet, d, timeout time.Duration) (int64, error) {
	deadline := mono() + int64(timeout)
	for {
		last, err := f.lastApply()
		if err != nil {
			return 0, err
		}
		now := mono()
		if wait := last + int64(d) - now; wait > 0 && now < deadline {
			time.Sleep(time.Duration(wait))
			continue
		}
		return last, nil
	}
}

// usesFallback reports whether any route sends to an aggregate (fallback)
// cluster: the effect of vs-mock-fallback.yaml on the chosen sidecars.
func usesFallback(r *meshxds.Resources) bool {
	for _, rc := range r.Routes {
		for _, vh := range rc.GetVirtualHosts() {
			for _, rt := range vh.GetRoutes() {
				if routeUsesFallback(rt.GetRoute()) {
					return true
				}
			}
		}
	}
	return false
}

func routeUsesFallback(a *routev3.RouteAction) bool {
	if _, _, ok := meshxds.SplitFallbackName(a.GetCluster()); ok {
		return true
	}
	for _, wc := range a.GetWeightedClusters().GetClusters() {
		if _, _, ok := meshxds.SplitFallbackName(wc.GetName()); ok {
			return true
		}
	}
	return false
}

// idle waits until process pid used at most one clock tick of CPU in a
// window of d, or timeout passed; pid 0 returns at once.
func idle(pid int, d, timeout time.Duration) {
	if pid == 0 {
		return
	}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		before := cpuSeconds(pid)
		time.Sleep(d)
		if cpuSeconds(pid)-before <= 0.011 {
			return
		}
	}
}

// pct is the nearest-rank quantile q of v (q = 1: the maximum), 0 for none.
func pct(v []float64, q float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.999999) - 1
	return s[max(0, min(len(s)-1, i))]
}

// msSince is the time from mono() reading t0 to t, in ms.
func msSince(t0, t int64) float64 { return float64((t-t0)/1000) / 1000 }

// cpuOf is the CPU time of the processes, in seconds.
func cpuOf(pids []int) float64 {
	var s float64
	for _, p := range pids {
		s += cpuSeconds(p)
	}
	return s
}

// cpuSeconds is a process's utime+stime from /proc/PID/stat (USER_HZ 100),
// 0 if it cannot be read.
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	var u, st float64
	fmt.Sscan(f[11], &u)
	fmt.Sscan(f[12], &st)
	return (u + st) / 100
}

// memory is a process's VmRSS and VmHWM in kB from /proc/PID/status.
func memory(pid int) (rss, peak int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(line, ":")
		var n int64
		fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(v), " kB"), &n)
		switch k {
		case "VmRSS":
			rss = n
		case "VmHWM":
			peak = n
		}
	}
	return rss, peak
}

// xdsTokenPath is the operator token every simulated proxy presents:
// -xds-token-file, or the one the control plane wrote for -xds's port.
func xdsTokenPath(o options) (string, error) {
	if o.xdsToken != "" {
		return o.xdsToken, nil
	}
	dir := os.Getenv("LANEMESH_HOME")
	if dir == "" {
		var err error
		if dir, err = guard.DefaultDir(); err != nil {
			return "", err
		}
	}
	return guard.XDSTokenPath(dir, o.xds), nil
}
