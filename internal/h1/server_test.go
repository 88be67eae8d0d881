package h1

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// readResponses reads n responses from br, with their bodies.
func readResponses(t *testing.T, br *bufio.Reader, n int) []string {
	t.Helper()
	var out []string
	for i := range n {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("response %d body: %v", i, err)
		}
		out = append(out, resp.Status+" "+string(body))
	}
	return out
}

// echoPath answers with the request's path.
func echoPath(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, r.URL.Path) }

// TestPipelinedRequestsAcrossHandOff sends three requests in one write: a
// plain one, a chunked one (which hands the connection to net/http, with
// the bytes already read), and a plain one again. The first two are
// answered in order, the handler seeing each once with its body; the
// chunked one's response closes the connection, since net/http serves one
// request per connection handed to it (only the first head it gets has
// passed the head screen, see screenHead), so the third is never served.
func TestPipelinedRequestsAcrossHandOff(t *testing.T) {
	ts := startServer(t, Config{}, echoPath)
	raw := "GET /1 HTTP/1.1\r\nHost: echo.test\r\n\r\n" +
		"POST /2 HTTP/1.1\r\nHost: echo.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n" +
		"GET /3 HTTP/1.1\r\nHost: echo.test\r\nConnection: close\r\n\r\n"
	out, closed := rawExchangeClosed(t, ts.addr, raw)
	if n := strings.Count(out, "HTTP/1.1 200 OK\r\n"); n != 2 || !closed || !strings.Contains(out, "Connection: close\r\n") {
		t.Fatalf("%d responses of 200 (closed: %v), want 2, the second closing the connection:\n%s", n, closed, out)
	}
	got := ts.requests()
	if len(got) != 2 || got[0].Path != "/1" || got[1].Path != "/2" || got[1].Body != "hello" {
		t.Errorf("the handler saw %+v", got)
	}
}

// TestNextRequestDuringSlowOne sends a second request on the connection
// while the first is still being served: the watch for a hang-up reads its
// first byte, and the request is served whole after the first.
func TestNextRequestDuringSlowOne(t *testing.T) {
	ts := startServer(t, Config{}, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(4 * watchDelay)
		}
		echoPath(w, r)
	})
	c := ts.dial(t)
	_, _ = io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: echo.test\r\n\r\n")
	time.Sleep(2 * watchDelay) // the watch is reading by now
	_, _ = io.WriteString(c, "GET /next HTTP/1.1\r\nHost: echo.test\r\n\r\n")
	got := readResponses(t, bufio.NewReader(c), 2)
	if want := []string{"200 OK /slow", "200 OK /next"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("responses %q, want %q", got, want)
	}
}

// TestClientGoneCancelsTheRequest hangs up during a slow request: the
// watch notices, and the request's context ends.
func TestClientGoneCancelsTheRequest(t *testing.T) {
	cancelled := make(chan error, 1)
	ts := startServer(t, Config{}, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
			cancelled <- r.Context().Err()
		case <-time.After(5 * time.Second):
			cancelled <- nil
		}
	})
	c, err := net.Dial("tcp", ts.addr.String())
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: echo.test\r\n\r\n")
	for len(ts.requests()) == 0 {
		time.Sleep(time.Millisecond)
	}
	_ = c.Close()
	if err := <-cancelled; err == nil {
		t.Error("the request's context did not end when its client hung up")
	}
}

// panicking is a handler that panics on every request.
type panicking struct{}

func (panicking) Serve(*int, http.ResponseWriter, *http.Request) bool { panic("boom") }

// TestPanicEndsOnlyItsConnection serves with a handler that panics: each
// request's connection closes without an answer, the panic is logged, and
// the server goes on accepting connections.
func TestPanicEndsOnlyItsConnection(t *testing.T) {
	var log logBuffer
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer[int](panicking{}, Config{ReadHeaderTimeout: time.Second, Log: newTextLog(&log)}, ln.Addr())
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Serve(ln) }()
	for i := range 2 {
		if out, _ := rawExchangeClosed(t, ln.Addr(), "GET / HTTP/1.1\r\nHost: a\r\n\r\n"); out != "" {
			t.Errorf("connection %d: got %q, want it closed without an answer", i, out)
		}
	}
	_ = ln.Close()
	s.Shutdown(t.Context())
	<-done
	if n := strings.Count(log.String(), "panic serving a request"); n != 2 {
		t.Errorf("%d panics logged, want 2:\n%s", n, log.String())
	}
}

