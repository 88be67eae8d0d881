package proxy

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"

	"github.com/lanemesh/lanemesh/internal/meshxds"
	"github.com/lanemesh/lanemesh/internal/policy"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"

	"github.com/lanemesh/lanemesh/internal/route"
)

// The inbound path: a sidecar whose pod's inbound traffic reaches it
// (meshxds.Proxy.Inbound) serves meshxds.InboundListener, an HTTP listener
// like any other (the same server, limits, sanitizing and filters), whose
// route sends every request to an ORIGINAL_DST cluster: the address the
// connection was going to when iptables redirected it, or, where nothing
// redirects (local mode, where the sidecar listens on the pod's address
// in the app's place), Options.InboundApp.

// origDstCluster is what an ORIGINAL_DST cluster adds to a cluster: the
// single-endpoint clusters made for each original destination seen, so
// that each keeps its connection pool and counters. It belongs to one
// snapshot; a new snapshot starts a new one.
type origDstCluster struct {
	base  *cluster
	store *store
	mu    sync.Mutex
	dsts  map[string]*cluster
}

// maxOrigDsts bounds the destinations remembered: a pod serves a few
// ports. Past the bound a destination still works, with a cluster (and
// pool) of its own per request.
const maxOrigDsts = 256

// buildOriginalDst builds an ORIGINAL_DST cluster. Its lb_policy must be
// CLUSTER_PROVIDED, as Envoy requires.
func (b *builder) buildOriginalDst(c *clusterv3.Cluster) (*cluster, error) {
	switch {
	case c.GetLbPolicy() != clusterv3.Cluster_CLUSTER_PROVIDED:
		return nil, fmt.Errorf("%w: an ORIGINAL_DST cluster needs lb_policy CLUSTER_PROVIDED", route.ErrInvalid)
	case c.GetLoadAssignment() != nil || c.GetOriginalDstLbConfig() != nil:
		return nil, fmt.Errorf("%w: ORIGINAL_DST with a load_assignment or original_dst_lb_config", route.ErrUnsupported)
	}
	cl := &cluster{name: c.GetName(), stats: b.store.cluster(c.GetName()), lb: lbRoundRobin,
		connectTimeout: policy.DurationOr(c.GetConnectTimeout().AsDuration(), defaultConnectTimeout)}
	cl.targets = []*cluster{cl}
	cl.service, cl.lane = metricNames(cl.name)
	cl.dest = b.dests.intern(serviceDestination(cl.service)) // PassthroughCluster: a host the mesh does not know
	if cl.name == meshxds.InboundPassthroughCluster {
		cl.dest = b.dests.intern(inboundDestination(b.opts.Source))
	}
	cl.limits = buildLimits(c.GetCircuitBreakers())
	var err error
	if cl.outlier, err = policy.BuildOutlier(c.GetOutlierDetection()); err != nil {
		return nil, err
	}
	settings, err := b.poolSettings(c, cl)
	if err != nil {
		return nil, err
	}
	cl.pool = b.store.poolFor(cl.stats, settings, nil)
	cl.origDst = &origDstCluster{base: cl, store: b.store, dsts: map[string]*cluster{}}
	return cl, nil
}

// forDst returns the cluster of one endpoint, addr.
func (o *origDstCluster) forDst(addr string) *cluster {
	o.mu.Lock()
	defer o.mu.Unlock()
	if c := o.dsts[addr]; c != nil {
		return c
	}
	c := *o.base
	c.origDst = nil
	c.targets = []*cluster{&c}
	// The metric labels are the cluster's: an original destination names
	// no workload.
	e := &endpoint{addr: addr, status: corev3.HealthStatus_HEALTHY, eligible: true, dest: c.dest,
		host: o.store.host(c.stats, addr), conns: c.pool.host(addr)}
	c.endpoints = []*endpoint{e}
	if len(o.dsts) < maxOrigDsts {
		o.dsts[addr] = &c
	}
	return &c
}

// toOriginalDst points the request at its original destination's cluster:
// where its connection was going before capture redirected it; without
// capture, on the inbound side the app (Options.InboundApp), on the
// outbound side (Istio's PassthroughCluster, for a host the mesh does not
// know) the host the app asked for, as an HTTP proxy would. It reports
// false, having answered, when there is none: 503 UH.
func (x *exchange) toOriginalDst() bool {
	var addr string
	switch dst, ok := x.r.Context().Value(origDstKey{}).(netip.AddrPort); {
	case ok:
		addr = dst.String()
	case x.cluster.name == meshxds.PassthroughCluster:
		addr = x.passthroughAddr() // resolves the host: only when capture did not say
	default:
		addr = x.p.opts.InboundApp
	}
	if addr == "" {
		x.generate(http.StatusServiceUnavailable, flagUH)
		return false
	}
	x.cluster = x.cluster.origDst.forDst(addr)
	return true
}

// passthroughAddr is the address an app's request for an unknown host
// goes to when it came through HTTP_PROXY: its host, resolved, at its port
// (80 by default); "" when the host does not resolve, or names this proxy's
// own listener, which would send the request back to it for ever.
func (x *exchange) passthroughAddr() string {
	host, port, err := net.SplitHostPort(x.r.Host)
	if err != nil {
		host, port = strings.Trim(x.r.Host, "[]"), "80"
	}
	ips, err := net.DefaultResolver.LookupNetIP(x.r.Context(), "ip", host)
	if err != nil || len(ips) == 0 {
		return ""
	}
	addr := net.JoinHostPort(ips[0].Unmap().String(), port)
	if dst, err := netip.ParseAddrPort(addr); err == nil {
		if self, ok := x.p.listenAddr(x.bind); ok && dst.Port() == self.Port() &&
			(dst.Addr() == self.Addr() || dst.Addr().IsLoopback() || self.Addr().IsUnspecified()) {
			return "" // itself
		}
	}
	return addr
}

// listenAddr is the address the listener bound to bind listens on.
func (p *Proxy) listenAddr(bind string) (netip.AddrPort, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.listeners[bind]
	if s == nil {
		return netip.AddrPort{}, false
	}
	a, err := netip.ParseAddrPort(s.ln.Addr().String())
	return a, err == nil
}

// InboundAddr returns the address of a sidecar's inbound listener, or nil
// when it has none.
func (p *Proxy) InboundAddr() (addr string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, lc := range p.state.Load().listeners {
		if lc.name == meshxds.InboundListener {
			if s := p.listeners[lc.bind]; s != nil {
				return s.ln.Addr().String()
			}
		}
	}
	return ""
}
