package up

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// startIn runs a mesh on the configuration in dir, on free ports, until
// the test ends.
func startIn(t *testing.T, dir string) *Mesh {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	m, diags, err := Start(ctx, Options{Paths: []string{dir}, PortMap: map[uint32]string{80: "127.0.0.1:0"}, Admin: "127.0.0.1:0",
		TokenDir: t.TempDir(), XDS: "127.0.0.1:0", GatewayAdmin: "-", Metrics: "127.0.0.1:0"})
	if err != nil {
		cancel()
		t.Fatal(err, diags)
	}
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return m
}

// gatewayYAML is a Gateway with one HTTP server on port.
func gatewayYAML(port int) string {
	return fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: %d, name: http, protocol: HTTP}
    hosts: ["*"]
`, port)
}

func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// waitUntil polls cond for up to 10s.
func waitUntil(cond func() bool) {
	deadline := time.Now().Add(10 * time.Second)
	for !cond() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
}

// TestGatewayBindsLoopback: a Gateway port that --port-map does not name
// binds 127.0.0.1, not every interface, so a local mesh is not reachable
// from the network unless the user asks (issue #9).
func TestGatewayBindsLoopback(t *testing.T) {
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := free.Addr().(*net.TCPAddr).Port
	free.Close()
	m := startIn(t, writeConfig(t, gatewayYAML(port)))
	waitUntil(func() bool { return m.gateway.Addr(uint32(port)) != nil })
	addr, _ := m.gateway.Addr(uint32(port)).(*net.TCPAddr)
	if addr == nil || !addr.IP.Equal(net.IPv4(127, 0, 0, 1)) {
		t.Fatalf("gateway port %d bound at %v, want 127.0.0.1:%d", port, addr, port)
	}
}

// TestGatewayWithoutRoutes: a Gateway that no VirtualService uses needs no
// cluster; the gateway must still get its configuration (every xDS type
// answered, empty ones too) and answer 404 NR, not wait for CDS forever.
func TestGatewayWithoutRoutes(t *testing.T) {
	m := startIn(t, writeConfig(t, gatewayYAML(80)))
	waitUntil(m.gateway.Ready)
	if !m.gateway.Ready() {
		t.Fatal("a gateway whose configuration has no cluster never got its configuration")
	}
	resp, err := http.Get(m.GatewayURL() + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("status %d, want 404 NR", resp.StatusCode)
	}
}
