package proxy

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lanemesh/lanemesh/internal/meshxds"
)

// loadResult counts the outcome of a load run.
type loadResult struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	bodies     map[string]int
	firstFail  string
	elapsed    time.Duration
}

func (r *loadResult) fail(msg string) {
	r.failed.Add(1)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.firstFail == "" {
		r.firstFail = msg
	}
}

// runLoad sends exactly total GET requests to rawURL through c, request i
// at start + i/rate (catching up if it falls behind), spread over workers,
// and calls during
// (if not nil) with the request number as the run progresses. A request
// fails unless it gets 200 and a body from an upstream.
func runLoad(c *http.Client, rawURL string, total, rate int, during func(sent int)) *loadResult {
	res := &loadResult{bodies: map[string]int{}}
	tokens := make(chan int)
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for range tokens {
				loadOne(c, rawURL, res)
			}
		})
	}
	start := time.Now()
	interval := time.Second / time.Duration(rate)
	for i := range total {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		if during != nil {
			during(i)
		}
		tokens <- i
	}
	close(tokens)
	wg.Wait()
	res.elapsed = time.Since(start)
	return res
}

func loadOne(c *http.Client, rawURL string, res *loadResult) {
	resp, err := c.Get(rawURL)
	if err != nil {
		res.fail(err.Error())
		return
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	switch {
	case err != nil:
		res.fail("read body: " + err.Error())
	case resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "mock"):
		res.fail(fmt.Sprintf("%d %s %q", resp.StatusCode, resp.Header.Get("X-Lanemesh-Flags"), body))
	default:
		res.ok.Add(1)
		res.mu.Lock()
		res.bodies[string(body)]++
		res.mu.Unlock()
	}
}

const (
	loadRate  = 500
	loadTotal = 5000 // ten seconds at loadRate
)

// TestNoFailuresWhenLaneDiesUnderLoad runs 500 req/s for 10 s from the v2
// sidecar to mockb and kills mockb-v2's only pod a third of the way in:
// every request must still succeed, the later ones served by mockb-v1.
func TestNoFailuresWhenLaneDiesUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("10 s of load")
	}
	m := newMesh(t, lanesDir, fallbackDir)
	p := startProxy(t, Options{Role: meshxds.Sidecar}, m.resources(sidecarIdentity("mocka", "v2"), nil))
	res := runLoad(newClient(p.OutboundAddr()), "http://mockb:8000/", loadTotal, loadRate, func(i int) {
		if i == loadTotal/3 {
			m.pods["mockb-v2-0"].kill()
		}
	})
	t.Logf("%d ok, %d failed in %v (%.0f req/s); served by %v", res.ok.Load(), res.failed.Load(), res.elapsed,
		float64(loadTotal)/res.elapsed.Seconds(), res.bodies)
	if res.failed.Load() != 0 {
		t.Fatalf("%d of %d requests failed; first: %s", res.failed.Load(), loadTotal, res.firstFail)
	}
	if res.bodies["mockb-v2-0"] == 0 || res.bodies["mockb-v1-0"] == 0 {
		t.Errorf("want requests served by mockb-v2-0 before the kill and mockb-v1-0 after: %v", res.bodies)
	}
}

