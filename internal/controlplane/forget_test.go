package controlplane

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lanemesh/lanemesh/internal/meshxds"
	"github.com/lanemesh/lanemesh/internal/xds"
	"github.com/lanemesh/lanemesh/internal/xdsserver"
)

// TestForgetsProxiesThatLeft: three times, 1,000 proxies connect, get
// their configuration and leave. After ForgetAfter the control plane
// holds none of them: not in Proxies, not as nodes to push to, not as
// identities to compile for, and a change afterwards pushes to nobody
// (issue #9: 3,010 proxies listed with 10 connected, RSS 34 → 515 MB).
// It runs 100 proxies a round; LANEMESH_SOAK=1 runs the 1,000.
func TestForgetsProxiesThatLeft(t *testing.T) {
	n := 100
	if os.Getenv("LANEMESH_SOAK") != "" {
		n = 1000
	}
	srv := xdsserver.NewServer(nil)
	srv.ForgetAfter = 200 * time.Millisecond
	cp, store, _, addr := servingExampleOn(t, srv)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go cp.Run(ctx)

	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := heap()
	for round := range 3 {
		clientCtx, leave := context.WithCancel(ctx)
		var configured atomic.Int64
		var wg sync.WaitGroup
		for i := range n {
			p := benchIdentities[i%len(benchIdentities)]
			p.Labels = map[string]string{"app": p.Labels["app"], "version": p.Labels["version"], "pod": fmt.Sprint(round, "-", i)}
			var once sync.Once
			c := &xds.Client{Target: addr, Node: meshxds.NodeFor(fmt.Sprintf("sidecar~default/pod-%d-%d", round, i), p),
				Apply: func(*meshxds.Resources) error { once.Do(func() { configured.Add(1) }); return nil }}
			wg.Go(func() { c.Run(clientCtx) })
		}
		waitForLong(t, "every proxy configured", func() bool { return configured.Load() == int64(n) })
		if got := len(srv.Proxies()); got != n {
			t.Fatalf("round %d: %d proxies listed while %d are connected", round, got, n)
		}
		leave()
		wg.Wait()
		waitForLong(t, "the proxies that left to be forgotten", func() bool { return len(srv.Proxies()) == 0 })
		waitForLong(t, "the control plane to forget them", func() bool {
			cp.mu.Lock()
			defer cp.mu.Unlock()
			return len(cp.nodes) == 0 && len(cp.served) == 0
		})
		t.Logf("round %d: heap %d KiB → %d KiB", round, before>>10, heap()>>10)
	}
	// A change now compiles for nobody, and leaves no identity behind.
	if _, err := store.Apply(loadExample(t, "../../examples/traffic-lanes-fallback"), false); err != nil {
		t.Fatal(err)
	}
	pushes := cp.Pushes()
	waitFor(t, "a push", func() bool { return cp.Pushes() > pushes })
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if len(cp.nodes) != 0 || len(cp.served) != 0 {
		t.Fatalf("after 3 × %d proxies left: %d nodes, %d identities still held", n, len(cp.nodes), len(cp.served))
	}
}

// waitForLong is waitFor with a minute, for a thousand clients under -race.
func waitForLong(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