// TestZeroTimeoutsMeanNone checks that a Config without timeouts serves a
// connection's requests, as Config documents, instead of timing out each
// read at once.
func TestZeroTimeoutsMeanNone(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer[struct{}](benchHandler{}, Config{}, ln.Addr())
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	defer func() { _ = ln.Close(); srv.Shutdown(t.Context()); <-done }()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	req := "GET /mock HTTP/1.1\r\nHost: gateway\r\nx-asm-prefer-tag: v2\r\n\r\n"
	br := bufio.NewReader(c)
	for i := range 2 {
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatal(err)
		}
		if got := readResponses(t, br, 1); got[0] != "200 OK ok" {
			t.Fatalf("request %d: %q", i+1, got)
		}
	}
}

// TestWaitDeadlineAfterEveryOtherDeadline: the wait for the next request
// keeps the deadline set for the previous wait while it has fallen behind
// by less than a 64th of the idle timeout (waitDeadline), so every other
// read deadline must make it set a new one. With a minute's idle timeout
// each request below comes well within that 64th of the previous wait,
// after a request that left another deadline in force: a head that came
// in two parts (the header timeout's, which would close the connection
// in the pause), and a slow request whose watch ends with a deadline in
// the past (which would fail the next wait at once).
func TestWaitDeadlineAfterEveryOtherDeadline(t *testing.T) {
	ts := startServer(t, Config{IdleTimeout: time.Minute, ReadHeaderTimeout: 300 * time.Millisecond}, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(2 * watchDelay)
		}
		echoPath(w, r)
	})
	c := ts.dial(t)
	br := bufio.NewReader(c)
	send := func(path string, parts int, pause time.Duration) {
		t.Helper()
		time.Sleep(pause)
		req := "GET " + path + " HTTP/1.1\r\nHost: echo.test\r\n\r\n"
		for i := range parts {
			if i > 0 {
				time.Sleep(20 * time.Millisecond)
			}
			if _, err := io.WriteString(c, req[i*len(req)/parts:(i+1)*len(req)/parts]); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
		}
		if got := readResponses(t, br, 1)[0]; got != "200 OK "+path {
			t.Fatalf("%s: %q", path, got)
		}
	}
	send("/first", 1, 0)
	send("/split", 2, 0)
	send("/after-split", 1, 500*time.Millisecond) // past the header timeout
	send("/slow", 1, 0)
	send("/after-slow", 1, 0)
}

// TestIdleTimeoutKeepsItsMeaning: requests spread over more than the idle
// timeout keep a connection open, as each wait gets its own deadline, and
// once idle the connection closes after about the idle timeout.
func TestIdleTimeoutKeepsItsMeaning(t *testing.T) {
	const idle = 400 * time.Millisecond
	ts := startServer(t, Config{IdleTimeout: idle}, echoPath)
	c := ts.dial(t)
	br := bufio.NewReader(c)
	for i := range 8 { // 8 × 100 ms: twice the idle timeout
		time.Sleep(idle / 4)
		if _, err := io.WriteString(c, "GET /busy HTTP/1.1\r\nHost: echo.test\r\n\r\n"); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if got := readResponses(t, br, 1)[0]; got != "200 OK /busy" {
			t.Fatalf("request %d: %q", i, got)
		}
	}
	idleFrom := time.Now()
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection: read %v, want the server's close (EOF)", err)
	}
	if waited := time.Since(idleFrom); waited < idle-idle/32 || waited > idle+time.Second {
		t.Errorf("idle connection closed after %v, want about %v", waited, idle)
	}
}

// TestWatchesAreBounded: with more slow requests in flight than
// maxWatches, no more than maxWatches watches read at once, and every
// request is still answered.
func TestWatchesAreBounded(t *testing.T) {
	ts := startServer(t, Config{}, func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(6 * watchDelay)
		echoPath(w, r)
	})
	conns := make([]net.Conn, maxWatches+16)
	for i := range conns {
		conns[i] = ts.dial(t)
		if _, err := io.WriteString(conns[i], "GET /slow HTTP/1.1\r\nHost: echo.test\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(3 * watchDelay) // every request is past watchDelay by now
	if n := ts.srv.watches.Load(); n != maxWatches {
		t.Errorf("%d watches with %d slow requests in flight, want the bound, %d", n, len(conns), maxWatches)
	}
	for i, c := range conns {
		if got := readResponses(t, bufio.NewReader(c), 1)[0]; got != "200 OK /slow" {
			t.Fatalf("request %d: %q", i, got)
		}
	}
	if n := ts.srv.watches.Load(); n != 0 {
		t.Errorf("%d watches left after every request ended", n)
	}
}
