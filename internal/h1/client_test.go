package h1

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// owner records what happens to its connections.
type owner struct {
	mu            sync.Mutex
	put, released int
}

func (o *owner) Put(*ClientConn)       { o.mu.Lock(); o.put++; o.mu.Unlock() }
func (o *owner) Release(c *ClientConn) { o.mu.Lock(); o.released++; o.mu.Unlock(); _ = c.Close() }

func (o *owner) counts() (int, int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.put, o.released
}

// TestRoundTripAgainstNetHTTP makes exchanges of every framing with a
// net/http server on one kept-alive connection: plain, chunked, HEAD, an
// informational response first, a buffered and a streamed request body;
// each response reads whole, and the connection goes back to its owner
// after each.
func TestRoundTripAgainstNetHTTP(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch r.URL.Path {
		case "/chunked":
			w.(http.Flusher).Flush() // no length: chunked
			_, _ = io.WriteString(w, "chunked "+string(body))
		case "/early-hints":
			w.Header().Set("Link", "</a.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			_, _ = io.WriteString(w, "after hints")
		default:
			w.Header().Set("X-Method", r.Method)
			_, _ = io.WriteString(w, "plain "+string(body))
		}
	}))
	t.Cleanup(srv.Close)
	o := &owner{}
	c := dialClient(t, srv.Listener.Addr().String(), o)
	big := strings.Repeat("b", 100<<10)
	for i, tc := range []struct {
		method, path string
		body         []byte // buffered
		stream       string // streamed, when body is nil
		want         string
	}{
		{"GET", "/", nil, "", "plain "},
		{"POST", "/", []byte("hello"), "", "plain hello"},
		{"GET", "/chunked", nil, "", "chunked "},
		{"HEAD", "/", nil, "", ""},
		{"GET", "/early-hints", nil, "", "after hints"},
		{"PUT", "/chunked", nil, big, "chunked " + big},
	} {
		r, _ := http.NewRequest(tc.method, "http://"+srv.Listener.Addr().String()+tc.path, nil)
		r.Body = http.NoBody
		if tc.stream != "" {
			r.Body, r.ContentLength = io.NopCloser(strings.NewReader(tc.stream)), -1
		}
		var into Response
		resp, _, err := c.RoundTrip(context.Background(), r, tc.body, tc.stream == "", &into)
		if err != nil {
			t.Fatalf("%d %s %s: %v", i, tc.method, tc.path, err)
		}
		got, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil || string(got) != tc.want || resp.StatusCode != 200 {
			t.Errorf("%d %s %s: %d %q (%v), want 200 %q", i, tc.method, tc.path, resp.StatusCode, trim(got), err, trim([]byte(tc.want)))
		}
		if put, released := o.counts(); put != i+1 || released != 0 {
			t.Fatalf("%d %s %s: connection given back %d times and released %d, want %d and 0", i, tc.method, tc.path, put, released, i+1)
		}
	}
}

func trim(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "…"
	}
	return string(b)
}

// TestRoundTripStaleConnection: a kept-alive connection the server closed
// while idle fails before any byte comes back, and says it may be retried
// (stale) for a request that can be sent again; the owner releases it.
func TestRoundTripStaleConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		buf := make([]byte, 4096)
		_, _ = nc.Read(buf)
		_, _ = io.WriteString(nc, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		_ = nc.Close() // idle close, after a complete exchange
	}()
	o := &owner{}
	c := dialClient(t, ln.Addr().String(), o)
	get := func() (*http.Response, bool, error) {
		r, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+"/", nil)
		r.Body = http.NoBody
		var into Response
		return c.RoundTrip(context.Background(), r, nil, true, &into)
	}
	resp, _, err := get()
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	c.Used = true // as the owner marks a connection it took back
	time.Sleep(50 * time.Millisecond)
	if _, stale, err := get(); err == nil || !stale {
		t.Errorf("second exchange on a closed connection: err %v, stale %v; want an error and stale", err, stale)
	}
	if put, released := o.counts(); put != 1 || released != 1 {
		t.Errorf("put %d, released %d; want 1 and 1", put, released)
	}
}

// TestRoundTripStreamIdle: an upstream that accepts the request and never
// answers fails the exchange with ErrStreamIdle after StreamIdle.
func TestRoundTripStreamIdle(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		nc, err := ln.Accept()
		if err == nil {
			_, _ = io.Copy(io.Discard, nc) // reads, never answers
		}
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	o := &owner{}
	c := NewClientConn(nc, o, ClientOptions{Addr: ln.Addr().String(), KeepAlive: true, StreamIdle: 100 * time.Millisecond})
	r, _ := http.NewRequest("POST", "http://"+ln.Addr().String()+"/", nil)
	var into Response
	start := time.Now()
	_, _, err = c.RoundTrip(context.Background(), r, bytes.Repeat([]byte("x"), 10), true, &into)
	if err != ErrStreamIdle || time.Since(start) > 2*time.Second {
		t.Errorf("err %v after %v, want ErrStreamIdle after about 100ms", err, time.Since(start))
	}
}
