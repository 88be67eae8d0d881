package main

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lanemesh/lanemesh/internal/meshxds"
	"github.com/lanemesh/lanemesh/internal/xds"
)

// fleet is the set of simulated proxies the coordinator times. Its methods
// are called from one goroutine.
type fleet interface {
	// connect waits until every proxy has its first configuration, or
	// timeout; it returns how many have not.
	connect(timeout time.Duration) (missed int, err error)
	// begin makes every proxy wait for the fallback state on, and returns
	// once all do, so that the change may start.
	begin(on bool) error
	// wait waits until every proxy has the state begin asked for, or
	// timeout, and returns each one's mono() time (notYet, before) and
	// how many did not get there.
	wait(timeout time.Duration) ([]int64, int, error)
	// lastApply is the mono() time of the latest Apply of any proxy.
	lastApply() (int64, error)
	// messages is how many responses the light clients have received so
	// far, and how many they NACKed.
	messages() (messages, error)
	// pids are the processes whose CPU the clients use (this one included).
	pids() []int
	// split returns the processes of the full sample and of the light
	// clients, ok false when the two share a process.
	split() (full, light []int, ok bool)
	// close stops every client (and worker process).
	close() error
}

// startClients starts n simulated proxies, proxies first .. first+n-1 of
// the whole fleet, each recording its new configurations in tr at index
// i-first: full xds.Clients for the sample (i < o.sampled()), light
// clients for the others (see lightClient), which share one memo. They run
// until ctx is done; wg tracks them.
func startClients(ctx context.Context, wg *sync.WaitGroup, o options, token xds.TokenSource, first, n int, tr *tracker, count *counter) {
	m := newMemo()
	for k := range n {
		i := first + k
		p := identities[i%len(identities)]
		id := fmt.Sprintf("sidecar~default/%s-%s-bench-%d", p.Labels["app"], p.Labels["version"], i)
		if i >= o.sampled() {
			c := &lightClient{target: o.xds, node: meshxds.NodeFor(id, p), token: token, memo: m, count: count,
				seen: func(on bool) { tr.seen(k, on, mono()) }}
			wg.Go(func() { _ = c.run(ctx) })
			continue
		}
		c := &xds.Client{Target: o.xds, Node: meshxds.NodeFor(id, p), MinBackoff: 50 * time.Millisecond, MaxBackoff: time.Second, Token: token,
			Apply: func(r *meshxds.Resources) error { tr.seen(k, usesFallback(r), mono()); return nil }}
		wg.Go(func() { _ = c.Run(ctx) })
	}
}

// localFleet runs clients in this process: all of them (-workers 1), or a
// worker's share.
type localFleet struct {
	tr     *tracker
	count  counter
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// newLocalFleet starts clients first .. first+n-1; connect waits for their
// first configuration, which has the fallback off.
func newLocalFleet(o options, token xds.TokenSource, first, n int) *localFleet {
	ctx, cancel := context.WithCancel(context.Background())
	f := &localFleet{tr: newTracker(n), cancel: cancel}
	f.tr.begin(false)
	startClients(ctx, &f.wg, o, token, first, n, f.tr, &f.count)
	return f
}

func (f *localFleet) connect(timeout time.Duration) (int, error) {
	_, missed := f.tr.wait(timeout)
	return missed, nil
}

func (f *localFleet) begin(on bool) error { f.tr.begin(on); return nil }

func (f *localFleet) wait(timeout time.Duration) ([]int64, int, error) {
	at, missed := f.tr.wait(timeout)
	return at, missed, nil
}

func (f *localFleet) lastApply() (int64, error) { return f.tr.lastApply(), nil }

func (f *localFleet) messages() (messages, error) { return f.count.read(), nil }

func (f *localFleet) pids() []int { return []int{os.Getpid()} }

func (f *localFleet) split() (full, light []int, ok bool) { return nil, nil, false }

func (f *localFleet) close() error {
	f.cancel()
	f.wg.Wait()
	return nil
}

// messages counts what light clients received: responses by kind, and how
// many of them they NACKed. Every response gets one ACK or NACK.
type messages struct {
	Responses [meshxds.NumKinds]int64 `json:"responses"`
	NACKs     int64                   `json:"nacks"`
}

// minus is m's counts since earlier.
func (m messages) minus(earlier messages) messages {
	for k := range m.Responses {
		m.Responses[k] -= earlier.Responses[k]
	}
	m.NACKs -= earlier.NACKs
	return m
}

// plus is the sum of m and o.
func (m messages) plus(o messages) messages {
	for k := range m.Responses {
		m.Responses[k] += o.Responses[k]
	}
	m.NACKs += o.NACKs
	return m
}

// counter is messages as the light clients of a process count them.
type counter struct {
	responses [meshxds.NumKinds]atomic.Int64
	nacks     atomic.Int64
}

func (c *counter) response(k meshxds.Kind, nack bool) {
	c.responses[k].Add(1)
	if nack {
		c.nacks.Add(1)
	}
}

func (c *counter) read() messages {
	var m messages
	for k := range m.Responses {
		m.Responses[k] = c.responses[k].Load()
	}
	m.NACKs = c.nacks.Load()
	return m
}
