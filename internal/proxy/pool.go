package proxy

import (
	"context"
	"net"
	"sync"
	"time"

	"github.com/lanemesh/lanemesh/internal/h1"
	"github.com/lanemesh/lanemesh/internal/policy"
	"github.com/lanemesh/lanemesh/internal/rawio"
)

// poolSettings are what a cluster's connection pool is built from; a pool
// is reused across updates while they stay equal.
type poolSettings struct {
	connectTimeout  time.Duration
	maxConnsPerHost int // 0: unlimited
	idleTimeout     time.Duration
	keepAlive       bool
	maxExchanges    int           // max_requests_per_connection above 1; 0: unlimited
	streamIdle      time.Duration // Options.StreamIdleTimeout; 0: off
	// tlsKey is the cluster's UpstreamTlsContext, encoded: "" for plain
	// text. A change of TLS settings makes a new pool.
	tlsKey string
	// autoSNI: Envoy's auto_sni, the SNI of an originated TLS connection
	// is its request's host (connections are pooled per host);
	// autoSAN, auto_san_validation: the upstream's certificate must be
	// valid for that host.
	autoSNI, autoSAN bool
}

// Upstream connection pool tuning. A busy proxy keeps up to 256 idle
// connections per endpoint warm, so that it does not open and close one for
// most requests.
const (
	maxIdleConnsPerHost    = 256
	defaultIdleConnTimeout = 90 * time.Second
	tcpKeepAlive           = 30 * time.Second
)

// pool is a cluster's upstream connections, one hostConns per endpoint
// address. It replaces http.Transport: a request is written and its
// response read on the handler's own goroutine (see upstream.go), where the
// transport hands every request to two goroutines per connection over
// channels, which is most of its cost when the proxy runs on one core.
type pool struct {
	settings poolSettings
	stats    *clusterStats
	epoch    time.Time // the proxy's monotonic origin, for idle times
	dialer   net.Dialer
	idle     time.Duration // settings.idleTimeout, or its default
	tls      *upstreamTLS  // nil: plain text; set before the pool is used

	mu      sync.Mutex // guards hosts and retired
	hosts   map[string]*hostConns
	retired bool
}

func newPool(cs *clusterStats, s poolSettings, epoch time.Time) *pool {
	return &pool{settings: s, stats: cs, epoch: epoch, idle: policy.DurationOr(s.idleTimeout, defaultIdleConnTimeout),
		dialer: net.Dialer{Timeout: s.connectTimeout, KeepAlive: tcpKeepAlive}, hosts: map[string]*hostConns{}}
}

// host returns the connections to endpoint addr, creating them. It runs
// while a snapshot is built, so that requests reach their connections
// through the endpoint without a lookup.
func (p *pool) host(addr string) *hostConns { return p.hostFor(addr, nil) }

// hostFor is host for the connections to addr that send the SNI of auto
// (autoSNI), kept apart from those of other names.
func (p *pool) hostFor(addr string, auto *autoName) *hostConns {
	key := addr
	if auto != nil {
		key = addr + "/" + auto.sni
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	h := p.hosts[key]
	if h == nil {
		h = &hostConns{addr: addr, auto: auto, pool: p, closed: p.retired}
		if auto == nil || len(p.hosts) < maxAutoHosts { // past it, a new host's connections are not kept for later requests
			p.hosts[key] = h
		}
	}
	return h
}

// maxAutoHosts bounds the per-host connection sets an autoSNI pool keeps:
// each request's host names one, and an app could name any number.
const maxAutoHosts = 1024

// prune forgets the endpoints a new snapshot no longer names and closes
// their idle connections; connections still carrying a request are closed
// when it ends.
func (p *pool) prune(keep map[string]bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for key, h := range p.hosts {
		if !keep[h.addr] {
			delete(p.hosts, key)
			h.shut()
		}
	}
}

// retire closes the pool's idle connections once a newer snapshot stopped
// using it; connections still carrying a request are closed when it ends.
func (p *pool) retire() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.retired = true
	for _, h := range p.hosts {
		h.shut()
	}
}

// closeIdle closes the idle connections, for drain. Unlike retire it
// leaves the pool usable.
func (p *pool) closeIdle() {
	p.mu.Lock()
	hosts := make([]*hostConns, 0, len(p.hosts))
	for _, h := range p.hosts {
		hosts = append(hosts, h)
	}
	p.mu.Unlock()
	for _, h := range hosts {
		h.closeIdle()
	}
}

// now is monotonic nanoseconds since the proxy's epoch.
func (p *pool) now() int64 { return int64(time.Since(p.epoch)) }

// hostConns are the connections to one endpoint: the idle ones, most
// recently used last, and a count of all open ones for the cluster's
// max_connections circuit breaker.
type hostConns struct {
	addr string
	auto *autoName // under autoSNI, the name its connections send and check
	pool *pool

	mu      sync.Mutex
	idle    []*h1.ClientConn
	open    int             // connections open or being dialled
	waiters []chan struct{} // requests waiting for a connection under maxConnsPerHost
	closed  bool            // pruned or retired: connections given back are closed
	sweep   *time.Timer     // closes connections idle for longer than the idle timeout
}

