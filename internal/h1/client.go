package h1

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lanemesh/lanemesh/internal/arena"
	"github.com/lanemesh/lanemesh/internal/rawio"
)

// Upstream HTTP/1.1 limits.
const (
	// MaxResponseHeaderBytes bounds a response head (status line and
	// header), as http.Transport's MaxResponseHeaderBytes did.
	MaxResponseHeaderBytes = 1 << 20
	// Max1xxResponses is how many informational responses may precede the
	// final one, as in net/http.
	Max1xxResponses = 5
	// connBufferSize is each upstream connection's read and write buffer.
	// It holds a typical request or response head; bodies larger than it
	// bypass it.
	connBufferSize = 4 << 10
)

var (
	errHeaderTooLarge = fmt.Errorf("upstream response header larger than %d bytes", MaxResponseHeaderBytes)
	errUnexpected1xx  = errors.New("upstream sent 101 Switching Protocols or too many 1xx responses")
	errBodyClosed     = errors.New("read on a closed upstream response body")
)

// buffers are the 32 KiB buffers bodies are copied through.
var buffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// GetBuffer returns a 32 KiB buffer for copying a body; PutBuffer gives
// it back.
func GetBuffer() *[]byte { return buffers.Get().(*[]byte) }

// PutBuffer gives back a buffer GetBuffer returned.
func PutBuffer(b *[]byte) { buffers.Put(b) }

// aLongTimeAgo is a deadline in the past: setting it on a connection makes
// the reads and writes blocked on it return at once.
var aLongTimeAgo = time.Unix(1, 0)

// ClientConn is one connection to an upstream server, with its buffers.
// One exchange at a time uses it (see RoundTrip); between exchanges its
// Owner keeps it.
type ClientConn struct {
	conn  net.Conn
	owner Owner
	opts  ClientOptions
	br    *bufio.Reader // reads and writes go through the upConn, which counts them
	bw    *bufio.Writer
	// limit is how many more bytes the reader may take: the header limit
	// while a response head is read, unlimited for its body.
	limit int64
	// nwritten and nread count bytes since the current exchange began, to
	// tell a connection the upstream had closed while it was idle (nothing
	// went out, or nothing came back) from one that failed mid-exchange.
	nwritten, nread int64
	// IdleSince, Used and Exchanges are the owner's: when the connection
	// went idle (in the owner's clock), whether it carried an exchange
	// before, so that the upstream may have closed it since, and how many
	// it carried (for a limit of requests per connection).
	IdleSince int64
	Used      bool
	Exchanges int
	// interrupt unblocks the connection's I/O when an attempt's context
	// ends; it is built once per connection, not once per request.
	// interrupted records that it did, so that no later deadline (see
	// progress) undoes it.
	interrupt   func()
	interrupted atomic.Bool
	// deadline is the connection's read and write deadline, which each
	// read or write moves StreamIdle ahead: an exchange that moves
	// no byte for that long fails with ErrStreamIdle.
	deadline atomic.Int64 // mono ns
	idled    atomic.Bool  // the deadline passed: every later read or write fails too
	// header is reused by every plain response head read on the
	// connection (see readPlainHead): a response's Header is valid until
	// its body is closed.
	header http.Header
	// The text and the value slices of the plain heads, which outlive
	// the response (see package arena).
	strs arena.Strings
	vals arena.Slices[string]
}

// Owner keeps a ClientConn between exchanges: a response body's Close
// gives the connection back with Put when the exchange ended cleanly, and
// with Release, for closing, when it did not.
type Owner interface {
	Put(*ClientConn)
	Release(*ClientConn)
}

// ClientOptions are a connection's settings, those of its upstream.
type ClientOptions struct {
	// Addr is the upstream's address, the Host of a request that has
	// none (HTTP/1.0).
	Addr string
	// StreamIdle fails an exchange that moves no byte for this long with
	// ErrStreamIdle; 0: never.
	StreamIdle time.Duration
	// KeepAlive: the connection may carry more than one exchange;
	// without it, requests say "Connection: close".
	KeepAlive bool
}

