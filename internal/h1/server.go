package h1

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lanemesh/lanemesh/internal/arena"
	"github.com/lanemesh/lanemesh/internal/rawio"
)

// Server serves HTTP/1.1 on one listener, handing each request to a
// Handler with a per-connection S the handler reuses from one request to
// the next (a proxy's per-request state, say), so that a request served by
// the own loop allocates nothing of its own.
//
// Requests with a plain head (see parsePlainRequest), which is nearly all
// of them, are parsed and answered by the server's own loop on the
// connection's goroutine: one read and one write per request, with the
// connection's buffers and header maps reused from one request to the
// next. net/http's server, by contrast, reads in the background during
// every request (to notice a client that goes away) and hands the
// connection between goroutines, which at one core costs about as much as
// a proxy's own work. Here a request that is still in flight after
// watchDelay gets that watch (see conn.watch); a fast one never pays it.
//
// The first request whose head is not plain hands the connection, with the
// bytes read so far, to net/http's server for the rest of its life: net/http
// stays the parser of everything unusual (chunked bodies, Expect, HTTP/1.0,
// oversized or malformed heads), so what the server accepts and refuses is
// what net/http accepts and refuses, but for the head screen's refusals
// (screen.go).
type Server[S any] struct {
	h   Handler[S]
	cfg Config
	log *slog.Logger
	// tlsLogged is when a TLS handshake on this plain listener was last
	// logged (unix ns): once a minute, so that a scanner cannot flood the log.
	tlsLogged atomic.Int64
	std       *http.Server // serves the connections handed off
	hand      *handoff

	closing atomic.Bool
	// draining: still accepting, but every response closes its
	// connection (see BeginDrain). stopAccepting: the listener is being
	// emptied and closed (see StopAccepting).
	draining, stopAccepting atomic.Bool
	// open counts the listener's downstream connections, those handed to
	// net/http included, against cfg.MaxConnections; refusing counts the
	// connections being refused.
	open, refusing atomic.Int64
	// watches counts the hang-up watches reading now; see maxWatches.
	watches  atomic.Int64
	overload []byte // the answer past the limit; see refuse
	mu       sync.Mutex
	conns    map[*conn[S]]struct{}
	wg       sync.WaitGroup // one per connection goroutine
}

// Handler serves the requests of a Server.
type Handler[S any] interface {
	// Serve serves r through w, with s, which the server reuses for the
	// connection's next request: nothing may keep s, w or r after Serve
	// returns. It reports whether the response was cut short after its
	// head went out, or the client is gone: the server then closes the
	// connection (net/http's server resets it).
	Serve(s *S, w http.ResponseWriter, r *http.Request) (abort bool)
}

// Config is what a Server is built from. Zero timeouts and limits mean
// none.
type Config struct {
	ReadHeaderTimeout time.Duration // for a request head, from its first byte (and for a TLS handshake)
	IdleTimeout       time.Duration // between requests on a connection
	WriteTimeout      time.Duration // ahead of every write, so that a client that stops reading is closed
	MaxHeaderBytes    int           // as net/http's, for the heads it judges
	MaxConnections    int           // past it, a connection gets Overload and is closed

	// Overload is the response a connection past MaxConnections gets, and
	// Refusal the one for a head the screen refuses, given its status and
	// why (see Answer for building them).
	Overload []byte
	Refusal  func(status int, reason string) []byte
	// TLS, when it returns a connection, terminates TLS on an accepted
	// one; nil serves it in the clear. Nil: no TLS.
	TLS func(net.Conn) *tls.Conn
	// ConnContext, if set, derives the context of a connection's requests
	// from the accepted connection (before TLS is unwrapped for net/http).
	ConnContext func(context.Context, net.Conn) context.Context
	Log         *slog.Logger
}

