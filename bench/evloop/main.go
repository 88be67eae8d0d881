// Command evloop is a measurement experiment for issue #14, not product code:
// scenario A's gateway (route GET /mock by x-asm-prefer-tag v1|v2|v3 to
// upstream vN, anything else 404 "no route\n") as an HTTP/1.1 reverse proxy
// on ONE event loop, client connections and pooled keep-alive upstream
// connections alike, run with GOMAXPROCS=1. It exists to measure what an
// event loop costs per request against lanemesh's goroutine per connection
// and HAProxy (bench/evloop/cmp.sh, results in README.md). Two loops run
// the same proxy code: -engine gnet (gnet v2, gnet.go) and -engine epoll
// (hand-written, epoll.go, parked in Go's netpoller).
//
//	GOMAXPROCS=1 evloop -engine gnet -listen 127.0.0.1:8080 -up v1=127.0.0.1:20001,v2=127.0.0.1:20002,v3=127.0.0.1:20003
//
// What it does: request heads up to 8 KiB (431 past that), HTTP/1.1 only
// (505), Content-Length bodies up to 64 KiB buffered whole (413 past that),
// Transfer-Encoding answered 501, duplicate or malformed Content-Length and
// obs-fold answered 400; hop-by-hop headers stripped both ways; responses
// must be Content-Length framed (or 204/304) and are relayed as they
// arrive; pipelined requests are served one at a time; one upstream
// connection per request in flight, kept alive and reused.
//
// What it leaves out, and roughly what each would cost on an event loop:
//   - TLS: crypto/tls wants a blocking net.Conn; on a loop it needs a
//     memory-BIO shim (feed read bytes in, pull records out) driven by
//     hand, which crypto/tls has no API for: a vendored non-blocking fork
//     of crypto/tls, or handing TLS connections to a goroutine (README.md).
//   - Timeouts (header read, idle, write, upstream response): a timer
//     wheel on the loop, checked between polls, ~200-300 lines and a clock
//     read per wake-up; gnet's Conn.SetDeadline returns ErrUnsupportedOp.
//   - Chunked bodies, streaming request bodies, Expect: 100-continue, 1xx,
//     close-delimited responses, HEAD: each is a resumable state in the
//     relay below, and a parser that must pass internal/h1's hostile
//     corpus and fuzzers; or hand such connections to a goroutine, as h1
//     hands them to net/http.
//   - Back-pressure: a slow client's outbound buffer grows without bound.
//     On epoll.go's loop the fix is two epoll_ctl per stall (stop reading
//     the upstream, resume on drain); gnet v2 has no call to pause reads.
//   - Retrying a request whose pooled upstream connection was closed by the
//     upstream in the meantime (it is answered 502 here), pool limits,
//     Connection-named hop-by-hop headers, x-request-id, X-Forwarded-For,
//     access logs, metrics, config reloads.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"runtime"
	"strings"

	"github.com/panjf2000/gnet/v2"
)

const (
	maxHead = 8 << 10
	maxBody = 64 << 10
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "address to serve on")
	ups := flag.String("up", "", "upstreams v1=HOST:PORT,v2=HOST:PORT,v3=HOST:PORT")
	engine := flag.String("engine", "gnet", "event loop: gnet (gnet v2) or epoll (epoll.go, parked in Go's netpoller)")
	flag.Parse()
	p := &proxy{ups: map[string]*upstream{}}
	for _, kv := range strings.Split(*ups, ",") {
		lane, addr, ok := strings.Cut(kv, "=")
		if !ok {
			log.Fatalf("evloop: bad -up entry %q", kv)
		}
		a, err := net.ResolveTCPAddr("tcp", addr)
		if err != nil {
			log.Fatalf("evloop: %v", err)
		}
		p.ups[lane] = &upstream{addr: a}
	}
	log.Printf("evloop: engine %s, GOMAXPROCS=%d, serving %s", *engine, runtime.GOMAXPROCS(0), *listen)
	var err error
	switch *engine {
	case "gnet":
		err = runGnet(p, *listen)
	case "epoll":
		err = runEpoll(p, *listen)
	default:
		err = fmt.Errorf("unknown -engine %q", *engine)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "evloop:", err)
		os.Exit(1)
	}
}

type proxy struct {
	gnet.BuiltinEventEngine // gnet's callbacks are in gnet.go
	ups                     map[string]*upstream
	scratch                 []byte            // output built per request; Write copies what it cannot send
	dial                    func(u *upstream) // opens one more connection to u; open gets it
	el                      gnet.EventLoop    // gnet only
}

