package proxy

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
)

// terminatesTLS reports whether the listener terminates TLS in the current
// snapshot. A connection keeps what it began with: a listener that changes
// kind under it serves it no more (see exchange.chain).
func (s *server) terminatesTLS() bool {
	if s.h.p == nil { // a server tests run with a bare handler
		return false
	}
	lc := s.h.p.state.Load().listeners[s.h.bind]
	return lc != nil && lc.tls
}

// tlsServer wraps an accepted connection in server-side TLS. The handshake
// picks the filter chain by the client's SNI in the snapshot current at
// that moment, and takes that chain's certificate as its files are now.
func (s *server) tlsServer(nc net.Conn) *tls.Conn {
	h := s.h
	return tls.Server(nc, &tls.Config{GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		lc := h.p.state.Load().listeners[h.bind]
		if lc == nil || !lc.tls {
			return nil, fmt.Errorf("listener %s no longer terminates TLS", h.bind)
		}
		fc := lc.chainFor(hello.ServerName)
		if fc == nil {
			return nil, fmt.Errorf("no filter chain of listener %q matches SNI %q", lc.name, hello.ServerName)
		}
		cfg, err := fc.tls.config()
		if err != nil {
			// Once per failing spell, not per handshake: a missing
			// credential would otherwise flood the log.
			if fc.tls.failing.CompareAndSwap(false, true) {
				s.log.Warn("cannot load the TLS certificate of a filter chain; its handshakes fail until it loads",
					slog.String("listener", lc.name), slog.Any("server_names", fc.serverNames), slog.Any("error", err))
			}
			return nil, err
		}
		fc.tls.failing.Store(false)
		return cfg, nil
	}})
}

// handshake completes the TLS handshake within the header timeout (a
// client that stalls it holds a connection like one that stalls its head).
// It reports whether the connection may carry requests; a failed one is
// logged at debug level, as Envoy counts it in its ssl stats.
func (c *conn) handshake(tc *tls.Conn) bool {
	ctx, cancel := context.WithTimeout(c.ctx, c.s.opts.ReadHeaderTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		c.s.log.Debug("TLS handshake failed", slog.String("client", c.remote), slog.Any("error", err))
		return false
	}
	st := tc.ConnectionState()
	c.req.TLS = &st
	return true
}

// tlsContextKey carries, for a connection handed to net/http, its TLS
// state: net/http sets Request.TLS only for a *tls.Conn it accepted, and a
// handed-off connection is wrapped.
type tlsContextKey struct{}

// connContext is net/http's ConnContext: it records a handed-off
// connection's TLS state for ServeHTTP.
func connContext(ctx context.Context, nc net.Conn) context.Context {
	if pc, ok := nc.(*prefixConn); ok {
		if tc, ok := pc.Conn.(*tls.Conn); ok {
			st := tc.ConnectionState()
			return context.WithValue(ctx, tlsContextKey{}, &st)
		}
	}
	return ctx
}

// withTLS gives r the TLS state connContext recorded.
func withTLS(r *http.Request) {
	if st, ok := r.Context().Value(tlsContextKey{}).(*tls.ConnectionState); ok && r.TLS == nil {
		r.TLS = st
	}
}
