package e2e

import (
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// TestEdgeHygiene sends hostile requests to the gateway of a whole mesh:
// paths with dot segments, escaped dots and backslashes route as their
// normalized form through the whole v2 chain (the gateway route matches
// exactly /mock), and a CL.TE request gets one 400 and a closed
// connection, so the lane request hidden after its chunked body is never
// served.
func TestEdgeHygiene(t *testing.T) {
	m := startMesh(t, lanes)
	addr := strings.TrimPrefix(m.GatewayURL(), "http://")
	for _, target := range []string{"/x/../mock", "/%2e%2e/mock", "/a/b/%2E%2e/../mock", "/x/..\\mock"} {
		out, closed := exchange(t, addr, "GET "+target+" HTTP/1.1\r\nHost: gw\r\nx-asm-prefer-tag: v2\r\nConnection: close\r\n\r\n")
		if !strings.HasPrefix(out, "HTTP/1.1 200 ") || !inLane(out, "v2") || !closed {
			t.Errorf("GET %s: want 200 and the v2 chain, got (closed %v):\n%s", target, closed, out)
		}
	}
	hidden := "GET /mock HTTP/1.1\r\nHost: gw\r\nx-asm-prefer-tag: v1\r\n\r\n"
	out, closed := exchange(t, addr, "POST /mock HTTP/1.1\r\nHost: gw\r\nx-asm-prefer-tag: v2\r\n"+
		fmt.Sprintf("Content-Length: %d\r\n", 5+len(hidden))+"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"+hidden)
	if !strings.HasPrefix(out, "HTTP/1.1 400 ") || strings.Count(out, "HTTP/1.1 ") != 1 || strings.Contains(out, "-> mocka") || !closed {
		t.Errorf("CL.TE: want one 400 and the connection closed, got (closed %v):\n%s", closed, out)
	}
}

// exchange writes raw to addr and reads until the gateway closes the
// connection; closed is false if it had not within 5 s.
func exchange(t *testing.T, addr, raw string) (out string, closed bool) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(c)
	return string(b), err == nil
}
