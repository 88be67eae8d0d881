package registry

import (
	"net"
	"testing"
	"time"

	"github.com/lanemesh/lanemesh/internal/config"
)

func TestFromConfig(t *testing.T) {
	c, diags := config.Load([]string{"../../examples/traffic-lanes"}, nil)
	if diags.HasErrors() {
		t.Fatal(diags.Err())
	}
	in := FromConfig(c)
	if len(in) != 9 {
		t.Fatalf("%d instances, want 9", len(in))
	}
	seen := map[string]bool{}
	for _, i := range in {
		if seen[i.Address] || !i.Healthy || i.Ports["8000"] != 8000 || i.Owner == "" {
			t.Errorf("instance %+v: duplicate address, unhealthy, no port 8000 or no owner", i)
		}
		seen[i.Address] = true
	}
	if LoopbackAddress(1) != "127.0.1.1" || LoopbackAddress(251) != "127.0.2.1" {
		t.Error("LoopbackAddress numbering changed")
	}
}

func TestProbePublishesHealthChanges(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := uint32(ln.Addr().(*net.TCPAddr).Port)
	entries := []Instance{{Name: "vm", Namespace: "default", Address: "127.0.0.1", Ports: map[string]uint32{"http": port}}}
	got := make(chan []Instance, 10)
	go Probe(t.Context(), 10*time.Millisecond, time.Second, func() []Instance { return entries }, func(in []Instance) { got <- in })
	if in := <-got; !in[0].Healthy {
		t.Fatal("a listening entry is unhealthy")
	}
	ln.Close()
	select {
	case in := <-got:
		if in[0].Healthy {
			t.Fatal("a closed entry is healthy")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no publish after the entry stopped listening")
	}
}
