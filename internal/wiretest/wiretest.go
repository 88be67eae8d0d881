// Package wiretest holds what tests of lanemesh's servers share to talk
// to them on the wire and to read what they log: a raw HTTP/1.1 exchange
// on a fresh connection, the status code of a raw response, benchmarks'
// raw clients and upstreams on kept-alive connections, a
// goroutine-safe buffer for a server's log or access log, and the runner
// of a hostile-request corpus (h1's against its handler, the proxy's
// against its upstream). It is for tests only.
package wiretest

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Exchange writes raw on a new connection to addr and reads until the
// server closes it, or 3 s pass; it returns what it read and whether the
// server closed the connection (rather than the client giving up).
func Exchange(t testing.TB, addr net.Addr, raw string) (string, bool) {
	t.Helper()
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(c)
	return string(out), err == nil
}

// StatusOf is the status code of the response at the start of raw, or 0
// when there is none.
func StatusOf(raw string) int {
	_, rest, ok := strings.Cut(raw, " ")
	if !ok || len(rest) < 3 {
		return 0
	}
	n, _ := strconv.Atoi(rest[:3])
	return n
}

// Buffer is a bytes.Buffer that servers may write to from any goroutine
// while the test reads it.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String is what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// SkipHead reads the lines of an HTTP/1.1 head from br up to and including
// the empty line that ends it, so that what follows is the body. It
// allocates nothing, for the raw clients and upstreams of benchmarks whose
// allocs/op must be the server's alone.
func SkipHead(br *bufio.Reader) error {
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) == 2 && line[0] == '\r' {
			return nil
		}
	}
}

// ServeRaw answers every request head on every connection ln accepts with
// the bytes answer, until ln is closed: the raw upstream of benchmarks,
// which reads and writes without allocating per request.
func ServeRaw(ln net.Listener, answer []byte) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			br := bufio.NewReader(c)
			for SkipHead(br) == nil {
				if _, err := c.Write(answer); err != nil {
					return
				}
			}
		}()
	}
}

// RawRoundTrips dials addr and makes b.N requests on the one connection,
// each the bytes req, each to be answered 200 with a body of bodyLen
// bytes. It reads and writes raw bytes and allocates nothing in its loop,
// so that the benchmark's allocs/op are the server's.
func RawRoundTrips(b *testing.B, addr string, req []byte, bodyLen int) {
	b.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		status, err := br.ReadSlice('\n')
		if err != nil {
			b.Fatal(err)
		}
		if !bytes.HasPrefix(status, []byte("HTTP/1.1 200 ")) {
			b.Fatalf("status line %q, want a 200", status)
		}
		if err := SkipHead(br); err != nil {
			b.Fatal(err)
		}
		if _, err := br.Discard(bodyLen); err != nil {
			b.Fatal(err)
		}
	}
}
