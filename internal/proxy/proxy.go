package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/lanemesh/lanemesh/internal/guard"
	"github.com/lanemesh/lanemesh/internal/meshxds"
)

// ErrStopped is returned by Apply and Run once Run has drained the proxy.
var ErrStopped = errors.New("proxy stopped")

// Proxy is one gateway or sidecar. Build it with New, give it resources
// with Apply (from the xDS client, any goroutine, any number of times) and
// serve with Run. Apply and Run may be called in either order: listeners
// bound by an Apply before Run start serving when Run starts.
type Proxy struct {
	opts    Options
	log     *slog.Logger
	access  *slog.Logger // nil: no access log
	rand    func() uint32
	epoch   time.Time // monotonic origin of ejection times
	state   atomic.Pointer[state]
	store   *store
	metrics *metrics
	// dests interns the destination labels of the clusters and endpoints
	// each snapshot builds; unknownDest is a request that reached none.
	dests       *destinations
	unknownDest *destination
	buffers     sync.Pool // *[]byte, for response bodies
	tracer      *tracer   // nil: tracing is off

	admin    *http.Server
	adminLn  net.Listener
	ready    atomic.Bool
	draining atomic.Bool

	mu        sync.Mutex // serialises Apply and Run's start and stop; never taken by requests
	listeners map[string]*serving
	applied   bool
	running   bool
	stopped   bool
	bg        sync.WaitGroup // listeners being shut down after an update removed them

	// Request mirroring (mirror.go): the copies under way, which drain
	// waits for. shadowMu orders starting a copy against that wait: once
	// shadowsClosed is set no copy starts, so none is added to shadows
	// while drain waits on it.
	shadows         sync.WaitGroup
	shadowMu        sync.Mutex
	shadowsClosed   bool
	mirrorsInFlight atomic.Int64
}

// New builds a proxy and binds its admin listener, if any, so that
// AdminAddr is known at once; Run serves it and closes it when it returns.
func New(opts Options) (*Proxy, error) {
	opts = opts.withDefaults()
	if opts.Role != meshxds.Gateway && opts.Role != meshxds.Sidecar {
		return nil, fmt.Errorf("proxy role %q: want %q or %q", opts.Role, meshxds.Gateway, meshxds.Sidecar)
	}
	epoch := time.Now()
	p := &Proxy{opts: opts, log: opts.Logger, rand: opts.Rand, epoch: epoch, store: newStore(epoch),
		listeners: map[string]*serving{}, dests: &destinations{}}
	p.unknownDest = p.dests.intern(serviceDestination(""))
	p.buffers.New = func() any { b := make([]byte, 32<<10); return &b }
	p.state.Store(emptyState())
	if opts.AccessLog != nil {
		p.access = newAccessLogger(opts.AccessLog)
	}
	reg := opts.Registry
	var gatherer prometheus.Gatherer
	if reg == nil {
		// A private registry is the process's own (lanemesh proxy): it
		// reports the process too (go_goroutines,
		// process_resident_memory_bytes, process_open_fds), which is how
		// an operator sees connections held open against the limits.
		r := prometheus.NewRegistry()
		r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		reg, gatherer = r, r
	} else if g, ok := reg.(prometheus.Gatherer); ok {
		gatherer = g
	}
	var err error
	if p.metrics, err = newMetrics(reg, opts.Source); err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	if err := reg.Register(newUpstreamCollector(p)); err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	if opts.Tracing != nil {
		if p.tracer, err = newTracer(opts.Tracing, &opts); err != nil {
			return nil, err
		}
	}
	if opts.AdminAddr != "" {
		if p.adminLn, err = net.Listen("tcp", opts.AdminAddr); err != nil {
			return nil, fmt.Errorf("admin listener: %w", err)
		}
		p.admin = guard.Server(p.adminHandler(gatherer), opts.ReadHeaderTimeout)
		p.admin.ErrorLog = slog.NewLogLogger(p.log.Handler(), slog.LevelDebug)
	}
	return p, nil
}

