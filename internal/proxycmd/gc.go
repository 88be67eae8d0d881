package proxycmd

import "runtime/debug"

// proxyGOGC is the garbage collector's target a proxy runs with: the heap
// may grow 25% past what the last collection found live, not Go's default
// 100%. A proxy's live heap is small (about 3 MB for the tutorial's
// gateway: decoded configuration, route tables, per-connection buffers),
// so with the default the heap's floor (4 MB × GOGC/100) and growth are
// most of what it holds; bench/proxy-rss.sh measured the gateway's peak
// under 1,000 req/s at 24.9 MB with 25 against 26.6 MB with 100 (medians),
// for about 1.4% more of the proxy's CPU in collections (1.9% of it
// instead of 0.5%, from GODEBUG=gctrace=1), a share that stays the same as
// the rate grows. Every sidecar pays its memory on every pod, where that
// CPU is spent only under load.
const proxyGOGC = 25

// tuneGC sets proxyGOGC unless the user has tuned the runtime with GOGC or
// GOMEMLIMIT, which the runtime has read already and which then stand as
// given. getenv is os.Getenv.
func tuneGC(getenv func(string) string) {
	if getenv("GOGC") != "" || getenv("GOMEMLIMIT") != "" {
		return
	}
	debug.SetGCPercent(proxyGOGC)
}
