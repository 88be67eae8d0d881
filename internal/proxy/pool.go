package proxy

import (
	"context"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// poolSettings are what a cluster's connection pool is built from; a pool
// is reused across updates while they stay equal.
type poolSettings struct {
	connectTimeout  time.Duration
	maxConnsPerHost int // 0: unlimited
	idleTimeout     time.Duration
	keepAlive       bool
}

// Upstream connection pool tuning. Go's default of 2 idle connections per
// host would make a busy proxy open and close a connection for most
// requests; 256 keeps a loaded upstream's connections warm.
const (
	maxIdleConnsPerHost    = 256
	defaultIdleConnTimeout = 90 * time.Second
	tcpKeepAlive           = 30 * time.Second
	maxResponseHeaderBytes = 1 << 20
	ioBufferSize           = 16 << 10
)

// pool is a cluster's upstream connections: one http.Transport, HTTP/1.1
// only, with the cluster's connect timeout, and a dialer that counts open
// connections for metrics and /clusters.
type pool struct {
	settings  poolSettings
	transport *http.Transport
}

func newPool(cs *clusterStats, s poolSettings) *pool {
	d := &net.Dialer{Timeout: s.connectTimeout, KeepAlive: tcpKeepAlive}
	idle := s.idleTimeout
	if idle <= 0 {
		idle = defaultIdleConnTimeout
	}
	t := &http.Transport{
		// Proxy stays nil: the data plane must never follow HTTP_PROXY from
		// its own environment.
		DialContext:            countingDialer(d, cs),
		MaxIdleConnsPerHost:    maxIdleConnsPerHost,
		MaxConnsPerHost:        s.maxConnsPerHost,
		IdleConnTimeout:        idle,
		DisableKeepAlives:      !s.keepAlive,
		DisableCompression:     true, // forward Accept-Encoding and bodies untouched
		MaxResponseHeaderBytes: maxResponseHeaderBytes,
		WriteBufferSize:        ioBufferSize,
		ReadBufferSize:         ioBufferSize,
	}
	var protocols http.Protocols
	protocols.SetHTTP1(true) // upstreams speak HTTP/1.1
	t.Protocols = &protocols
	return &pool{settings: s, transport: t}
}

// retire closes the pool's idle connections once a newer snapshot stopped
// using it. Connections still carrying a request are closed by the
// transport's idle timeout after they finish.
func (p *pool) retire() {
	if p != nil {
		p.transport.CloseIdleConnections()
	}
}

// countingDialer wraps d so that cs.conns counts open connections.
func countingDialer(d *net.Dialer, cs *clusterStats) func(context.Context, string, string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		cs.conns.Add(1)
		return &countedConn{Conn: c, cs: cs}, nil
	}
}

// countedConn decrements its cluster's connection count once, on Close.
type countedConn struct {
	net.Conn
	cs     *clusterStats
	closed atomic.Bool
}

func (c *countedConn) Close() error {
	if c.closed.CompareAndSwap(false, true) {
		c.cs.conns.Add(-1)
	}
	return c.Conn.Close()
}
