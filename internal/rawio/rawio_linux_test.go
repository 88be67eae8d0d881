package rawio

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"
)

// tcpPair returns the two ends of a loopback TCP connection, the first
// with raw I/O.
func tcpPair(t *testing.T) (raw net.Conn, peer *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	d, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	a := <-accepted
	if a == nil {
		t.Fatal("accept failed")
	}
	raw = Conn(d)
	if _, ok := raw.(*rawConn); !ok {
		t.Fatalf("Conn(%T) = %T, want *rawConn", d, raw)
	}
	t.Cleanup(func() { raw.Close(); a.Close() })
	return raw, a.(*net.TCPConn)
}

// TestRawConnErrors: what a raw Read and Write return is what a
// net.Conn's would, so that callers telling timeouts, closes, resets and
// the end of the stream apart keep doing so.
func TestRawConnErrors(t *testing.T) {
	t.Run("data then EOF", func(t *testing.T) {
		raw, peer := tcpPair(t)
		if _, err := peer.Write([]byte("hello")); err != nil {
			t.Fatal(err)
		}
		peer.CloseWrite()
		got, err := io.ReadAll(raw)
		if err != nil || string(got) != "hello" {
			t.Fatalf("ReadAll = %q, %v; want hello, nil", got, err)
		}
		if n, err := raw.Read(make([]byte, 1)); n != 0 || err != io.EOF {
			t.Fatalf("Read after EOF = %d, %v; want 0, io.EOF", n, err)
		}
	})
	t.Run("read deadline", func(t *testing.T) {
		raw, _ := tcpPair(t)
		raw.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		_, err := raw.Read(make([]byte, 1))
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Read past its deadline: %v; want a timeout", err)
		}
		var oe *net.OpError
		if !errors.As(err, &oe) || oe.Op != "read" {
			t.Fatalf("Read past its deadline: %#v; want a *net.OpError of op read", err)
		}
	})
	t.Run("deadline interrupts a blocked read", func(t *testing.T) {
		raw, _ := tcpPair(t)
		done := make(chan error, 1)
		go func() { _, err := raw.Read(make([]byte, 1)); done <- err }()
		time.Sleep(20 * time.Millisecond)
		raw.SetReadDeadline(time.Unix(1, 0))
		select {
		case err := <-done:
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("interrupted Read: %v; want a timeout", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a deadline in the past did not interrupt a blocked Read")
		}
	})
	t.Run("closed", func(t *testing.T) {
		raw, _ := tcpPair(t)
		raw.Close()
		if _, err := raw.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Read after Close: %v; want net.ErrClosed", err)
		}
		if _, err := raw.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Write after Close: %v; want net.ErrClosed", err)
		}
	})
	t.Run("reset", func(t *testing.T) {
		raw, peer := tcpPair(t)
		peer.SetLinger(0) // close with RST
		peer.Close()
		time.Sleep(20 * time.Millisecond)
		_, err := raw.Read(make([]byte, 1))
		if !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("Read after the peer reset: %v; want ECONNRESET", err)
		}
		var oe *net.OpError
		if !errors.As(err, &oe) || oe.Op != "read" {
			t.Fatalf("Read after the peer reset: %#v; want a *net.OpError of op read", err)
		}
	})
	t.Run("write to a peer that went away", func(t *testing.T) {
		raw, peer := tcpPair(t)
		peer.SetLinger(0)
		peer.Close()
		time.Sleep(20 * time.Millisecond)
		var err error
		for i := 0; i < 100 && err == nil; i++ { // the first writes may still be taken
			_, err = raw.Write([]byte("x"))
		}
		if !errors.Is(err, syscall.EPIPE) && !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("Write to a closed peer: %v; want EPIPE or ECONNRESET", err)
		}
		var oe *net.OpError
		if !errors.As(err, &oe) || oe.Op != "write" {
			t.Fatalf("Write to a closed peer: %#v; want a *net.OpError of op write", err)
		}
	})
	t.Run("empty", func(t *testing.T) {
		raw, _ := tcpPair(t)
		if n, err := raw.Read(nil); n != 0 || err != nil {
			t.Fatalf("Read(nil) = %d, %v", n, err)
		}
		if n, err := raw.Write(nil); n != 0 || err != nil {
			t.Fatalf("Write(nil) = %d, %v", n, err)
		}
	})
}

