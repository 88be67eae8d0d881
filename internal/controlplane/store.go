// Package controlplane is lanemesh's control plane: it holds the configuration
// in force (Store), learns workloads from the registry, compiles one snapshot
// per proxy identity and pushes it over xDS.
package controlplane

import (
	"errors"
	"fmt"
	"sync"

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
}

// NewStore returns a store holding an empty configuration. onChange, if
// set, is called after each accepted change, outside the store's lock.
func NewStore(onChange func()) *Store {
	return &Store{src: &config.Config{}, cur: &config.Config{}, onChange: onChange}
}

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
	return s.change(dryRun, func(next *config.Config) { next.Replace(in) })
}

// Delete removes every object of in that exists. Objects that do not exist
// are reported as Info findings, as `kubectl delete` reports NotFound.
func (s *Store) Delete(in *config.Config, dryRun bool) (config.Diagnostics, error) {
	var missing config.Diagnostics
	diags, err := s.change(dryRun, func(next *config.Config) {
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
	return s.change(false, fn)
}

func (s *Store) change(dryRun bool, edit func(*config.Config)) (config.Diagnostics, error) {
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