// conn is what the proxy needs of a connection: gnet.Conn has it, and so
// has epoll.go's. Close is deferred: closed is called later, on the loop.
type conn interface {
	Peek(n int) ([]byte, error) // n <= 0: all buffered bytes
	Discard(n int) (int, error)
	InboundBuffered() int
	Write(b []byte) (int, error) // what can't be sent now is buffered
	Close() error
	Context() any
	SetContext(any)
}

// upstream is one lane's backend with its pool of idle connections and the
// clients waiting for a connection being dialled.
type upstream struct {
	addr    net.Addr
	idle    []*upConn
	waiting []*client
}

type client struct {
	c          conn
	busy       bool    // a request is in flight
	up         *upConn // the upstream connection carrying it
	pending    []byte  // the request, while waiting for a new upstream connection
	closeAfter bool    // the client sent Connection: close
	closed     bool
}

type upConn struct {
	c          conn
	u          *upstream
	cl         *client // nil while idle
	headDone   bool
	remain     int  // response body bytes still to relay
	closeAfter bool // the upstream sent Connection: close
	dead       bool
}

// open takes a new connection: a client's, or one to an upstream (its
// context is then the *upstream it was dialled for).
func (p *proxy) open(c conn) {
	if u, ok := c.Context().(*upstream); ok {
		uc := &upConn{c: c, u: u}
		c.SetContext(uc)
		p.release(uc)
		return
	}
	c.SetContext(&client{c: c})
}

func (p *proxy) traffic(c conn) gnet.Action {
	switch s := c.Context().(type) {
	case *client:
		return p.serve(s)
	case *upConn:
		return p.relay(s)
	}
	return gnet.Close
}

func (p *proxy) closed(c conn) {
	switch s := c.Context().(type) {
	case *client:
		s.closed = true
		if uc := s.up; uc != nil { // response unfinished: the connection can't be reused
			uc.cl, uc.dead = nil, true
			uc.c.Close()
		}
	case *upConn:
		s.dead = true
		u := s.u
		for i, x := range u.idle {
			if x == s {
				u.idle = append(u.idle[:i], u.idle[i+1:]...)
				break
			}
		}
		if cl := s.cl; cl != nil && !cl.closed {
			s.cl, cl.up = nil, nil
			if s.headDone { // part of the response went out: only closing can tell the client
				cl.c.Close()
			} else {
				p.reply(cl, resp502, false)
			}
		}
	}
}

// serve parses and dispatches the client's buffered requests, one at a time.
func (p *proxy) serve(cl *client) gnet.Action {
	for !cl.busy && !cl.closed {
		buf, _ := cl.c.Peek(-1)
		if len(buf) == 0 {
			return gnet.None
		}
		out := p.scratch[:0]
		r, err := parseRequest(buf, out)
		if err == errIncomplete {
			if len(buf) > maxHead {
				return p.fail(cl, resp431)
			}
			return gnet.None
		}
		if err != nil {
			return p.fail(cl, errResponse(err))
		}
		if r.headLen > maxHead {
			return p.fail(cl, resp431)
		}
		if r.bodyLen > maxBody {
			return p.fail(cl, resp413)
		}
		total := r.headLen + r.bodyLen
		if len(buf) < total {
			return gnet.None // wait for the whole body
		}
		out = append(r.out, buf[r.headLen:total]...)
		p.scratch = out
		cl.c.Discard(total)
		cl.closeAfter = r.close
		u := p.route(&r)
		if u == nil {
			if p.reply(cl, resp404, r.close) {
				return gnet.None
			}
			continue
		}
		cl.busy = true
		if n := len(u.idle); n > 0 {
			uc := u.idle[n-1]
			u.idle = u.idle[:n-1]
			p.dispatch(uc, cl, out)
		} else {
			cl.pending = append([]byte(nil), out...)
			u.waiting = append(u.waiting, cl)
			p.dial(u)
		}
	}
	return gnet.None
}

func (p *proxy) route(r *request) *upstream {
	if !r.get || !r.mock {
		return nil
	}
	return p.ups[r.lane] // "" or an unknown lane: nil
}

func (p *proxy) dispatch(uc *upConn, cl *client, req []byte) {
	uc.cl, uc.headDone, uc.remain, uc.closeAfter = cl, false, 0, false
	cl.up, cl.pending = uc, nil
	uc.c.Write(req) // on error gnet closes uc now, and OnClose answers cl 502
}

