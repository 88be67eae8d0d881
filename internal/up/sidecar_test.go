package up

import (
	"context"
	"net"
	"testing"
	"time"
)

// TestWatchListenerNoticesADeadSocket: a listener that accepts keeps the
// watch going; once it is closed, the watch ends with the dial error after
// the set number of failures, and a done context ends it with nil.
func TestWatchListenerNoticesADeadSocket(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ps := probeSettings{period: 10 * time.Millisecond, timeout: time.Second, failures: 3}
	result := make(chan error, 1)
	go func() { result <- watchListener(t.Context(), ln.Addr().String(), ps) }()
	select {
	case err := <-result:
		t.Fatalf("watch ended while the listener accepts: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	ln.Close()
	select {
	case err := <-result:
		if err == nil {
			t.Fatal("watch of a closed listener ended with nil")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("watch did not notice the closed listener within 10s")
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := watchListener(ctx, "127.0.0.1:1", ps); err != nil {
		t.Errorf("watch with a done context = %v, want nil", err)
	}
}
