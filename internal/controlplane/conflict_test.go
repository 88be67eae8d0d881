package controlplane

import (
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/lanemesh/lanemesh/internal/config"
)

const (
	drA  = "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: a}\nspec: {host: a}\n"
	drB  = "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: b}\nspec: {host: b}\n"
	drB2 = "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: b}\nspec: {host: b2}\n"
)

// TestWatchedEditKeepsApplyAndReportsConflict: reloading a watched file
// never reverts an apply of an object the edit did not touch, and an edit
// of an object that was applied over wins and is reported.
func TestWatchedEditKeepsApplyAndReportsConflict(t *testing.T) {
	dir := t.TempDir()
	write := func(content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, "dr.yaml"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(drA + "---\n" + drB)
	store := NewStore(nil)
	var mu sync.Mutex
	var conflicts []Conflict
	_, err := Watch(t.Context(), store, WatchOptions{Paths: []string{dir}, Interval: 10 * time.Millisecond, Logger: slog.New(slog.DiscardHandler),
		OnConflict: func(c Conflict) { mu.Lock(); conflicts = append(conflicts, c); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	var applied config.Config
	if diags := applied.Parse("applied.yaml", []byte(`apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: a}
spec: {host: applied}
`)); diags.HasErrors() {
		t.Fatal(diags)
	}
	if _, err := store.Apply(&applied, false); err != nil {
		t.Fatal(err)
	}
	if m, _ := store.Meta("DestinationRule", "default", "a"); m.By != "lanemesh apply" || m.Created.IsZero() || m.Updated.Before(m.Created) {
		t.Fatalf("meta of the applied object: %+v", m)
	}
	host := func(name string) string {
		c, _ := store.Config()
		for _, d := range c.DestinationRules {
			if d.Metadata.Name == name {
				return d.Spec.Host
			}
		}
		return ""
	}
	write(drA + "---\n" + drB2) // edits b only
	waitFor(t, "the edit of b", func() bool { return host("b") == "b2" })
	if got := host("a"); got != "applied" {
		t.Fatalf("an edit of b reverted the apply of a: host %q", got)
	}
	mu.Lock()
	if len(conflicts) != 0 {
		t.Fatalf("conflicts for an untouched object: %+v", conflicts)
	}
	mu.Unlock()
	write(drA2 + "---\n" + drB2) // edits a, which was applied over
	waitFor(t, "the edit of a", func() bool { return host("a") == "a2" })
	// The conflict is reported once the edit is in force, a moment later.
	waitFor(t, "the conflict reported", func() bool { mu.Lock(); defer mu.Unlock(); return len(conflicts) > 0 })
	mu.Lock()
	defer mu.Unlock()
	if len(conflicts) != 1 || conflicts[0].Name != "a" || conflicts[0].Overridden.By != "lanemesh apply" {
		t.Fatalf("conflicts %+v, want one for a naming lanemesh apply", conflicts)
	}
}

const drA2 = "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: a}\nspec: {host: a2}\n"
