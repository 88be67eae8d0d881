package up

import (
	"testing"

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
