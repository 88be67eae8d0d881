package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"

	"github.com/lanemesh/lanemesh/internal/h1"
	"github.com/lanemesh/lanemesh/internal/meshxds"
)

// serving is one bound listener and its HTTP server. It is keyed by bind
// address, so an update that keeps a listener's address keeps its socket
// and connections.
type serving struct {
	bind    string
	ln      net.Listener
	srv     *h1.Server[exchange]
	log     *slog.Logger
	started bool
	done    chan struct{} // closed when serve returns
	once    sync.Once
}

// bindNew binds the listeners of next that are not bound yet. If one
// fails, the ones it bound are closed and the update is rejected.
func (p *Proxy) bindNew(next *state) error {
	var bound []*serving
	for bind := range next.listeners {
		if p.listeners[bind] != nil {
			continue
		}
		ln, err := p.listen(bind)
		if err != nil {
			for _, s := range bound {
				_ = s.ln.Close()
			}
			return fmt.Errorf("listener %q: bind %s: %w", next.listeners[bind].name, bind, err)
		}
		bound = append(bound, p.newServing(bind, ln))
	}
	for _, s := range bound {
		p.listeners[s.bind] = s
	}
	return nil
}

// listen binds a listener's address, with SO_REUSEPORT if asked.
func (p *Proxy) listen(bind string) (net.Listener, error) {
	if !p.opts.ReusePort {
		return net.Listen("tcp", bind)
	}
	ln, err := listenReusePort(bind)
	if rl, ok := ln.(reusePortListener); ok {
		p.log.Warn("SO_REUSEPORT without a socket selector: a predecessor draining on this address may reset the connections queued when it closes",
			slog.String("address", bind), slog.Any("error", rl.selectorErr))
		ln = rl.Listener
	}
	return ln, err
}

// newServing wraps a bound socket in an HTTP/1.1 server with the limits
// that protect a proxy: header read timeout, idle timeout, header size.
// There is no read or write timeout for whole requests: bodies may stream
// for as long as the route allows, and route timeouts bound them instead.
func (p *Proxy) newServing(bind string, ln net.Listener) *serving {
	h := &handler{p: p, bind: bind}
	o := &p.opts
	cfg := h1.Config{ReadHeaderTimeout: o.ReadHeaderTimeout, IdleTimeout: o.IdleTimeout, WriteTimeout: o.WriteTimeout,
		MaxHeaderBytes: o.MaxHeaderBytes, MaxConnections: o.MaxConnections, Overload: overloadResponse(o.MaxConnections),
		Refusal: refusalResponse, TLS: h.tlsServer, Log: p.log}
	// A sidecar's listeners (outbound, and inbound when its pod's inbound
	// traffic is intercepted) take redirected connections.
	if p.opts.Role == meshxds.Sidecar {
		cfg.ConnContext = withOriginalDst
	}
	srv := h1.NewServer[exchange](h, cfg, ln.Addr())
	return &serving{bind: bind, ln: ln, srv: srv, log: p.log, done: make(chan struct{})}
}

// syncListeners starts listeners new in next (if Run is serving) and stops,
// in the background, those next no longer has.
func (p *Proxy) syncListeners(next *state) {
	for bind, s := range p.listeners {
		if next.listeners[bind] == nil {
			delete(p.listeners, bind)
			p.bg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), p.opts.DrainTimeout)
				defer cancel()
				s.stop(ctx)
			})
			continue
		}
		if p.running {
			s.start()
		}
	}
}

// start serves the socket, once.
func (s *serving) start() {
	if s.started {
		return
	}
	s.started = true
	s.log.Info("listener started", slog.String("address", s.ln.Addr().String()))
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("listener failed", slog.String("address", s.bind), slog.Any("error", err))
		}
	}()
}

// stop closes the socket, lets in-flight requests finish until ctx is
// done, then closes whatever connections remain.
func (s *serving) stop(ctx context.Context) {
	s.once.Do(func() {
		if !s.started {
			_ = s.ln.Close()
			return
		}
		if s.srv.Draining() {
			// After a drain period, the connections already in the
			// accept queue are taken and served, not reset by the close.
			s.srv.StopAccepting()
			queued := takeQueued(s.ln)
			for _, nc := range queued {
				s.srv.Adopt(nc)
			}
			s.log.Info("listener emptied", slog.String("address", s.bind), slog.Int("queued_connections", len(queued)))
		}
		_ = s.ln.Close()
		s.srv.Shutdown(ctx)
		<-s.done
		s.log.Info("listener stopped", slog.String("address", s.ln.Addr().String()))
	})
}
