package h1

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// MaxHeaderFields is how many header fields a request head may have:
// Envoy's default max_headers_count. Past it the request gets 431 from the
// screen, as from Envoy, instead of reaching the upstream.
const MaxHeaderFields = 100

// ErrBodyTimeout is a request body that fell behind: a pause longer than
// BodyTimeout, or an average under MinBodyRate after it. It wraps
// os.ErrDeadlineExceeded, which is how the connection reported it.
var ErrBodyTimeout = fmt.Errorf("request body too slow: %w", os.ErrDeadlineExceeded)

// PacedBody is a streamed request body held to a timeout and a rate
// through read deadlines on the client's connection, so that it works the
// same on the server's own loop and on net/http's: each read may wait
// BodyTimeout for the next bytes, and never beyond the time by which the
// bytes read so far, plus one, were due at MinBodyRate after a grace of
// BodyTimeout from the request's start. A slow upload keeps going; a body
// trickled a byte every few seconds is cut off.
//
// Once the handler has returned, stop ends the pacing: the body's reader
// (a streamed body's writer may outlive the handler for a moment) must not
// move the connection's read deadline after the server has set its own,
// such as the lingering close's.
type PacedBody struct {
	body    io.ReadCloser
	rc      *http.ResponseController
	start   time.Time
	timeout time.Duration
	rate    int // bytes/s; <= 0: no rate check
	// n counts the bytes read. The body may be read on a goroutine of
	// its own (the upstream write), while the handler reads n for
	// istio_request_bytes when it is done.
	n        atomic.Int64
	finished bool

	mu      sync.Mutex // orders stop after any deadline a Read sets
	stopped bool
	due     atomic.Int64 // unix ns of the deadline in force while the body is read; 0 after
}

// Pace wraps a request body served through w that is streamed rather
// than buffered, holding it to timeout and rate (bytes/s; <= 0: none) from
// start.
func Pace(body io.ReadCloser, w http.ResponseWriter, start time.Time, timeout time.Duration, rate int) *PacedBody {
	return &PacedBody{body: body, rc: http.NewResponseController(w), start: start, timeout: timeout, rate: rate}
}

func (b *PacedBody) Read(p []byte) (int, error) {
	if b.finished {
		return b.body.Read(p)
	}
	b.mu.Lock()
	if b.stopped {
		b.mu.Unlock()
		return 0, http.ErrBodyReadAfterClose
	}
	due := bodyDeadline(time.Now(), b.start, b.n.Load(), b.timeout, b.rate)
	b.due.Store(due.UnixNano())
	_ = b.rc.SetReadDeadline(due)
	b.mu.Unlock()
	n, err := b.body.Read(p)
	b.n.Add(int64(n))
	switch {
	case err == io.EOF:
		b.finished = true // the server clears the deadline for the next request
		b.due.Store(0)
	case err != nil && errors.Is(err, os.ErrDeadlineExceeded):
		err = ErrBodyTimeout
	}
	return n, err
}

func (b *PacedBody) Close() error { return b.body.Close() }

// BytesRead is how many bytes of the body were read so far.
func (b *PacedBody) BytesRead() int64 { return b.n.Load() }

// TimedOut reports whether the body is past its deadline. net/http
// cancels the request's context when a body read fails, before the error
// reaches the reader, so an attempt can end as a cancellation before the
// reader has said why; this tells a body that fell behind from a client
// that went away. Nil reports false.
func (b *PacedBody) TimedOut() bool {
	if b == nil {
		return false
	}
	due := b.due.Load()
	return due != 0 && time.Now().UnixNano() >= due
}

// Stop ends the pacing when the handler returns; nil does nothing.
func (b *PacedBody) Stop() {
	if b == nil {
		return
	}
	b.mu.Lock()
	b.stopped = true
	b.mu.Unlock()
}

// bodyDeadline is when the next bytes of a body that started at start and
// has read n bytes are due: BodyTimeout from now, and no later than the
// time at which n+1 bytes were due at rate after a grace of BodyTimeout.
func bodyDeadline(now, start time.Time, n int64, timeout time.Duration, rate int) time.Time {
	d := now.Add(timeout)
	if rate > 0 {
		due := start.Add(timeout + time.Duration(float64(n+1)/float64(rate)*float64(time.Second)))
		if due.Before(d) {
			d = due
		}
	}
	return d
}

// writeDeadline writes to a downstream connection with a deadline
// WriteTimeout ahead of each write, so that a client that stops reading
// its response is closed, while one that reads slowly is not. As in
// ClientConn.progress, the deadline moves only when it has fallen behind
// by a 64th of the timeout (moveDeadline).
type writeDeadline struct {
	nc      net.Conn
	timeout time.Duration
	next    atomic.Int64 // mono ns of the deadline set
}

func (w *writeDeadline) Write(p []byte) (int, error) {
	if w.timeout <= 0 {
		return w.nc.Write(p)
	}
	if moveDeadline(&w.next, w.timeout) {
		_ = w.nc.SetWriteDeadline(time.Now().Add(w.timeout))
	}
	return w.nc.Write(p)
}

// Write gives the connections handed to net/http the same write deadline
// as the server's own: net/http's WriteTimeout would bound a whole
// response instead, streams included.
func (p *prefixConn) Write(b []byte) (int, error) { return p.writes.Write(b) }

// Answer is a complete response the server (or its user) sends on its own
// before closing a connection: status, a plain-text body, the extra header
// fields given as name, value pairs, and Connection: close.
func Answer(status int, body string, fields ...string) []byte {
	var b strings.Builder
	b.WriteString("HTTP/1.1 " + strconv.Itoa(status) + " " + http.StatusText(status) + "\r\n")
	b.WriteString("Content-Type: text/plain; charset=utf-8\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n")
	for i := 0; i+1 < len(fields); i += 2 {
		b.WriteString(fields[i] + ": " + fields[i+1] + "\r\n")
	}
	b.WriteString("Connection: close\r\n\r\n" + body)
	return []byte(b.String())
}

// maxRefusing bounds the connections being refused at once; past it, a
// connection over the limit is closed without an answer, since answering
// costs a goroutine each.
const maxRefusing = 256

// refuse answers a connection over the listener's limit with the overload
// response and closes it, lingering briefly so that the answer is not lost
// to a reset if the client has sent its request already.
func (s *Server[S]) refuse(nc net.Conn) {
	if s.refusing.Add(1) > maxRefusing || !s.trackRefusal() {
		s.refusing.Add(-1)
		_ = nc.Close()
		return
	}
	go func() {
		defer s.wg.Done()
		defer s.refusing.Add(-1)
		defer nc.Close()
		_ = nc.SetDeadline(time.Now().Add(lingerTime))
		if _, err := nc.Write(s.overload); err != nil {
			return
		}
		if tcp, ok := nc.(*net.TCPConn); ok {
			_ = tcp.CloseWrite()
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(nc, lingerBytes))
	}()
}

// trackRefusal counts a refusal in the server's goroutines, so that
// shutdown waits for it; false once the server is closing.
func (s *Server[S]) trackRefusal() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		return false
	}
	s.wg.Add(1)
	return true
}
