package h1

import (
	"context"
	"sync"
)

// An upstream exchange is interrupted when its context ends (see
// ClientConn.RoundTrip). context.AfterFunc does that, at two allocations per
// exchange. Nearly every exchange runs under the context of the server
// connection whose request it relays, which lives for many requests, so
// the server registers one AfterFunc per connection instead (a connWatch),
// and an exchange under exactly that context only tells the watch which
// upstream connection to interrupt. Any other context (one with a timeout
// derived from it, a detached one, a request served by net/http), or a
// second exchange under the same context at once, gets an AfterFunc of its
// own, as before.

// connWatch is the context watch of one server connection.
type connWatch struct {
	ctx     context.Context // the connection's request context, which carries the watch
	stop    func() bool     // the AfterFunc's
	mu      sync.Mutex
	done    bool        // ctx has ended
	current *ClientConn // the exchange running under ctx, if any
}

type connWatchKey struct{}

// newConnWatch returns a watch of the end of ctx; its ctx is the context
// for the connection's requests.
func newConnWatch(ctx context.Context) *connWatch {
	w := &connWatch{}
	w.ctx = context.WithValue(ctx, connWatchKey{}, w)
	w.stop = context.AfterFunc(w.ctx, w.fire)
	return w
}

// close stops the watch when the connection ends, interrupting whatever
// still runs under its context (nothing should), here rather than on a
// goroutine of the AfterFunc's once the context is cancelled.
func (w *connWatch) close() {
	if w.stop() {
		w.fire()
	}
}

// fire interrupts the exchange running when the context ends, and every
// later one.
func (w *connWatch) fire() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.done = true
	if w.current != nil {
		w.current.interrupt()
	}
}

// acquire makes c the exchange the watch interrupts; false if another
// exchange has it.
func (w *connWatch) acquire(c *ClientConn) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.current != nil {
		return false
	}
	w.current = c
	if w.done {
		c.interrupt()
	}
	return true
}

// release ends c's watch, and reports whether the context was still live
// (as the stop function of context.AfterFunc does).
func (w *connWatch) release(c *ClientConn) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.current == c {
		w.current = nil
	}
	return !w.done
}

// exchangeWatch is how an exchange stops watching its context: through
// the server connection's watch, or through an AfterFunc of its own.
type exchangeWatch struct {
	w    *connWatch
	c    *ClientConn
	stop func() bool
}

// watchContext starts interrupting c's I/O when ctx ends.
func (c *ClientConn) watchContext(ctx context.Context) exchangeWatch {
	if w, ok := ctx.Value(connWatchKey{}).(*connWatch); ok && w.ctx == ctx && w.acquire(c) {
		return exchangeWatch{w: w, c: c}
	}
	return exchangeWatch{stop: context.AfterFunc(ctx, c.interrupt)}
}

// end stops the watch, and reports whether the context was still live: if
// not, the exchange may have been interrupted.
func (x exchangeWatch) end() bool {
	if x.w != nil {
		return x.w.release(x.c)
	}
	return x.stop()
}
