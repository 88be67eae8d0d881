package wiretest

import (
	"bufio"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
)

func TestStatusOf(t *testing.T) {
	for raw, want := range map[string]int{
		"HTTP/1.1 404 Not Found\r\n\r\n":            404,
		"HTTP/1.1 200 OK\r\n\r\nHTTP/1.1 500 x\r\n": 200,
		"":           0,
		"HTTP/1.1 2": 0,
		"garbage":    0,
	} {
		if got := StatusOf(raw); got != want {
			t.Errorf("StatusOf(%q) = %d, want %d", raw, got, want)
		}
	}
}

// TestExchange: what the server sends back is returned, and a server that
// closes is told apart from one that keeps the connection open.
func TestExchange(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	defer wg.Wait() // after the listener closes, below
	defer ln.Close()
	wg.Go(func() {
		for i := 0; ; i++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b := make([]byte, 4)
			n, _ := c.Read(b)
			c.Write(b[:n])
			if i == 0 {
				c.Close()
				continue
			}
			defer c.Close() // the second stays open until the listener closes
		}
	})
	if out, closed := Exchange(t, ln.Addr(), "ping"); out != "ping" || !closed {
		t.Fatalf("Exchange with a server that closes = %q, %v; want ping, true", out, closed)
	}
	if out, closed := Exchange(t, ln.Addr(), "pong"); out != "pong" || closed {
		t.Fatalf("Exchange with a server that stays = %q, %v; want pong, false", out, closed)
	}
}

func TestBuffer(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { b.Write([]byte("ab")) })
	}
	wg.Wait()
	if got := b.String(); got != "abababab" {
		t.Fatalf("String() = %q", got)
	}
}

// TestSkipHead: the reader is left at the body, and a head cut short is an
// error, not a body.
func TestSkipHead(t *testing.T) {
	br := bufio.NewReader(strings.NewReader("HTTP/1.1 200 OK\r\nA: b\r\n\r\nok"))
	if err := SkipHead(br); err != nil {
		t.Fatal(err)
	}
	if rest, _ := io.ReadAll(br); string(rest) != "ok" {
		t.Fatalf("after the head: %q, want the body ok", rest)
	}
	if err := SkipHead(bufio.NewReader(strings.NewReader("HTTP/1.1 200 OK\r\nA: b\r\n"))); err == nil {
		t.Fatal("a head with no empty line: no error")
	}
}

// TestRawRoundTrips: against a raw server answering 200 "ok", the loop
// runs and allocates nothing of its own; a server answering anything but a
// 200 stops the benchmark.
func TestRawRoundTrips(t *testing.T) {
	serve := func(answer []byte) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go ServeRaw(ln, answer)
		return ln.Addr().String()
	}
	req := []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	ok := serve([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
	r := testing.Benchmark(func(b *testing.B) { RawRoundTrips(b, ok, req, 2) })
	if r.N == 0 || r.AllocsPerOp() != 0 {
		t.Fatalf("against a 200: %d round trips, %d allocs each; want some, and 0", r.N, r.AllocsPerOp())
	}
	bad := serve([]byte("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 2\r\n\r\nno"))
	if r := testing.Benchmark(func(b *testing.B) { RawRoundTrips(b, bad, req, 2) }); r.N != 0 {
		t.Fatalf("against a 503: %d round trips, want the benchmark stopped", r.N)
	}
}
