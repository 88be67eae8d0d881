package xdsserver

import (
	"net"
	"testing"
	"time"

	"github.com/lanemesh/lanemesh/internal/compile"
	"github.com/lanemesh/lanemesh/internal/config"
	"github.com/lanemesh/lanemesh/internal/local"
	"github.com/lanemesh/lanemesh/internal/meshxds"
	"github.com/lanemesh/lanemesh/internal/xds"
)

// TestChangesWakesOnAck: a control plane waiting on Changes learns of a
// node's ACK without polling, and Status shows the accepted versions.
func TestChangesWakesOnAck(t *testing.T) {
	c, diags := config.Load([]string{"../../examples/traffic-lanes"}, nil)
	if diags.HasErrors() {
		t.Fatal(diags.Err())
	}
	p := meshxds.Proxy{Role: meshxds.Sidecar, Namespace: "default", Labels: map[string]string{"app": "mocka", "version": "v1"}}
	snap, err := compile.Snapshot(compile.Compile(c, local.Predict(c), p))
	if err != nil {
		t.Fatal(err)
	}
	served := mustSnapshot(t, snap)
	srv := NewServer(nil)
	srv.OnNode = func(id string, _ meshxds.Proxy) { srv.SetSnapshot(id, served) }
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	defer srv.Stop()
	changed := srv.Changes()
	client := &xds.Client{Target: lis.Addr().String(), Node: meshxds.NodeFor("n1", p), Apply: func(*meshxds.Resources) error { return nil }}
	go client.Run(t.Context())
	deadline := time.After(10 * time.Second)
	for {
		select {
		case <-changed:
		case <-deadline:
			t.Fatal("no change notified within 10s")
		}
		changed = srv.Changes()
		if st, ok := srv.Status("n1"); ok && len(st.Acked) == 4 {
			return
		}
	}
}
