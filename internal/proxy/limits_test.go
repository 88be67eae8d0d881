package proxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lanemesh/lanemesh/internal/meshxds"
)

// TestHungUpstreamFallsBack makes lane a's only pod hang (it accepts and
// never answers, as an app stopped with SIGSTOP does). With a route
// timeout every request is answered within it (504 UT), consecutive
// gateway errors eject the pod, and from then on the fallback b answers.
func TestHungUpstreamFallsBack(t *testing.T) {
	a, b := newUpstream(t, "a"), newUpstream(t, "b")
	release := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	a.answer(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	const timeout = 300 * time.Millisecond
	res := echo{subsets: map[string]*upstream{"a": a, "b": b},
		policy: "{outlierDetection: {consecutiveGatewayErrors: 3, interval: 1s, baseEjectionTime: 1m, maxEjectionPercent: 10}}",
		http:   `[{route: [{destination: {host: echo.test, subset: a}, fallback: {target: {host: echo.test, subset: b}}}], timeout: 300ms}]`}.resources(t)
	p := startProxy(t, Options{Role: meshxds.Gateway}, res)
	c := newClient(nil)
	const margin = 2 * time.Second // a loaded, shared machine
	var timedOut, fromB int
	for i := range 20 {
		start := time.Now()
		status, body, h := call(t, c, "GET", gatewayURL(p, "/"), "echo.test", nil)
		if took := time.Since(start); took > timeout+margin {
			t.Errorf("request %d took %v, want at most %v", i, took, timeout+margin)
		}
		switch {
		case status == 504 && h.Get("X-Lanemesh-Flags") == "UT" && fromB == 0:
			timedOut++
		case status == 200 && body == "b":
			fromB++
		default:
			t.Errorf("request %d: %d %q flags %q, want 504 UT before the ejection and b after", i, status, body, h.Get("X-Lanemesh-Flags"))
		}
	}
	if timedOut != 3 || fromB != 17 {
		t.Errorf("%d timed out and %d served by b, want 3 and 17", timedOut, fromB)
	}
}

// TestStreamIdleTimeout checks Envoy's stream idle timeout without any
// route timeout: an upstream that never answers gets the client a 408 SI
// in time; one that stalls mid-body gets the client's connection closed;
// and exchanges that keep moving, in either direction, are not cut,
// however long they last.
func TestStreamIdleTimeout(t *testing.T) {
	a := newUpstream(t, "a")
	release := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	a.answer(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/hang":
		case "/stall":
			w.Header().Set("Content-Length", "100")
			_, _ = w.Write([]byte("partial"))
			w.(http.Flusher).Flush()
		case "/trickle": // 10 bytes over about 1s, each gap well under the timeout
			for range 10 {
				_, _ = w.Write([]byte("x"))
				w.(http.Flusher).Flush()
				time.Sleep(100 * time.Millisecond)
			}
			return
		default: // answered once the body (read by the recorder) is in
			_, _ = w.Write([]byte("ok"))
			return
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	const idle = 400 * time.Millisecond
	const margin = 2 * time.Second
	res := echo{subsets: map[string]*upstream{"a": a}, http: `[{route: [{destination: {host: echo.test, subset: a}}]}]`}.resources(t)
	p := startProxy(t, Options{Role: meshxds.Gateway, StreamIdleTimeout: idle}, res)
	c := newClient(nil)

	start := time.Now()
	status, body, h := call(t, c, "GET", gatewayURL(p, "/hang"), "echo.test", nil)
	// Well within twice the timeout: the exchange must not wait twice
	// (once per response parser) before it gives up.
	if took := time.Since(start); status != 408 || h.Get("X-Lanemesh-Flags") != "SI" || took < idle || took > idle+idle*3/4 {
		t.Errorf("hung upstream: %d %q flags %q after %v, want 408 SI after about %v", status, body, h.Get("X-Lanemesh-Flags"), took, idle)
	}

	start = time.Now()
	out := rawExchange(t, p.Addr(80), "GET /stall HTTP/1.1\r\nHost: echo.test\r\n\r\n")
	if took := time.Since(start); statusOf(out) != 200 || !strings.HasSuffix(out, "partial") || took > idle+margin {
		t.Errorf("stalled body: after %v got\n%s\nwant the head and 'partial', then the connection closed", took, out)
	}

	if status, body, _ := call(t, c, "GET", gatewayURL(p, "/trickle"), "echo.test", nil); status != 200 || body != "xxxxxxxxxx" {
		t.Errorf("a slow but steady response: %d %q", status, body)
	}

	// A streamed upload (over 64 KiB) whose last bytes trickle for longer
	// than the timeout while the upstream has not answered yet.
	conn, err := net.Dial("tcp", p.Addr(80).String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const head, tail = 70 << 10, 10
	fmt.Fprintf(conn, "POST /upload HTTP/1.1\r\nHost: echo.test\r\nContent-Length: %d\r\n\r\n%s", head+tail, strings.Repeat("u", head))
	for range tail {
		time.Sleep(100 * time.Millisecond)
		_, _ = conn.Write([]byte("u"))
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("a slow but steady upload: %v %v", resp, err)
	}
}

// trickle opens a connection, sends head and the first bytes of a body,
// then one byte every gap until the proxy closes the connection or 20s
// pass. It returns what the proxy answered and how long after the head
// the connection closed.
func trickle(t *testing.T, addr net.Addr, head, first string, gap time.Duration) (string, time.Duration) {
	t.Helper()
	conn, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	if _, err := io.WriteString(conn, head+first); err != nil {
		t.Fatal(err)
	}
	read := make(chan string, 1)
	go func() {
		_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		out, _ := io.ReadAll(conn)
		read <- string(out)
	}()
	tick := time.NewTicker(gap)
	defer tick.Stop()
	for {
		select {
		case out := <-read:
			return out, time.Since(start)
		case <-tick.C:
			_, _ = conn.Write([]byte("x")) // fails once the proxy has closed
		}
	}
}

// TestSlowBodiesAreCutOff trickles request bodies too large to buffer,
// on the server's own loop (Content-Length) and on net/http's (chunked):
// a body that pauses longer than BodyTimeout, and one that keeps coming
// but slower than MinBodyRate, get 408 and their connection closed.
func TestSlowBodiesAreCutOff(t *testing.T) {
	const bodyTimeout = 500 * time.Millisecond
	p, a := echoProxy(t, Options{BodyTimeout: bodyTimeout, MinBodyRate: 1000})
	big := strings.Repeat("b", 70<<10) // streamed, not buffered
	chunkedHead := "POST /chunked HTTP/1.1\r\nHost: echo.test\r\nTransfer-Encoding: chunked\r\n\r\n"
	for _, tc := range []struct {
		name, head, first string
		gap               time.Duration
	}{
		{"a byte every 2s, Content-Length", "POST /cl HTTP/1.1\r\nHost: echo.test\r\nContent-Length: 1000000\r\n\r\n", big, 2 * time.Second},
		{"a byte every 2s, chunked", chunkedHead, fmt.Sprintf("%x\r\n%s\r\n", len(big), big), 2 * time.Second},
		{"a byte every 200ms, under the minimum rate", "POST /rate HTTP/1.1\r\nHost: echo.test\r\nContent-Length: 1000000\r\n\r\n", "", 200 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, took := trickle(t, p.Addr(80), tc.head, tc.first, tc.gap)
			if statusOf(out) != 408 || !strings.Contains(out, "Connection: close") {
				t.Errorf("the proxy answered\n%.300s\nwant 408 and Connection: close", out)
			}
			// Either the pause or the rate check fires at BodyTimeout.
			if limit := bodyTimeout + 3*time.Second; took > limit {
				t.Errorf("closed after %v, want within %v", took, limit)
			}
		})
	}
	if n := a.hits.Load(); n > 3 {
		t.Errorf("the upstream saw %d requests, want at most the 3 trickled", n)
	}
}

// TestClientThatNeverReadsIsClosed asks for an endless response and reads
// none of it, on the server's own loop and on net/http's: once the
// socket buffers are full, WriteTimeout closes the connection, and the
// upstream's stream ends with it. A client that reads slowly is not cut.
func TestClientThatNeverReadsIsClosed(t *testing.T) {
	const writeTimeout = 500 * time.Millisecond
	p, a := echoProxy(t, Options{WriteTimeout: writeTimeout})
	ended := map[string]chan time.Time{"/endless/own": make(chan time.Time, 1), "/endless/net": make(chan time.Time, 1)}
	a.answer(func(w http.ResponseWriter, r *http.Request) {
		chunk := []byte(strings.Repeat("z", 64<<10))
		for i := 0; strings.HasPrefix(r.URL.Path, "/endless") || i < 8; i++ {
			if _, err := w.Write(chunk); err != nil {
				ended[r.URL.Path] <- time.Now()
				return
			}
			if r.URL.Path == "/slowly" {
				w.(http.Flusher).Flush()
			}
		}
	})
	for _, tc := range []struct{ name, raw, path string }{
		{"own loop", "GET /endless/own HTTP/1.1\r\nHost: echo.test\r\n\r\n", "/endless/own"},
		{"net/http", "POST /endless/net HTTP/1.1\r\nHost: echo.test\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "/endless/net"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", p.Addr(80).String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			start := time.Now()
			_, _ = io.WriteString(conn, tc.raw)
			select {
			case at := <-ended[tc.path]:
				// Filling the buffers takes a moment; the margin covers it.
				if took := at.Sub(start); took < writeTimeout {
					t.Errorf("the stream ended after %v, before the write timeout", took)
				}
			case <-time.After(writeTimeout + 10*time.Second):
				t.Fatal("the proxy kept a client that reads nothing")
			}
		})
	}
	// 512 KiB read 64 KiB at a time, with pauses under the timeout.
	conn, err := net.Dial("tcp", p.Addr(80).String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = io.WriteString(conn, "GET /slowly HTTP/1.1\r\nHost: echo.test\r\nConnection: close\r\n\r\n")
	var got int
	buf := make([]byte, 64<<10)
	for {
		time.Sleep(writeTimeout / 5)
		n, err := conn.Read(buf)
		got += n
		if err != nil {
			break
		}
	}
	if got < 8*64<<10 {
		t.Errorf("a slow reader got %d bytes, want the whole 512 KiB response", got)
	}
}

// TestClientConnectionCloseIsHonoured checks that the server's own loop
// closes the connection after a response to a request that said
// "Connection: close" (the handler clears r.Close for the upstream
// request, which once made the loop forget it and keep the connection
// until the idle timeout).
func TestClientConnectionCloseIsHonoured(t *testing.T) {
	p, _ := echoProxy(t, Options{})
	start := time.Now()
	out := rawExchange(t, p.Addr(80), "GET / HTTP/1.1\r\nHost: echo.test\r\nConnection: close\r\n\r\n")
	if took := time.Since(start); statusOf(out) != 200 || !strings.Contains(out, "Connection: close\r\n") || took > 2*time.Second {
		t.Errorf("after %v (rawExchange gives up at 3s):\n%s\nwant 200 with Connection: close, then the close", took, out)
	}
}

// TestConnectionLimit holds a listener at MaxConnections with connections
// on both loops (one idle between requests, one handed to net/http in the
// middle of its chunked body): the next one gets 503 naming the limit and
// is closed, without reaching the upstream; once one closes, a new
// connection is served again.
func TestConnectionLimit(t *testing.T) {
	p, a := echoProxy(t, Options{MaxConnections: 2})
	own, err := net.Dial("tcp", p.Addr(80).String())
	if err != nil {
		t.Fatal(err)
	}
	defer own.Close()
	_, _ = io.WriteString(own, "GET /own HTTP/1.1\r\nHost: echo.test\r\n\r\n")
	_ = own.SetReadDeadline(time.Now().Add(10 * time.Second))
	if resp, err := http.ReadResponse(bufio.NewReader(own), nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("a connection under the limit: %v %v", resp, err)
	}
	handed, err := net.Dial("tcp", p.Addr(80).String())
	if err != nil {
		t.Fatal(err)
	}
	defer handed.Close()
	_, _ = io.WriteString(handed, "POST /net HTTP/1.1\r\nHost: echo.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel")
	var out string
	waitFor(t, "a connection over the limit", func() bool {
		hits := a.hits.Load()
		out = rawExchange(t, p.Addr(80), "GET /over HTTP/1.1\r\nHost: echo.test\r\n\r\n")
		if statusOf(out) == 503 && a.hits.Load() != hits {
			t.Error("a connection over the limit reached the upstream")
		}
		return statusOf(out) == 503
	})
	if !strings.Contains(out, "limit of 2 connections") || !strings.Contains(out, "X-Lanemesh-Flags: OM") || !strings.Contains(out, "Connection: close") {
		t.Errorf("over the limit:\n%s\nwant 503 OM naming the limit of 2, and Connection: close", out)
	}
	// The one handed to net/http first: with the other still open, a new
	// connection is served only if net/http's close was counted.
	for i, conn := range []net.Conn{handed, own} {
		conn.Close()
		waitFor(t, "a connection slot", func() bool {
			out := rawExchange(t, p.Addr(80), "GET /again HTTP/1.1\r\nHost: echo.test\r\nConnection: close\r\n\r\n")
			return statusOf(out) == 200
		})
		t.Logf("connection %d closed, a new one is served", i)
	}
}

// earlyUpstream answers every request at once, with status, without
// reading its body. With abrupt, it then closes its connection with the
// body unread, which resets it (as a server that does not linger does);
// otherwise net/http's server closes it gently.
func earlyUpstream(t *testing.T, status int, abrupt bool) *upstream {
	u := &upstream{name: "a"}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.hits.Add(1)
		if abrupt {
			conn, bw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				panic(err)
			}
			fmt.Fprintf(bw, "HTTP/1.1 %d %s\r\nContent-Length: 5\r\nConnection: close\r\n\r\nearly", status, http.StatusText(status))
			_ = bw.Flush()
			_ = conn.Close()
			return
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, "early")
	}))
	t.Cleanup(u.srv.Close)
	return u
}

