package h1

import (
	"bufio"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/lanemesh/lanemesh/internal/wiretest"
)

// BenchmarkServerRequest measures the server's own loop on one keep-alive
// connection: a plain request in the form wrk and HTTP/2 gateways send
// (lowercase names), a 2-byte answer. The client side reads and writes
// raw bytes and allocates nothing, so allocs/op is the server's.
func BenchmarkServerRequest(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := NewServer[struct{}](benchHandler{}, Config{ReadHeaderTimeout: time.Minute, IdleTimeout: time.Minute}, ln.Addr())
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	defer func() { _ = ln.Close(); srv.Shutdown(b.Context()); <-done }()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	req := []byte("GET /mock HTTP/1.1\r\nHost: gateway\r\nuser-agent: wrk\r\nx-asm-prefer-tag: v2\r\n\r\n")
	br := bufio.NewReader(c)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		// The response ends with its 2-byte body, "ok".
		if err := wiretest.SkipHead(br); err != nil {
			b.Fatal(err)
		}
		if _, err := br.Discard(2); err != nil {
			b.Fatal(err)
		}
	}
}

type benchHandler struct{}

func (benchHandler) Serve(_ *struct{}, w http.ResponseWriter, r *http.Request) bool {
	if r.Header.Get("X-Asm-Prefer-Tag") != "v2" {
		panic("the lane header did not arrive")
	}
	w.Header()["Content-Length"] = benchLength
	_, _ = w.Write(benchBody)
	return false
}

var benchLength, benchBody = []string{"2"}, []byte("ok")