// Apply builds a snapshot of res, checks it, binds any new listener, and
// swaps it in. An error is the NACK: the resources are rejected, with every
// reason, and the previous snapshot stays in force. Listeners the update
// drops stop accepting and drain in the background; one bound to the same
// address as before keeps its socket.
func (p *Proxy) Apply(res *meshxds.Resources) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return ErrStopped
	}
	b := &builder{res: res, opts: &p.opts, store: p.store, dests: p.dests}
	next, err := b.build()
	if err == nil {
		err = p.bindNew(next)
	}
	if err != nil {
		p.metrics.updates.WithLabelValues("rejected").Inc()
		return fmt.Errorf("resources rejected: %w", err)
	}
	p.state.Store(next)
	p.store.commit(next)
	p.syncListeners(next)
	p.applied = true
	p.ready.Store(p.running)
	p.metrics.updates.WithLabelValues("accepted").Inc()
	for _, w := range b.warnings {
		p.log.Warn(w)
	}
	p.log.Info("configuration applied", slog.Int("listeners", len(next.listeners)), slog.Int("routes", len(next.tables)),
		slog.Int("clusters", len(next.clusters)))
	return nil
}

// Ready reports whether the first configuration is applied and the
// listeners are serving. It turns false when draining starts.
func (p *Proxy) Ready() bool { return p.ready.Load() && !p.draining.Load() }

// Run serves until ctx is done, then drains: listeners stop accepting,
// in-flight requests get up to DrainTimeout to finish, idle upstream
// connections are closed. It returns nil after a drain, ErrStopped if the
// proxy already ran.
func (p *Proxy) Run(ctx context.Context) error {
	p.mu.Lock()
	if p.running || p.stopped {
		p.mu.Unlock()
		return ErrStopped
	}
	p.running = true
	for _, s := range p.listeners {
		s.start()
	}
	p.ready.Store(p.applied)
	p.mu.Unlock()
	adminDone := make(chan struct{})
	if p.admin != nil {
		go func() { defer close(adminDone); _ = p.admin.Serve(guard.Listener(p.adminLn)) }()
	} else {
		close(adminDone)
	}
	<-ctx.Done()
	p.drain()
	if p.tracer != nil {
		p.flushSpans()
	}
	if p.admin != nil {
		_ = p.admin.Close()
	}
	<-adminDone
	return nil
}

// drain keeps the listeners accepting for DrainTime, if any, with every
// response closing its connection; then it stops them, waits for in-flight
// requests up to DrainTimeout, and closes what is left and the idle
// upstream connections.
func (p *Proxy) drain() {
	p.draining.Store(true)
	p.mu.Lock()
	p.stopped = true
	servers := make([]*serving, 0, len(p.listeners))
	for _, s := range p.listeners {
		servers = append(servers, s)
	}
	p.mu.Unlock()
	if p.opts.DrainTime > 0 {
		// The drain period: a successor bound to the same ports (see
		// ReusePort) takes over while this proxy still accepts.
		p.log.Info("draining: accepting with Connection: close", slog.Duration("for", p.opts.DrainTime))
		for _, s := range servers {
			s.srv.BeginDrain()
		}
		time.Sleep(p.opts.DrainTime)
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.opts.DrainTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, s := range servers {
		wg.Go(func() { s.stop(ctx) })
	}
	wg.Wait()
	p.bg.Wait()
	p.shadowMu.Lock()
	p.shadowsClosed = true
	p.shadowMu.Unlock()
	p.shadows.Wait()
	p.store.closeIdle()
	p.log.Info("drained")
}

// Addr returns the address the listener for a compiled port is bound to,
// or nil. For a sidecar, SidecarListenerPort gives the outbound listener.
func (p *Proxy) Addr(port uint32) net.Addr {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, lc := range p.state.Load().listeners {
		if lc.port == port {
			if s := p.listeners[lc.bind]; s != nil {
				return s.ln.Addr()
			}
		}
	}
	return nil
}

// OutboundAddr returns the address of a sidecar's outbound listener, or
// nil before it is bound.
func (p *Proxy) OutboundAddr() net.Addr {
	return p.Addr(meshxds.SidecarListenerPort)
}

// AdminAddr returns the admin listener's address, or nil without one.
func (p *Proxy) AdminAddr() net.Addr {
	if p.adminLn == nil {
		return nil
	}
	return p.adminLn.Addr()
}
