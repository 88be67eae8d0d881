package h1

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
)

// The head screen: what lanemesh refuses although net/http would accept it.
//
// net/http serves a request with both Content-Length and Transfer-Encoding
// by dropping the Content-Length and keeping the connection open, and it
// unfolds obs-fold continuation lines. Behind a load balancer that frames
// by Content-Length, the first lets bytes hidden after a chunked body be
// served as a request of their own (CL.TE smuggling); RFC 9112 §6.1 says
// such a connection must be closed, and Envoy answers both with 400. By the
// time a handler runs, net/http has removed the evidence (the Content-Length
// is deleted, the fold joined), so the screen reads lanemesh's own copy of
// the head, before the hand-off. The fast path never serves either kind
// (see parsePlainRequest), so every such head reaches the screen; and since
// net/http's server gets one request per connection (keep-alives are off
// on it, see NewServer), no later head on a handed-off connection escapes
// it.

// screenHead returns the status and why the request head must be refused,
// or 0 and "" to let net/http judge it. head runs from the request line to
// the blank line that ends it; LF and CRLF line ends are both read, as
// net/http does. Beside the framing rules above it holds Envoy's default
// max_headers_count: more than MaxHeaderFields fields get 431, where
// net/http bounds a head's bytes only.
func screenHead(head []byte) (int, string) {
	var length, coding bool
	for i, line := range bytes.Split(head, []byte("\n")) {
		line = bytes.TrimSuffix(line, []byte("\r"))
		switch {
		case i == 0:
			continue // the request line
		case len(line) == 0:
			return conflict(length, coding)
		case line[0] == ' ' || line[0] == '\t':
			return http.StatusBadRequest, "obs-fold (a header line continued on the next line) is not accepted; send each header on one line"
		case i > MaxHeaderFields:
			return http.StatusRequestHeaderFieldsTooLarge, fmt.Sprintf("a request may have at most %d header fields", MaxHeaderFields)
		}
		name, _, _ := bytes.Cut(line, []byte(":"))
		name = bytes.Trim(name, " \t")
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			length = true
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			coding = true
		}
	}
	return conflict(length, coding)
}

func conflict(length, coding bool) (int, string) {
	if length && coding {
		return http.StatusBadRequest, "a request may not have both Content-Length and Transfer-Encoding; send one of them"
	}
	return 0, ""
}

// headEnd returns the size of the request head at the start of b, the
// blank line that ends it included, or -1 while b holds no blank line. A
// head that starts with a blank line is one line long: net/http refuses it.
func headEnd(b []byte) int {
	for pos := 0; ; {
		i := bytes.IndexByte(b[pos:], '\n')
		if i < 0 {
			return -1
		}
		line := b[pos : pos+i]
		pos += i + 1
		if len(line) == 0 || len(line) == 1 && line[0] == '\r' {
			return pos
		}
	}
}

// readHead returns the bytes read from the connection so far, extended
// until they hold the whole first request head, or as much of it as
// net/http would read before it answers 431. It fails when the client
// stops sending (the read deadline set for the head runs out) or goes.
func (c *conn[S]) readHead() ([]byte, bool) {
	buffered, _ := c.br.Peek(c.br.Buffered())
	b := append([]byte(nil), buffered...)
	limit := c.s.cfg.MaxHeaderBytes + 4096 // net/http's read limit for a head
	for headEnd(b) < 0 && len(b) <= limit {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := c.nc.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil && headEnd(b) < 0 {
			return nil, false
		}
	}
	return b, true
}

// refuseHead answers a head the screen refused with the configured
// Refusal, and has the connection closed after it: what follows the head
// on the wire cannot be framed with confidence.
func (c *conn[S]) refuseHead(status int, reason string) {
	if c.s.cfg.Refusal != nil {
		_, _ = c.bw.Write(c.s.cfg.Refusal(status, reason))
	} else {
		_, _ = c.bw.Write(Answer(status, reason+"\n"))
	}
	_ = c.bw.Flush()
	c.linger = true
	c.s.log.Debug("request head refused", slog.String("client", c.remote), slog.String("reason", reason))
}
