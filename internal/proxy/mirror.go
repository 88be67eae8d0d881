package proxy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/lanemesh/lanemesh/internal/route"
)

// Mirroring bounds. A copy is fire and forget: nothing waits for it, so
// what it may hold is bounded here instead.
const (
	// maxMirrorsInFlight caps the copies under way at once per proxy;
	// past it a copy is dropped (Envoy's circuit breakers would refuse it
	// too), so a slow mirror cannot pile up goroutines and connections.
	maxMirrorsInFlight = 1024
	// mirrorTimeout bounds a copy whose route sets no timeout.
	mirrorTimeout = 30 * time.Second
	// maxMirrorResponseDrain is how much of a copy's response is read
	// (and discarded) so that its connection can be reused.
	maxMirrorResponseDrain = 64 << 10
)

// mirror sends a copy of the request, as prepared for the upstream, to
// each mirror policy of the route that fires, after the body has been
// read. Only a request whose body is buffered (maxReplayBody at most) is
// copied; a streamed body cannot be sent twice.
func (x *exchange) mirror() {
	mirrors := x.rt.Mirrors
	if len(mirrors) == 0 || !x.replayable {
		return
	}
	for i := range mirrors {
		m := &mirrors[i]
		cl := x.plan.mirrors[i]
		if cl == nil || !m.Fires(x.p.rand()) {
			continue
		}
		x.p.shadow(cl, x.r, x.body, m.KeepHost, x.plan.timeout)
	}
}

// shadow sends one copy of r (with body) to a cluster in the background.
// The copy has its own request, header and body, since the original's
// are reused once the exchange ends; its Host gets Envoy's "-shadow"
// suffix unless keepHost. Its response is discarded; its outcome is
// only counted (lanemesh_mirror_requests_total).
func (p *Proxy) shadow(cl *cluster, r *http.Request, body []byte, keepHost bool, timeout time.Duration) {
	if p.mirrorsInFlight.Add(1) > maxMirrorsInFlight {
		p.mirrorsInFlight.Add(-1)
		p.metrics.mirrors.WithLabelValues("dropped").Inc()
		return
	}
	if timeout <= 0 {
		timeout = mirrorTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	c := r.Clone(ctx)
	if !keepHost {
		c.Host = route.ShadowHost(r.Host)
	}
	c.Body, c.ContentLength, c.TransferEncoding, c.Trailer = http.NoBody, 0, nil, nil
	var b []byte
	if len(body) > 0 {
		b = bytes.Clone(body)
		c.Body, c.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
	}
	p.shadowMu.Lock()
	defer p.shadowMu.Unlock()
	if p.shadowsClosed { // the proxy has drained: no copy outlives it
		cancel()
		p.mirrorsInFlight.Add(-1)
		p.metrics.mirrors.WithLabelValues("dropped").Inc()
		return
	}
	p.shadows.Go(func() {
		defer p.mirrorsInFlight.Add(-1)
		defer cancel()
		if err := p.sendShadow(ctx, cl, c, b); err != nil {
			p.metrics.mirrors.WithLabelValues("failed").Inc()
			p.log.Debug("mirror failed", slog.String("cluster", cl.name), slog.Any("error", err))
			return
		}
		p.metrics.mirrors.WithLabelValues("sent").Inc()
	})
}

// errNoMirrorEndpoint is a copy whose cluster has no usable endpoint, or
// whose circuit breaker is open.
var errNoMirrorEndpoint = errors.New("mirror cluster has no usable endpoint or is over its circuit breaker")

// sendShadow makes the copy's one attempt, on an endpoint the cluster's
// load balancing picks, within the cluster's circuit breakers.
func (p *Proxy) sendShadow(ctx context.Context, cl *cluster, r *http.Request, body []byte) error {
	x := &exchange{p: p, st: p.state.Load(), r: r, body: body, replayable: true, start: time.Now()}
	x.now = int64(x.start.Sub(p.epoch))
	if cl.aggregate { // a fallback pair: its first member with a usable endpoint
		idx := cl.firstUsable(0, x.now)
		if idx < 0 {
			return errNoMirrorEndpoint
		}
		cl = cl.targets[idx]
	}
	var e *endpoint
	if cl.ring != nil {
		e = cl.pickHashed(uint64(p.rand())<<32|uint64(p.rand()), x.now)
	} else {
		e = cl.pick(x.now, p.rand, nil)
	}
	if e == nil || !cl.admit() {
		return errNoMirrorEndpoint
	}
	defer cl.stats.active.Add(-1)
	e.host.active.Add(1)
	defer e.host.active.Add(-1)
	resp, err := x.send(ctx, e)
	if err != nil {
		return err
	}
	_, _ = io.CopyN(io.Discard, resp.Body, maxMirrorResponseDrain)
	return resp.Body.Close()
}
