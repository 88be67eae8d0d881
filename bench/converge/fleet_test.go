package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestTracker(t *testing.T) {
	tr := newTracker(3)
	tr.begin(false)
	tr.seen(0, false, 10)
	tr.seen(1, false, 11)
	if _, missed := tr.wait(time.Millisecond); missed != 1 {
		t.Fatalf("two of three connected: missed %d, want 1", missed)
	}
	tr.seen(2, true, 12) // has the fallback on, which is not what was asked
	if _, missed := tr.wait(time.Millisecond); missed != 1 {
		t.Fatalf("proxy 2 in the wrong state: missed %d, want 1", missed)
	}
	tr.begin(true)
	tr.seen(0, true, 20)
	tr.seen(1, false, 21) // an update without the change does not count
	at, missed := tr.wait(time.Millisecond)
	if want := []int64{20, notYet, before}; !slices.Equal(at, want) || missed != 1 {
		t.Errorf("at = %v missed %d, want %v and 1", at, missed, want)
	}
	tr.seen(1, true, 30)
	tr.seen(0, true, 31) // a later update keeps proxy 0's first time
	if at, missed := tr.wait(time.Second); !slices.Equal(at, []int64{20, 30, before}) || missed != 0 {
		t.Errorf("at = %v missed %d, want [20 30 -1] and 0", at, missed)
	}
	if got := tr.lastApply(); got != 31 {
		t.Errorf("lastApply = %d, want 31", got)
	}
}

// fakeFleet answers like a worker's localFleet with fixed figures.
type fakeFleet struct {
	times  []int64
	missed int
	last   int64
	begun  []bool
	msgs   messages
	fail   string // op that fails
}

func (f *fakeFleet) err(op string) error {
	if f.fail == op {
		return errors.New(op + " broke")
	}
	return nil
}
func (f *fakeFleet) connect(time.Duration) (int, error) { return f.missed, f.err("connect") }
func (f *fakeFleet) begin(on bool) error                { f.begun = append(f.begun, on); return f.err("begin") }
func (f *fakeFleet) wait(time.Duration) ([]int64, int, error) {
	return f.times, f.missed, f.err("wait")
}
func (f *fakeFleet) lastApply() (int64, error)   { return f.last, f.err("last") }
func (f *fakeFleet) messages() (messages, error) { return f.msgs, f.err("messages") }
func (f *fakeFleet) pids() []int                 { return nil }
func (f *fakeFleet) split() ([]int, []int, bool) { return nil, nil, false }
func (f *fakeFleet) close() error                { return nil }

// pipeFleet is a processFleet whose workers are serve goroutines over
// in-memory pipes; done receives each serve's result once its input is
// closed.
func pipeFleet(t *testing.T, workers ...*fakeFleet) (*processFleet, chan error) {
	f := &processFleet{}
	done := make(chan error, len(workers))
	for _, w := range workers {
		inR, inW := io.Pipe()
		outR, outW := io.Pipe()
		go func() { done <- serve(inR, outW, w); outW.Close() }()
		f.workers = append(f.workers, &remote{enc: json.NewEncoder(inW), dec: json.NewDecoder(bufio.NewReader(outR)), stdin: inW, n: len(w.times)})
	}
	t.Cleanup(func() { f.close() })
	return f, done
}

func TestProcessFleetMergesWorkers(t *testing.T) {
	a := &fakeFleet{times: []int64{100, notYet}, missed: 1, last: 500, msgs: messages{Responses: [4]int64{2, 0, 0, 3}}}
	b := &fakeFleet{times: []int64{before, 300, 200}, last: 700, msgs: messages{Responses: [4]int64{3, 0, 0, 4}, NACKs: 1}}
	f, done := pipeFleet(t, a, b)
	if missed, err := f.connect(time.Second); err != nil || missed != 1 {
		t.Fatalf("connect = %d, %v; want 1 missed", missed, err)
	}
	if err := f.begin(true); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.begun, []bool{true}) || !slices.Equal(b.begun, []bool{true}) {
		t.Errorf("begin reached %v and %v, want [true] in both", a.begun, b.begun)
	}
	at, missed, err := f.wait(time.Second)
	if want := []int64{100, notYet, before, 300, 200}; err != nil || !slices.Equal(at, want) || missed != 1 {
		t.Errorf("wait = %v, %d, %v; want %v in worker order, 1 missed", at, missed, err, want)
	}
	if last, err := f.lastApply(); err != nil || last != 700 {
		t.Errorf("lastApply = %d, %v; want the latest, 700", last, err)
	}
	if m, err := f.messages(); err != nil || m.Responses[0] != 5 || m.Responses[3] != 7 || m.NACKs != 1 {
		t.Errorf("messages = %+v, %v; want both workers' counts summed", m, err)
	}
	if err := f.close(); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := <-done; err != nil {
			t.Errorf("serve after its input closed: %v, want nil", err)
		}
	}
}

func TestProcessFleetErrors(t *testing.T) {
	// A worker's failure comes back named, and a worker that returns
	// fewer times than it has clients is caught.
	f, _ := pipeFleet(t, &fakeFleet{times: []int64{1}}, &fakeFleet{times: []int64{2, 3}, fail: "begin"})
	if err := f.begin(false); err == nil || !strings.Contains(err.Error(), "worker 1: begin: begin broke") {
		t.Errorf("begin = %v, want worker 1's failure", err)
	}
	f.workers[0].n = 2
	if _, _, err := f.wait(time.Second); err == nil || !strings.Contains(err.Error(), "worker 0: 1 times for 2 clients") {
		t.Errorf("wait = %v, want the short reply caught", err)
	}
}

func TestServeRefusesUnknownOp(t *testing.T) {
	var out strings.Builder
	if err := serve(strings.NewReader(`{"op":"reboot"}`+"\n"), &out, &fakeFleet{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"err":"unknown op \"reboot\""`) {
		t.Errorf("reply = %s", out.String())
	}
}

func TestShares(t *testing.T) {
	for _, c := range []struct {
		name       string
		n, full, k int
		want       []share
	}{
		{"sample gets its own worker", 1000, 20, 8, []share{{0, 20, true}, {20, 140, false}, {160, 140, false}, {300, 140, false},
			{440, 140, false}, {580, 140, false}, {720, 140, false}, {860, 140, false}}},
		{"quick run", 100, 2, 3, []share{{0, 2, true}, {2, 49, false}, {51, 49, false}}},
		{"a big sample gets its share of workers", 10, 5, 4, []share{{0, 3, true}, {3, 2, true}, {5, 3, false}, {8, 2, false}}},
		{"all full", 10, 10, 3, []share{{0, 4, true}, {4, 3, true}, {7, 3, true}}},
		{"one worker runs both", 10, 1, 1, []share{{0, 10, false}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := shares(c.n, c.full, c.k); !slices.Equal(got, c.want) {
				t.Errorf("shares(%d, %d, %d) = %v, want %v", c.n, c.full, c.k, got, c.want)
			}
		})
	}
}