func (p *proxy) dialFailed(u *upstream) {
	for len(u.waiting) > 0 {
		cl := u.waiting[0]
		u.waiting = u.waiting[1:]
		if !cl.closed {
			p.reply(cl, resp502, false)
			return
		}
	}
}

// release gives a free upstream connection to the next waiting client, or
// puts it in the idle pool.
func (p *proxy) release(uc *upConn) {
	u := uc.u
	for len(u.waiting) > 0 {
		cl := u.waiting[0]
		u.waiting = u.waiting[1:]
		if !cl.closed {
			p.dispatch(uc, cl, cl.pending)
			return
		}
	}
	uc.cl = nil
	u.idle = append(u.idle, uc)
}

// relay passes the upstream's response to its client as it arrives.
func (p *proxy) relay(uc *upConn) gnet.Action {
	buf, _ := uc.c.Peek(-1)
	cl := uc.cl
	if cl == nil || len(buf) == 0 {
		return gnet.Close // bytes on an idle connection, or from an orphaned one
	}
	out := p.scratch[:0]
	n := 0
	if !uc.headDone {
		r, err := parseResponse(buf, out)
		if err == errIncomplete {
			if len(buf) > maxHead {
				return gnet.Close // OnClose answers 502
			}
			return gnet.None
		}
		if err != nil {
			return gnet.Close
		}
		uc.headDone, uc.remain, uc.closeAfter = true, r.bodyLen, r.close
		out, n = r.out, r.headLen
	}
	take := min(len(buf)-n, uc.remain)
	out = append(out, buf[n:n+take]...)
	p.scratch = out
	uc.remain -= take
	uc.c.Discard(n + take)
	if uc.remain > 0 {
		cl.c.Write(out)
		return gnet.None
	}
	if n+take < len(buf) {
		uc.closeAfter = true // bytes past the response: don't reuse
	}
	uc.cl, cl.up, cl.busy = nil, nil, false
	action := gnet.None
	if uc.closeAfter {
		uc.dead = true
		action = gnet.Close
	}
	cl.c.Write(out)
	if !uc.dead {
		p.release(uc)
	}
	if cl.closeAfter {
		cl.c.Close()
	} else if cl.c.InboundBuffered() > 0 && !cl.closed {
		if p.serve(cl) == gnet.Close { // a pipelined request
			cl.c.Close()
		}
	}
	return action
}

// reply writes a canned response; it reports whether the client is closing.
func (p *proxy) reply(cl *client, resp []byte, closeAfter bool) bool {
	cl.busy, cl.up = false, nil
	cl.c.Write(resp)
	if closeAfter || cl.closeAfter {
		cl.c.Close()
		return true
	}
	return false
}

func (p *proxy) fail(cl *client, resp []byte) gnet.Action {
	cl.c.Write(resp)
	return gnet.Close
}

