package main

// Report is results.json.
type Report struct {
	Run       Run         `json:"run"`
	Scenarios []*Scenario `json:"scenarios"`
}

// Run is what bench/run.sh records about the run and the machine.
type Run struct {
	Started      string            `json:"started"`
	Mode         string            `json:"mode"` // "full" or "quick"
	Repeat       int               `json:"repeat"`
	DurationS    float64           `json:"duration_s"`
	Rate         float64           `json:"rate"`
	ChainRate    float64           `json:"chain_rate"`    // scenario B's fixed rate
	HopRate      float64           `json:"hop_rate"`      // scenario E's
	FailoverRate float64           `json:"failover_rate"` // scenario D's
	Conns        int               `json:"conns"`
	Targets      []string          `json:"targets"`   // scenario A's, as asked for
	Scenarios    []string          `json:"scenarios"` // as asked for; none recorded means A
	Nproc        int               `json:"nproc"`
	UptimeStart  string            `json:"uptime_start"`
	UptimeEnd    string            `json:"uptime_end"`
	Pinning      string            `json:"pinning"`
	Versions     map[string]string `json:"versions"`
	Kernel       string            `json:"kernel"`
	ExtraComment string            `json:"comment,omitempty"`
}

// Scenario is one of the benchmark's scenarios; Status is "measured",
// "failed" (Note says why) or says why it was not measured.
type Scenario struct {
	ID      string    `json:"id"`
	Title   string    `json:"title"`
	Status  string    `json:"status"`
	Note    string    `json:"note,omitempty"`
	Targets []*Target `json:"targets,omitempty"`

	// Scenarios B and E: the proxies on the mesh's path and how they
	// were counted, the fixed rate, and the mesh's figures against the
	// direct chain's (B: Chain; E: Hops per proxy build).
	Hops      int         `json:"hops,omitempty"`
	HopsNote  string      `json:"hops_note,omitempty"`
	Rate      float64     `json:"rate,omitempty"`
	Chain     *Chains     `json:"chain,omitempty"`
	HopChains []*HopChain `json:"hop_chains,omitempty"`
	// Scenario C: one result per client count, and how changes were made.
	Changes     int            `json:"changes,omitempty"`
	ClientCPUs  string         `json:"client_cpus,omitempty"` // the clients' taskset CPU list; empty: core 1
	Trigger     string         `json:"trigger,omitempty"`
	Convergence []*Convergence `json:"convergence,omitempty"`
	// Scenario D: one run per way of taking mockb-v2 away.
	Failover []*Failover `json:"failover,omitempty"`
}

// Target is one proxy (or the no-proxy line) in a scenario.
type Target struct {
	Name   string `json:"name"`
	Label  string `json:"label"`  // for the table, e.g. "HAProxy 2.6.12"
	Kind   string `json:"kind"`   // "direct" or "proxy"
	Status string `json:"status"` // "ok", "skipped" or "failed"
	Note   string `json:"note,omitempty"`
	// Detail says more than fits in a table cell; the summary shows it.
	Detail string `json:"detail,omitempty"`

	// Saturation and FixedRate are the medians, figure by figure, of the
	// repetitions in SaturationRuns and FixedRateRuns; error counts are
	// summed.
	Saturation     *Saturation   `json:"saturation,omitempty"`
	FixedRate      *FixedRate    `json:"fixed_rate,omitempty"`
	SaturationRuns []*Saturation `json:"saturation_runs,omitempty"`
	FixedRateRuns  []*FixedRate  `json:"fixed_rate_runs,omitempty"`
	// MaxSteal is the largest share of a core the hypervisor took during
	// any of the target's runs.
	MaxSteal float64 `json:"max_steal"`
	// Ratios maps "rps_vs_haproxy", "cpu_per_1k_vs_baseline", ... to
	// this target's figure divided by the peer's.
	Ratios map[string]float64 `json:"ratios,omitempty"`
}

// Saturation is the closed-loop run (wrk).
type Saturation struct {
	RPS             float64 `json:"rps"`
	P50             float64 `json:"p50_us"`
	P90             float64 `json:"p90_us"`
	P99             float64 `json:"p99_us"`
	Max             float64 `json:"max_us"`
	Errors          int     `json:"errors"`
	Proxy           *Proc   `json:"proxy,omitempty"`
	Cores           *Cores  `json:"cores,omitempty"`
	RPSPerProxyCore float64 `json:"rps_per_proxy_core,omitempty"`
	// UserUSPerReq and SystemUSPerReq split the proxy's CPU per request
	// into its own code (user mode) and the kernel's work for it.
	UserUSPerReq   float64 `json:"user_us_per_request,omitempty"`
	SystemUSPerReq float64 `json:"system_us_per_request,omitempty"`
	// RPSMin and RPSMax are the range over repetitions (in the median only).
	RPSMin float64 `json:"rps_min,omitempty"`
	RPSMax float64 `json:"rps_max,omitempty"`
}

// FixedRate is the open-loop run (load rate), as it wrote it, plus
// CPUPer1k: proxy cores busy per 1,000 requests/s.
type FixedRate struct {
	Rate      float64 `json:"rate"`
	Scheduled int     `json:"scheduled"`
	OK        int     `json:"ok"`
	Errors    int     `json:"errors"`
	Misrouted int     `json:"misrouted"`
	Dropped   int     `json:"dropped"`
	Achieved  float64 `json:"achieved_rps"`
	Latency   Latency `json:"latency"`
	SendLag   Latency `json:"send_lag"`
	Proxy     *Proc   `json:"proxy,omitempty"`
	Cores     *Cores  `json:"cores,omitempty"`
	CPUPer1k  float64 `json:"cpu_cores_per_1k_rps,omitempty"`
}

// Latency is a latency summary in microseconds.
type Latency struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50_us"`
	P90   float64 `json:"p90_us"`
	P99   float64 `json:"p99_us"`
	P999  float64 `json:"p999_us"`
	Max   float64 `json:"max_us"`
}

// Proc is a proxy's resource use over a run.
type Proc struct {
	PIDs        []int   `json:"pids"`
	CPUSeconds  float64 `json:"cpu_seconds"`
	UserSeconds float64 `json:"user_seconds,omitempty"` // the part in user mode; 0 from older runs
	CPUCores    float64 `json:"cpu_cores"`
	RSSKB       int64   `json:"rss_kb"`
}

// Cores is how busy each core was during a run, every process counted,
// and how much time the hypervisor took from it.
type Cores struct {
	Busy  []float64 `json:"busy"`
	Steal []float64 `json:"steal"`
}
