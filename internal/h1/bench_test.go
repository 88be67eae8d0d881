package h1

import (
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
	req := []byte("GET /mock HTTP/1.1\r\nHost: gateway\r\nuser-agent: wrk\r\nx-asm-prefer-tag: v2\r\n\r\n")
	wiretest.RawRoundTrips(b, ln.Addr().String(), req, len(benchBody))
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
