package proxy

import (
	"fmt"
	"testing"
	"time"

	"github.com/lanemesh/lanemesh/internal/meshxds"
	"github.com/lanemesh/lanemesh/internal/wiretest"
)

// hostileCase is raw bytes sent to the gateway, what the gateway must
// answer (first status; 0 means the connection is just closed), and what
// the upstream may have seen (nil: nothing at all).
type hostileCase = wiretest.Hostile[seen]

// laneV1 routes a request to mocka-v1 and closes the connection after it;
// laneV1Open keeps it open, for a request followed by another.
const (
	laneV1Open = "Host: gw\r\nX-Asm-Prefer-Tag: v1\r\n"
	laneV1     = laneV1Open + "Connection: close\r\n"
)

func smuggledBody() string { return "GET /smuggled HTTP/1.1\r\n" + laneV1 + "\r\n" }

// TestHostileInputs sends a corpus of malformed and hostile requests over
// raw TCP. Each is rejected, or neutralised so that the upstream (which
// records what it saw) receives one well-formed request and nothing
// hidden in it.
func TestHostileInputs(t *testing.T) {
	m := newMesh(t, lanesDir)
	p := startProxy(t, Options{Role: meshxds.Gateway, ReadHeaderTimeout: 300 * time.Millisecond}, m.resources(gatewayIdentity, nil))
	up := m.pods["mocka-v1-0"]
	wiretest.RunHostile(t, p.Addr(80), "upstream", hostileCases(), up.requests, func(s seen) string { return s.Path })
}

