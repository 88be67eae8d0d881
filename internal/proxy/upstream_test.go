package proxy

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lanemesh/lanemesh/internal/h1"
	"github.com/lanemesh/lanemesh/internal/meshxds"
)

// rawUpstream is an upstream that answers each request with scripted raw
// bytes, and then, if asked to, closes the connection without saying so.
// It counts the connections it accepted, to show which ones were reused.
type rawUpstream struct {
	ln    net.Listener
	conns atomic.Int64
	reply func(r *http.Request) (raw string, hangUp bool)
}

// newRawUpstream starts a rawUpstream and returns it with an upstream
// that stands for it in echo configurations.
func newRawUpstream(t *testing.T, reply func(r *http.Request) (string, bool)) (*rawUpstream, *upstream) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	u := &rawUpstream{ln: ln, reply: reply}
	go u.serve()
	return u, &upstream{name: "raw", srv: &httptest.Server{Listener: ln}}
}

func (u *rawUpstream) serve() {
	for {
		c, err := u.ln.Accept()
		if err != nil {
			return
		}
		u.conns.Add(1)
		go func() {
			defer c.Close()
			br := bufio.NewReader(c)
			for {
				r, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				_, _ = io.Copy(io.Discard, r.Body)
				raw, hangUp := u.reply(r)
				if _, err := io.WriteString(c, raw); err != nil || hangUp {
					return
				}
			}
		}()
	}
}