// watchDelay is how long a request runs before the server starts watching
// its client's connection for a hang-up. The watch costs a goroutine
// switch and two system calls, so it is kept for requests that are slow
// by any measure, well above queueing at saturation (p99 ~10 ms): an
// upstream request whose client has gone lives at most this much longer.
const watchDelay = 50 * time.Millisecond

// maxWatches bounds the watches a server runs at once. When a proxy falls
// behind, every request passes watchDelay, and a watch for each (a
// goroutine, a read, two deadlines) costs CPU exactly when there is none
// to spare, which keeps the proxy behind: under the race detector on two
// cores, an in-process mesh at 300 requests/s that slipped once stayed
// behind with 3,600 watches until the load stopped. Past the bound a slow
// request goes unwatched, and a client that hung up is noticed when its
// response is written instead.
const maxWatches = 64

// NewServer returns a server of h on a listener with address addr.
func NewServer[S any](h Handler[S], cfg Config, addr net.Addr) *Server[S] {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	std := &http.Server{
		Handler:                      stdHandler[S]{h},
		ReadHeaderTimeout:            cfg.ReadHeaderTimeout,
		IdleTimeout:                  cfg.IdleTimeout,
		MaxHeaderBytes:               cfg.MaxHeaderBytes,
		Protocols:                    &protocols,
		DisableGeneralOptionsHandler: true,
		ErrorLog:                     slog.NewLogLogger(cfg.Log.Handler(), slog.LevelDebug),
	}
	// One request per handed-off connection: the head screen reads only
	// the first head net/http gets (see screenHead).
	std.SetKeepAlivesEnabled(false)
	s := &Server[S]{h: h, cfg: cfg, log: cfg.Log, std: std, hand: newHandoff(addr), conns: map[*conn[S]]struct{}{},
		overload: cfg.Overload}
	std.ConnContext = func(ctx context.Context, nc net.Conn) context.Context {
		ctx = connContext(ctx, nc)
		if pc, ok := nc.(*prefixConn); ok && cfg.ConnContext != nil {
			ctx = cfg.ConnContext(ctx, pc.Conn)
		}
		return ctx
	}
	std.ConnState = func(_ net.Conn, cs http.ConnState) {
		if cs == http.StateClosed || cs == http.StateHijacked {
			s.open.Add(-1) // a connection handed off has left
		}
	}
	return s
}

// stdHandler serves the requests of connections handed to net/http, each
// with an S of its own.
type stdHandler[S any] struct{ h Handler[S] }

func (a stdHandler[S]) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	withTLS(r)
	if a.h.Serve(new(S), w, r) {
		panic(http.ErrAbortHandler)
	}
}

// Serve accepts connections until ln is closed, or the server shuts down
// or stops accepting.
func (s *Server[S]) Serve(ln net.Listener) error {
	stdDone := make(chan error, 1)
	go func() { stdDone <- s.std.Serve(s.hand) }()
	defer func() { <-stdDone }()
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.closing.Load() || s.stopAccepting.Load() || errors.Is(err, net.ErrClosed) {
				s.hand.Close()
				return http.ErrServerClosed
			}
			// Out of file descriptors, say: wait, as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Error("accept failed", slog.Any("error", err), slog.Duration("retry_in", backoff))
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		s.Adopt(nc)
	}
}

// Adopt serves an accepted connection, or refuses it past the limit.
func (s *Server[S]) Adopt(nc net.Conn) {
	if limit := s.cfg.MaxConnections; s.open.Add(1) > int64(limit) && limit > 0 {
		s.open.Add(-1)
		s.refuse(nc)
		return
	}
	nc = rawio.Conn(nc)
	if s.cfg.TLS != nil {
		if tc := s.cfg.TLS(nc); tc != nil {
			nc = tc
		}
	}
	c := newConn(s, nc)
	if !s.track(c) {
		s.open.Add(-1)
		_ = nc.Close()
		return
	}
	go c.serve()
}

func (s *Server[S]) track(c *conn[S]) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		return false
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	return true
}