// TestNoFailuresWhileApplyingUpdates runs the same load while a new
// snapshot is applied every 100 ms, alternating between mockb-v2 healthy
// and unhealthy (so routing really changes, to the fallback and back):
// every request must succeed and the listener keeps its socket.
func TestNoFailuresWhileApplyingUpdates(t *testing.T) {
	if testing.Short() {
		t.Skip("10 s of load")
	}
	m := newMesh(t, lanesDir, fallbackDir)
	id := sidecarIdentity("mocka", "v2")
	p := startProxy(t, Options{Role: meshxds.Sidecar}, m.resources(id, nil))
	addr := p.OutboundAddr()
	ctx, cancel := context.WithCancel(context.Background())
	updates := make(chan error, 1)
	go func() {
		n := 0
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				updates <- nil
				return
			case <-tick.C:
			}
			n++
			var edit = podDown("nobody")
			if n%2 == 1 {
				edit = podDown("mockb-v2")
			}
			if err := p.Apply(m.resources(id, edit)); err != nil {
				updates <- fmt.Errorf("update %d: %w", n, err)
				return
			}
		}
	}()
	res := runLoad(newClient(addr), "http://mockb:8000/", loadTotal, loadRate, nil)
	cancel()
	if err := <-updates; err != nil {
		t.Fatal(err)
	}
	t.Logf("%d ok, %d failed in %v; served by %v", res.ok.Load(), res.failed.Load(), res.elapsed, res.bodies)
	if res.failed.Load() != 0 {
		t.Fatalf("%d of %d requests failed; first: %s", res.failed.Load(), loadTotal, res.firstFail)
	}
	if res.bodies["mockb-v2-0"] == 0 || res.bodies["mockb-v1-0"] == 0 {
		t.Errorf("updates should have moved traffic between mockb-v2-0 and mockb-v1-0: %v", res.bodies)
	}
	if p.OutboundAddr().String() != addr.String() {
		t.Errorf("listener moved from %v to %v across updates", addr, p.OutboundAddr())
	}
}

// TestSoak runs a minute of load through the gateway and reports memory
// and goroutines before and after. It only runs with LANEMESH_SOAK=1.
// Goroutines are counted twice after the run: with the client's keep-alive
// connections still open (three goroutines per connection on each hop),
// and after the client closed them.
func TestSoak(t *testing.T) {
	if os.Getenv("LANEMESH_SOAK") != "1" {
		t.Skip("set LANEMESH_SOAK=1 to run the 60 s soak test")
	}
	cfg := newMesh(t, lanesDir).resources(gatewayIdentity, nil)
	pointAllAt(cfg, benchUpstream(t))
	p := startProxy(t, Options{Role: meshxds.Gateway}, cfg)
	tr := newClient(nil).Transport.(*http.Transport)
	c := &http.Client{Transport: headerTransport{tr, "x-asm-prefer-tag", "v2"}}
	url := gatewayURL(p, "/mock")
	runLoad(c, url, 200, 1000, nil) // warm up, so that "before" includes pools and caches
	before := memory(t)
	res := runLoad(c, url, 60*loadRate, loadRate, nil)
	after := memory(t)
	tr.CloseIdleConnections()
	settled := runtime.NumGoroutine()
	for deadline := time.Now().Add(5 * time.Second); settled > before.goroutines && time.Now().Before(deadline); settled = runtime.NumGoroutine() {
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("soak: %d ok, %d failed in %v", res.ok.Load(), res.failed.Load(), res.elapsed)
	t.Logf("RSS %d -> %d KiB; heap in use %d -> %d KiB; goroutines %d -> %d with keep-alive connections open, %d after the client closed them",
		before.rss, after.rss, before.heap, after.heap, before.goroutines, after.goroutines, settled)
	if res.failed.Load() != 0 {
		t.Errorf("%d requests failed; first: %s", res.failed.Load(), res.firstFail)
	}
}

type memStats struct{ rss, heap, goroutines int }

// memory reports RSS and live heap (KiB) after a GC that returns freed
// memory to the OS, and the goroutine count.
func memory(t *testing.T) memStats {
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memStats{rss: rss(t), heap: int(ms.HeapInuse >> 10), goroutines: runtime.NumGoroutine()}
}

// headerTransport sets one header on every request.
type headerTransport struct {
	rt          http.RoundTripper
	name, value string
}

func (h headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set(h.name, h.value)
	return h.rt.RoundTrip(r)
}

// rss reads the process's resident set size in KiB from /proc.
func rss(t *testing.T) int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status")
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb int
			fmt.Sscanf(strings.TrimSpace(v), "%d", &kb)
			return kb
		}
	}
	return 0
}