// TestUpstreamFraming relays responses of every framing and checks the
// body, and whether the connection was reused for a second request.
func TestUpstreamFraming(t *testing.T) {
	for _, tc := range []struct {
		name, method, raw string
		hangUp            bool
		status            int
		body              string
		header            [2]string // a header the client must see
		reused            bool
	}{
		{name: "content-length", raw: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\n\r\nhello", status: 200, body: "hello", header: [2]string{"X-A", "1"}, reused: true},
		{name: "chunked with a trailer", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n5\r\nhello\r\n0\r\nX-T: t\r\n\r\n",
			status: 200, body: "hello", reused: true},
		{name: "close-delimited", raw: "HTTP/1.1 200 OK\r\n\r\nuntil the end", hangUp: true, status: 200, body: "until the end"},
		{name: "connection close", raw: "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", hangUp: true, status: 200, body: "ok"},
		{name: "HTTP/1.0", raw: "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", hangUp: true, status: 200, body: "ok"},
		{name: "no content", raw: "HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n", status: 204, header: [2]string{"X-A", "1"}, reused: true},
		{name: "not modified", raw: "HTTP/1.1 304 Not Modified\r\nEtag: \"e\"\r\n\r\n", status: 304, header: [2]string{"Etag", `"e"`}, reused: true},
		{name: "informational first", raw: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 3\r\n\r\nnew",
			status: 201, body: "new", reused: true},
		{name: "HEAD", method: "HEAD", raw: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", status: 200, header: [2]string{"Content-Length", "10"}, reused: true},
		{name: "header names canonicalised", raw: "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nx-lower: v\r\n\r\nok", status: 200, body: "ok", header: [2]string{"X-Lower", "v"}, reused: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw, up := newRawUpstream(t, func(*http.Request) (string, bool) { return tc.raw, tc.hangUp })
			res := echo{subsets: map[string]*upstream{"a": up}, http: `[{route: [{destination: {host: echo.test, subset: a}}]}]`}.resources(t)
			p := startProxy(t, Options{Role: meshxds.Gateway}, res)
			c := newClient(nil)
			method := tc.method
			if method == "" {
				method = "GET"
			}
			for i := range 2 {
				status, body, h := call(t, c, method, gatewayURL(p, "/"), "echo.test", nil)
				if status != tc.status || body != tc.body || (tc.header[0] != "" && h.Get(tc.header[0]) != tc.header[1]) {
					t.Errorf("request %d: %d %q %v, want %d %q and %s: %s", i, status, body, h, tc.status, tc.body, tc.header[0], tc.header[1])
				}
			}
			if want := map[bool]int64{true: 1, false: 2}[tc.reused]; raw.conns.Load() != want {
				t.Errorf("the upstream accepted %d connections for 2 requests, want %d", raw.conns.Load(), want)
			}
		})
	}
}

// TestStaleConnectionIsRetried has the upstream close every connection
// after one response without saying so: each later request finds its
// pooled connection dead before any response byte, and is sent again on a
// fresh one, invisibly: one attempt, no flag, no outlier failure.
func TestStaleConnectionIsRetried(t *testing.T) {
	raw, up := newRawUpstream(t, func(*http.Request) (string, bool) {
		return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", true
	})
	res := echo{subsets: map[string]*upstream{"a": up}, policy: "{outlierDetection: {consecutive5xxErrors: 1, baseEjectionTime: 1m, maxEjectionPercent: 100}}",
		http: `[{route: [{destination: {host: echo.test, subset: a}}], retries: {attempts: 0}}]`}.resources(t)
	var log logBuffer
	p := startProxy(t, Options{Role: meshxds.Gateway, AccessLog: &log}, res)
	c := newClient(nil)
	for i := range 5 {
		if status, body, _ := call(t, c, "GET", gatewayURL(p, "/"), "echo.test", nil); status != 200 || body != "ok" {
			t.Fatalf("request %d: %d %q", i, status, body)
		}
		time.Sleep(10 * time.Millisecond) // let the upstream's close arrive
	}
	for _, e := range log.entries(t) {
		if e["attempts"].(float64) != 1 || e["response_flags"] != "-" {
			t.Errorf("access log %v, want one attempt and no flag", e)
		}
	}
	if raw.conns.Load() != 5 {
		t.Errorf("%d connections for 5 requests, want 5", raw.conns.Load())
	}
}

// TestUpstreamLimits checks that a response head over the size limit, or a
// 101 nobody asked for, fails the attempt as an invalid response (502 UPE,
// Envoy's upstream protocol error) instead of being relayed.
func TestUpstreamLimits(t *testing.T) {
	for name, raw := range map[string]string{
		"huge head":    "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("a", h1.MaxResponseHeaderBytes) + "\r\nContent-Length: 0\r\n\r\n",
		"unasked 101":  "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n",
		"too many 1xx": strings.Repeat("HTTP/1.1 103 Early Hints\r\n\r\n", h1.Max1xxResponses+1) + "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, up := newRawUpstream(t, func(*http.Request) (string, bool) { return raw, true })
			res := echo{subsets: map[string]*upstream{"a": up}, http: `[{route: [{destination: {host: echo.test, subset: a}}], retries: {attempts: 0}}]`}.resources(t)
			p := startProxy(t, Options{Role: meshxds.Gateway}, res)
			if status, _, h := call(t, newClient(nil), "GET", gatewayURL(p, "/"), "echo.test", nil); status != 502 || h.Get("X-Lanemesh-Flags") != "UPE" {
				t.Errorf("%d %s, want 502 UPE", status, h.Get("X-Lanemesh-Flags"))
			}
		})
	}
}

// TestStreamedRequestBodies sends bodies too large to buffer, of known and
// unknown length: each reaches the upstream whole, in one attempt.
func TestStreamedRequestBodies(t *testing.T) {
	a := newUpstream(t, "a")
	res := echo{subsets: map[string]*upstream{"a": a}, http: `[{route: [{destination: {host: echo.test, subset: a}}]}]`}.resources(t)
	p := startProxy(t, Options{Role: meshxds.Gateway}, res)
	c := newClient(nil)
	big := bytes.Repeat([]byte("0123456789abcdef"), (maxReplayBody*4)/16)
	for i, body := range []io.Reader{bytes.NewReader(big), io.MultiReader(bytes.NewReader(big))} { // the second hides its length
		req, _ := http.NewRequest("POST", gatewayURL(p, "/"), body)
		req.Host = "echo.test"
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		got := a.requests()
		if resp.StatusCode != 200 || len(got) != i+1 || got[i].Body != string(big) {
			t.Fatalf("body %d: status %d, upstream saw %d requests", i, resp.StatusCode, len(got))
		}
		if i == 0 && got[i].ContentLength != int64(len(big)) || i == 1 && fmt.Sprint(got[i].TransferEncoding) != "[chunked]" {
			t.Errorf("body %d: upstream saw length %d, TE %v", i, got[i].ContentLength, got[i].TransferEncoding)
		}
	}
}