func (s *Server[S]) untrack(c *conn[S]) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.wg.Done()
}

// Shutdown stops serving gracefully: the caller has closed the listener;
// idle connections close now, busy ones after their response (which says
// "Connection: close"). When ctx ends first, every connection is closed.
func (s *Server[S]) Shutdown(ctx context.Context) {
	s.mu.Lock()
	s.closing.Store(true)
	// After a drain period, a connection still waiting for its first
	// request was accepted moments ago: it is served, not dropped.
	includeNew := !s.draining.Load()
	for c := range s.conns {
		c.closeIfIdle(includeNew)
	}
	s.mu.Unlock()
	stdDone := make(chan struct{})
	go func() {
		if s.std.Shutdown(ctx) != nil {
			_ = s.std.Close()
		}
		close(stdDone)
	}()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		s.mu.Lock()
		for c := range s.conns {
			_ = c.nc.Close()
		}
		s.mu.Unlock()
		<-done
	}
	<-stdDone
}

// BeginDrain starts the drain period of a listener that goes on
// accepting: idle connections close now, and every response from now on
// says "Connection: close", so that clients take their next requests to
// the listener's successor.
func (s *Server[S]) BeginDrain() {
	s.draining.Store(true)
	s.std.SetKeepAlivesEnabled(false) // closes net/http's idle connections too
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.closeIfIdle(false)
	}
}

// Draining reports whether BeginDrain was called.
func (s *Server[S]) Draining() bool { return s.draining.Load() }

// StopAccepting tells Serve that its listener is being emptied (its queued
// connections Adopted) and closed: the close is no error.
func (s *Server[S]) StopAccepting() { s.stopAccepting.Store(true) }

// Connection states, for shutdown: an idle connection (waiting for a
// request) may be closed at once; an active one finishes its response. A
// new one (waiting for its first request) is idle too, except at the end
// of a drain period.
const (
	connActive uint32 = iota
	connIdle
	connNew
	connClosed
)

// conn is one downstream connection served by the server's own loop.
type conn[S any] struct {
	s      *Server[S]
	nc     net.Conn
	remote string
	state  atomic.Uint32
	br     *bufio.Reader // reads through stashReader
	bw     *bufio.Writer // writes through writes
	writes writeDeadline

	// Reused by each request on the connection: the request, its URL and
	// header map, the header values' backing array, the body, the response
	// writer and the handler's state. Nothing keeps them after the handler
	// returns.
	req     *http.Request
	url     url.URL
	vals    []string
	keys    keyCache      // the client's header names in canonical form
	strs    arena.Strings // the text of the heads, which outlives the request
	length  int64         // the request's Content-Length as received
	body    requestBody[S]
	w       responseWriter[S]
	scratch S

	// The context of every request on the connection, cancelled when the
	// client is known to be gone or the connection ends. One per
	// connection, not per request: a request's context matters only
	// while the client is there, and a connection whose client is gone
	// carries no more requests.
	ctx    context.Context
	cancel context.CancelFunc
	// exchanges interrupts the upstream exchanges of the requests when
	// ctx ends; see connWatch.
	exchanges *connWatch

	// The watch for a client hanging up mid-request; see watch.
	timer    *time.Timer
	wmu      sync.Mutex
	armed    bool          // a request is in flight and its body was read
	watching bool          // a watch read is blocked on the connection
	watched  chan struct{} // closed when the watch read returns
	stash    [1]byte       // a byte the watch read: the next request's first
	stashed  bool

	linger bool // the client may still be sending: see closeGently

	// waitDue is the deadline waitDeadline set last, in mono ns, while
	// no other read deadline has replaced it; 0 otherwise. The watch and
	// a handler's body reads may set deadlines from other goroutines.
	waitDue atomic.Int64
}

// Downstream buffers are pooled: a connection holds them from accept to
// close, and net/http's server, which gets some of the connections, has
// pools of its own.
var (
	readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, connBufferSize) }}
	writerPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, connBufferSize) }}
)

