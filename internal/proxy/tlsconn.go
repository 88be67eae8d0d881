package proxy

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
)

// tlsServer wraps an accepted connection in server-side TLS if the
// listener terminates TLS in the current snapshot, else returns nil. A
// connection keeps what it began with: a listener that changes kind under
// it serves it no more (see exchange.chain). The handshake picks the
// filter chain by the client's SNI in the snapshot current at that moment,
// and takes that chain's certificate as its files are now.
func (h *handler) tlsServer(nc net.Conn) *tls.Conn {
	if lc := h.p.state.Load().listeners[h.bind]; lc == nil || !lc.tls {
		return nil
	}
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
				h.p.log.Warn("cannot load the TLS certificate of a filter chain; its handshakes fail until it loads",
					slog.String("listener", lc.name), slog.Any("server_names", fc.serverNames), slog.Any("error", err))
			}
			return nil, err
		}
		fc.tls.failing.Store(false)
		return cfg, nil
	}})
}