// TestEarlyUpstreamResponse uploads 10 MB, 20 times, to an upstream that
// answers before reading any of it: every client gets the upstream's
// answer (not 503 UC), and its connection is closed after it, since the
// rest of its body was never read.
func TestEarlyUpstreamResponse(t *testing.T) {
	for _, tc := range []struct {
		status int
		abrupt bool
	}{{http.StatusRequestEntityTooLarge, false}, {http.StatusOK, false}, {http.StatusRequestEntityTooLarge, true}} {
		status := tc.status
		a := earlyUpstream(t, status, tc.abrupt)
		res := echo{subsets: map[string]*upstream{"a": a}, http: `[{route: [{destination: {host: echo.test, subset: a}}]}]`}.resources(t)
		p := startProxy(t, Options{Role: meshxds.Gateway}, res)
		body := strings.Repeat("u", 10<<20)
		got := 0
		for i := range 20 {
			raw := "POST /upload HTTP/1.1\r\nHost: echo.test\r\n"
			if i%2 == 1 { // every other one through net/http
				raw += fmt.Sprintf("Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", len(body), body)
			} else {
				raw += fmt.Sprintf("Content-Length: %d\r\n\r\n%s", len(body), body)
			}
			out := uploadRaw(t, p.Addr(80), raw)
			if statusOf(out) == status && strings.HasSuffix(out, "early") && strings.Contains(out, "Connection: close\r\n") {
				got++
			} else {
				t.Errorf("status %d (abrupt %v), upload %d: got\n%.300s\nwant the upstream's early answer, Connection: close, then the close", status, tc.abrupt, i, out)
			}
		}
		if got != 20 {
			t.Errorf("status %d (abrupt %v): %d of 20 uploads got the upstream's answer", status, tc.abrupt, got)
		}
	}
}

