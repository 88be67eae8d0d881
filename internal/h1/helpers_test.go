package h1

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/lanemesh/lanemesh/internal/wiretest"
)

// seen is a request as a test handler received it.
type seen struct {
	Method, Path string
	Header       http.Header
	Body         string
}

// testServer is a Server on loopback whose handler records every request
// and answers it as a proxy would: it reads the whole body within the
// header timeout (408 when it stalls, 400 when it is malformed), then
// calls answer (default: 200 "ok").
type testServer struct {
	addr   net.Addr
	srv    *Server[struct{}]
	log    logBuffer
	answer func(w http.ResponseWriter, r *http.Request)

	mu   sync.Mutex
	reqs []seen
}

// logBuffer is a server's log, read by the test while the server writes.
type logBuffer = wiretest.Buffer

// startServer serves cfg (with a 300 ms header timeout unless it sets one)
// on 127.0.0.1 until the test ends.
func startServer(t *testing.T, cfg Config, answer func(w http.ResponseWriter, r *http.Request)) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{addr: ln.Addr(), answer: answer}
	if cfg.ReadHeaderTimeout == 0 {
		cfg.ReadHeaderTimeout = 300 * time.Millisecond
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = time.Minute
	}
	if cfg.MaxHeaderBytes == 0 {
		cfg.MaxHeaderBytes = 60 << 10
	}
	cfg.Log = newTextLog(&ts.log)
	ts.srv = NewServer[struct{}](ts, cfg, ln.Addr())
	done := make(chan struct{})
	go func() { defer close(done); _ = ts.srv.Serve(ln) }()
	t.Cleanup(func() {
		_ = ln.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ts.srv.Shutdown(ctx)
		<-done
	})
	return ts
}

// dial connects to the server, for no longer than 10 s of reads and
// writes, until the test ends.
func (ts *testServer) dial(t *testing.T) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", ts.addr.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

// newTextLog logs everything, debug included, to b.
func newTextLog(b *logBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func (ts *testServer) Serve(_ *struct{}, w http.ResponseWriter, r *http.Request) bool {
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	body, err := io.ReadAll(r.Body)
	_ = rc.SetReadDeadline(time.Time{})
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		w.WriteHeader(http.StatusRequestTimeout)
		return false
	case err != nil:
		w.WriteHeader(http.StatusBadRequest)
		return false
	}
	ts.mu.Lock()
	ts.reqs = append(ts.reqs, seen{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: string(body)})
	ts.mu.Unlock()
	if ts.answer != nil {
		ts.answer(w, r)
		return false
	}
	w.Header().Set("Content-Length", "2")
	_, _ = io.WriteString(w, "ok")
	return false
}

func (ts *testServer) requests() []seen {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]seen(nil), ts.reqs...)
}

// rawExchangeClosed and statusOf: see package wiretest.
var (
	rawExchangeClosed = wiretest.Exchange
	statusOf          = wiretest.StatusOf
)
