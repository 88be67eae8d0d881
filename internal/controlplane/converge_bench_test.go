package controlplane

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lanemesh/lanemesh/internal/config"
	"github.com/lanemesh/lanemesh/internal/meshxds"
	"github.com/lanemesh/lanemesh/internal/xds"
)

// BenchmarkConverge times one configuration change, the tutorial's
// fallback turned on or off (alternately), from Store.Apply until every one
// of N in-process proxies has accepted it (Converged). It is scenario C of
// bench/run.sh without the process boundaries: run it with -cpu 1 and
// -cpuprofile to see where the control plane spends a change. The proxies'
// own decoding shows up in the profile too, under xds.(*Client); the xds
// package's BenchmarkClientChange measures one proxy's share alone.
func BenchmarkConverge(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("proxies=%d", n), func(b *testing.B) { benchConverge(b, n) })
	}
}

func benchConverge(b *testing.B, n int) {
	cp, store, base, addr := servingExample(b)
	ctx, cancel := context.WithCancel(b.Context())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() { cp.Run(ctx) })

	var configured atomic.Int64
	for i := range n {
		p := benchIdentities[i%len(benchIdentities)]
		var once sync.Once
		c := &xds.Client{Target: addr, Node: meshxds.NodeFor(fmt.Sprintf("bench-%d", i), p),
			Apply: func(*meshxds.Resources) error { once.Do(func() { configured.Add(1) }); return nil }}
		wg.Go(func() { c.Run(ctx) })
	}
	waitBench(b, "first configuration", func() bool { return configured.Load() == int64(n) })

	changes := []*config.Config{
		loadExample(b, "../../examples/traffic-lanes-fallback"),
		{VirtualServices: base.VirtualServices},
	}
	b.ResetTimer()
	for i := range b.N {
		if _, err := store.Apply(changes[i%2], false); err != nil {
			b.Fatal(err)
		}
		_, gen := store.Config()
		waitBench(b, fmt.Sprintf("change %d", i), func() bool { return cp.Converged() >= gen })
	}
}

// benchIdentities are the sidecars whose routes the fallback changes, as
// in bench/converge.
var benchIdentities = func() []meshxds.Proxy {
	var out []meshxds.Proxy
	for _, app := range []string{"mocka", "mockb", "mockc"} {
		for _, v := range []string{"v2", "v3"} {
			out = append(out, meshxds.Proxy{Role: meshxds.Sidecar, Namespace: "default",
				Labels: map[string]string{"app": app, "version": v}})
		}
	}
	return out
}()

// waitBench polls cond every millisecond for up to a minute.
func waitBench(b *testing.B, what string, cond func() bool) {
	b.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			b.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
