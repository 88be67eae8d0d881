package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func startRaw(t *testing.T, body string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go serveRaw(ln, body)
	return ln.Addr().String()
}

// TestRawPipelinedAndBodies sends two pipelined requests, the first with a
// body that must be skipped, and then one asking to close.
func TestRawPipelinedAndBodies(t *testing.T) {
	addr := startRaw(t, "mocka-v1\n")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"+
		"GET /b HTTP/1.1\r\nHost: x\r\n\r\n"+
		"GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	r := bufio.NewReader(c)
	for i := 0; i < 3; i++ {
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(b) != "mocka-v1\n" {
			t.Fatalf("response %d: %d %q", i, resp.StatusCode, b)
		}
	}
	if _, err := r.ReadByte(); err != io.EOF {
		t.Fatalf("after Connection: close: got %v, want EOF", err)
	}
}

func TestRawRejectsChunked(t *testing.T) {
	addr := startRaw(t, "x\n")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != 400 {
		t.Fatalf("chunked request: %v %v, want 400", resp, err)
	}
}

func TestRawWithNetHTTPClient(t *testing.T) {
	addr := startRaw(t, "mocka-v3\n")
	for i := 0; i < 3; i++ { // reuses the keep-alive connection
		resp, err := http.Get("http://" + addr + "/mock")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.HasPrefix(string(b), "mocka-v3") {
			t.Fatalf("body %q", b)
		}
	}
}
