package h1

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"
)

// responseWriter is the http.ResponseWriter of a request served by the
// server's own loop. It writes the response head and body into the
// connection's buffer, and flushes once at the end (or when the handler
// flushes a stream), so that a small response costs one write.
//
// Framing follows net/http's server: a Content-Length the handler set is
// kept and held to; without one, a response with a body is chunked (and
// carries the trailers the handler declared), and a response finished
// without a body gets "Content-Length: 0". Unlike net/http it does not
// guess a Content-Type: a proxy relays what the upstream said.
type responseWriter[S any] struct {
	c      *conn[S]
	r      *http.Request
	header http.Header

	status      int  // set by WriteHeader; 200 if Write comes first
	headWritten bool // the head is in the buffer
	bodyAllowed bool
	chunked     bool
	length      int64 // the declared Content-Length, or -1
	written     int64
	closeAfter  bool     // the connection closes after this response
	trailers    []string // the declared trailer names, when chunked
}

func (w *responseWriter[S]) reset(r *http.Request) {
	clear(w.header)
	w.r, w.status, w.headWritten, w.chunked = r, 0, false, false
	// The client's "Connection: close" is read now: the handler clears
	// r.Close, which is about the upstream request by then.
	w.length, w.written, w.closeAfter = -1, 0, r.Close
	w.trailers = w.trailers[:0]
}

func (w *responseWriter[S]) Header() http.Header { return w.header }

// WriteHeader records the status; the head is written with the first body
// byte or at the end. The proxy sends no informational responses, so a
// 1xx status is ignored, as is a second call.
func (w *responseWriter[S]) WriteHeader(code int) {
	if w.status == 0 && code >= 200 && code <= 999 {
		w.status = code
	}
}

func (w *responseWriter[S]) Write(p []byte) (int, error) {
	if !w.headWritten {
		w.writeHead(false)
	}
	switch {
	case !w.bodyAllowed && w.r.Method == http.MethodHead:
		return len(p), nil
	case !w.bodyAllowed:
		return 0, http.ErrBodyNotAllowed
	case w.length >= 0 && w.written+int64(len(p)) > w.length:
		return 0, http.ErrContentLength
	case len(p) == 0:
		return 0, nil
	}
	w.written += int64(len(p))
	bw := w.c.bw
	if w.chunked {
		var size [16]byte
		_, _ = bw.Write(strconv.AppendInt(size[:0], int64(len(p)), 16))
		_, _ = bw.WriteString("\r\n")
		n, err := bw.Write(p)
		_, _ = bw.WriteString("\r\n")
		return n, err
	}
	return bw.Write(p)
}

// Flush sends what is buffered, the head included.
func (w *responseWriter[S]) Flush() {
	if !w.headWritten {
		w.writeHead(false)
	}
	_ = w.c.bw.Flush()
}

// SetReadDeadline and SetWriteDeadline serve http.ResponseController.
func (w *responseWriter[S]) SetReadDeadline(t time.Time) error  { return w.c.setReadDeadline(t) }
func (w *responseWriter[S]) SetWriteDeadline(t time.Time) error { return w.c.nc.SetWriteDeadline(t) }

// finish completes the response after the handler returned and flushes
// it. bodyLeft says the request body was not read to its end: the
// connection then closes after the response, since what follows on it is
// not a request head.
func (w *responseWriter[S]) finish(bodyLeft bool) error {
	w.closeAfter = w.closeAfter || bodyLeft
	if !w.headWritten {
		w.writeHead(true)
	}
	bw := w.c.bw
	switch {
	case w.chunked:
		_, _ = bw.WriteString("0\r\n")
		for _, k := range w.trailers {
			for _, v := range w.header[k] {
				writeField(bw, k, v)
			}
		}
		_, _ = bw.WriteString("\r\n")
	case w.bodyAllowed && w.written < w.length:
		w.closeAfter = true // the body came out short: only a close can tell the client
	}
	return bw.Flush()
}

// writeHead buffers the status line and header. final says the handler
// has returned without writing a body.
func (w *responseWriter[S]) writeHead(final bool) {
	w.headWritten = true
	if w.status == 0 {
		w.status = http.StatusOK
	}
	code, h := w.status, w.header
	w.bodyAllowed = w.r.Method != http.MethodHead && bodyAllowedForStatus(code)
	keepLength := w.bodyAllowed || code == http.StatusNotModified || w.r.Method == http.MethodHead
	if cl := h["Content-Length"]; keepLength && len(cl) == 1 {
		if n, ok := parseLength(cl[0]); ok {
			w.length = n
		}
	}
	w.closeAfter = w.closeAfter || w.r.Close || w.c.s.closing.Load() || w.c.s.draining.Load() || w.c.body.pending() ||
		httpguts.HeaderValuesContainsToken(h["Connection"], "close")

	bw := w.c.bw
	writeStatusLine(bw, code)
	for k, vv := range h {
		switch {
		case k == "Transfer-Encoding" || k == "Connection":
			continue // framing and the connection are the writer's
		case k == "Content-Length" && w.length < 0:
			continue // not applicable, or not a length
		case !ValidName(k):
			continue // as net/http: a key that is not a field name is dropped
		}
		for _, v := range vv {
			writeField(bw, k, v)
		}
	}
	if _, ok := h["Date"]; !ok {
		writeField(bw, "Date", Date()[0])
	}
	switch {
	case !w.bodyAllowed || w.length >= 0:
	case final:
		w.length = 0
		_, _ = bw.WriteString("Content-Length: 0\r\n")
	default:
		w.chunked = true
		w.declareTrailers()
		_, _ = bw.WriteString("Transfer-Encoding: chunked\r\n")
	}
	if w.closeAfter {
		_, _ = bw.WriteString("Connection: close\r\n")
	}
	_, _ = bw.WriteString("\r\n")
}