func newConn[S any](s *Server[S], nc net.Conn) *conn[S] {
	c := &conn[S]{s: s, nc: nc, remote: nc.RemoteAddr().String()}
	c.state.Store(connActive)
	c.br = readerPool.Get().(*bufio.Reader)
	c.br.Reset(stashReader[S]{c})
	c.bw = writerPool.Get().(*bufio.Writer)
	c.writes = writeDeadline{nc: nc, timeout: s.cfg.WriteTimeout}
	c.bw.Reset(&c.writes)
	ctx := context.Background()
	if s.cfg.ConnContext != nil {
		ctx = s.cfg.ConnContext(ctx, nc)
	}
	ctx, c.cancel = context.WithCancel(ctx)
	c.exchanges = newConnWatch(ctx)
	c.ctx = c.exchanges.ctx
	c.req = (&http.Request{Header: make(http.Header, 16)}).WithContext(c.ctx)
	c.w.header = make(http.Header, 16)
	c.w.c = c
	c.body.c = c
	c.timer = time.AfterFunc(time.Hour, c.watch)
	c.timer.Stop()
	return c
}

// serve serves requests until the connection closes, fails, is handed to
// net/http, or the server shuts down.
func (c *conn[S]) serve() {
	handedOff := false
	defer func() {
		// A panic, a bug, ends this connection only, as with net/http.
		// Its buffers are not pooled again: a body reader may still hold
		// them.
		v := recover()
		if v != nil {
			c.s.log.Error("panic serving a request; connection closed", slog.String("client", c.remote),
				slog.Any("panic", v), slog.String("stack", string(debug.Stack())))
		}
		c.exchanges.close()
		c.cancel()
		c.timer.Stop()
		if c.linger {
			c.closeGently()
		}
		if !handedOff {
			_ = c.nc.Close()
			c.s.open.Add(-1)
		}
		if v == nil {
			c.br.Reset(nil)
			c.bw.Reset(nil)
			readerPool.Put(c.br)
			writerPool.Put(c.bw)
		}
		c.s.untrack(c)
	}()
	if tc, ok := c.nc.(*tls.Conn); ok && !c.handshake(tc) {
		return
	}
	for first := true; ; first = false {
		verdict, ok := c.readRequest(first)
		if !ok {
			return
		}
		if verdict != headPlain {
			handedOff = c.handOff()
			return
		}
		if !c.serveRequest() {
			return
		}
	}
}

// tlsHandshakeRecord is the first byte of a TLS connection (a handshake
// record), which no HTTP/1 request line starts with.
const tlsHandshakeRecord = 0x16