var (
	resp404 = []byte("HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\nno route\n")
	resp400 = []byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
	resp413 = []byte("HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
	resp431 = []byte("HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
	resp501 = []byte("HTTP/1.1 501 Not Implemented\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
	resp502 = []byte("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
	resp505 = []byte("HTTP/1.1 505 HTTP Version Not Supported\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
)

var (
	errIncomplete  = errors.New("incomplete head")
	errBad         = errors.New("malformed")
	errUnsupported = errors.New("transfer-encoding unsupported")
	errVersion     = errors.New("version unsupported")
	crlf           = []byte("\r\n")
	crlfcrlf       = []byte("\r\n\r\n")
)

func errResponse(err error) []byte {
	switch err {
	case errUnsupported:
		return resp501
	case errVersion:
		return resp505
	}
	return resp400
}

type request struct {
	get, mock        bool // method GET, target /mock
	lane             string
	headLen, bodyLen int
	close            bool
	out              []byte // the head to send upstream
}

type response struct {
	headLen, bodyLen int
	close            bool
	out              []byte // the head to send to the client
}

// header is one parsed header line of a head.
type header struct{ name, value, line []byte }

// parseHead splits buf's head into its first line and header lines and
// calls fn for each header; it returns the head's length.
func parseHead(buf []byte, fn func(h header) error) (first []byte, headLen int, err error) {
	end := bytes.Index(buf, crlfcrlf)
	if end < 0 {
		return nil, 0, errIncomplete
	}
	head := buf[:end+2]
	i := bytes.Index(head, crlf)
	first, rest := head[:i], head[i+2:]
	for len(rest) > 0 {
		j := bytes.Index(rest, crlf)
		line := rest[:j+2]
		rest = rest[j+2:]
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || line[0] == ' ' || line[0] == '\t' || bytes.IndexAny(line[:colon], " \t") >= 0 {
			return nil, 0, errBad // no name, obs-fold, or space before the colon
		}
		v := bytes.Trim(line[colon+1:len(line)-2], " \t")
		if bytes.IndexByte(v, '\r') >= 0 || bytes.IndexByte(v, '\n') >= 0 || bytes.IndexByte(v, 0) >= 0 {
			return nil, 0, errBad
		}
		if err := fn(header{line[:colon], v, line}); err != nil {
			return nil, 0, err
		}
	}
	return first, end + 4, nil
}

func parseRequest(buf, out []byte) (r request, err error) {
	cl := -1
	var first []byte
	if i := bytes.Index(buf, crlf); i >= 0 {
		out = append(out, buf[:i+2]...) // the request line, unchanged
	}
	first, r.headLen, err = parseHead(buf, func(h header) error {
		switch {
		case hopByHop(h.name):
			if bytes.EqualFold(h.name, []byte("connection")) && hasToken(h.value, "close") {
				r.close = true
			}
			return nil
		case bytes.EqualFold(h.name, []byte("content-length")):
			if cl >= 0 {
				return errBad
			}
			n, ok := atoi(h.value)
			if !ok {
				return errBad
			}
			cl = n
		case bytes.EqualFold(h.name, []byte("transfer-encoding")):
			return errUnsupported
		case bytes.EqualFold(h.name, []byte("x-asm-prefer-tag")):
			r.lane = laneName(h.value)
		}
		out = append(out, h.line...)
		return nil
	})
	if err != nil {
		return r, err
	}
	sp1 := bytes.IndexByte(first, ' ')
	sp2 := bytes.LastIndexByte(first, ' ')
	if sp1 <= 0 || sp2 <= sp1+1 {
		return r, errBad
	}
	if string(first[sp2+1:]) != "HTTP/1.1" {
		return r, errVersion
	}
	target := first[sp1+1 : sp2]
	if bytes.IndexAny(target, " \t") >= 0 {
		return r, errBad
	}
	r.get, r.mock = string(first[:sp1]) == "GET", string(target) == "/mock"
	if cl > 0 {
		r.bodyLen = cl
	}
	r.out = append(out, crlf...)
	return r, nil
}

func parseResponse(buf, out []byte) (r response, err error) {
	cl := -1
	var first []byte
	if i := bytes.Index(buf, crlf); i >= 0 {
		out = append(out, buf[:i+2]...) // the status line, unchanged
	}
	first, r.headLen, err = parseHead(buf, func(h header) error {
		switch {
		case hopByHop(h.name):
			if bytes.EqualFold(h.name, []byte("connection")) && hasToken(h.value, "close") {
				r.close = true
			}
			return nil
		case bytes.EqualFold(h.name, []byte("content-length")):
			n, ok := atoi(h.value)
			if !ok || cl >= 0 {
				return errBad
			}
			cl = n
		case bytes.EqualFold(h.name, []byte("transfer-encoding")):
			return errUnsupported
		}
		out = append(out, h.line...)
		return nil
	})
	if err != nil {
		return r, err
	}
	if len(first) < 12 || !bytes.HasPrefix(first, []byte("HTTP/1.1 ")) {
		return r, errBad
	}
	switch status := string(first[9:12]); {
	case status[0] == '1':
		return r, errUnsupported
	case status == "204" || status == "304":
		cl = 0
	case cl < 0:
		return r, errUnsupported // close-delimited
	}
	r.bodyLen = cl
	r.out = append(out, crlf...)
	return r, nil
}

func hopByHop(name []byte) bool {
	for _, h := range [...]string{"connection", "keep-alive", "proxy-connection", "te", "upgrade", "trailer"} {
		if len(name) == len(h) && bytes.EqualFold(name, []byte(h)) {
			return true
		}
	}
	return false
}

func hasToken(v []byte, tok string) bool {
	for _, t := range bytes.Split(v, []byte(",")) {
		if bytes.EqualFold(bytes.TrimSpace(t), []byte(tok)) {
			return true
		}
	}
	return false
}

func atoi(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 10 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// laneName returns constants, so routing allocates nothing.
func laneName(v []byte) string {
	switch string(v) {
	case "v1":
		return "v1"
	case "v2":
		return "v2"
	case "v3":
		return "v3"
	}
	return "?"
}
