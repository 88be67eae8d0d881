package h1

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/lanemesh/lanemesh/internal/wiretest"
)

// hostileCase is raw bytes sent to the server, what it must answer (first
// status; 0 means the connection is just closed), and what the handler may
// have seen (nil: nothing at all).
type hostileCase = wiretest.Hostile[seen]

// laneV1 is a request's Host and Connection: close; laneV1Open keeps the
// connection open, for a request followed by another. (The names are those
// of the proxy's corpus, whose framing cases these are.)
const (
	laneV1Open = "Host: gw\r\nX-Asm-Prefer-Tag: v1\r\n"
	laneV1     = laneV1Open + "Connection: close\r\n"
)

func smuggledBody() string { return "GET /smuggled HTTP/1.1\r\n" + laneV1 + "\r\n" }

// TestHostileInputs is the codec's contract against hostile framing: a
// corpus of malformed and smuggling requests over raw TCP. Each is
// rejected, or neutralised so that the handler receives one well-formed
// request and nothing hidden in it.
func TestHostileInputs(t *testing.T) {
	ts := startServer(t, Config{}, nil)
	wiretest.RunHostile(t, ts.addr, "handler", hostileCases(), ts.requests, func(s seen) string { return s.Path })
}

func hostileCases() []hostileCase {
	smuggled := smuggledBody()
	return []hostileCase{
		// RFC 9112 §6.1 and Envoy: a request with both framings is refused
		// and its connection closed, so the tail is never a request of its
		// own (it used to be re-framed, and the tail served: CL.TE).
		{Name: "CL.TE is refused and the connection closed; the tail is never served",
			Raw: "POST /mock HTTP/1.1\r\n" + laneV1Open + fmt.Sprintf("Content-Length: %d\r\n", 5+len(smuggled)) +
				"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled,
			Status: 400, Responses: 1, Also: "Content-Length and Transfer-Encoding"},
		{Name: "TE.CL is refused too", Status: 400, Responses: 1,
			Raw: "POST /mock HTTP/1.1\r\n" + laneV1Open + "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n" +
				fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(smuggled), smuggled)},
		{Name: "CL.TE with lower-case names, TE first, not chunked", Status: 400, Responses: 1,
			Raw: "POST /mock HTTP/1.1\r\n" + laneV1Open + "transfer-encoding: identity\r\ncontent-length: 0\r\n\r\n" + smuggled},
		{Name: "CL.TE after a head larger than the read buffer", Status: 400, Responses: 1,
			Raw: "POST /mock HTTP/1.1\r\n" + laneV1Open + "X-Pad: " + strings.Repeat("p", 10<<10) + "\r\n" +
				"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n" + smuggled},
		{Name: "CL.TE as the second request on a keep-alive connection", Status: 200, Responses: 2,
			Also: "HTTP/1.1 400 Bad Request\r\n",
			Raw: "GET /mock HTTP/1.1\r\n" + laneV1Open + "\r\n" +
				"POST /mock HTTP/1.1\r\n" + laneV1Open + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled,
			Check: oneRequest(func(t *testing.T, s seen) {
				if s.Method != "GET" {
					t.Errorf("handler saw %s %s, want the first GET only", s.Method, s.Path)
				}
			})},
		{Name: "a handed-off request is the last on its connection, so no later head escapes the screen", Status: 200, Responses: 1,
			Raw: "POST /mock HTTP/1.1\r\n" + laneV1Open + "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n" + smuggled,
			Check: oneRequest(func(t *testing.T, s seen) {
				if s.Body != "abc" {
					t.Errorf("handler got body %q, want abc", s.Body)
				}
			})},
		{Name: "two different Content-Lengths", Status: 400,
			Raw: "POST /mock HTTP/1.1\r\n" + laneV1 + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"},
		{Name: "bare LF after a chunk size", Status: 400,
			Raw: "POST /mock HTTP/1.1\r\n" + laneV1 + "Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n"},
		{Name: "a body that stalls is cut off after the header timeout", Status: 408,
			Raw: "POST /mock HTTP/1.1\r\n" + laneV1 + "Content-Length: 10\r\n\r\nhalf!"},
		{Name: "unsupported transfer coding", Status: 501,
			Raw: "POST /mock HTTP/1.1\r\n" + laneV1 + "Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n"},
		// RFC 9112 §5.2 lets a server replace obs-fold with spaces; Envoy
		// refuses it, and so does lanemesh (net/http used to unfold it).
		{Name: "obs-fold header line is refused", Status: 400, Responses: 1, Also: "obs-fold",
			Raw: "GET /mock HTTP/1.1\r\n" + laneV1Open + "X-Folded: a\r\n b\r\n\r\n" + smuggled},
		{Name: "obs-fold with a tab, hiding a Transfer-Encoding", Status: 400, Responses: 1,
			Raw: "POST /mock HTTP/1.1\r\n" + laneV1Open + "X-Pad: a\r\n\tTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n"},
		{Name: "a client's Connection: close closes the connection after a forwarded response", Status: 200, Responses: 1,
			Raw: "GET /mock HTTP/1.1\r\n" + laneV1 + "\r\n", Check: oneRequest(func(*testing.T, seen) {})},
		{Name: "NUL in a header value", Status: 400,
			Raw: "GET /mock HTTP/1.1\r\n" + laneV1 + "X-Nul: a\x00b\r\n\r\n"},
		{Name: "oversized headers", Status: 431,
			Raw: "GET /mock HTTP/1.1\r\n" + laneV1 + "X-Big: " + strings.Repeat("a", 100<<10) + "\r\n\r\n"},
		// Envoy's max_headers_count: small heads with many fields stop at
		// the proxy, not at the upstream.
		{Name: "more than 100 header fields", Status: 431, Responses: 1, Also: "at most 100 header fields",
			Raw: "GET /mock HTTP/1.1\r\n" + laneV1Open + strings.Repeat("X-Many: a\r\n", 100) + "\r\n" + smuggled},
	}
}

// oneRequest checks that the handler saw exactly one request, then more.
func oneRequest(more func(*testing.T, seen)) func(*testing.T, []seen) {
	return wiretest.OneRequest("handler", more)
}

// TestSlowHeadersAreCutOff trickles a request's headers a byte at a time:
// ReadHeaderTimeout closes the connection, and nothing reaches the handler.
func TestSlowHeadersAreCutOff(t *testing.T) {
	ts := startServer(t, Config{ReadHeaderTimeout: 200 * time.Millisecond}, nil)
	c, err := net.Dial("tcp", ts.addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		buf := make([]byte, 512)
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
		}
	}()
	req := "GET /mock HTTP/1.1\r\n" + laneV1Open + strings.Repeat("X-Slow: 1\r\n", 1000)
	for i := 0; i < len(req); i++ {
		select {
		case <-closed:
			if got := ts.requests(); len(got) != 0 {
				t.Errorf("the handler saw %d requests", len(got))
			}
			return
		case <-time.After(20 * time.Millisecond):
		}
		if _, err := c.Write([]byte{req[i]}); err != nil {
			<-closed
			return
		}
	}
	t.Fatal("the trickled request was never cut off")
}
