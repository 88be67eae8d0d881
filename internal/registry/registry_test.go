package registry

import (
	"net"
	"slices"
	"testing"
	"time"

	"github.com/lanemesh/lanemesh/api"
	"github.com/lanemesh/lanemesh/internal/config"
)

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

func TestViewMergesSources(t *testing.T) {
	var got [][]Instance
	v := NewView(func(in []Instance) { got = append(got, in) })
	v.Set("workloadentries", []Instance{{Name: "vm"}})
	v.Set("pods", []Instance{{Name: "a-0"}, {Name: "a-1"}})
	v.Set("workloadentries", nil)
	names := func(in []Instance) (out []string) {
		for _, i := range in {
			out = append(out, i.Name)
		}
		return out
	}
	want := [][]string{{"vm"}, {"a-0", "a-1", "vm"}, {"a-0", "a-1"}}
	if len(got) != len(want) {
		t.Fatalf("%d publishes, want %d", len(got), len(want))
	}
	for i := range want {
		if !slices.Equal(names(got[i]), want[i]) {
			t.Errorf("publish %d: %v, want %v", i, names(got[i]), want[i])
		}
	}
}

func TestEntriesKeepHealthAcrossConfigurations(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := uint32(ln.Addr().(*net.TCPAddr).Port)
	entry := func(labels map[string]string) *config.Config {
		we := &api.WorkloadEntry{}
		we.Metadata.Name, we.Metadata.Namespace = "vm", "default"
		we.Spec.Address, we.Spec.Labels, we.Spec.Ports = "127.0.0.1", labels, map[string]uint32{"http": port}
		return &config.Config{WorkloadEntries: []*api.WorkloadEntry{we}}
	}
	got := make(chan []Instance, 10)
	v := NewView(func(in []Instance) { got <- in })
	e := NewEntries(v)
	e.Configure(entry(map[string]string{"version": "v1"}))
	if e.list()[0].Healthy {
		t.Fatal("a new entry is healthy before its first probe")
	}
	go e.Run(t.Context(), 10*time.Millisecond, time.Second)
	if in := <-got; !in[0].Healthy {
		t.Fatal("a listening entry is unhealthy")
	}
	// A label edit keeps the entry healthy, and reaches the view.
	e.Configure(entry(map[string]string{"version": "v2"}))
	if !e.list()[0].Healthy {
		t.Fatal("an edit of the configuration marked a healthy entry down")
	}
	select {
	case in := <-got:
		if in[0].Labels["version"] != "v2" || !in[0].Healthy {
			t.Fatalf("published %+v, want the edited labels, healthy", in[0])
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a label edit was never published")
	}
}

// TestEntryAtANewAddressWaitsForItsProbe: health belongs to an address, so
// an entry that moved is unhealthy until the prober has seen it answer.
func TestEntryAtANewAddressWaitsForItsProbe(t *testing.T) {
	entry := func(addr string) *config.Config {
		we := &api.WorkloadEntry{Metadata: api.ObjectMeta{Name: "vm", Namespace: "default"}, Spec: api.WorkloadEntrySpec{Address: addr}}
		return &config.Config{WorkloadEntries: []*api.WorkloadEntry{we}}
	}
	e := NewEntries(NewView(func([]Instance) {}))
	e.cur = []Instance{{Name: "vm", Namespace: "default", Address: "127.0.0.9", Healthy: true}}
	e.Configure(entry("127.0.0.9"))
	if !e.list()[0].Healthy {
		t.Fatal("an unchanged entry lost its probed health")
	}
	e.Configure(entry("127.0.0.11"))
	if e.list()[0].Healthy {
		t.Fatal("an entry at a new address kept the old address's health")
	}
}
