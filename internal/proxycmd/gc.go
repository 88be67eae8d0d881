package proxycmd

import "runtime/debug"

// proxyGOGC is the garbage collector's target a proxy runs with: the heap
// may grow 25% past what the last collection found live, not Go's default
// 100%. A proxy's live heap is small (about 3 MB for the tutorial's
// gateway: decoded configuration, route tables, per-connection buffers),
// so with the default the heap's floor (4 MB × GOGC/100) and growth are
// most of what it holds. bench/proxy-rss.sh, three paired runs: after
// 1,000 req/s the gateway held 7.8–7.9 MB of anonymous memory with 25
// against 9.4–10.0 MB with 100 (peak RSS 24.1–24.3 MB against
// 25.6–26.3 MB), for about 1.4% more of the proxy's CPU in collections
// (1.9% of it instead of 0.5%, from GODEBUG=gctrace=1), a share that does
// not grow with the rate. Every sidecar pays its memory on every pod,
// where that CPU is spent only under load.
//
// It is set before the proxy starts. Set only once start-up had settled
// (2 s after the first configuration), it left the idle gateway 0.3–0.5 MB
// smaller (start-up's burst then runs fewer collections and their
// metadata), but its peaks under load were higher and less steady
// (24.3–25.4 MB against 24.0–24.6 MB over six runs each), and the peak
// under load is the target a proxy can meet.
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
