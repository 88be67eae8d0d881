package proxy

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lanemesh/lanemesh/internal/meshxds"
)

// echoProxy starts a gateway that routes echo.test to one upstream.
func echoProxy(t *testing.T, opts Options) (*Proxy, *upstream) {
	t.Helper()
	a := newUpstream(t, "a")
	res := echo{subsets: map[string]*upstream{"a": a}, http: `[{route: [{destination: {host: echo.test, subset: a}}]}]`}.resources(t)
	opts.Role = meshxds.Gateway
	return startProxy(t, opts, res), a
}

// readResponses reads n responses from br, with their bodies.
func readResponses(t *testing.T, br *bufio.Reader, n int) []*http.Response {
	t.Helper()
	var out []*http.Response
	for i := range n {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("response %d body: %v", i, err)
		}
		resp.Body = io.NopCloser(strings.NewReader(string(body)))
		out = append(out, resp)
	}
	return out
}

// TestPipelinedRequestsAcrossHandOff sends three requests in one write: a
// plain one, a chunked one (which hands the connection to net/http, with
// the bytes already read), and a plain one again. The first two are
// answered in order, the upstream seeing each once with its body; the
// chunked one's response closes the connection, since net/http serves one
// request per connection handed to it (only the first head it gets has
// passed the head screen, see screenHead), so the third is never served.
func TestPipelinedRequestsAcrossHandOff(t *testing.T) {
	p, a := echoProxy(t, Options{})
	raw := "GET /1 HTTP/1.1\r\nHost: echo.test\r\n\r\n" +
		"POST /2 HTTP/1.1\r\nHost: echo.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n" +
		"GET /3 HTTP/1.1\r\nHost: echo.test\r\nConnection: close\r\n\r\n"
	out, closed := rawExchangeClosed(t, p.Addr(80), raw)
	if n := strings.Count(out, "HTTP/1.1 200 OK\r\n"); n != 2 || !closed || !strings.Contains(out, "Connection: close\r\n") {
		t.Fatalf("%d responses of 200 (closed: %v), want 2, the second closing the connection:\n%s", n, closed, out)
	}
	got := a.requests()
	if len(got) != 2 || got[0].Path != "/1" || got[1].Path != "/2" || got[1].Body != "hello" {
		t.Errorf("the upstream saw %+v", got)
	}
}

// TestKeepAliveResponses checks the framing of responses the server writes
// itself on one kept-alive connection: a relayed plain response keeps its
// length, a HEAD response has no body, and a request whose body the
// handler did not read closes the connection after its response.
func TestKeepAliveResponses(t *testing.T) {
	m := newMesh(t, lanesDir)
	p := startProxy(t, Options{Role: meshxds.Gateway}, m.resources(gatewayIdentity, nil))
	c, err := net.Dial("tcp", p.Addr(80).String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	send := func(raw string) {
		if _, err := io.WriteString(c, raw); err != nil {
			t.Fatal(err)
		}
	}

	send("GET /mock HTTP/1.1\r\n" + laneV1Open + "\r\nHEAD /mock HTTP/1.1\r\n" + laneV1Open + "\r\n")
	resps := readResponses(t, br, 1)
	if r := resps[0]; r.StatusCode != 200 || r.ContentLength != int64(len("mocka-v1-0")) || r.Header.Get("Date") == "" || r.Close {
		t.Errorf("GET: %d, length %d, header %v, close %v", r.StatusCode, r.ContentLength, r.Header, r.Close)
	}
	head, err := http.ReadResponse(br, &http.Request{Method: http.MethodHead})
	if err != nil || head.StatusCode != 200 {
		t.Fatalf("HEAD: %v %+v", err, head)
	}
	if br.Buffered() != 0 {
		t.Errorf("a HEAD response came with %d bytes of body", br.Buffered())
	}

	// No route for this path: the proxy answers 404 without reading the
	// body, so what follows the head cannot be trusted to be a request.
	send("POST /nowhere HTTP/1.1\r\n" + laneV1Open + "Content-Length: 1000\r\n\r\npartial body")
	resps = readResponses(t, br, 1)
	if r := resps[0]; r.StatusCode != http.StatusNotFound || !r.Close {
		t.Errorf("unread body: %d, close %v", r.StatusCode, r.Close)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("after an unread body the connection stays open (%v)", err)
	}
}

// TestNextRequestDuringSlowOne sends a second request on the connection
// while the first is still with a slow upstream: the watch for a hang-up
// reads its first byte, and the request is served whole after the first.
func TestNextRequestDuringSlowOne(t *testing.T) {
	p, a := echoProxy(t, Options{})
	a.answer(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(4 * watchDelay)
		}
		_, _ = io.WriteString(w, r.URL.Path)
	})
	c, err := net.Dial("tcp", p.Addr(80).String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: echo.test\r\n\r\n")
	time.Sleep(2 * watchDelay) // the watch is reading by now
	_, _ = io.WriteString(c, "GET /next HTTP/1.1\r\nHost: echo.test\r\n\r\n")
	resps := readResponses(t, bufio.NewReader(c), 2)
	for i, want := range []string{"/slow", "/next"} {
		body, _ := io.ReadAll(resps[i].Body)
		if resps[i].StatusCode != 200 || string(body) != want {
			t.Errorf("response %d: %d %q, want 200 %q", i, resps[i].StatusCode, body, want)
		}
	}
}

