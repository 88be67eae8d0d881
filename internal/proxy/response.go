package proxy

import (
	"bytes"
	"io"
	"math"
	"net/http"
	"strings"
)

// readResponse reads the final response head of the exchange on c,
// skipping informational (1xx) responses, each head within
// maxResponseHeaderBytes. The body it returns reads from c.
//
// Most upstream responses are plain (see parsePlainHead): those are parsed
// here into the connection's reusable header map and the exchange's
// reusable Response, with two allocations instead of http.ReadResponse's
// ten. Any other head is left in the buffer for http.ReadResponse, which
// handles every framing (chunked, close-delimited, 1xx, 204, 304, HEAD)
// and every oddity; the fast path only declines what it does not know.
func (x *exchange) readResponse(c *upConn) (*http.Response, error) {
	for n := 0; ; n++ {
		c.limit = maxResponseHeaderBytes
		if resp := x.readPlainHead(c); resp != nil {
			c.limit = math.MaxInt64
			return resp, nil
		}
		resp, err := http.ReadResponse(c.br, x.r)
		switch {
		case err != nil:
			return nil, err
		case resp.StatusCode >= 200:
			c.limit = math.MaxInt64
			x.upstream = upstreamBody{framed: resp.Body}
			return resp, nil
		case resp.StatusCode == http.StatusSwitchingProtocols || n == max1xxResponses:
			return nil, errUnexpected1xx
		}
	}
}