// NewClientConn returns nc as a client connection that owner keeps.
func NewClientConn(nc net.Conn, owner Owner, opts ClientOptions) *ClientConn {
	nc = rawio.Conn(nc)
	c := &ClientConn{conn: nc, owner: owner, opts: opts, limit: math.MaxInt64, header: make(http.Header, 8)}
	c.br = bufio.NewReaderSize(c, connBufferSize)
	c.bw = bufio.NewWriterSize(c, connBufferSize)
	c.interrupt = func() { c.interrupted.Store(true); _ = nc.SetDeadline(aLongTimeAgo) }
	return c
}

// Read reads from the connection within the current limit.
func (c *ClientConn) Read(p []byte) (int, error) {
	if c.limit <= 0 {
		return 0, errHeaderTooLarge
	}
	if int64(len(p)) > c.limit {
		p = p[:c.limit]
	}
	if err := c.progress(); err != nil {
		return 0, err
	}
	n, err := c.conn.Read(p)
	c.limit -= int64(n)
	c.nread += int64(n)
	return n, c.idleError(err)
}

// Write writes to the connection.
func (c *ClientConn) Write(p []byte) (int, error) {
	if err := c.progress(); err != nil {
		return 0, err
	}
	n, err := c.conn.Write(p)
	c.nwritten += int64(n)
	return n, c.idleError(err)
}

// ErrStreamIdle is an upstream exchange that moved no byte for
// ClientOptions.StreamIdle.
var ErrStreamIdle = errors.New("stream idle timeout: the upstream exchange made no progress")

// ErrInvalidResponse wraps the error of a response head that arrived but
// is not valid HTTP/1.1 (a bad status line, conflicting lengths, a head
// over the limit, a 101 the proxy did not ask for): the upstream's fault,
// not the connection's.
var ErrInvalidResponse = errors.New("invalid upstream response")

// progress moves the connection's deadline StreamIdleTimeout ahead before
// a read or write: the read of a response and the write of a streamed body
// may run at once (on two goroutines), and either one's progress keeps the
// other alive, so
// that the exchange is idle only when neither moves. The deadline moves
// only when it has fallen behind by a 64th of the timeout (moveDeadline),
// so that most reads and writes do not touch the runtime's timers. It fails once the
// attempt was interrupted, since the deadline just set may have replaced
// the interrupt's.
func (c *ClientConn) progress() error {
	idle := c.opts.StreamIdle
	if idle <= 0 {
		return nil
	}
	if moveDeadline(&c.deadline, idle) {
		_ = c.conn.SetDeadline(time.Now().Add(idle))
	}
	if c.interrupted.Load() {
		return os.ErrDeadlineExceeded
	}
	if c.idled.Load() {
		return ErrStreamIdle // the exchange is over, whoever reads next
	}
	return nil
}

// idleError names a deadline that progress set, not interrupt, as the
// stream idle timeout.
func (c *ClientConn) idleError(err error) error {
	if err != nil && c.opts.StreamIdle > 0 && !c.interrupted.Load() && errors.Is(err, os.ErrDeadlineExceeded) {
		c.idled.Store(true)
		return ErrStreamIdle
	}
	return err
}

// Response is the reusable memory of the responses of one request's
// exchanges: a plain response (see readPlainHead) is parsed into it, so
// that relaying one allocates neither its http.Response nor its body. It
// is valid until the response body is closed.
type Response struct {
	head http.Response
	body Body
}

