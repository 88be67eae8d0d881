package up

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lanemesh/lanemesh/api"
	"github.com/lanemesh/lanemesh/internal/config"
	"github.com/lanemesh/lanemesh/internal/registry"
)

// TestWorkloadEntriesKeepProbedHealth: a configuration change that leaves
// an entry alone keeps the health the prober found, while a new or moved
// entry waits for its first probe.
func TestWorkloadEntriesKeepProbedHealth(t *testing.T) {
	entry := func(name, addr string) *api.WorkloadEntry {
		return &api.WorkloadEntry{Metadata: api.ObjectMeta{Name: name, Namespace: "default"}, Spec: api.WorkloadEntrySpec{Address: addr}}
	}
	known := []registry.Instance{{Name: "vm", Namespace: "default", Address: "127.0.0.9", Healthy: true}}
	c := &config.Config{WorkloadEntries: []*api.WorkloadEntry{entry("vm", "127.0.0.9"), entry("new", "127.0.0.10")}}
	got := workloadEntries(c, known)
	if len(got) != 2 || !got[0].Healthy || got[1].Healthy {
		t.Fatalf("got %+v: want vm healthy (probed), new unhealthy (not yet probed)", got)
	}
	moved := &config.Config{WorkloadEntries: []*api.WorkloadEntry{entry("vm", "127.0.0.11")}}
	if got := workloadEntries(moved, known); got[0].Healthy {
		t.Fatal("an entry at a new address kept the old address's health")
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
	dir := t.TempDir()
	gw := fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: %d, name: http, protocol: HTTP}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext, namespace: istio-system}
spec:
  hosts: [ext.example]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ext, namespace: istio-system}
spec:
  hosts: ["*"]
  gateways: [gw]
  http: [{route: [{destination: {host: ext.example}}]}]
`, port)
	if err := os.WriteFile(filepath.Join(dir, "gw.yaml"), []byte(gw), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	m, diags, err := Start(ctx, Options{Paths: []string{dir}, PortMap: map[uint32]string{80: "127.0.0.1:0"}, Admin: "127.0.0.1:0",
		TokenDir: t.TempDir(), XDS: "127.0.0.1:0", GatewayAdmin: "-"})
	if err != nil {
		cancel()
		t.Fatal(err, diags)
	}
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(10 * time.Second)
	for m.gateway.Addr(uint32(port)) == nil && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	addr, _ := m.gateway.Addr(uint32(port)).(*net.TCPAddr)
	if addr == nil || !addr.IP.Equal(net.IPv4(127, 0, 0, 1)) {
		t.Fatalf("gateway port %d bound at %v, want 127.0.0.1:%d", port, addr, port)
	}
}
