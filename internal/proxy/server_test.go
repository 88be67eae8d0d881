package proxy

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lanemesh/lanemesh/internal/meshxds"
)

// echoProxy starts a gateway that routes echo.test to one upstream.
func echoProxy(t *testing.T, opts Options) (*Proxy, *upstream) {
	t.Helper()
	a := newUpstream(t, "a")
	res := echo{subsets: map[string]*upstream{"a": a}, http: `[{route: [{destination: {host: echo.test, subset: a}}]}]`}.resources(t)
	opts.Role = meshxds.Gateway
	return startProxy(t, opts, res), a
}

// readResponses reads n responses from br, with their bodies.
func readResponses(t *testing.T, br *bufio.Reader, n int) []*http.Response {
	t.Helper()
	var out []*http.Response
	for i := range n {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("response %d body: %v", i, err)
		}
		resp.Body = io.NopCloser(strings.NewReader(string(body)))
		out = append(out, resp)
	}
	return out
}

// TestKeepAliveResponses checks the framing of responses the server writes
// itself on one kept-alive connection: a relayed plain response keeps its
// length, a HEAD response has no body, and a request whose body the
// handler did not read closes the connection after its response.
func TestKeepAliveResponses(t *testing.T) {
	m := newMesh(t, lanesDir)
	p := startProxy(t, Options{Role: meshxds.Gateway}, m.resources(gatewayIdentity, nil))
	c, err := net.Dial("tcp", p.Addr(80).String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	send := func(raw string) {
		if _, err := io.WriteString(c, raw); err != nil {
			t.Fatal(err)
		}
	}

	send("GET /mock HTTP/1.1\r\n" + laneV1Open + "\r\nHEAD /mock HTTP/1.1\r\n" + laneV1Open + "\r\n")
	resps := readResponses(t, br, 1)
	if r := resps[0]; r.StatusCode != 200 || r.ContentLength != int64(len("mocka-v1-0")) || r.Header.Get("Date") == "" || r.Close {
		t.Errorf("GET: %d, length %d, header %v, close %v", r.StatusCode, r.ContentLength, r.Header, r.Close)
	}
	head, err := http.ReadResponse(br, &http.Request{Method: http.MethodHead})
	if err != nil || head.StatusCode != 200 {
		t.Fatalf("HEAD: %v %+v", err, head)
	}
	if br.Buffered() != 0 {
		t.Errorf("a HEAD response came with %d bytes of body", br.Buffered())
	}

	// No route for this path: the proxy answers 404 without reading the
	// body, so what follows the head cannot be trusted to be a request.
	send("POST /nowhere HTTP/1.1\r\n" + laneV1Open + "Content-Length: 1000\r\n\r\npartial body")
	resps = readResponses(t, br, 1)
	if r := resps[0]; r.StatusCode != http.StatusNotFound || !r.Close {
		t.Errorf("unread body: %d, close %v", r.StatusCode, r.Close)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("after an unread body the connection stays open (%v)", err)
	}
}

// TestShutdownClosesIdleAndFinishesBusy drains a proxy with one idle
// keep-alive connection and one request in flight: the idle connection is
// closed at once, and the busy one gets its response, marked
// "Connection: close".
func TestShutdownClosesIdleAndFinishesBusy(t *testing.T) {
	a := newUpstream(t, "a")
	arrived, release := make(chan struct{}), make(chan struct{})
	a.answer(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/busy" {
			close(arrived)
			<-release
		}
		_, _ = io.WriteString(w, "done")
	})
	res := echo{subsets: map[string]*upstream{"a": a}, http: `[{route: [{destination: {host: echo.test, subset: a}}]}]`}.resources(t)
	p, err := New(Options{Role: meshxds.Gateway, PortMap: map[uint32]string{80: "127.0.0.1:0"}, DrainTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Apply(res); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	waitFor(t, "ready", p.Ready)
	dial := func() (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", p.Addr(80).String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		return c, bufio.NewReader(c)
	}
	idle, idleBR := dial()
	_, _ = io.WriteString(idle, "GET /idle HTTP/1.1\r\nHost: echo.test\r\n\r\n")
	readResponses(t, idleBR, 1)
	busy, busyBR := dial()
	_, _ = io.WriteString(busy, "GET /busy HTTP/1.1\r\nHost: echo.test\r\n\r\n")
	<-arrived

	cancel()
	if _, err := idleBR.ReadByte(); err != io.EOF {
		t.Errorf("the idle connection was not closed by the drain (%v)", err)
	}
	close(release)
	if r := readResponses(t, busyBR, 1)[0]; r.StatusCode != 200 || !r.Close {
		t.Errorf("the busy request got %d, close %v; want 200 and Connection: close", r.StatusCode, r.Close)
	}
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}