// RoundTrip makes one exchange on c on the calling goroutine: it writes r
// and reads the final response head, whose body gives the connection back
// to its owner when it is closed. body is r's whole body when the caller
// buffered it (and can send it again: replayable), else nil and r.Body
// streams, on a goroutine of its own, so that an upstream that answers
// before it read the whole body is heard. r is written as it is, never
// read again after the exchange: the caller may rewrite it in place first.
// ctx ending interrupts the exchange.
//
// On failure c is given back for closing, and stale reports whether the
// failure looks like a connection the upstream closed while idle, on which
// the request can be sent again.
func (c *ClientConn) RoundTrip(ctx context.Context, r *http.Request, body []byte, replayable bool, into *Response) (resp *http.Response, stale bool, err error) {
	watch := c.watchContext(ctx)
	c.nwritten, c.nread = 0, 0
	var writer *streamingWriter
	c.writeHead(r, body)
	switch {
	case body != nil:
		_, _ = c.bw.Write(body)
		err = c.bw.Flush()
	case r.Body != http.NoBody:
		if err = c.bw.Flush(); err == nil {
			writer = c.streamBody(r)
		}
	default:
		err = c.bw.Flush()
	}
	if err != nil {
		watch.end()
		c.owner.Release(c)
		// If nothing went out, even a non-idempotent request is safe to
		// send again; net/http's rule too.
		return nil, c.Used && c.nwritten == 0 && replayable, err
	}
	if c.br.Buffered() == 0 {
		// The request just went out: the upstream has not answered
		// yet, and a read now would most likely fail with EAGAIN and
		// park. Other goroutines run first, as in the server's loop
		// (see conn.readRequest), so that the read finds the answer.
		rawio.Yield()
	}
	resp, err = c.readResponse(r, into)
	if !writer.sawHead() {
		// The body failed first and interrupted the read (which may
		// have returned a response all the same): the body's error is
		// what happened.
		err = <-writer.result
	}
	if err != nil {
		watch.end()
		c.owner.Release(c)
		// A stream idle timeout is a silent upstream, not a stale
		// connection: sending again would only double the wait.
		stale = c.Used && c.nread == 0 && replayable && Idempotent(r) && !errors.Is(err, ErrStreamIdle)
		return nil, stale, err
	}
	b := &into.body // readResponse set how the body is framed
	b.c, b.watch, b.writer = c, watch, writer
	b.reusable = !resp.Close && c.opts.KeepAlive && !b.upgraded
	resp.Body = b
	return resp, false, nil
}

// Close closes the connection.
func (c *ClientConn) Close() error { return c.conn.Close() }

// writeHead buffers the request line and header of r for the upstream.
// Errors surface at the Flush that follows. Like net/http's Request.Write,
// it writes the framing headers itself (body, when buffered, is the whole
// body), leaves out an empty User-Agent, and sends Content-Length: 0 for
// an empty body except on GET and HEAD, which many servers expect.
// Header names and values are valid: the request parser (or net/http's
// server) checked the client's, and Apply checked the configuration's.
func (c *ClientConn) writeHead(r *http.Request, body []byte) {
	bw := c.bw
	bw.WriteString(r.Method)
	bw.WriteByte(' ')
	writeRequestURI(bw, r.URL)
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	if r.Host != "" {
		bw.WriteString(r.Host)
	} else {
		bw.WriteString(c.opts.Addr) // an HTTP/1.0 request may have no Host
	}
	bw.WriteString("\r\n")
	for k, vv := range r.Header {
		switch k {
		case "Host", "Content-Length", "Transfer-Encoding", "Trailer":
			continue // framing is written below
		case "User-Agent":
			if len(vv) == 0 || vv[0] == "" {
				continue
			}
			vv = vv[:1]
		}
		for _, v := range vv {
			bw.WriteString(k)
			bw.WriteString(": ")
			bw.WriteString(v)
			bw.WriteString("\r\n")
		}
	}
	switch {
	case body != nil:
		writeContentLength(bw, int64(len(body)))
	case r.Body == http.NoBody:
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			bw.WriteString("Content-Length: 0\r\n")
		}
	case r.ContentLength > 0:
		writeContentLength(bw, r.ContentLength)
	default:
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	}
	if !c.opts.KeepAlive {
		bw.WriteString("Connection: close\r\n")
	}
	bw.WriteString("\r\n")
}

func writeContentLength(bw *bufio.Writer, n int64) {
	var num [20]byte
	bw.WriteString("Content-Length: ")
	bw.Write(strconv.AppendInt(num[:0], n, 10))
	bw.WriteString("\r\n")
}

// writeRequestURI writes u.RequestURI() without building the string.
func writeRequestURI(bw *bufio.Writer, u *url.URL) {
	if u.Opaque != "" {
		if strings.HasPrefix(u.Opaque, "//") {
			bw.WriteString(u.Scheme)
			bw.WriteByte(':')
		}
		bw.WriteString(u.Opaque)
	} else if p := u.EscapedPath(); p != "" {
		bw.WriteString(p)
	} else {
		bw.WriteByte('/')
	}
	if u.ForceQuery || u.RawQuery != "" {
		bw.WriteByte('?')
		bw.WriteString(u.RawQuery)
	}
}

