package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"sync"
	"time"
)

// rateResult is the outcome of one fixed-rate run.
type rateResult struct {
	URL       string  `json:"url"`
	Rate      float64 `json:"rate"`       // requests/s scheduled
	DurationS float64 `json:"duration_s"` // measured window, warm-up excluded
	Conns     int     `json:"conns"`
	Scheduled int     `json:"scheduled"` // requests in the measured window
	OK        int     `json:"ok"`        // 200 from the expected upstream
	Errors    int     `json:"errors"`    // transport errors, timeouts, non-200
	Misrouted int     `json:"misrouted"` // 200 from the wrong upstream
	Dropped   int     `json:"dropped"`   // never sent: the run's deadline passed first
	Achieved  float64 `json:"achieved_rps"`
	// Latency is measured from each request's scheduled send time, so a
	// stalled proxy is charged for the requests queued behind the stall
	// (no coordinated omission).
	Latency latencySummary `json:"latency"`
	// SendLag is how late requests left the generator: its own timer and
	// scheduling jitter, which Latency includes. Compare with the
	// no-proxy line.
	SendLag latencySummary `json:"send_lag"`
	// Proxy is the proxy's CPU and memory over the measured window, when
	// -pid is given.
	Proxy *procWindow `json:"proxy,omitempty"`
	// Cores is how busy each core was over the window.
	Cores *coreWindow `json:"cores"`
	// FirstError is one example error, for the log.
	FirstError string `json:"first_error,omitempty"`
}

// procWindow is a process tree's resource use over a measured window.
type procWindow struct {
	PIDs       []int   `json:"pids"`
	CPUSeconds float64 `json:"cpu_seconds"`
	CPUCores   float64 `json:"cpu_cores"` // CPUSeconds / window wall time
	RSSKB      int64   `json:"rss_kb"`    // at the end of the window
}

func windowBetween(a, b procSample, wall time.Duration) *procWindow {
	cpu := b.CPUSeconds - a.CPUSeconds
	return &procWindow{PIDs: b.PIDs, CPUSeconds: cpu, CPUCores: cpu / wall.Seconds(), RSSKB: b.RSSKB}
}

// job is one scheduled request.
type job struct {
	at       time.Time
	lane     string
	measured bool // false during warm-up
}

// outcome is one finished request.
type outcome struct {
	latency, lag time.Duration
	status       int
	misrouted    bool
	err          error
}

// cmdRate runs open-loop load: request i is due at start + i/rate whatever
// happened to the ones before it, lanes rotate v1, v2, v3, and up to -conns
// requests are in flight. A warm-up at the same rate comes first and is
// not counted.
func cmdRate(args []string) error {
	fs := flag.NewFlagSet("rate", flag.ExitOnError)
	target := fs.String("url", "", "URL to load (required)")
	rate := fs.Float64("rate", 1000, "requests per second")
	duration := fs.Duration("duration", 10*time.Second, "measured window")
	warmup := fs.Duration("warmup", time.Second, "unmeasured warm-up before the window")
	conns := fs.Int("conns", 32, "maximum connections (and requests in flight)")
	lanesFlag := fs.String("lanes", "v1,v2,v3", "lanes to rotate through")
	app := fs.String("app", "mocka", "app name in the upstream's body")
	expect := fs.String("expect", "", "every answer must be this body (no-proxy line); default: the lane's upstream body")
	pid := fs.Int("pid", 0, "proxy process to measure (its whole process tree); 0 for none")
	out := fs.String("out", "", "write the JSON result here instead of stdout")
	fs.Parse(args)
	lanes, err := splitLanes(*lanesFlag)
	if err != nil || *target == "" || *rate <= 0 || *duration <= 0 {
		return errors.Join(err, errors.New("-url, a positive -rate and -duration are required"))
	}
	r := &rateRun{url: *target, rate: *rate, duration: *duration, warmup: *warmup, conns: *conns,
		lanes: lanes, app: *app, expect: *expect, pid: *pid}
	res, err := r.run()
	if err != nil {
		return err
	}
	fmt.Printf("rate %s: %.0f rps for %v: ok %d, errors %d, misrouted %d, dropped %d; p50 %.0fµs p90 %.0fµs p99 %.0fµs\n",
		res.URL, res.Rate, *duration, res.OK, res.Errors, res.Misrouted, res.Dropped, res.Latency.P50, res.Latency.P90, res.Latency.P99)
	return writeJSON(*out, res)
}

