// Package controlplane is lanemesh's control plane: it holds the configuration
// in force (Store), learns workloads from the registry, compiles one snapshot
// per proxy identity and pushes it over xDS.
package controlplane

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/lanemesh/lanemesh/internal/config"
	"github.com/lanemesh/lanemesh/internal/lanes"
)

// ErrRejected is returned (wrapped) when a change would leave the
// configuration with errors; nothing changed.
var ErrRejected = errors.New("configuration rejected")

// Store holds the configuration in force. Every change is all or nothing:
// the whole resulting configuration is analyzed, and a change that would
// leave any error is rejected and the last good configuration stays in
// force. Readers get an immutable *config.Config; the store never mutates
// one it has handed out.
//
// What users write (src) and what is in force (cur) differ by the objects
// lane groups generate (internal/lanes): changes edit the first, readers
// get the second.
type Store struct {
	mu       sync.Mutex
	src      *config.Config
	cur      *config.Config
	gen      uint64
	onChange func()
	// meta records, by object key, when each object in force entered the
	// store and who wrote it last; it is replaced, never edited, on each
	// change.
	meta map[string]Meta
	// Clock is the time source of Meta [time.Now]; tests set it before
	// the first change.
	Clock func() time.Time
}

// Meta is what the store knows about an object besides its content, as
// Kubernetes keeps creationTimestamp and managedFields: AGE in `get`, and
// who changed it in `describe` and in conflict reports.
type Meta struct {
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
	// By is who wrote the object last: "lanemesh apply", "lanemesh
	// scale", "file PATH" (the watched paths); "" when not said (Update).
	By string `json:"by,omitempty"`
}

// NewStore returns a store holding an empty configuration. onChange, if
// set, is called after each accepted change, outside the store's lock.
func NewStore(onChange func()) *Store {
	return &Store{src: &config.Config{}, cur: &config.Config{}, onChange: onChange, meta: map[string]Meta{}}
}

// Meta returns what the store knows about the object in force of this
// kind, namespace and name (one the user wrote, not one a lane group
// generates).
func (s *Store) Meta(kind, namespace, name string) (Meta, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.meta[metaKey(kind, namespace, name)]
	return m, ok
}

func metaKey(kind, ns, name string) string { return kind + "/" + ns + "/" + name }

// Config returns the configuration in force, with the objects lane groups
// generate, and its generation, which grows with every accepted change.
func (s *Store) Config() (*config.Config, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur, s.gen
}

// Apply creates or replaces every object of in, as `kubectl apply` does.
// dryRun checks without changing anything. The diagnostics are those of the
// resulting configuration that concern in's objects, plus every error.
func (s *Store) Apply(in *config.Config, dryRun bool) (config.Diagnostics, error) {
	return s.change("lanemesh apply", dryRun, func(next *config.Config) { next.Replace(in) })
}

// Delete removes every object of in that exists. Objects that do not exist
// are reported as Info findings, as `kubectl delete` reports NotFound.
func (s *Store) Delete(in *config.Config, dryRun bool) (config.Diagnostics, error) {
	var missing config.Diagnostics
	diags, err := s.change("lanemesh delete", dryRun, func(next *config.Config) {
		for _, obj := range in.Objects() {
			if !next.Remove(obj) {
				missing = append(missing, notFound(obj))
			}
		}
	})
	return append(missing, diags...), err
}

// Update replaces the configuration through fn, which edits a copy (for
// example to scale a Deployment), with the same all-or-nothing check.
func (s *Store) Update(fn func(next *config.Config)) (config.Diagnostics, error) {
	return s.change("", false, fn)
}

// UpdateBy is Update that names who makes the change, for Meta.By.
func (s *Store) UpdateBy(by string, fn func(next *config.Config)) (config.Diagnostics, error) {
	return s.change(by, false, fn)
}

func (s *Store) change(by string, dryRun bool, edit func(*config.Config)) (config.Diagnostics, error) {
	s.mu.Lock()
	next := s.src.Clone()
	edit(next)
	eff, diags := lanes.Resolve(next)
	if diags.HasErrors() {
		s.mu.Unlock()
		return diags, fmt.Errorf("%w: %w", ErrRejected, diags.Err())
	}
	if dryRun {
		s.mu.Unlock()
		return diags, nil
	}
	s.meta = s.nextMeta(s.src, next, by)
	s.src, s.cur = next, eff
	s.gen++
	s.mu.Unlock()
	if s.onChange != nil {
		s.onChange()
	}
	return diags, nil
}

func notFound(obj any) config.Diagnostic {
	kind, ns, name := config.Identify(obj)
	return config.Diagnostic{Level: config.Info, Code: config.CodeNotFound, Kind: kind, Namespace: ns, Name: name,
		Message: fmt.Sprintf("%s %s/%s not found", kind, ns, name), Hint: "nothing to delete"}
}

// nextMeta carries each object's Meta over to next: an object new to the
// store is created now; one whose pointer changed (edits replace objects,
// never mutate them) was written now by by. s.mu is held.
func (s *Store) nextMeta(prev, next *config.Config, by string) map[string]Meta {
	now := time.Now
	if s.Clock != nil {
		now = s.Clock
	}
	t := now()
	out := make(map[string]Meta, len(s.meta)+1)
	for _, obj := range next.Objects() {
		kind, ns, name := config.Identify(obj)
		key := metaKey(kind, ns, name)
		m, ok := s.meta[key]
		switch {
		case !ok:
			m = Meta{Created: t, Updated: t, By: by}
		case prev.Find(obj) != obj:
			m.Updated, m.By = t, by
		}
		out[key] = m
	}
	return out
}

// metaLocked is Meta for an edit function, which runs with s.mu held.
func (s *Store) metaLocked(kind, namespace, name string) (Meta, bool) {
	m, ok := s.meta[metaKey(kind, namespace, name)]
	return m, ok
}
