package registry

import (
	"context"
	"maps"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Probe keeps instances that no runner watches — WorkloadEntries: a VM, a
// process started by hand, a benchmark's upstream — healthy or not by
// active TCP checks: every interval it connects to each instance's lowest
// port and publishes the list whenever it changed: a health, or the
// entries themselves. list is read again at every round, so new or edited
// entries are probed and published from the next one.
func Probe(ctx context.Context, interval, timeout time.Duration, list func() []Instance, publish func([]Instance)) {
	var last []Instance
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		cur := checkAll(ctx, list(), timeout)
		if !slices.EqualFunc(cur, last, Instance.Equal) {
			publish(cur)
			last = cur
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// checkAll probes every instance concurrently and returns copies with
// Healthy set.
func checkAll(ctx context.Context, in []Instance, timeout time.Duration) []Instance {
	out := slices.Clone(in)
	var wg sync.WaitGroup
	for i := range out {
		wg.Go(func() { out[i].Healthy = reachable(ctx, out[i], timeout) })
	}
	wg.Wait()
	return out
}

// reachable reports whether a TCP connection to the instance's lowest port
// succeeds within timeout. An instance with no port is taken as healthy:
// there is nothing to check.
func reachable(ctx context.Context, in Instance, timeout time.Duration) bool {
	if len(in.Ports) == 0 {
		return true
	}
	port := slices.Min(slices.Collect(maps.Values(in.Ports)))
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(in.Address, strconv.Itoa(int(port))))
	if err != nil {
		return false
	}
	conn.Close()
	return true
}
