package proxycmd

import (
	"runtime/debug"
	"sync"

	"github.com/lanemesh/lanemesh/internal/meshxds"
)

// proxyGOGC is the garbage collector's target a proxy runs with: the heap
// may grow 25% past what the last collection found live, not Go's default
// 100%. A proxy's live heap is small (about 3 MB for the tutorial's
// gateway: decoded configuration, route tables, per-connection buffers),
// so with the default the heap's floor (4 MB × GOGC/100) and growth are
// most of what it holds. bench/proxy-rss.sh, three paired runs: after
// 1,000 req/s the gateway held 8.0–8.2 MB of anonymous memory with 25
// against 9.4–10.0 MB with 100 (peak RSS 24.3–24.4 MB against
// 25.6–26.3 MB), for about 1.4% more of the proxy's CPU in collections
// (1.9% of it instead of 0.5%, from GODEBUG=gctrace=1), a share that does
// not grow with the rate. Every sidecar pays its memory on every pod,
// where that CPU is spent only under load.
const proxyGOGC = 25

// tuneGCAfterFirst returns apply, which calls tuneGC once apply has put
// the first configuration in force. Start-up (protobuf's type information,
// the first decode and build) is a burst the default pace collects in
// fewer cycles: set from the start, GOGC=25 left the idle gateway with
// 6.4–6.5 MB of anonymous memory (more GC metadata) against 6.1–6.3 MB
// set after, and 7.8–7.9 MB against 8.0–8.2 MB after the load.
func tuneGCAfterFirst(apply func(*meshxds.Resources) error, getenv func(string) string) func(*meshxds.Resources) error {
	var once sync.Once
	return func(res *meshxds.Resources) error {
		err := apply(res)
		if err == nil {
			once.Do(func() { tuneGC(getenv) })
		}
		return err
	}
}

// tuneGC sets proxyGOGC unless the user has tuned the runtime with GOGC or
// GOMEMLIMIT, which the runtime has read already and which then stand as
// given. getenv is os.Getenv.
func tuneGC(getenv func(string) string) {
	if getenv("GOGC") != "" || getenv("GOMEMLIMIT") != "" {
		return
	}
	debug.SetGCPercent(proxyGOGC)
}
