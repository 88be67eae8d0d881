package h1

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"
)

// countingOwner records what became of client connections.
type countingOwner struct {
	mu            sync.Mutex
	put, released int
}

func (o *countingOwner) Put(*ClientConn) { o.mu.Lock(); o.put++; o.mu.Unlock() }
func (o *countingOwner) Release(c *ClientConn) {
	o.mu.Lock()
	o.released++
	o.mu.Unlock()
	_ = c.Close()
}

// silentUpstream accepts connections and reads from them, answering
// nothing, until the test ends.
func silentUpstream(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(io.Discard, c); _ = c.Close() }()
		}
	}()
	return ln.Addr().String()
}

func dialClient(t *testing.T, addr string, owner Owner) *ClientConn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	return NewClientConn(nc, owner, ClientOptions{Addr: addr, KeepAlive: true})
}

// roundTripAsync starts an exchange of GET / on c under ctx and returns
// its error when it ends.
func roundTripAsync(c *ClientConn, ctx context.Context) <-chan error {
	done := make(chan error, 1)
	r := &http.Request{Method: "GET", URL: &url.URL{Path: "/"}, Host: "up", Header: http.Header{}, Body: http.NoBody}
	go func() {
		_, _, err := c.RoundTrip(ctx, r, nil, true, new(Response))
		done <- err
	}()
	return done
}

// TestConnWatchInterruptsExchanges checks that the end of a server
// connection's context interrupts the exchanges under it: one that holds
// the connection's watch, a second one at once (which gets an AfterFunc of
// its own), one under a context derived from it, and one that starts after
// the end.
func TestConnWatchInterruptsExchanges(t *testing.T) {
	addr := silentUpstream(t)
	owner := &countingOwner{}
	parent, cancel := context.WithCancel(context.Background())
	w := newConnWatch(parent)
	defer w.close()
	derived, cancelDerived := context.WithTimeout(w.ctx, time.Hour)
	defer cancelDerived()

	first := roundTripAsync(dialClient(t, addr, owner), w.ctx)
	deadline := time.Now().Add(5 * time.Second)
	for w.holder() == nil { // the first one holds the watch before the second starts
		if time.Now().After(deadline) {
			t.Fatal("the first exchange never took the connection's watch")
		}
		time.Sleep(time.Millisecond)
	}
	second := roundTripAsync(dialClient(t, addr, owner), w.ctx)
	third := roundTripAsync(dialClient(t, addr, owner), derived)
	select {
	case err := <-first:
		t.Fatalf("an exchange ended before its context: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	cancel()
	for i, done := range []<-chan error{first, second, third, roundTripAsync(dialClient(t, addr, owner), w.ctx)} {
		select {
		case err := <-done:
			if err == nil {
				t.Errorf("exchange %d: no error from a silent upstream", i+1)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("exchange %d was not interrupted when its context ended", i+1)
		}
	}
	if w.holder() != nil {
		t.Error("the watch still holds an exchange that ended")
	}
	if owner.put != 0 || owner.released != 4 {
		t.Errorf("put %d, released %d connections; want 0 and 4", owner.put, owner.released)
	}
}

// TestConnWatchCostsNothing checks that an exchange under the connection's
// context watches it without allocating, and one under another context
// still can.
func TestConnWatchCostsNothing(t *testing.T) {
	w := newConnWatch(context.Background())
	defer w.close()
	c := &ClientConn{interrupt: func() {}}
	if n := testing.AllocsPerRun(100, func() {
		if !c.watchContext(w.ctx).end() {
			t.Fatal("the watch reports a live context as ended")
		}
	}); n != 0 {
		t.Errorf("watching the connection's context costs %v allocations, want 0", n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	x := c.watchContext(ctx)
	if x.w != nil {
		t.Fatal("another context took the connection's watch")
	}
	cancel()
	if x.end() {
		t.Error("an ended context reported live")
	}
}

// holder is the exchange holding the watch, for tests.
func (w *connWatch) holder() *ClientConn {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.current
}
