package h1

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
)

// handshake completes the TLS handshake within the header timeout (a
// client that stalls it holds a connection like one that stalls its head).
// It reports whether the connection may carry requests; a failed one is
// logged at debug level, as Envoy counts it in its ssl stats.
func (c *conn[S]) handshake(tc *tls.Conn) bool {
	ctx, cancel := context.WithTimeout(c.ctx, c.s.cfg.ReadHeaderTimeout)
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