// writeStatusLine writes the status line of a response with this code,
// with net/http's reason phrases.
func writeStatusLine(bw *bufio.Writer, code int) {
	if code == http.StatusOK {
		_, _ = bw.WriteString("HTTP/1.1 200 OK\r\n")
		return
	}
	var num [3]byte
	_, _ = bw.WriteString("HTTP/1.1 ")
	_, _ = bw.Write(strconv.AppendInt(num[:0], int64(code), 10))
	_ = bw.WriteByte(' ')
	text := http.StatusText(code)
	if text == "" {
		text = "status code " + strconv.Itoa(code)
	}
	_, _ = bw.WriteString(text)
	_, _ = bw.WriteString("\r\n")
}

// declareTrailers records the trailer names the "Trailer" header declares.
func (w *responseWriter[S]) declareTrailers() {
	for _, v := range w.header["Trailer"] {
		for name := range strings.SplitSeq(v, ",") {
			name = http.CanonicalHeaderKey(strings.TrimSpace(name))
			switch name {
			case "", "Content-Length", "Transfer-Encoding", "Trailer":
				continue
			}
			w.trailers = append(w.trailers, name)
		}
	}
}

// writeField writes one header field. A value with CR or LF in it gets
// spaces instead, as net/http does, so that no value can start a field of
// its own.
func writeField(bw *bufio.Writer, k, v string) {
	if strings.ContainsAny(v, "\r\n") {
		v = strings.NewReplacer("\r", " ", "\n", " ").Replace(v)
	}
	_, _ = bw.WriteString(k)
	_, _ = bw.WriteString(": ")
	_, _ = bw.WriteString(v)
	_, _ = bw.WriteString("\r\n")
}

// bodyAllowedForStatus reports whether a response with this status may
// have a body (RFC 9110 §6.4.1).
func bodyAllowedForStatus(code int) bool {
	return code >= 200 && code != http.StatusNoContent && code != http.StatusNotModified
}

// requestBody is the body of a request with a Content-Length, read from
// the connection's buffer. When it has been read to its end, the watch for
// a hang-up may start. A read error that is not a deadline means the
// client is gone, and cancels the request's context, as net/http does.
type requestBody[S any] struct {
	c         *conn[S]
	mu        sync.Mutex // a streamed body is read on another goroutine; see finish
	remaining int64
	err       error
	closed    bool
}

func (b *requestBody[S]) reset(n int64) {
	b.remaining, b.err, b.closed = n, nil, false
}

func (b *requestBody[S]) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.closed:
		return 0, http.ErrBodyReadAfterClose
	case b.err != nil:
		return 0, b.err
	case b.remaining == 0:
		return 0, io.EOF
	}
	if int64(len(p)) > b.remaining {
		p = p[:b.remaining]
	}
	n, err := b.c.br.Read(p)
	b.remaining -= int64(n)
	if b.remaining == 0 {
		b.c.arm()
		return n, io.EOF
	}
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		b.err = err
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			b.c.cancel()
		}
	}
	return n, err
}

// Close does nothing: the server finishes the body after the handler.
func (b *requestBody[S]) Close() error { return nil }

// pending reports whether some of the body is still to be read, or being
// read: then what follows it on the connection is not known to be a
// request head, and the response says the connection will close.
func (b *requestBody[S]) pending() bool {
	if b.c.length == 0 {
		return false
	}
	if !b.mu.TryLock() {
		return true
	}
	defer b.mu.Unlock()
	return b.remaining > 0
}

// finish ends the body when the handler has returned, and reports whether
// it was read to its end. A read still in flight (a streamed body's writer
// may be blocked on the client) is cut short first.
func (b *requestBody[S]) finish() bool {
	if !b.mu.TryLock() {
		_ = b.c.setReadDeadline(aLongTimeAgo)
		b.mu.Lock()
	}
	defer b.mu.Unlock()
	b.closed = true
	return b.remaining == 0
}

// dates holds the Date header value of the current second, which the
// response writer adds to every response that lacks one. Formatting it per
// response, as net/http's server does, costs more than the rest of writing
// the header; like nginx, the server formats one per second instead.
var dates atomic.Pointer[dateValue]

type dateValue struct {
	end  int64    // the end of its second, in mono ns
	vals []string // one value, capacity 1: shared, never written in place
}

// Date returns the Date header value for now, as a header value slice
// shared by every caller in the same second: never write it in place.
// Within the second it reads only the monotonic clock; a step of the wall
// clock shows from the next second on.
func Date() []string {
	now := mono()
	if v := dates.Load(); v != nil && now < v.end {
		return v.vals
	}
	t := time.Now()
	v := &dateValue{end: now + int64(time.Second) - int64(t.Nanosecond()), vals: []string{t.UTC().Format(http.TimeFormat)}}
	dates.Store(v)
	return v.vals
}
