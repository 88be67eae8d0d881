package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"time"

	"github.com/lanemesh/lanemesh/internal/xds"
)

// With -workers K > 1 the coordinator (this command as started) runs no
// client itself: it starts K copies of itself with -worker, each running a
// contiguous share of the N clients, and drives them over their stdin and
// stdout, one JSON request and one JSON reply per line. A worker is a
// localFleet behind serve; the coordinator's processFleet fans each
// request out to every worker and merges the replies. Times cross the
// process boundary as mono() readings, one clock for the machine.

// request is one line from the coordinator to a worker.
type request struct {
	Op        string `json:"op"` // connect, begin, wait, last or messages
	On        bool   `json:"on,omitempty"`
	TimeoutNS int64  `json:"timeout_ns,omitempty"`
}

// reply is a worker's answer to one request.
type reply struct {
	Times    []int64   `json:"times,omitempty"`
	Missed   int       `json:"missed"`
	Last     int64     `json:"last,omitempty"`
	Messages *messages `json:"messages,omitempty"`
	Err      string    `json:"err,omitempty"`
}

// serve answers the coordinator's requests from r on w with f until r
// ends (the coordinator closed the pipe, or died).
func serve(r io.Reader, w io.Writer, f fleet) error {
	dec, enc := json.NewDecoder(bufio.NewReader(r)), json.NewEncoder(w)
	for {
		var req request
		if err := dec.Decode(&req); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("reading a request: %w", err)
		}
		var rep reply
		var err error
		switch req.Op {
		case "connect":
			rep.Missed, err = f.connect(time.Duration(req.TimeoutNS))
		case "begin":
			err = f.begin(req.On)
		case "wait":
			rep.Times, rep.Missed, err = f.wait(time.Duration(req.TimeoutNS))
		case "last":
			rep.Last, err = f.lastApply()
		case "messages":
			var m messages
			m, err = f.messages()
			rep.Messages = &m
		default:
			err = fmt.Errorf("unknown op %q", req.Op)
		}
		if err != nil {
			rep.Err = err.Error()
		}
		if err := enc.Encode(rep); err != nil {
			return fmt.Errorf("writing a reply: %w", err)
		}
	}
}

// runWorker is -worker: clients -first .. -first+-n-1, served on stdin
// and stdout.
func runWorker(o options) error {
	f := newLocalFleet(o, xds.TokenFile(o.xdsToken), o.first, o.n)
	defer f.close()
	return serve(os.Stdin, os.Stdout, f)
}

// remote is the coordinator's end of one worker.
type remote struct {
	enc   *json.Encoder
	dec   *json.Decoder
	stdin io.Closer
	n     int  // its clients
	full  bool // they are full xds.Clients
}

func (r *remote) call(req request) (reply, error) {
	var rep reply
	if err := r.enc.Encode(req); err != nil {
		return rep, err
	}
	if err := r.dec.Decode(&rep); err != nil {
		return rep, err
	}
	if rep.Err != "" {
		return rep, errors.New(rep.Err)
	}
	return rep, nil
}

// processFleet is the coordinator's view of its workers.
type processFleet struct {
	workers []*remote
	cmds    []*exec.Cmd // nil in tests, where the workers are goroutines
}

// share is one worker's clients: first .. first+n-1.
type share struct {
	first, n int
	full     bool // they are the full sample's
}

// shares deals n clients, of which the first full are full xds.Clients,
// out to k workers. The full sample gets workers of its own, so that its
// CPU is measured apart, as many as its share of the clients (at least
// one, and one fewer than k); each kind is dealt out as evenly as it goes.
// With every client full, or one worker, all workers share them evenly.
func shares(n, full, k int) []share {
	if full == 0 || full >= n || k < 2 {
		return deal(0, n, k, full >= n)
	}
	kf := min(max(1, (k*full+n/2)/n), k-1)
	return append(deal(0, full, kf, true), deal(full, n-full, k-kf, false)...)
}

// deal shares clients first .. first+n-1 out to k workers, the first n%k
// one more than the others.
func deal(first, n, k int, full bool) []share {
	out := make([]share, 0, k)
	for w := range k {
		c := n / k
		if w < n%k {
			c++
		}
		out = append(out, share{first: first, n: c, full: full})
		first += c
	}
	return out
}