// readPlainHead parses the next response head on c if it is plain, and
// returns nil, consuming nothing, if it is not or cannot be read.
func (x *exchange) readPlainHead(c *upConn) *http.Response {
	if x.r.Method == http.MethodHead { // a body-less response that says how long its body would be
		return nil
	}
	for want := 1; ; {
		if _, err := c.br.Peek(want); err != nil {
			return nil // http.ReadResponse meets the error again and reports it
		}
		buf, _ := c.br.Peek(c.br.Buffered())
		clear(c.header)
		head, verdict := parsePlainHead(buf, c.header)
		switch verdict {
		case headPlain:
			_, _ = c.br.Discard(head.size)
			x.head = http.Response{Status: head.status, StatusCode: head.code, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
				Header: c.header, ContentLength: head.contentLength, Request: x.r}
			x.upstream = upstreamBody{remaining: head.contentLength}
			return &x.head
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

// headVerdict is what parsePlainHead made of a buffer.
type headVerdict uint8

const (
	headNotPlain   headVerdict = iota // not a plain head: leave it to http.ReadResponse
	headIncomplete                    // no blank line yet, and nothing seen so far rules the head out
	headPlain
)

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
// it to that. On any other verdict than headPlain, h holds junk.
func parsePlainHead(b []byte, h http.Header) (plainHead, headVerdict) {
	size, lines, verdict := headExtent(b)
	if verdict != headPlain {
		return plainHead{}, verdict
	}
	s := string(b[:size]) // every key and value below is a substring of s
	line, rest, _ := strings.Cut(s, "\r\n")
	head, ok := parseStatusLine(line)
	if !ok {
		return plainHead{}, headNotPlain
	}
	head.size, head.contentLength = size, -1
	vals := make([]string, lines) // backs every single-valued field
	for {
		line, rest, _ = strings.Cut(rest, "\r\n")
		if line == "" {
			break
		}
		key, value, ok := parseField(line)
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
		vals = addValue(h, key, value, vals)
	}
	if head.contentLength < 0 {
		return plainHead{}, headNotPlain // close-delimited
	}
	return head, headPlain
}

// headExtent finds the blank line that ends the head at the start of b: it
// returns the head's size and its number of lines, headIncomplete when b
// has no blank line yet, or headNotPlain at a bare LF.
func headExtent(b []byte) (size, lines int, v headVerdict) {
	for pos := 0; ; lines++ {
		i := bytes.IndexByte(b[pos:], '\n')
		switch {
		case i < 0:
			return 0, 0, headIncomplete
		case i == 0 || b[pos+i-1] != '\r':
			return 0, 0, headNotPlain
		case i == 1 && pos > 0:
			return pos + 2, lines, headPlain
		}
		pos += i + 1
	}
}

// parseStatusLine reads "HTTP/1.1 200 OK", with the reason optional.
func parseStatusLine(line string) (plainHead, bool) {
	rest, ok := strings.CutPrefix(line, "HTTP/1.1 ")
	if !ok || len(rest) < 3 || (len(rest) > 3 && rest[3] != ' ') || !validValue(rest) {
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

// addValue adds value to h[key]. A key's first value is backed by free[0],
// so that a single-valued field, the usual kind, costs no allocation of its
// own; it returns what is left of free.
func addValue(h http.Header, key, value string, free []string) []string {
	if vv := h[key]; vv != nil {
		h[key] = append(vv, value)
		return free
	}
	free[0] = value
	h[key] = free[:1:1]
	return free[1:]
}

// parseField splits a header line into its canonical key and its value
// trimmed of blanks, if textproto would accept the line unchanged.
func parseField(line string) (key, value string, ok bool) {
	name, raw, ok := strings.Cut(line, ":")
	if !ok || name == "" || !validValue(raw) {
		return "", "", false
	}
	canonical := true
	upper := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !isTokenByte(c) {
			return "", "", false
		}
		if upper && 'a' <= c && c <= 'z' || !upper && 'A' <= c && c <= 'Z' {
			canonical = false
		}
		upper = c == '-'
	}
	key = name
	if !canonical {
		key = http.CanonicalHeaderKey(name)
	}
	return key, strings.Trim(raw, " \t"), true
}

// parseLength reads a Content-Length: decimal digits that fit an int64.
func parseLength(v string) (int64, bool) {
	if v == "" || len(v) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range []byte(v) {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// validName reports whether name is a header field name (a token).
func validName(name string) bool {
	for i := 0; i < len(name); i++ {
		if !isTokenByte(name[i]) {
			return false
		}
	}
	return name != ""
}

// isTokenByte reports whether c may appear in a header field name (RFC
// 9110 tchar), as textproto checks.
func isTokenByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// validValue reports whether every byte of v may appear in a header field
// value as textproto checks it: visible ASCII, blanks, and obs-text.
func validValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// upstreamBody is a relayed response's body. Closing it gives the
// connection back for reuse when the exchange ended cleanly: the body was
// read to its end, the request was written in full, nobody asked to close,
// the upstream sent nothing more, and the attempt's context did not end.
// Otherwise it closes the connection, without draining the rest of a body
// the proxy is not going to relay.
type upstreamBody struct {
	// framed is net/http's body reader for a head http.ReadResponse
	// parsed; nil for a plain head, whose body is the next remaining bytes.
	framed    io.Reader
	remaining int64

	c        *upConn
	stop     func() bool      // stops the context watch; false if it fired
	writer   *streamingWriter // the body writer of a streamed request; nil when written in line
	reusable bool
	eof      bool
	closed   bool
}

func (b *upstreamBody) Read(p []byte) (n int, err error) {
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
func (b *upstreamBody) readPlain(p []byte) (int, error) {
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

// buffered returns the rest of a plain body if the connection's buffer
// holds all of it; consumed must follow, with how much was used.
func (b *upstreamBody) buffered() ([]byte, bool) {
	if b.closed || b.framed != nil || int64(b.c.br.Buffered()) < b.remaining {
		return nil, false
	}
	rest, _ := b.c.br.Peek(int(b.remaining))
	return rest, true
}

// consumed takes n bytes that buffered returned off the body.
func (b *upstreamBody) consumed(n int) {
	_, _ = b.c.br.Discard(n)
	b.remaining -= int64(n)
	b.eof = b.remaining == 0
}

func (b *upstreamBody) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	c := b.c
	if b.stop() && b.eof && b.reusable && c.br.Buffered() == 0 && b.writer.done() {
		c.host.put(c)
	} else {
		c.host.release(c)
	}
	return nil
}
