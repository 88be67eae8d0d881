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
	Scheduled int     `json:"scheduled"`           // requests in the measured window
	OK        int     `json:"ok"`                  // 200 from the expected upstream
	FellBack  int     `json:"fell_back,omitempty"` // 200 from the fallback (-fallback-match)
	Errors    int     `json:"errors"`              // transport errors, timeouts, non-200
	Misrouted int     `json:"misrouted"`           // 200 from the wrong upstream
	Dropped   int     `json:"dropped"`             // never sent: the run's deadline passed first
	Achieved  float64 `json:"achieved_rps"`        // (OK + FellBack) / window
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
	// Event is what happened around the -at event (a kill, a command),
	// and Timeline the run's answers in 100 ms bins, when -at is given.
	Event    *eventResult `json:"event,omitempty"`
	Timeline []timeBin    `json:"timeline,omitempty"`
	// FirstError is one example error, for the log.
	FirstError string `json:"first_error,omitempty"`
}

// procWindow is a process tree's resource use over a measured window.
type procWindow struct {
	PIDs        []int   `json:"pids"`
	CPUSeconds  float64 `json:"cpu_seconds"`
	UserSeconds float64 `json:"user_seconds"` // the part of CPUSeconds in user mode
	CPUCores    float64 `json:"cpu_cores"`    // CPUSeconds / window wall time
	RSSKB       int64   `json:"rss_kb"`       // at the end of the window
}

func windowBetween(a, b procSample, wall time.Duration) *procWindow {
	cpu := b.CPUSeconds - a.CPUSeconds
	return &procWindow{PIDs: b.PIDs, CPUSeconds: cpu, UserSeconds: b.UserSeconds - a.UserSeconds,
		CPUCores: cpu / wall.Seconds(), RSSKB: b.RSSKB}
}

// job is one scheduled request.
type job struct {
	at       time.Time
	lane     string
	measured bool // false during warm-up
}

// outcome is one finished request.
type outcome struct {
	at, done     time.Time // scheduled, answered
	latency, lag time.Duration
	status       int
	verdict      verdict // of a 200 answer
	err          error
}

// failed reports whether the request got no good answer.
func (o outcome) failed() bool { return o.err != nil || o.status != 200 || o.verdict == misrouted }

// cmdRate runs open-loop load: request i is due at start + i/rate whatever
// happened to the ones before it, lanes rotate v1, v2, v3, and up to -conns
// requests are in flight. A warm-up at the same rate comes first and is
// not counted.
//
// With -at, something is done to the system mid-window (-kill PID, or
// -cmd COMMAND) and the result says what it did to the traffic: requests
// lost, when the fallback (-fallback-match) first answered, when the lane's
// own version answered again, and a 100 ms timeline.
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
	match := fs.String("match", "", "every answer's body must match this regexp ({lane} is the lane), for a chain of mocks")
	fallback := fs.String("fallback-match", "", "a body that fails -match but matches this regexp fell back (counted apart, not an error)")
	var pids pidList
	fs.Var(&pids, "pid", "process to measure, with its whole tree (comma-separated for several); 0 for none")
	var ev eventSpec
	fs.DurationVar(&ev.at, "at", 0, "time into the measured window of the event (-kill or -cmd); 0 for none")
	fs.IntVar(&ev.kill, "kill", 0, "the event: SIGKILL this pid")
	fs.StringVar(&ev.cmd, "cmd", "", "the event: run this shell command")
	out := fs.String("out", "", "write the JSON result here instead of stdout")
	fs.Parse(args)
	lanes, err := splitLanes(*lanesFlag)
	if err != nil || *target == "" || *rate <= 0 || *duration <= 0 {
		return errors.Join(err, errors.New("-url, a positive -rate and -duration are required"))
	}
	if err := ev.check(*duration); err != nil {
		return err
	}
	m, err := newMatcher(*app, *expect, *match, *fallback, lanes)
	if err != nil {
		return err
	}
	r := &rateRun{url: *target, rate: *rate, duration: *duration, warmup: *warmup, conns: *conns,
		lanes: lanes, match: m, pids: pids, event: ev}
	res, err := r.run()
	if err != nil {
		return err
	}
	fmt.Printf("rate %s: %.0f rps for %v: ok %d, fell back %d, errors %d, misrouted %d, dropped %d; p50 %.0fµs p90 %.0fµs p99 %.0fµs\n",
		res.URL, res.Rate, *duration, res.OK, res.FellBack, res.Errors, res.Misrouted, res.Dropped, res.Latency.P50, res.Latency.P90, res.Latency.P99)
	if e := res.Event; e != nil {
		fmt.Printf("event %s at %.0f ms: lost %d; first fell-back answer %.1f ms after it; back in lane %.1f ms after it\n",
			e.What, e.AtMS, e.Lost, e.FirstFallbackMS, e.BackInLaneMS)
	}
	return writeJSON(*out, res)
}

// rateRun is one configured fixed-rate run.
type rateRun struct {
	url              string
	rate             float64
	duration, warmup time.Duration
	conns            int
	lanes            []string
	match            *matcher
	pids             pidList
	event            eventSpec
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
	fired := make(chan firedEvent, 1)
	if r.event.at > 0 {
		go func() { fired <- r.event.fire(start.Add(time.Duration(nWarm) * interval)) }()
	} else {
		close(fired)
	}
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
	var all []outcome
	for o := range results {
		all = append(all, o)
		switch {
		case o.err != nil && errors.Is(o.err, errDropped):
			res.Dropped++
			continue
		case o.err != nil || o.status != 200:
			res.Errors++
			if res.FirstError == "" {
				res.FirstError = fmt.Sprint(o.status, " ", o.err)
			}
		case o.verdict == misrouted:
			res.Misrouted++
		case o.verdict == fellBack:
			res.FellBack++
		default:
			res.OK++
		}
		lat = append(lat, o.latency)
		lag = append(lag, o.lag)
	}
	res.Achieved = float64(res.OK+res.FellBack) / r.duration.Seconds()
	if f, ok := <-fired; ok {
		res.Event = analyzeEvent(f, all)
		res.Timeline = timeline(windowStart, all)
	}
	res.Latency = summarize(lat)
	res.SendLag = summarize(lag)
	if len(r.pids) > 0 {
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
		done := time.Now()
		o := outcome{at: j.at, done: done, latency: done.Sub(j.at), lag: sent.Sub(j.at), status: status, err: err}
		if err == nil && status == 200 {
			o.verdict = r.match.judge(j.lane, body)
		}
		results <- o
	}
}

// sample reads the proxy's process trees, or nothing without -pid.
func (r *rateRun) sample() procSample {
	if len(r.pids) == 0 {
		return procSample{}
	}
	s, _ := sampleTrees(r.pids)
	return s
}