// readRequest waits for the next request head and parses it into c.req
// if it is plain. The first request has the header timeout to arrive; the
// next ones may be IdleTimeout away, and then get the header timeout from
// their first byte. A connection that times out or closes meanwhile is
// done (ok false), as with net/http.
func (c *conn[S]) readRequest(first bool) (verdict headVerdict, ok bool) {
	wait := c.s.cfg.IdleTimeout
	if first {
		wait = c.s.cfg.ReadHeaderTimeout
	}
	if c.br.Buffered() == 0 && !c.stashed {
		idle := connIdle
		if first {
			idle = connNew
		}
		c.state.Store(idle)
		if c.s.closing.Load() && !(first && c.s.draining.Load()) || !first && c.s.draining.Load() {
			return 0, false
		}
		c.waitDeadline(wait)
		if !first {
			// The response just went out, and the client has not had
			// the time to send its next request: a read now would most
			// likely find nothing (a wasted read(2) returning EAGAIN)
			// and park the goroutine until the poller wakes it. Under
			// load other connections' goroutines are ready to run:
			// letting them run first gives the client that time, and
			// the read then finds the request. At light load the run
			// queue is empty and the yield returns at once.
			rawio.Yield()
		}
		b, err := c.br.Peek(1)
		if err != nil {
			return 0, false
		}
		if first && b[0] == tlsHandshakeRecord {
			// TLS to a plain HTTP listener: an app's own https:// call
			// that capture sent to its sidecar, say. No request line will
			// come; waiting for one only delays the client's error.
			if now := time.Now().UnixNano(); now-c.s.tlsLogged.Load() > int64(time.Minute) { // at most once a minute
				c.s.tlsLogged.Store(now)
				c.s.log.Warn("a TLS handshake on a plain HTTP listener: closed (if an app calls out over TLS itself, exclude the port from its sidecar's capture)",
					"remote", c.remote)
			}
			return 0, false
		}
		if !c.state.CompareAndSwap(idle, connActive) {
			return 0, false // shutdown closed it
		}
	}
	headerDeadline := false
	for {
		buf, _ := c.br.Peek(c.br.Buffered())
		clear(c.req.Header)
		c.req.URL = &c.url
		size, vals, verdict := parsePlainRequest(buf, c.req, c.vals, &c.keys, &c.strs)
		c.vals = vals
		switch {
		case verdict == headPlain:
			_, _ = c.br.Discard(size)
			return headPlain, true
		case verdict == headNotPlain || c.br.Buffered() == c.br.Size():
			return headNotPlain, true // net/http judges it, and a head too large for the buffer
		case !headerDeadline && !first:
			_ = c.setReadDeadline(after(c.s.cfg.ReadHeaderTimeout))
			headerDeadline = true
		}
		if _, err := c.br.Peek(c.br.Buffered() + 1); err != nil {
			return 0, false
		}
	}
}

// serveRequest runs the handler on the parsed request and finishes the
// response. It reports whether the connection may carry another request.
func (c *conn[S]) serveRequest() bool {
	r := c.req
	r.RemoteAddr, r.Body, r.TransferEncoding, r.Trailer = c.remote, http.NoBody, nil, nil
	c.length = r.ContentLength
	if c.length > 0 {
		c.body.reset(c.length)
		r.Body = &c.body
		// Bodies stream for as long as the route allows; the handler sets
		// a deadline of its own for those it buffers.
		_ = c.setReadDeadline(time.Time{})
	} else {
		c.arm()
	}
	c.w.reset(r)
	abort := c.s.h.Serve(&c.scratch, &c.w, r)
	bodyLeft := c.length > 0 && !c.body.finish() // before disarm: no body read arms it again
	c.disarm()
	if abort || c.ctx.Err() != nil {
		_ = c.bw.Flush() // what the response had so far, then the connection closes
		return false
	}
	if c.w.finish(bodyLeft) != nil {
		return false
	}
	if bodyLeft || c.w.closeAfter {
		c.linger = bodyLeft || c.br.Buffered() > 0
		return false
	}
	return true
}

// setReadDeadline sets the connection's read deadline; every read
// deadline of the connection is set here, so that waitDeadline knows
// whether its own is still the one in force.
func (c *conn[S]) setReadDeadline(t time.Time) error {
	c.waitDue.Store(0)
	return c.nc.SetReadDeadline(t)
}

// waitDeadline sets the read deadline of the wait for the next request
// head: wait from now, or none for a wait of 0. Like writeDeadline, it
// leaves the deadline it set for the previous request in force while that
// one has fallen behind by no more than a 64th of wait (moveDeadline), so
// that a busy connection does not move the runtime's timers (and read the
// clock three more times) at every request.
func (c *conn[S]) waitDeadline(wait time.Duration) {
	if wait <= 0 {
		_ = c.setReadDeadline(time.Time{})
		return
	}
	if moveDeadline(&c.waitDue, wait) {
		_ = c.nc.SetReadDeadline(time.Now().Add(wait))
	}
}

// after is the deadline of a timeout from now: none for a zero timeout,
// which Config documents as none (a deadline of now would fail every read
// at once).
func after(d time.Duration) time.Time {
	if d <= 0 {
		return time.Time{}
	}
	return time.Now().Add(d)
}

