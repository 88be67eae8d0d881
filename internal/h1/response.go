package h1

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"

	"github.com/lanemesh/lanemesh/internal/arena"
)

// readResponse reads the final response head to r on c,
// skipping informational (1xx) responses, each head within
// MaxResponseHeaderBytes. The body it returns reads from c.
//
// Most upstream responses are plain (see parsePlainHead): those are parsed
// here into the connection's reusable header map and the caller's
// reusable Response, the head's text and value slices taken from the
// connection's arenas (package arena): no allocation of their own, where
// http.ReadResponse makes ten. Any other head is left in the buffer for
// http.ReadResponse, which handles every framing (chunked,
// close-delimited, 1xx, 204, 304, HEAD) and every oddity; the fast path
// only declines what it does not know.
func (c *ClientConn) readResponse(r *http.Request, into *Response) (*http.Response, error) {
	for n := 0; ; n++ {
		c.limit = MaxResponseHeaderBytes
		if resp := c.readPlainHead(r, into); resp != nil {
			c.limit = math.MaxInt64
			return resp, nil
		}
		resp, err := http.ReadResponse(c.br, r)
		switch {
		case err != nil && !ioError(err):
			return nil, fmt.Errorf("%w: %w", ErrInvalidResponse, err)
		case err != nil:
			return nil, err
		case resp.StatusCode >= 200:
			c.limit = math.MaxInt64
			into.body = Body{framed: resp.Body}
			return resp, nil
		case resp.StatusCode == http.StatusSwitchingProtocols && r.Header["Upgrade"] != nil:
			// The upgrade the request asked for: the connection now
			// carries the new protocol (see Body.Tunnel).
			c.limit = math.MaxInt64
			into.body = Body{framed: http.NoBody, upgraded: true}
			return resp, nil
		case resp.StatusCode == http.StatusSwitchingProtocols || n == Max1xxResponses:
			return nil, fmt.Errorf("%w: %w", ErrInvalidResponse, errUnexpected1xx)
		}
	}
}

// ioError reports whether a response read failed on the connection (it
// closed, reset or timed out) rather than on what the upstream sent.
func ioError(err error) bool {
	var ne net.Error
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &ne) ||
		errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, ErrStreamIdle) || errors.Is(err, context.Canceled) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// readPlainHead parses the next response head on c if it is plain, and
// returns nil, consuming nothing, if it is not or cannot be read.
func (c *ClientConn) readPlainHead(r *http.Request, into *Response) *http.Response {
	if r.Method == http.MethodHead { // a body-less response that says how long its body would be
		return nil
	}
	for want := 1; ; {
		if _, err := c.br.Peek(want); err != nil {
			return nil // http.ReadResponse meets the error again and reports it
		}
		buf, _ := c.br.Peek(c.br.Buffered())
		clear(c.header)
		head, verdict := parsePlainHead(buf, c.header, &c.strs, &c.vals)
		switch verdict {
		case headPlain:
			_, _ = c.br.Discard(head.size)
			into.head = http.Response{Status: head.status, StatusCode: head.code, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
				Header: c.header, ContentLength: head.contentLength, Request: r}
			into.body = Body{remaining: head.contentLength}
			return &into.head
		case headIncomplete:
			if c.br.Buffered() == c.br.Size() {
				return nil // a head larger than the buffer: not a common one
			}
			want = c.br.Buffered() + 1
		default:
			return nil
		}
	}
}

// plainHead is a parsed plain response head.
type plainHead struct {
	size          int    // bytes, the blank line included
	status        string // "200 OK"
	code          int
	contentLength int64
}

// parsePlainHead parses the response head at the start of b into h, which
// must be empty, if the head is plain: an HTTP/1.1 status line with a final
// status that has a body (200-599 but 204 and 304), CRLF line ends, header
// fields that net/textproto would accept as they are (no folding, valid
// names and values), exactly one Content-Length, and none of
// Transfer-Encoding, Connection, Trailer or Pragma, which need net/http's
// handling. The result must be exactly what http.ReadResponse would make of
// the same head; the differential test and fuzzer in response_test.go hold
// it to that. On any other verdict than headPlain, h holds junk. The
// head's text comes from strs and the values' backing array from vals,
// when not nil.
func parsePlainHead(b []byte, h http.Header, strs *arena.Strings, vals *arena.Slices[string]) (plainHead, headVerdict) {
	size, lines, verdict := headExtent(b)
	if verdict != headPlain {
		return plainHead{}, verdict
	}
	s := strs.String(b[:size]) // every key and value below is a substring of s
	line, rest, _ := strings.Cut(s, "\r\n")
	head, ok := parseStatusLine(line)
	if !ok {
		return plainHead{}, headNotPlain
	}
	head.size, head.contentLength = size, -1
	free := vals.Make(lines) // backs every single-valued field
	for {
		line, rest, _ = strings.Cut(rest, "\r\n")
		if line == "" {
			break
		}
		key, value, ok := parseField(line, nil)
		if !ok {
			return plainHead{}, headNotPlain
		}
		switch key {
		case "Content-Length":
			n, ok := parseLength(value)
			if !ok || head.contentLength >= 0 {
				return plainHead{}, headNotPlain
			}
			head.contentLength = n
		case "Transfer-Encoding", "Connection", "Trailer", "Pragma":
			return plainHead{}, headNotPlain
		}
		free = addValue(h, key, value, free)
	}
	if head.contentLength < 0 {
		return plainHead{}, headNotPlain // close-delimited
	}
	return head, headPlain
}