// uploadRaw writes raw on a connection while reading what comes back, and
// returns it once the proxy closes the connection (or after 10s).
func uploadRaw(t *testing.T, addr net.Addr, raw string) string {
	t.Helper()
	conn, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	go func() { _, _ = io.WriteString(conn, raw) }() // fails once the proxy closes; that is fine
	out, _ := io.ReadAll(conn)
	return string(out)
}

// TestFileLimitIsRaised checks what the connection limit's default relies
// on: Go's runtime (since 1.19) raises the soft RLIMIT_NOFILE to the hard
// limit (less one, so that it can tell a later prlimit) at start, so the
// proxy need not.
func TestFileLimitIsRaised(t *testing.T) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	if rl.Cur+1 < rl.Max {
		t.Errorf("RLIMIT_NOFILE soft %d, hard %d: the soft limit was not raised", rl.Cur, rl.Max)
	}
	if got, want := defaultConnectionLimit(rl.Cur), min(int(rl.Cur/2), defaultListenerConnections); got != max(want, 64) {
		t.Errorf("default connection limit %d with %d files, want %d", got, rl.Cur, want)
	}
}

// TestDrainKeepsAccepting stops a proxy with a drain period: it turns
// unready, yet a new connection is still served, with Connection: close,
// until the period ends; a kept-alive idle connection is closed at once.
func TestDrainKeepsAccepting(t *testing.T) {
	a := newUpstream(t, "a")
	res := echo{subsets: map[string]*upstream{"a": a}, http: `[{route: [{destination: {host: echo.test, subset: a}}]}]`}.resources(t)
	p, err := New(Options{Role: meshxds.Gateway, PortMap: map[uint32]string{80: "127.0.0.1:0"}, DrainTime: time.Second, ReusePort: true})
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
	idle, err := net.Dial("tcp", p.Addr(80).String())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	_, _ = io.WriteString(idle, "GET / HTTP/1.1\r\nHost: echo.test\r\n\r\n")
	br := bufio.NewReader(idle)
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 200 || resp.Close {
		t.Fatalf("before the drain: %v %v", resp, err)
	}
	_, _ = io.ReadAll(io.LimitReader(br, 1)) // the body, "a"
	start := time.Now()
	cancel()
	waitFor(t, "draining", func() bool { return !p.Ready() })
	out := rawExchange(t, p.Addr(80), "GET / HTTP/1.1\r\nHost: echo.test\r\n\r\n")
	if statusOf(out) != 200 || !strings.Contains(out, "Connection: close\r\n") {
		t.Errorf("a new connection while draining got\n%s\nwant 200 with Connection: close", out)
	}
	_ = idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := br.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Errorf("the idle kept-alive connection: read %d, %v; want it closed", n, err)
	}
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	if took := time.Since(start); took < time.Second {
		t.Errorf("Run returned %v after cancel, before the drain period ended", took)
	}
}