// TestClientGoneCancelsUpstream checks that a client hanging up while the
// upstream works makes the proxy give up the upstream request at once, not
// when the upstream answers.
func TestClientGoneCancelsUpstream(t *testing.T) {
	a := newUpstream(t, "a")
	cancelled, arrived := make(chan struct{}), make(chan struct{})
	a.answer(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		select {
		case <-r.Context().Done():
			close(cancelled)
		case <-time.After(10 * time.Second):
		}
	})
	var log logBuffer
	res := echo{subsets: map[string]*upstream{"a": a}, http: `[{route: [{destination: {host: echo.test, subset: a}}]}]`}.resources(t)
	p := startProxy(t, Options{Role: meshxds.Gateway, AccessLog: &log}, res)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", gatewayURL(p, "/"), nil)
	req.Host = "echo.test"
	go func() {
		<-arrived
		cancel()
	}()
	if _, err := newClient(nil).Do(req); err == nil {
		t.Fatal("the cancelled request succeeded")
	}
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("the upstream request outlived its client")
	}
	waitFor(t, "the access log line", func() bool { return len(log.entries(t)) == 1 })
	if e := log.entries(t)[0]; e["status"].(float64) != statusClientClosed || e["response_flags"] != "DC" {
		t.Errorf("access log %v, want 499 DC", e)
	}
}

// TestMaxConnectionsQueues limits a cluster to one upstream connection:
// concurrent requests wait for it instead of opening more, and all succeed.
func TestMaxConnectionsQueues(t *testing.T) {
	a := newUpstream(t, "a")
	var inFlight, most atomic.Int64
	a.answer(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		time.Sleep(20 * time.Millisecond)
		_, _ = io.WriteString(w, "ok")
	})
	res := echo{subsets: map[string]*upstream{"a": a}, policy: "{connectionPool: {tcp: {maxConnections: 1}}}",
		http: `[{route: [{destination: {host: echo.test, subset: a}}]}]`}.resources(t)
	p := startProxy(t, Options{Role: meshxds.Gateway}, res)
	c := newClient(nil)
	done := make(chan int)
	for range 4 {
		go func() {
			status, _, _ := call(t, c, "GET", gatewayURL(p, "/"), "echo.test", nil)
			done <- status
		}()
	}
	for range 4 {
		if status := <-done; status != 200 {
			t.Errorf("status %d", status)
		}
	}
	if most.Load() != 1 {
		t.Errorf("%d requests reached the upstream at once over one allowed connection", most.Load())
	}
}

// TestHeaderInjectionRefused checks that configuration values the proxy
// cannot send as they are, since it writes upstream requests without
// re-checking them, are refused at Apply: CR and LF (which route.New's
// validation already refuses) and other control bytes.
func TestHeaderInjectionRefused(t *testing.T) {
	a := newUpstream(t, "a")
	p := startProxy(t, Options{Role: meshxds.Gateway}, nil)
	for name, rule := range map[string]string{
		"CRLF in a value":     `[{route: [{destination: {host: echo.test, subset: a}}], headers: {request: {set: {x-evil: "a\r\nX-Injected: 1"}}}}]`,
		"CRLF in authority":   `[{route: [{destination: {host: echo.test, subset: a}}], rewrite: {authority: "b.test\r\nX-Injected: 1"}}]`,
		"control in a value":  `[{route: [{destination: {host: echo.test, subset: a}}], headers: {request: {set: {x-evil: "a\x01b"}}}}]`,
		"space in authority":  `[{route: [{destination: {host: echo.test, subset: a}}], rewrite: {authority: "b.test x"}}]`,
		"control in response": `[{route: [{destination: {host: echo.test, subset: a}}], headers: {response: {set: {x-evil: "a\x7fb"}}}}]`,
	} {
		res := echo{subsets: map[string]*upstream{"a": a}, http: rule}.resources(t)
		if err := p.Apply(res); err == nil {
			t.Errorf("%s: Apply accepted it", name)
		}
	}
}