// get returns an idle connection, or dials a new one; with fresh, always a
// new one. Under max_connections it waits for a connection to come back or
// close, as long as ctx allows.
func (h *hostConns) get(ctx context.Context, fresh bool, now int64) (*h1.ClientConn, error) {
	h.mu.Lock()
	for {
		if !fresh {
			if c := h.popIdle(now); c != nil {
				h.mu.Unlock()
				return c, nil
			}
		}
		limit := h.pool.settings.maxConnsPerHost
		if limit <= 0 || h.open < limit {
			break
		}
		if fresh && len(h.idle) > 0 {
			// Make room for the fresh connection: an idle one is likely as
			// stale as the one that just failed.
			c := h.idle[0]
			h.idle = append(h.idle[:0], h.idle[1:]...)
			h.closeLocked(c)
			continue
		}
		if err := h.wait(ctx); err != nil {
			return nil, err
		}
	}
	h.open++
	h.mu.Unlock()
	c, err := h.dial(ctx)
	if err != nil {
		h.mu.Lock()
		h.open--
		h.wakeOne()
		h.mu.Unlock()
		return nil, err
	}
	return c, nil
}

// popIdle takes the most recently used idle connection that has not been
// idle too long, closing those that have. h.mu is held.
func (h *hostConns) popIdle(now int64) *h1.ClientConn {
	for n := len(h.idle); n > 0; n = len(h.idle) {
		c := h.idle[n-1]
		h.idle[n-1] = nil
		h.idle = h.idle[:n-1]
		if now-c.IdleSince < int64(h.pool.idle) {
			return c
		}
		h.closeLocked(c)
	}
	return nil
}

// wait blocks, with h.mu released, until a connection slot may be free or
// ctx is done. h.mu is held on entry and, when it returns nil, on return.
func (h *hostConns) wait(ctx context.Context) error {
	ch := make(chan struct{}, 1)
	h.waiters = append(h.waiters, ch)
	h.mu.Unlock()
	select {
	case <-ch:
		h.mu.Lock()
		return nil
	case <-ctx.Done():
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, w := range h.waiters {
		if w == ch {
			h.waiters = append(h.waiters[:i], h.waiters[i+1:]...)
			return ctx.Err()
		}
	}
	h.wakeOne() // ch was woken as ctx ended: pass the wake-up on
	return ctx.Err()
}

// wakeOne lets the longest waiting request look for a connection again.
// h.mu is held.
func (h *hostConns) wakeOne() {
	if len(h.waiters) > 0 {
		h.waiters[0] <- struct{}{}
		h.waiters = h.waiters[1:]
	}
}

// dial opens a connection, counted in the cluster's connections.
func (h *hostConns) dial(ctx context.Context) (*h1.ClientConn, error) {
	nc, err := h.pool.dialer.DialContext(ctx, "tcp", h.addr)
	if err != nil {
		return nil, err
	}
	nc = rawio.Conn(nc) // under TLS too
	if t := h.pool.tls; t != nil {
		if nc, err = t.handshake(ctx, nc, h.pool.settings.connectTimeout, h.auto); err != nil {
			return nil, err
		}
	}
	h.pool.stats.conns.Add(1)
	s := &h.pool.settings
	return h1.NewClientConn(nc, h, h1.ClientOptions{Addr: h.addr, StreamIdle: s.streamIdle, KeepAlive: s.keepAlive}), nil
}

// Put gives back a connection whose exchange ended cleanly, so the next
// request can reuse it; a connection nobody may reuse is closed instead.
func (h *hostConns) Put(c *h1.ClientConn) {
	now := h.pool.now()
	h.mu.Lock()
	defer h.mu.Unlock()
	c.Exchanges++
	if h.closed || len(h.idle) >= maxIdleConnsPerHost || h.pool.settings.maxExchanges > 0 && c.Exchanges >= h.pool.settings.maxExchanges {
		h.closeLocked(c)
		return
	}
	c.IdleSince, c.Used = now, true
	h.idle = append(h.idle, c)
	h.wakeOne()
	if h.sweep == nil {
		h.sweep = time.AfterFunc(h.pool.idle, h.sweepIdle)
	} else if len(h.idle) == 1 {
		h.sweep.Reset(h.pool.idle)
	}
}

// sweepIdle closes connections idle for longer than the idle timeout, and
// comes back while any are left.
func (h *hostConns) sweepIdle() {
	now := h.pool.now()
	h.mu.Lock()
	defer h.mu.Unlock()
	kept := h.idle[:0]
	oldest := int64(-1)
	for _, c := range h.idle {
		if now-c.IdleSince >= int64(h.pool.idle) {
			h.closeLocked(c)
			continue
		}
		if oldest < 0 {
			oldest = c.IdleSince
		}
		kept = append(kept, c)
	}
	clear(h.idle[len(kept):])
	h.idle = kept
	if oldest >= 0 && !h.closed {
		h.sweep.Reset(time.Duration(oldest + int64(h.pool.idle) - now))
	}
}

// closeIdle closes every idle connection.
func (h *hostConns) closeIdle() { h.drop(false) }

// shut closes the idle connections for good: connections given back later
// are closed too.
func (h *hostConns) shut() { h.drop(true) }

func (h *hostConns) drop(shut bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = h.closed || shut
	if h.sweep != nil {
		h.sweep.Stop() // nothing idle is left to sweep; put arms it again
	}
	for _, c := range h.idle {
		h.closeLocked(c)
	}
	clear(h.idle)
	h.idle = h.idle[:0]
}

// Release closes a connection that will not be reused.
func (h *hostConns) Release(c *h1.ClientConn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closeLocked(c)
}

// closeLocked closes c and frees its slot. h.mu is held.
func (h *hostConns) closeLocked(c *h1.ClientConn) {
	_ = c.Close()
	h.pool.stats.conns.Add(-1)
	h.open--
	h.wakeOne()
}