// TestHungUpstreamPerTryTimeoutFallsBack makes lane a's only pod hang with
// a per-try timeout under the route timeout and no outlier detection:
// each attempt on a that times out goes once to the fallback b, as a
// refused or reset one does, so every request is answered by b within
// the per-try timeout and none fails.
func TestHungUpstreamPerTryTimeoutFallsBack(t *testing.T) {
	a, b := newUpstream(t, "a"), newUpstream(t, "b")
	a.answer(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	res := echo{subsets: map[string]*upstream{"a": a, "b": b},
		http: `[{route: [{destination: {host: echo.test, subset: a}, fallback: {target: {host: echo.test, subset: b}}}], timeout: 5s, retries: {attempts: 1, perTryTimeout: 200ms, retryOn: connect-failure}}]`}.resources(t)
	var log logBuffer
	p := startProxy(t, Options{Role: meshxds.Gateway, AccessLog: &log}, res)
	c := newClient(nil)
	for i := range 5 {
		start := time.Now()
		status, body, _ := call(t, c, "GET", gatewayURL(p, "/"), "echo.test", nil)
		if took := time.Since(start); status != 200 || body != "b" || took > 200*time.Millisecond+2*time.Second {
			t.Errorf("request %d: %d %q after %v, want b's answer soon after the 200ms per-try timeout", i, status, body, took)
		}
	}
	for _, e := range log.entries(t) {
		if e["response_flags"] != "FB" || e["attempts"].(float64) != 2 {
			t.Errorf("access log %v, want FB after 2 attempts", e)
		}
	}
}

// TestHungUpstreamStreamIdleFallsBack is the tutorial's fallback route as
// written (no timeout, no retries, no outlier detection) with lane a's
// only pod hung: the stream idle timeout ends the attempt on a, and the
// request goes once to the fallback b instead of failing with 408. A POST
// is not sent again (a may have acted on it): 408 SI, as Envoy answers.
func TestHungUpstreamStreamIdleFallsBack(t *testing.T) {
	a, b := newUpstream(t, "a"), newUpstream(t, "b")
	a.answer(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	res := echo{subsets: map[string]*upstream{"a": a, "b": b},
		http: `[{route: [{destination: {host: echo.test, subset: a}, fallback: {target: {host: echo.test, subset: b}}}]}]`}.resources(t)
	const idle = 300 * time.Millisecond
	p := startProxy(t, Options{Role: meshxds.Gateway, StreamIdleTimeout: idle}, res)
	start := time.Now()
	status, body, h := call(t, newClient(nil), "GET", gatewayURL(p, "/"), "echo.test", nil)
	if took := time.Since(start); status != 200 || body != "b" || took < idle || took > idle+2*time.Second {
		t.Errorf("%d %q flags %q after %v, want b's answer after the %v stream idle timeout", status, body, h.Get("X-Lanemesh-Flags"), took, idle)
	}
	before := len(b.requests())
	status, _, h = call(t, newClient(nil), "POST", gatewayURL(p, "/"), "echo.test", nil)
	if status != http.StatusRequestTimeout || h.Get("X-Lanemesh-Flags") != "SI" || len(b.requests()) != before {
		t.Errorf("POST: %d flags %q, the fallback saw %d; want 408 SI and the POST sent once", status, h.Get("X-Lanemesh-Flags"), len(b.requests())-before)
	}
}
