package controlplane

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lanemesh/lanemesh/internal/config"
)

func parse(t *testing.T, yaml string) *config.Config {
	t.Helper()
	c := &config.Config{}
	if diags := c.Parse("t.yaml", []byte(yaml)); diags.HasErrors() {
		t.Fatal(diags.Err())
	}
	return c
}

func loadExample(t testing.TB, paths ...string) *config.Config {
	t.Helper()
	c, diags := config.Load(paths, nil)
	if diags.HasErrors() {
		t.Fatal(diags.Err())
	}
	return c
}

const danglingSubset = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: mockb, namespace: istio-system}
spec:
  hosts: [mockb.default.svc.cluster.local]
  http:
  - route:
    - destination: {host: mockb.default.svc.cluster.local, subset: v9}
`

func TestStoreApplyIsAllOrNothing(t *testing.T) {
	changes := 0
	s := NewStore(func() { changes++ })
	if _, err := s.Apply(loadExample(t, "../../examples/traffic-lanes"), false); err != nil {
		t.Fatal(err)
	}
	before, gen := s.Config()
	diags, err := s.Apply(parse(t, danglingSubset), false)
	if !errors.Is(err, ErrRejected) || !diags.HasErrors() {
		t.Fatalf("dangling subset accepted: %v", err)
	}
	after, gen2 := s.Config()
	if after != before || gen2 != gen || changes != 1 {
		t.Fatalf("a rejected apply changed the store (gen %d → %d, %d changes)", gen, gen2, changes)
	}
	if vs := after.VirtualServices[0]; vs.Spec.HTTP[0].Route[0].Destination.Subset == "v9" {
		t.Fatal("rejected object is in force")
	}
}

func TestStoreDryRunAndDelete(t *testing.T) {
	s := NewStore(nil)
	base := loadExample(t, "../../examples/traffic-lanes")
	if _, err := s.Apply(base, true); err != nil {
		t.Fatal(err)
	}
	if c, _ := s.Config(); len(c.Objects()) != 0 {
		t.Fatal("dry run changed the store")
	}
	if _, err := s.Apply(base, false); err != nil {
		t.Fatal(err)
	}
	// Deleting the DestinationRules while VirtualServices use their
	// subsets would break routing: rejected.
	drs := &config.Config{DestinationRules: base.DestinationRules}
	if _, err := s.Delete(drs, false); !errors.Is(err, ErrRejected) {
		t.Fatalf("delete of referenced DestinationRules: %v, want rejection", err)
	}
	vs := &config.Config{VirtualServices: base.VirtualServices}
	diags, err := s.Delete(vs, false)
	if err != nil || len(diags.Errors()) != 0 {
		t.Fatalf("delete VirtualServices: %v %v", err, diags)
	}
	if c, _ := s.Config(); len(c.VirtualServices) != 0 || len(c.DestinationRules) != 3 {
		t.Fatalf("after delete: %d VirtualServices, %d DestinationRules", len(c.VirtualServices), len(c.DestinationRules))
	}
	diags, _ = s.Delete(vs, false)
	if len(diags) != 3 || diags[0].Level != config.Info {
		t.Fatalf("deleting missing objects: %v, want 3 not-found infos", diags)
	}
}

func TestStoreNeverMutatesPublished(t *testing.T) {
	s := NewStore(nil)
	s.Apply(loadExample(t, "../../examples/traffic-lanes"), false)
	old, _ := s.Config()
	n := len(old.VirtualServices)
	s.Apply(loadExample(t, "../../examples/traffic-lanes-fallback"), false)
	s.Delete(&config.Config{VirtualServices: old.VirtualServices[:1]}, false)
	if len(old.VirtualServices) != n || old.VirtualServices[0].Spec.HTTP[0].Route[0].Fallback != nil {
		t.Fatal("a published configuration changed")
	}
}

func TestWatchFilesKeepsLastGood(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	lanes, _ := os.ReadFile("../../examples/traffic-lanes/dr-mock.yaml")
	write("dr.yaml", string(lanes))
	store := NewStore(nil)
	var rejected atomic.Int32 // errors told OnReject: none for the first, good load
	if _, err := Watch(t.Context(), store, WatchOptions{Paths: []string{dir}, Interval: 10 * time.Millisecond, Logger: slog.New(slog.DiscardHandler),
		OnReject: func(d config.Diagnostics) { rejected.Add(int32(len(d))) }}); err != nil {
		t.Fatal(err)
	}
	if c, _ := store.Config(); len(c.DestinationRules) != 3 {
		t.Fatalf("%d DestinationRules loaded, want 3", len(c.DestinationRules))
	}
	_, gen := store.Config()
	write("dr.yaml", "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: x}\nspec: {hots: y}\n")
	time.Sleep(100 * time.Millisecond) // several polls: a broken file must change nothing
	if c, gen2 := store.Config(); gen2 != gen || len(c.DestinationRules) != 3 {
		t.Fatalf("broken file changed the store (gen %d → %d)", gen, gen2)
	}
	if n := rejected.Load(); n != 1 {
		t.Errorf("OnReject was told of %d errors, want the broken file's one, once", n)
	}
	write("dr.yaml", "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: only}\nspec: {host: y}\n")
	waitFor(t, "the new file's objects, the old ones deleted", func() bool {
		c, _ := store.Config()
		return len(c.DestinationRules) == 1 && c.DestinationRules[0].Metadata.Name == "only"
	})
}