// parseStatusLine reads "HTTP/1.1 200 OK", with the reason optional.
func parseStatusLine(line string) (plainHead, bool) {
	rest, ok := strings.CutPrefix(line, "HTTP/1.1 ")
	if !ok || len(rest) < 3 || (len(rest) > 3 && rest[3] != ' ') || !ValidValue(rest) {
		return plainHead{}, false
	}
	code := 0
	for _, c := range []byte(rest[:3]) {
		if c < '0' || c > '9' {
			return plainHead{}, false
		}
		code = code*10 + int(c-'0')
	}
	if code < 200 || code > 599 || code == http.StatusNoContent || code == http.StatusNotModified {
		return plainHead{}, false
	}
	return plainHead{status: rest, code: code}, true
}

// Body is a response's body. Closing it gives the
// connection back for reuse when the exchange ended cleanly: the body was
// read to its end, the request was written in full, nobody asked to close,
// the upstream sent nothing more, and the attempt's context did not end.
// Otherwise it closes the connection, without draining the rest of a body
// the proxy is not going to relay.
type Body struct {
	// framed is net/http's body reader for a head http.ReadResponse
	// parsed; nil for a plain head, whose body is the next remaining bytes.
	framed    io.Reader
	remaining int64

	c        *ClientConn
	watch    exchangeWatch    // of the attempt's context
	writer   *streamingWriter // the body writer of a streamed request; nil when written in line
	reusable bool
	eof      bool
	closed   bool
	upgraded bool // a 101 to the request's upgrade: see Tunnel
}

func (b *Body) Read(p []byte) (n int, err error) {
	if b.closed {
		return 0, errBodyClosed
	}
	if b.framed != nil {
		n, err = b.framed.Read(p)
	} else {
		n, err = b.readPlain(p)
	}
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}

// readPlain reads a Content-Length body the way net/http does: io.EOF with
// the last bytes, so that the connection can go back at once, and
// io.ErrUnexpectedEOF if the upstream closes early.
func (b *Body) readPlain(p []byte) (int, error) {
	if b.remaining <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.remaining {
		p = p[:b.remaining]
	}
	n, err := b.c.br.Read(p)
	b.remaining -= int64(n)
	switch {
	case b.remaining == 0:
		return n, io.EOF
	case err == io.EOF:
		return n, io.ErrUnexpectedEOF
	}
	return n, err
}

// Buffered returns the rest of a plain body if the connection's buffer
// holds all of it, so that it can be relayed without a copy; Consumed
// must follow, with how much was used.
func (b *Body) Buffered() ([]byte, bool) {
	if b.closed || b.framed != nil || int64(b.c.br.Buffered()) < b.remaining {
		return nil, false
	}
	rest, _ := b.c.br.Peek(int(b.remaining))
	return rest, true
}

// Ready reports whether a Read would return at once, without waiting for
// the upstream: some of the body (or its framing) is buffered, or it has
// ended. A relay flushes what it wrote to its client before a Read that
// would wait, and only then.
func (b *Body) Ready() bool {
	return b.closed || b.eof || b.c.br.Buffered() > 0
}

// Tunnel hands over the connection of a 101 Switching Protocols answer to
// an upgrade: a reader of what the upstream sends next (bytes it sent
// right after the head included) and a writer to it. Closing the body
// afterwards closes the connection. ok is false for any other response.
func (b *Body) Tunnel() (r io.Reader, w io.Writer, ok bool) {
	if !b.upgraded || b.closed {
		return nil, nil, false
	}
	return b.c.br, b.c.conn, true
}

// Consumed takes n bytes that Buffered returned off the body.
func (b *Body) Consumed(n int) {
	_, _ = b.c.br.Discard(n)
	b.remaining -= int64(n)
	b.eof = b.remaining == 0
}

func (b *Body) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	c := b.c
	if b.watch.end() && b.eof && b.reusable && c.br.Buffered() == 0 && b.writer.done() {
		c.owner.Put(c)
	} else {
		c.owner.Release(c)
	}
	return nil
}
