package main

import (
	"context"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/lanemesh/lanemesh/internal/config"
	"github.com/lanemesh/lanemesh/internal/controlplane"
	"github.com/lanemesh/lanemesh/internal/local"
	"github.com/lanemesh/lanemesh/internal/xdsserver"
)

// TestLightClientsFollowLikeFullOnes runs the tutorial's control plane,
// one full xds.Client and light clients of every identity the change
// reaches, and toggles the fallback: every one must see each change, and
// the control plane must count the light ones as in step, having ACKed
// what it served them, as it does the full one. Each change must cost each
// proxy one CDS and one RDS response, nothing rejected: the control plane
// resends no type whose resources did not change (scenario C's messages).
func TestLightClientsFollowLikeFullOnes(t *testing.T) {
	srv := xdsserver.NewServer(nil)
	var cp *controlplane.ControlPlane
	store := controlplane.NewStore(func() { cp.Changed() })
	cp = controlplane.New(controlplane.Options{Store: store, XDS: srv})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	base := load(t, "../../examples/traffic-lanes")
	if _, err := store.Apply(base, false); err != nil {
		t.Fatal(err)
	}
	cp.SetInstances(local.Predict(base))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go cp.Run(ctx)

	n := len(identities) + 1 // client 0 full, then a light one of each identity
	o := options{xds: lis.Addr().String(), n: n, full: 1}
	f := newLocalFleet(o, nil, 0, n)
	defer f.close()
	if missed, _ := f.connect(10 * time.Second); missed > 0 {
		t.Fatalf("%d of %d clients got no first configuration", missed, n)
	}
	changes := []*config.Config{load(t, "../../examples/traffic-lanes-fallback"), {VirtualServices: base.VirtualServices}}
	start, _ := f.messages()
	for i, c := range append(changes, changes...) {
		on := i%2 == 0
		f.begin(on)
		if _, err := store.Apply(c, false); err != nil {
			t.Fatal(err)
		}
		at, missed, _ := f.wait(10 * time.Second)
		if missed > 0 || slices.Contains(at, before) {
			t.Fatalf("change %d (fallback %v): times %v, %d missed; want every client to get it", i, on, at, missed)
		}
		_, gen := store.Config()
		deadline := time.Now().Add(10 * time.Second)
		for cp.Converged() < gen {
			if time.Now().After(deadline) {
				t.Fatalf("change %d: the control plane never counted every proxy in step: %+v", i, srv.Proxies())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	m, _ := f.messages()
	m = m.minus(start)
	light := int64(n - 1)
	if want := (messages{Responses: [4]int64{4 * light, 0, 0, 4 * light}}); m != want {
		t.Errorf("4 changes to %d light clients: responses by kind (CDS, EDS, LDS, RDS) and NACKs %+v, want %+v", light, m, want)
	}
	for _, p := range srv.Proxies() {
		for typ, s := range p.Sync {
			if s == xdsserver.Stale {
				t.Errorf("%s: %s is %s (acked %q, sent %q)", p.ID, typ, s, p.Acked[typ], p.Sent[typ])
			}
		}
	}
}

func load(t *testing.T, path string) *config.Config {
	t.Helper()
	c, diags := config.Load([]string{path}, nil)
	if diags.HasErrors() {
		t.Fatal(diags.Err())
	}
	return c
}