// rateRun is one configured fixed-rate run.
type rateRun struct {
	url              string
	rate             float64
	duration, warmup time.Duration
	conns            int
	lanes            []string
	app, expect      string
	pid              int
}

func (r *rateRun) run() (*rateResult, error) {
	interval := time.Duration(float64(time.Second) / r.rate)
	nWarm := int(r.warmup / interval)
	nMeasured := int(r.duration / interval)
	jobs := make(chan job, nWarm+nMeasured)
	results := make(chan outcome, nMeasured)
	// Requests still queued when the deadline passes are dropped rather
	// than waited for, so a dead proxy cannot stretch the run.
	ctx, cancel := context.WithTimeout(context.Background(), r.warmup+r.duration+5*time.Second)
	defer cancel()

	var wg sync.WaitGroup
	client := newClient(r.conns, 5*time.Second)
	for i := 0; i < r.conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.worker(ctx, client, jobs, results)
		}()
	}

	sleepUntil := preciseSleeper()
	start := time.Now()
	var before procSample
	var windowStart time.Time
	var coresBefore coreTimes
	for i := 0; i < nWarm+nMeasured; i++ {
		at := start.Add(time.Duration(i) * interval)
		if i == nWarm {
			windowStart = at
			before = r.sample()
			coresBefore = readCores()
		}
		sleepUntil(at)
		jobs <- job{at: at, lane: r.lanes[i%len(r.lanes)], measured: i >= nWarm}
	}
	close(jobs)
	wg.Wait()
	wall := time.Since(windowStart)
	after := r.sample()
	cores := coresBetween(coresBefore, readCores())
	close(results)

	res := &rateResult{URL: r.url, Rate: r.rate, DurationS: r.duration.Seconds(), Conns: r.conns, Scheduled: nMeasured, Cores: cores}
	var lat, lag []time.Duration
	for o := range results {
		switch {
		case o.err != nil && errors.Is(o.err, errDropped):
			res.Dropped++
			continue
		case o.err != nil || o.status != 200:
			res.Errors++
			if res.FirstError == "" {
				res.FirstError = fmt.Sprint(o.status, " ", o.err)
			}
		case o.misrouted:
			res.Misrouted++
		default:
			res.OK++
		}
		lat = append(lat, o.latency)
		lag = append(lag, o.lag)
	}
	res.Achieved = float64(res.OK) / r.duration.Seconds()
	res.Latency = summarize(lat)
	res.SendLag = summarize(lag)
	if r.pid != 0 {
		res.Proxy = windowBetween(before, after, wall)
	}
	return res, nil
}

var errDropped = errors.New("dropped: run deadline passed")

// worker sends jobs one at a time until jobs is closed.
func (r *rateRun) worker(ctx context.Context, c httpDoer, jobs <-chan job, results chan<- outcome) {
	for j := range jobs {
		if ctx.Err() != nil {
			if j.measured {
				results <- outcome{err: errDropped}
			}
			continue
		}
		sent := time.Now()
		status, body, err := get(ctx, c, r.url, j.lane)
		if !j.measured {
			continue
		}
		want := r.expect
		if want == "" {
			want = expectedBody(r.app, j.lane)
		}
		results <- outcome{
			latency:   time.Since(j.at),
			lag:       sent.Sub(j.at),
			status:    status,
			misrouted: err == nil && status == 200 && body != want,
			err:       err,
		}
	}
}

// sample reads the proxy's process tree, or nothing without -pid.
func (r *rateRun) sample() procSample {
	if r.pid == 0 {
		return procSample{}
	}
	s, _ := sampleTree(r.pid)
	return s
}