// startWorkers starts o.workers copies of this command, sharing the o.n
// clients out (see shares). Their stderr is this process's.
func startWorkers(o options, tokenPath string) (*processFleet, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	f := &processFleet{}
	for k, sh := range shares(o.n, o.full, o.workers) {
		first, n := sh.first, sh.n
		cmd := exec.Command(exe, "-worker", "-first", strconv.Itoa(first), "-n", strconv.Itoa(n),
			"-full", strconv.Itoa(o.full), "-xds", o.xds, "-xds-token-file", tokenPath)
		cmd.Stderr = os.Stderr
		in, err := cmd.StdinPipe()
		if err != nil {
			f.close()
			return nil, err
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			f.close()
			return nil, err
		}
		if err := cmd.Start(); err != nil {
			f.close()
			return nil, fmt.Errorf("starting worker %d: %w", k, err)
		}
		f.cmds = append(f.cmds, cmd)
		// bench/run.sh reads this line to check that every worker is
		// gone at the end of the run.
		kind := "light"
		if sh.full {
			kind = "full"
		}
		fmt.Fprintf(os.Stderr, "converge: worker %d (pid %d): clients %d..%d (%s)\n", k, cmd.Process.Pid, first, first+n-1, kind)
		f.workers = append(f.workers, &remote{enc: json.NewEncoder(in), dec: json.NewDecoder(bufio.NewReader(out)), stdin: in, n: n, full: sh.full})
	}
	return f, nil
}

// fanout sends req to every worker at once and returns their replies in
// worker order.
func (f *processFleet) fanout(req request) ([]reply, error) {
	reps := make([]reply, len(f.workers))
	errs := make([]error, len(f.workers))
	var wg sync.WaitGroup
	for k, w := range f.workers {
		wg.Go(func() {
			reps[k], errs[k] = w.call(req)
			if errs[k] != nil {
				errs[k] = fmt.Errorf("worker %d: %s: %w", k, req.Op, errs[k])
			}
		})
	}
	wg.Wait()
	return reps, errors.Join(errs...)
}

func (f *processFleet) connect(timeout time.Duration) (int, error) {
	reps, err := f.fanout(request{Op: "connect", TimeoutNS: int64(timeout)})
	missed := 0
	for _, r := range reps {
		missed += r.Missed
	}
	return missed, err
}

func (f *processFleet) begin(on bool) error {
	_, err := f.fanout(request{Op: "begin", On: on})
	return err
}

func (f *processFleet) wait(timeout time.Duration) ([]int64, int, error) {
	reps, err := f.fanout(request{Op: "wait", TimeoutNS: int64(timeout)})
	var times []int64
	missed := 0
	for k, r := range reps {
		if err == nil && len(r.Times) != f.workers[k].n {
			err = fmt.Errorf("worker %d: %d times for %d clients", k, len(r.Times), f.workers[k].n)
		}
		times = append(times, r.Times...)
		missed += r.Missed
	}
	return times, missed, err
}

func (f *processFleet) lastApply() (int64, error) {
	reps, err := f.fanout(request{Op: "last"})
	var last int64
	for _, r := range reps {
		last = max(last, r.Last)
	}
	return last, err
}

func (f *processFleet) messages() (messages, error) {
	reps, err := f.fanout(request{Op: "messages"})
	var sum messages
	for _, r := range reps {
		if r.Messages != nil {
			sum = sum.plus(*r.Messages)
		}
	}
	return sum, err
}

func (f *processFleet) pids() []int {
	pids := []int{os.Getpid()}
	for _, c := range f.cmds {
		pids = append(pids, c.Process.Pid)
	}
	return pids
}

// split returns the full sample's workers and the light clients' ones;
// ok is false if a worker runs both kinds (never: see shares) or one kind
// is missing.
func (f *processFleet) split() (full, light []int, ok bool) {
	for k, c := range f.cmds {
		if f.workers[k].full {
			full = append(full, c.Process.Pid)
		} else {
			light = append(light, c.Process.Pid)
		}
	}
	return full, light, len(full) > 0 && len(light) > 0
}

// close closes every worker's stdin, which ends it, and waits for each;
// one that is still running 10 s later is killed.
func (f *processFleet) close() error {
	for _, w := range f.workers {
		w.stdin.Close()
	}
	var errs []error
	for k, c := range f.cmds {
		done := make(chan error, 1)
		go func() { done <- c.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				errs = append(errs, fmt.Errorf("worker %d: %w", k, err))
			}
		case <-time.After(10 * time.Second):
			c.Process.Kill()
			<-done
			errs = append(errs, fmt.Errorf("worker %d did not stop within 10 s; killed", k))
		}
	}
	return errors.Join(errs...)
}
