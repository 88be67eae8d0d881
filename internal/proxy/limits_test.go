package proxy

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lanemesh/lanemesh/internal/compile"
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
	p := startProxy(t, Options{Role: compile.Gateway}, res)
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
	p := startProxy(t, Options{Role: compile.Gateway, StreamIdleTimeout: idle}, res)
	c := newClient(nil)

	start := time.Now()
	status, body, h := call(t, c, "GET", gatewayURL(p, "/hang"), "echo.test", nil)
	if took := time.Since(start); status != 408 || h.Get("X-Lanemesh-Flags") != "SI" || took < idle || took > idle+margin {
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