// TestShutdownClosesIdleAndFinishesBusy drains a proxy with one idle
// keep-alive connection and one request in flight: the idle connection is
// closed at once, and the busy one gets its response, marked
// "Connection: close".
func TestShutdownClosesIdleAndFinishesBusy(t *testing.T) {
	a := newUpstream(t, "a")
	arrived, release := make(chan struct{}), make(chan struct{})
	a.answer(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/busy" {
			close(arrived)
			<-release
		}
		_, _ = io.WriteString(w, "done")
	})
	res := echo{subsets: map[string]*upstream{"a": a}, http: `[{route: [{destination: {host: echo.test, subset: a}}]}]`}.resources(t)
	p, err := New(Options{Role: meshxds.Gateway, PortMap: map[uint32]string{80: "127.0.0.1:0"}, DrainTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Apply(res); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	waitFor(t, "ready", p.Ready)
	dial := func() (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", p.Addr(80).String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		return c, bufio.NewReader(c)
	}
	idle, idleBR := dial()
	_, _ = io.WriteString(idle, "GET /idle HTTP/1.1\r\nHost: echo.test\r\n\r\n")
	readResponses(t, idleBR, 1)
	busy, busyBR := dial()
	_, _ = io.WriteString(busy, "GET /busy HTTP/1.1\r\nHost: echo.test\r\n\r\n")
	<-arrived

	cancel()
	if _, err := idleBR.ReadByte(); err != io.EOF {
		t.Errorf("the idle connection was not closed by the drain (%v)", err)
	}
	close(release)
	if r := readResponses(t, busyBR, 1)[0]; r.StatusCode != 200 || !r.Close {
		t.Errorf("the busy request got %d, close %v; want 200 and Connection: close", r.StatusCode, r.Close)
	}
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

// TestPanicEndsOnlyItsConnection serves with a handler that panics (it
// has no proxy): each request's connection closes without an answer, the
// panic is logged, and the server goes on accepting connections.
func TestPanicEndsOnlyItsConnection(t *testing.T) {
	var log logBuffer
	opts := Options{}.withDefaults()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := newServer(&handler{}, &opts, slog.New(slog.NewTextHandler(&log, nil)), ln.Addr())
	done := make(chan struct{})
	go func() { defer close(done); _ = s.serve(ln) }()
	for i := range 2 {
		if out := rawExchange(t, ln.Addr(), "GET / HTTP/1.1\r\nHost: a\r\n\r\n"); out != "" {
			t.Errorf("connection %d: got %q, want it closed without an answer", i, out)
		}
	}
	_ = ln.Close()
	s.shutdown(context.Background())
	<-done
	log.mu.Lock()
	defer log.mu.Unlock()
	if n := strings.Count(log.buf.String(), "panic serving a request"); n != 2 {
		t.Errorf("%d panics logged, want 2:\n%s", n, log.buf.String())
	}
}