func hostileCases() []hostileCase {
	smuggled := smuggledBody()
	return []hostileCase{
		// RFC 9112 §6.1 and Envoy: a request with both framings is refused
		// and its connection closed, so the tail is never a request of its
		// own (it used to be re-framed, and the tail served: CL.TE).
		{Name: "CL.TE is refused and the connection closed; the tail is never served",
			Raw: "POST /mock HTTP/1.1\r\n" + laneV1Open + fmt.Sprintf("Content-Length: %d\r\n", 5+len(smuggled)) +
				"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled,
			Status: 400, Responses: 1, Also: "Content-Length and Transfer-Encoding"},
		{Name: "Connection naming proxy-set headers cannot remove them", Status: 200,
			Raw: "GET /mock HTTP/1.1\r\n" + laneV1Open + "X-Forwarded-For: 6.6.6.6\r\nX-Request-Id: forged\r\nX-Forwarded-Proto: https\r\n" +
				"Connection: x-forwarded-for, x-request-id, x-forwarded-proto, close\r\n\r\n",
			Check: oneRequest(func(t *testing.T, s seen) {
				if xff := s.Header.Values("X-Forwarded-For"); len(xff) != 1 || xff[0] != "127.0.0.1" {
					t.Errorf("X-Forwarded-For %q, want the proxy's 127.0.0.1 only", xff)
				}
				if id := s.Header.Get("X-Request-Id"); id == "" || id == "forged" {
					t.Errorf("X-Request-Id %q, want a generated one", id)
				}
				if s.Header.Get("X-Forwarded-Proto") != "http" || s.Header.Get("Connection") != "" {
					t.Errorf("upstream headers %v", s.Header)
				}
			})},
		// Envoy with use_remote_address appends the client's address to
		// X-Forwarded-For (lanemesh used to replace it) and replaces
		// X-Forwarded-Proto from an untrusted client; X-Forwarded-Host is
		// the client's (Istio sets no append_x_forwarded_host).
		{Name: "X-Forwarded-For gets the client's address appended; -Proto is replaced, -Host left", Status: 200,
			Raw: "GET /mock HTTP/1.1\r\n" + laneV1 + "X-Forwarded-For: 6.6.6.6, 7.7.7.7\r\nX-Forwarded-For: 8.8.8.8\r\n" +
				"X-Forwarded-Host: evil\r\nX-Forwarded-Proto: https\r\n\r\n",
			Check: oneRequest(func(t *testing.T, s seen) {
				got := [][]string{s.Header.Values("X-Forwarded-For"), s.Header.Values("X-Forwarded-Host"), s.Header.Values("X-Forwarded-Proto")}
				if fmt.Sprint(got) != "[[6.6.6.6, 7.7.7.7, 8.8.8.8, 127.0.0.1] [evil] [http]]" {
					t.Errorf("X-Forwarded-For, -Host, -Proto: %q", got)
				}
			})},
		// A lane value that is no label value is counted as ~other: invalid
		// UTF-8 in a label made Prometheus panic, and the client got no
		// answer at all (at a sidecar, after the upstream had served it).
		{Name: "a lane header of invalid UTF-8 is answered (no lane matches it)", Status: 404,
			Raw: "GET /mock HTTP/1.1\r\nHost: gw\r\nX-Asm-Prefer-Tag: v1\xff\r\nConnection: close\r\n\r\n"},
		{Name: "hop-by-hop and Connection-named headers are not forwarded", Status: 200,
			Raw: "GET /mock HTTP/1.1\r\n" + laneV1Open + "Connection: x-secret, close\r\nX-Secret: 1\r\nProxy-Authorization: Basic eDp5\r\n" +
				"Keep-Alive: timeout=5\r\nTE: trailers\r\nUpgrade: websocket\r\n\r\n",
			Check: oneRequest(func(t *testing.T, s seen) {
				for _, h := range []string{"X-Secret", "Proxy-Authorization", "Keep-Alive", "Te", "Upgrade"} {
					if s.Header.Get(h) != "" {
						t.Errorf("%s reached the upstream: %v", h, s.Header)
					}
				}
			})},
		{Name: "an h2c upgrade is served as HTTP/1.1, its upgrade headers dropped (Envoy's HTTP/1 codec)", Status: 200,
			Raw: "GET /mock HTTP/1.1\r\n" + laneV1Open + "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n",
			Check: oneRequest(func(t *testing.T, s seen) {
				for _, h := range []string{"Upgrade", "Http2-Settings", "Connection"} {
					if s.Header.Get(h) != "" {
						t.Errorf("%s reached the upstream: %v", h, s.Header)
					}
				}
			})},
		{Name: "an upgrade to another protocol than WebSocket is refused", Status: 403,
			Raw: "GET /mock HTTP/1.1\r\n" + laneV1Open + "Connection: Upgrade\r\nUpgrade: foo/2\r\n\r\n"},
		{Name: "CONNECT tunnel", Status: 400,
			Raw: "CONNECT gw:443 HTTP/1.1\r\n" + laneV1 + "\r\n"},
		{Name: "credentials in an absolute-form URL are not forwarded", Status: 200,
			Raw: "GET http://user:secret@gw/mock HTTP/1.1\r\n" + laneV1 + "\r\n",
			Check: oneRequest(func(t *testing.T, s seen) {
				if s.Header.Get("Authorization") != "" || s.Path != "/mock" {
					t.Errorf("upstream saw %s with Authorization %q", s.Path, s.Header.Get("Authorization"))
				}
			})},
	}
}

// oneRequest checks that the upstream saw exactly one request, then more.
func oneRequest(more func(*testing.T, seen)) func(*testing.T, []seen) {
	return wiretest.OneRequest("upstream", more)
}

// TestTLSOnPlainListenerClosedAtOnce: TLS sent to a plain HTTP listener
// (an app's own https:// call that capture sent to its sidecar) is closed
// at once; it waited the 10 s header timeout for a request line.
func TestTLSOnPlainListenerClosedAtOnce(t *testing.T) {
	m := newMesh(t, lanesDir)
	p := startProxy(t, Options{Role: meshxds.Gateway}, m.resources(gatewayIdentity, nil))
	start := time.Now()
	out, closed := rawExchangeClosed(t, p.Addr(80), "\x16\x03\x01\x00\x2a\x01\x00\x00\x26\x03\x03")
	if !closed || out != "" || time.Since(start) > 2*time.Second {
		t.Errorf("after %v: closed %v, answered %q; want closed at once, no answer", time.Since(start), closed, out)
	}
}
