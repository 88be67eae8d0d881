package main

import (
	"slices"
	"sync"
	"time"
)

// Times in a tracker are mono() readings in nanoseconds. notYet marks a
// proxy that has not reached the wanted state; before marks one that was
// already in it when the change began, which counts from the change's
// start (the coordinator's t0, which a worker does not know).
const (
	notYet int64 = 0
	before int64 = -1
)

// tracker records, for the change in progress, when each of a set of
// proxies first had the wanted state. It is safe for concurrent use: the
// clients' Apply callbacks call seen, the driver calls the rest.
type tracker struct {
	mu        sync.Mutex
	want      bool
	state     []bool  // each proxy's current state
	known     []bool  // each proxy has had a configuration
	at        []int64 // when it reached want in this change
	remaining int
	done      chan struct{}
	last      int64 // the latest Apply of any proxy
}

func newTracker(n int) *tracker {
	return &tracker{state: make([]bool, n), known: make([]bool, n), at: make([]int64, n)}
}

// begin starts waiting for every proxy to reach want; a proxy already
// there is marked before.
func (t *tracker) begin(want bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.want, t.remaining, t.done = want, len(t.at), make(chan struct{})
	for i := range t.at {
		t.at[i] = notYet
		if t.known[i] && t.state[i] == want {
			t.at[i] = before
			t.remaining--
		}
	}
	if t.remaining == 0 {
		close(t.done)
	}
}

// seen is proxy i's Apply: it now has state on, as of now.
func (t *tracker) seen(i int, on bool, now int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.state[i], t.known[i] = on, true
	t.last = max(t.last, now)
	if t.done != nil && on == t.want && t.at[i] == notYet {
		t.at[i] = now
		if t.remaining--; t.remaining == 0 {
			close(t.done)
		}
	}
}

// wait waits until every proxy reached the state or timeout passed, and
// returns when each did (notYet: it did not) and how many did not.
func (t *tracker) wait(timeout time.Duration) ([]int64, int) {
	t.mu.Lock()
	done := t.done
	t.mu.Unlock()
	select {
	case <-done:
	case <-time.After(timeout):
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.at), t.remaining
}

// lastApply is the mono() time of the latest Apply of any proxy.
func (t *tracker) lastApply() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.last
}
