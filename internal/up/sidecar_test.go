package up

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/lanemesh/lanemesh/internal/local"
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

// TestSidecarOnATakenAddressFailsAtOnce: a sidecar whose address another
// process holds fails to start within a second (not after the start
// timeout), with an error naming the holder, so its pod says why it is not
// ready instead of a bare NACK in the log.
func TestSidecarOnATakenAddressFailsAtOnce(t *testing.T) {
	dir := t.TempDir()
	svc := "apiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: default}\nspec:\n  selector: {app: s}\n  ports: [{name: http, port: 8000}]\n"
	if err := os.WriteFile(filepath.Join(dir, "s.yaml"), []byte(svc), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	m, _, err := Start(ctx, Options{Paths: []string{dir}, Admin: "127.0.0.1:0", XDS: "127.0.0.1:0", GatewayAdmin: "-", Metrics: "-",
		PortMap: map[uint32]string{80: "127.0.0.1:0"}, TokenDir: t.TempDir()})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	ran := make(chan struct{})
	go func() { m.Run(ctx); close(ran) }()
	defer func() { cancel(); <-ran }()
	ip, _ := m.podNet.Address(m.podNet.Size()) // the last address: no pod of this test takes it
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "15001"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	began := time.Now()
	_, err = m.startSidecar(ctx, local.PodInfo{Name: "s-0", Namespace: "default", IP: ip, Labels: map[string]string{"app": "s"}})
	took := time.Since(began)
	if err == nil {
		t.Fatal("a sidecar started on a taken address")
	}
	want := "in use"
	if runtime.GOOS == "linux" {
		want = fmt.Sprintf("in use by pid %d", os.Getpid())
	}
	if !strings.Contains(err.Error(), want) || took > 5*time.Second {
		t.Errorf("after %v: %v; want within 5s an error saying %q", took, err, want)
	}
}
