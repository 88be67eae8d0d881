package mock

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestServeFinishesRequestsInFlightOnShutdown(t *testing.T) {
	// The upstream holds the mock's request until the test releases it, so
	// the request is in flight when the mock is told to stop.
	arrived, release := make(chan struct{}), make(chan struct{})
	up := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-release
		io.WriteString(w, "-> slow")
	})}
	upLn := listen(t)
	go up.Serve(upLn)
	defer up.Close()

	ctx, cancel := context.WithCancel(t.Context())
	ln := listen(t)
	served := make(chan error, 1)
	go func() {
		served <- Serve(ctx, ln, Config{App: "a", Version: "v1", UpstreamURL: "http://" + upLn.Addr().String()})
	}()

	answered := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String())
		if err != nil {
			answered <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		answered <- string(b)
	}()
	<-arrived
	cancel()
	// The listener closes before Serve waits for the request in flight;
	// only then is the upstream released.
	waitRefused(t, ln.Addr().String())
	close(release)
	if got := <-answered; got != "-> a(version: v1, ip: 127.0.0.1)-> slow" {
		t.Errorf("request in flight during shutdown got %q", got)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve after shutdown = %v, want nil", err)
	}
}

func TestRunReportsABindFailure(t *testing.T) {
	ln := listen(t)
	defer ln.Close()
	err := Run(t.Context(), Config{App: "a", Bind: ln.Addr().String()})
	if err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("Run on a busy address = %v, want address already in use", err)
	}
}

func TestRunRejectsABadProxyURL(t *testing.T) {
	err := Run(t.Context(), Config{App: "a", Bind: "127.0.0.1:0", HTTPProxy: "127.0.0.1:15001"})
	if err == nil || !strings.Contains(err.Error(), "invalid proxy URL") {
		t.Errorf("Run = %v, want invalid proxy URL", err)
	}
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// waitRefused waits until addr refuses connections.
func waitRefused(t *testing.T, addr string) {
	t.Helper()
	for t.Context().Err() == nil {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return
		}
		c.Close()
		time.Sleep(5 * time.Millisecond) // polling interval, not a correctness wait
	}
}
