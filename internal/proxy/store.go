package proxy

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/lanemesh/lanemesh/internal/policy"
)

// store keeps what must survive configuration updates: per-cluster counters
// and connection pools, and per-endpoint health, keyed by cluster name and
// endpoint address. Apply looks entries up while building a snapshot (so the
// snapshot points at them directly and the hot path never searches the
// store) and prunes the ones the new snapshot no longer names after the
// swap. Requests still running on an older snapshot may update a pruned
// entry; that is harmless, nobody reads it again.
type store struct {
	epoch    time.Time  // the proxy's monotonic origin
	mu       sync.Mutex // guards clusters and every clusterStats.hosts and .pool
	clusters map[string]*clusterStats
	keys     keyCache    // lane-entry key sets fetched or read (entry_keys.go)
	traces   *traceTable // the lane propagation filter's, see propagate.go; guarded by mu
}

func newStore(epoch time.Time) *store {
	return &store{epoch: epoch, clusters: map[string]*clusterStats{}}
}

// clusterStats are a cluster's run-time counters. All fields the hot path
// touches are atomics.
type clusterStats struct {
	name    string
	active  atomic.Int64  // requests in flight (admitted by the circuit breaker)
	retries atomic.Int64  // retries in flight, for the retry budget
	conns   atomic.Int64  // open upstream connections, counted by the pool
	rr      atomic.Uint32 // round-robin cursor
	// ejectMu serialises ejection decisions, which need a consistent count
	// of the cluster's ejected endpoints. Ejections are rare; successes and
	// failures are counted without it.
	ejectMu   sync.Mutex
	ejections atomic.Uint64 // total ejections, for metrics
	hosts     map[string]*hostStats
	pool      *pool // the pool in use; guarded by store.mu
	// ring is the last consistent-hash table built for the cluster, kept
	// so that an update that leaves its endpoints and sizes alone (a
	// health change, another cluster's change) does not rebuild it.
	ring atomic.Pointer[builtRing]
}

// hostStats are one endpoint's run-time counters and outlier state.
type hostStats struct {
	addr   string
	active atomic.Int64 // requests in flight, for LEAST_REQUEST and /clusters
	// Consecutive failures since the last success, by outlier-detection kind.
	counters policy.Counters
	// ejectedUntil is the monotonic time (ns since the proxy's epoch) the
	// current ejection ends; at or before now means not ejected.
	ejectedUntil atomic.Int64
	// multiplier is how many ejection periods the next ejection lasts minus
	// one; it decays by one for every outlier interval spent healthy.
	multiplier atomic.Uint32
	ejections  atomic.Uint64
}

// ejected reports whether the endpoint is ejected at monotonic time now.
func (h *hostStats) ejected(now int64) bool {
	return h.ejectedUntil.Load() > now
}

// cluster returns the stats of cluster name, creating them.
func (s *store) cluster(name string) *clusterStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := s.clusters[name]
	if cs == nil {
		cs = &clusterStats{name: name, hosts: map[string]*hostStats{}}
		s.clusters[name] = cs
	}
	return cs
}

// host returns the stats of endpoint addr in cs, creating them.
func (s *store) host(cs *clusterStats, addr string) *hostStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := cs.hosts[addr]
	if h == nil {
		h = &hostStats{addr: addr}
		cs.hosts[addr] = h
	}
	return h
}

// poolFor returns cs's pool if it was built with settings, else a new pool
// that commit will install.
func (s *store) poolFor(cs *clusterStats, settings poolSettings, up *upstreamTLS) *pool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cs.pool != nil && cs.pool.settings == settings {
		return cs.pool
	}
	p := newPool(cs, settings, s.epoch)
	p.tls = up
	return p
}

// commit makes the store match a snapshot that has just been published:
// pools the snapshot replaced are closed once idle, and clusters and
// endpoints it no longer names are forgotten.
func (s *store) commit(st *state) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var retired []*pool
	for name, cs := range s.clusters {
		cl := st.clusters[name]
		if cl == nil {
			delete(s.clusters, name)
			retired = append(retired, cs.pool)
			continue
		}
		if cs.pool != cl.pool {
			retired = append(retired, cs.pool)
			cs.pool = cl.pool
		}
		if cl.origDst != nil {
			continue // its endpoints are made per request (inbound.go); its pool keeps them
		}
		keep := make(map[string]bool, len(cl.endpoints))
		for _, e := range cl.endpoints {
			keep[e.addr] = true
		}
		for addr := range cs.hosts {
			if !keep[addr] {
				delete(cs.hosts, addr)
			}
		}
		if cl.pool != nil {
			cl.pool.prune(keep)
		}
	}
	for _, p := range retired {
		p.retire()
	}
}

// closeIdle closes every pool's idle upstream connections, for drain.
func (s *store) closeIdle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, cs := range s.clusters {
		if cs.pool != nil {
			cs.pool.closeIdle()
		}
	}
}