// Lingering before a close, as net/http does: closing a socket that still
// has input unread makes the kernel reset the connection, and a reset can
// destroy the response the client has not read yet.
const (
	lingerTime  = 500 * time.Millisecond
	lingerBytes = 256 << 10
)

// closeGently half-closes the connection, then reads and drops what the
// client still sends until it closes too, or lingerTime or lingerBytes
// runs out. The caller closes the connection.
func (c *conn[S]) closeGently() {
	hc, ok := c.nc.(interface{ CloseWrite() error }) // TCP, raw or not, and TLS, as net/http's closeWriteAndWait
	if !ok {
		return
	}
	_ = hc.CloseWrite()
	_ = c.setReadDeadline(time.Now().Add(lingerTime))
	_, _ = io.Copy(io.Discard, io.LimitReader(c.nc, lingerBytes))
}

// closeIfIdle closes the connection if it waits for a request (with
// includeNew, its first one too); shutdown and beginDrain call it.
func (c *conn[S]) closeIfIdle(includeNew bool) {
	if c.state.CompareAndSwap(connIdle, connClosed) || includeNew && c.state.CompareAndSwap(connNew, connClosed) {
		_ = c.nc.Close()
	}
}

// The watch: net/http notices a client hanging up mid-request (and cancels
// the request's context, which ends its upstream attempt) by reading the
// connection in the background during every request. Here that read starts
// only for a request still in flight after watchDelay, from the timer's
// goroutine. Whatever it reads first is kept: a byte means the client sent
// its next request early (the stash holds it for the next head); an error
// means it is gone. disarm stops the read at the end of the request by
// moving the read deadline into the past.

// arm starts the watch clock for the request in flight, once nothing else
// is to read from the connection during it. A client that has sent its
// next request already is not watched: it is there, and reading ahead of
// that request would take bytes the next head needs.
func (c *conn[S]) arm() {
	if c.br.Buffered() > 0 || c.stashed {
		return
	}
	c.wmu.Lock()
	c.armed = true
	c.wmu.Unlock()
	c.timer.Reset(watchDelay)
}

// disarm ends the watch when the handler has returned.
func (c *conn[S]) disarm() {
	c.wmu.Lock()
	c.armed = false
	watching := c.watching
	if watching {
		_ = c.setReadDeadline(aLongTimeAgo)
	}
	c.wmu.Unlock()
	c.timer.Stop()
	if watching {
		<-c.watched
	}
}

// watch is the timer's function: it reads one byte from the connection
// until the client sends something, goes away, or disarm interrupts it.
func (c *conn[S]) watch() {
	c.wmu.Lock()
	if !c.armed || c.watching {
		c.wmu.Unlock()
		return
	}
	if c.s.watches.Add(1) > maxWatches {
		c.s.watches.Add(-1)
		c.wmu.Unlock()
		return // overloaded: the hang-up shows when the request ends
	}
	defer c.s.watches.Add(-1)
	c.watching, c.watched = true, make(chan struct{})
	_ = c.setReadDeadline(time.Time{}) // under the lock, so disarm's deadline comes after
	c.wmu.Unlock()
	n, err := c.nc.Read(c.stash[:])
	c.wmu.Lock()
	c.stashed = n > 0
	interrupted := !c.armed
	c.watching = false
	close(c.watched)
	c.wmu.Unlock()
	if err != nil && !interrupted {
		c.cancel() // the client is gone
	}
}

// stashReader is the connection as the request reader sees it: the byte
// the watch read, if any, then the socket.
type stashReader[S any] struct{ c *conn[S] }

func (s stashReader[S]) Read(p []byte) (int, error) {
	if c := s.c; c.stashed && len(p) > 0 {
		p[0], c.stashed = c.stash[0], false
		return 1, nil
	}
	return s.c.nc.Read(p)
}
