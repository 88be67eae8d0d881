package h1

import (
	"net"
	"sync"
	"time"
)

// handOff gives the connection, and the bytes read from it so far, to
// net/http's server, once the request head has passed the screen (see
// screenHead). It reports whether net/http took it.
func (c *conn[S]) handOff() bool {
	head, ok := c.readHead()
	if !ok {
		return false
	}
	if end := headEnd(head); end >= 0 {
		if status, reason := screenHead(head[:end]); reason != "" {
			c.refuseHead(status, reason)
			return false
		}
	}
	pc := &prefixConn{Conn: c.nc, prefix: head, writes: writeDeadline{nc: c.nc, timeout: c.s.cfg.WriteTimeout}}
	_ = c.setReadDeadline(time.Time{})
	return c.s.hand.give(pc)
}

// handoff is the listener through which net/http's server receives the
// connections the server's own loop gives up.
type handoff struct {
	addr   net.Addr
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newHandoff(addr net.Addr) *handoff {
	return &handoff{addr: addr, conns: make(chan net.Conn), closed: make(chan struct{})}
}

func (h *handoff) Accept() (net.Conn, error) {
	select {
	case c := <-h.conns:
		return c, nil
	case <-h.closed:
		return nil, net.ErrClosed
	}
}

func (h *handoff) Close() error {
	h.once.Do(func() { close(h.closed) })
	return nil
}

func (h *handoff) Addr() net.Addr { return h.addr }

// give hands c to net/http; false when the server is closed.
func (h *handoff) give(c net.Conn) bool {
	select {
	case h.conns <- c:
		return true
	case <-h.closed:
		return false
	}
}

// prefixConn is a connection whose first bytes were already read.
type prefixConn struct {
	net.Conn
	prefix []byte
	writes writeDeadline // see prefixConn.Write
}

func (p *prefixConn) Read(b []byte) (int, error) {
	if len(p.prefix) > 0 {
		n := copy(b, p.prefix)
		p.prefix = p.prefix[n:]
		return n, nil
	}
	return p.Conn.Read(b)
}

// CloseWrite lets net/http half-close the connection after an error
// response, so the client reads the response before the connection resets.
func (p *prefixConn) CloseWrite() error {
	if cw, ok := p.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return p.Conn.Close()
}