// TestRawConnWritesAll: a Write larger than the socket takes at once waits
// for the peer and writes all of it, while a Read runs on the same
// connection, as a request body streams beside its response.
func TestRawConnWritesAll(t *testing.T) {
	raw, peer := tcpPair(t)
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<18) // 4 MiB: many times a socket buffer
	var wg sync.WaitGroup
	var got []byte
	wg.Go(func() { got, _ = io.ReadAll(io.LimitReader(peer, int64(len(big)))) })
	readErr := make(chan error, 1)
	go func() {
		b := make([]byte, 3)
		_, err := io.ReadFull(raw, b)
		if err == nil && string(b) != "ack" {
			err = errors.New("read " + string(b))
		}
		readErr <- err
	}()
	if n, err := raw.Write(big); n != len(big) || err != nil {
		t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(big))
	}
	wg.Wait()
	if !bytes.Equal(got, big) {
		t.Fatalf("the peer got %d bytes, not the %d written", len(got), len(big))
	}
	peer.Write([]byte("ack"))
	if err := <-readErr; err != nil {
		t.Fatalf("the concurrent Read: %v", err)
	}
}

// TestRawConnWriteDeadline: a Write the peer never takes fails at its
// deadline with a timeout, having written what the socket took.
func TestRawConnWriteDeadline(t *testing.T) {
	raw, _ := tcpPair(t)
	raw.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
	n, err := raw.Write(make([]byte, 64<<20))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Write past its deadline: %v; want a timeout", err)
	}
	if n <= 0 || n >= 64<<20 {
		t.Fatalf("Write past its deadline wrote %d bytes; want part of it", n)
	}
}

// TestRawConnAllocs: a Read and a Write allocate nothing, as the proxy's
// hot path requires.
func TestRawConnAllocs(t *testing.T) {
	raw, peer := tcpPair(t)
	buf, msg := make([]byte, 64), []byte("ping")
	got := make([]byte, 64)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := raw.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(peer, got[:len(msg)]); err != nil {
			t.Fatal(err)
		}
		if _, err := peer.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(raw, buf[:len(msg)]); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 0 {
		t.Fatalf("a Write and a Read on a raw connection (and the peer's) allocate %.1f times; want 0", allocs)
	}
}

// TestYieldBudget: while a read is parked for readiness, yields are
// allowed up to maxYields and then refused until a parked call wakes, so
// that goroutines that keep finding their data cannot keep the scheduler
// from polling for the parked one; with nothing parked, yields are free.
func TestYieldBudget(t *testing.T) {
	raw, peer := tcpPair(t)
	yields.Store(0)
	if !shouldYield() || yields.Load() != 0 {
		t.Fatalf("nothing parked: shouldYield refused or counted (%d)", yields.Load())
	}
	got := make(chan error, 1)
	go func() {
		_, err := raw.Read(make([]byte, 8))
		got <- err
	}()
	for deadline := time.Now().Add(5 * time.Second); parked.Load() != 1; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the read never parked: parked = %d", parked.Load())
		}
	}
	for i := range maxYields {
		if !shouldYield() {
			t.Fatalf("yield %d of %d refused", i+1, maxYields)
		}
	}
	if shouldYield() {
		t.Fatalf("yield %d allowed while a read waits: the budget is %d", maxYields+1, maxYields)
	}
	if _, err := peer.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	if parked.Load() != 0 || yields.Load() != 0 {
		t.Fatalf("after the wake: parked = %d, yields = %d, want 0 and 0", parked.Load(), yields.Load())
	}
	if !shouldYield() {
		t.Fatal("yield refused with nothing parked")
	}
}