// Idempotent reports whether a request may be sent again after the
// upstream may have seen it, by net/http's rule.
func Idempotent(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return r.Header["Idempotency-Key"] != nil || r.Header["X-Idempotency-Key"] != nil
}

// streamingWriter writes the body of a request too large to buffer (which
// gets only one attempt) on its own goroutine, so that an upstream that
// answers before reading all of it is heard, as with net/http's transport.
// If the client's body cannot be read before the response head arrived, it
// interrupts the connection so that the exchange fails at once rather than
// wait for a response that may never come; if it cannot be written, the
// response (an early one) is read all the same.
type streamingWriter struct {
	state  atomic.Uint32 // writing, then headRead or writeFailed, whichever comes first
	result chan error    // the writer's error, sent once
}

const (
	writing uint32 = iota
	headRead
	writeFailed
)

func (c *ClientConn) streamBody(r *http.Request) *streamingWriter {
	w := &streamingWriter{result: make(chan error, 1)}
	go func() {
		bp := GetBuffer()
		defer PutBuffer(bp)
		src := &downstreamBody{r: r.Body, c: c}
		var err error
		if r.ContentLength > 0 {
			err = copyExactly(c.bw, src, r.ContentLength, *bp)
		} else {
			err = copyChunked(c.bw, src, *bp)
		}
		if err == nil {
			err = c.bw.Flush()
		}
		// Only a failure to read the client's body abandons the exchange.
		// A failure to write means the upstream stopped reading, most
		// likely because it answered early (413, say) and closed: its
		// response is still to be read, and relayed.
		fromClient := src.err != nil || errors.Is(err, io.ErrUnexpectedEOF)
		if err != nil && fromClient && w.state.CompareAndSwap(writing, writeFailed) {
			c.interrupt()
		}
		w.result <- err
	}()
	return w
}

// sawHead records that the response head arrived; false means the writer
// failed first and the exchange is to be abandoned. A nil writer (the
// request was written in line) always agrees.
func (w *streamingWriter) sawHead() bool {
	return w == nil || w.state.CompareAndSwap(writing, headRead)
}

// done reports whether the whole request went out.
func (w *streamingWriter) done() bool {
	if w == nil {
		return true
	}
	select {
	case err := <-w.result:
		return err == nil
	default:
		return false
	}
}

// copyExactly copies n bytes of src to bw.
func copyExactly(bw *bufio.Writer, src io.Reader, n int64, buf []byte) error {
	// writerOnly hides bw's ReadFrom, which would copy through its small
	// buffer (or through a fresh 32 KiB one in net.TCPConn) instead of buf.
	copied, err := io.CopyBuffer(writerOnly{bw}, io.LimitReader(src, n), buf)
	if err == nil && copied < n {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// copyChunked copies src to bw in chunked transfer coding, one chunk per
// read, flushed, so that a streamed body stays live.
func copyChunked(bw *bufio.Writer, src io.Reader, buf []byte) error {
	var size [16]byte
	for {
		n, err := src.Read(buf)
		if n > 0 {
			bw.Write(strconv.AppendInt(size[:0], int64(n), 16))
			bw.WriteString("\r\n")
			bw.Write(buf[:n])
			bw.WriteString("\r\n")
			if ferr := bw.Flush(); ferr != nil {
				return ferr
			}
		}
		if err == io.EOF {
			_, _ = bw.WriteString("0\r\n\r\n")
			return nil
		}
		if err != nil {
			return err
		}
	}
}

type writerOnly struct{ io.Writer }

// downstreamBody is a streamed request body as its writer reads it. Bytes
// from the client are progress of the exchange (they may sit in the
// connection's buffer before any reaches the upstream), so each read moves
// the stream idle deadline too.
// It also keeps the body's read error, to tell the client's failures
// from the upstream's.
type downstreamBody struct {
	r   io.Reader
	c   *ClientConn
	err error // the first read error but io.EOF
}

func (b *downstreamBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if n > 0 {
		_ = b.c.progress()
	}
	if err != nil && err != io.EOF && b.err == nil {
		b.err = err
	}
	return n, err
}
