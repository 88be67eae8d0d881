package main

import (
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"syscall"
	"time"
)

// eventSpec is something done to the system under load at a set time into
// the measured window: SIGKILL a process (-kill), or run a shell command
// (-cmd), such as `lanemesh scale deployment/mockb-v2 --replicas 0`.
type eventSpec struct {
	at   time.Duration
	kill int
	cmd  string
}

func (e eventSpec) check(window time.Duration) error {
	switch {
	case e.at == 0 && (e.kill != 0 || e.cmd != ""):
		return errors.New("-kill and -cmd need -at")
	case e.at == 0:
		return nil
	case e.at >= window:
		return fmt.Errorf("-at %v is not inside the %v window", e.at, window)
	case (e.kill != 0) == (e.cmd != ""):
		return errors.New("-at needs exactly one of -kill PID or -cmd COMMAND")
	}
	return nil
}

// firedEvent is when an event happened and how it went.
type firedEvent struct {
	what        string
	at          time.Time // just before the signal was sent or the command started
	windowStart time.Time
	took        time.Duration // how long the command ran
	err         error
}

// fire waits until `when` and does the event.
func (e eventSpec) fire(windowStart time.Time) firedEvent {
	when := windowStart.Add(e.at)
	time.Sleep(time.Until(when))
	f := firedEvent{windowStart: windowStart}
	if e.kill != 0 {
		f.what = "kill -9 " + strconv.Itoa(e.kill)
		f.at = time.Now()
		f.err = syscall.Kill(e.kill, syscall.SIGKILL)
		return f
	}
	f.what = e.cmd
	f.at = time.Now()
	out, err := exec.Command("/bin/sh", "-c", e.cmd).CombinedOutput()
	f.took = time.Since(f.at)
	if err != nil {
		f.err = fmt.Errorf("%w: %s", err, out)
	}
	return f
}

// eventResult says what the event did to the traffic. Times are in ms from
// the event (the signal, or the command's start); -1 means "never".
type eventResult struct {
	What  string  `json:"what"`
	AtMS  float64 `json:"at_ms"`            // since the measured window began
	CmdMS float64 `json:"cmd_ms,omitempty"` // how long the command ran
	Error string  `json:"error,omitempty"`  // the event itself failed
	// Lost counts requests in the whole window that got no good answer:
	// transport errors, timeouts, non-200, misrouted, never sent.
	Lost int `json:"lost"`
	// FellBack counts answers served by the fallback.
	FellBack int `json:"fell_back"`
	// FirstFallbackMS is when the first answer served by the fallback
	// arrived.
	FirstFallbackMS float64 `json:"first_fallback_ms"`
	// LastInLaneMS is when the last answer from the lane's own version
	// arrived before the traffic switched (in flight at the event).
	LastInLaneMS float64 `json:"last_in_lane_ms"`
	// BackInLaneMS is when the first answer from the lane's own version
	// arrived after the switch: the version is back (a restart).
	BackInLaneMS float64 `json:"back_in_lane_ms"`
	// NearEvent is the latency of the requests scheduled in the second
	// after the event.
	NearEvent latencySummary `json:"near_event"`
}

// analyzeEvent reads the window's outcomes around the event.
func analyzeEvent(f firedEvent, all []outcome) *eventResult {
	res := &eventResult{What: f.what, AtMS: ms(f.at.Sub(f.windowStart)), CmdMS: ms(f.took),
		FirstFallbackMS: -1, LastInLaneMS: -1, BackInLaneMS: -1}
	if f.err != nil {
		res.Error = f.err.Error()
	}
	slices.SortFunc(all, func(a, b outcome) int { return a.done.Compare(b.done) })
	var firstFB time.Time
	var near []time.Duration
	for _, o := range all {
		switch {
		case o.failed():
			res.Lost++
		case o.verdict == fellBack:
			res.FellBack++
			if firstFB.IsZero() {
				firstFB = o.done
				res.FirstFallbackMS = ms(o.done.Sub(f.at))
			}
		case o.done.After(f.at) && firstFB.IsZero():
			res.LastInLaneMS = ms(o.done.Sub(f.at))
		case !firstFB.IsZero() && o.at.After(firstFB) && res.BackInLaneMS < 0:
			res.BackInLaneMS = ms(o.done.Sub(f.at))
		}
		if !o.at.Before(f.at) && o.at.Before(f.at.Add(time.Second)) && o.err != errDropped {
			near = append(near, o.latency)
		}
	}
	res.NearEvent = summarize(near)
	return res
}

// timeBin is what the answers that arrived in one 100 ms slice of the
// window were.
type timeBin struct {
	StartMS  int `json:"start_ms"`
	InLane   int `json:"in_lane"`
	FellBack int `json:"fell_back"`
	Failed   int `json:"failed"`
	// MaxMS is the slowest of the bin's answers, from its scheduled time:
	// after an overload, how long until answers are prompt again.
	MaxMS float64 `json:"max_ms"`
}

const binWidth = 100 * time.Millisecond

// timeline bins the outcomes by arrival time since the window's start.
func timeline(start time.Time, all []outcome) []timeBin {
	var bins []timeBin
	for _, o := range all {
		if o.done.IsZero() {
			continue // dropped: never sent
		}
		i := max(0, int(o.done.Sub(start)/binWidth))
		for len(bins) <= i {
			bins = append(bins, timeBin{StartMS: len(bins) * int(binWidth/time.Millisecond)})
		}
		switch {
		case o.failed():
			bins[i].Failed++
		case o.verdict == fellBack:
			bins[i].FellBack++
		default:
			bins[i].InLane++
		}
		bins[i].MaxMS = max(bins[i].MaxMS, ms(o.latency))
	}
	return bins
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
