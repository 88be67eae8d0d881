package registry

import (
	"context"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/lanemesh/lanemesh/internal/config"
)

// View is the one list of instances the control plane compiles from,
// merged from named sources — the local runner's pods, Kubernetes'
// EndpointSlices, probed WorkloadEntries — so that each mode plugs in its
// own sources and nothing else differs between modes.
type View struct {
	mu      sync.Mutex
	sources map[string][]Instance
	publish func([]Instance)
}

// NewView returns a view that hands publish the merged list, in the order
// of the sources' names, whenever a source changes. Calls to publish are
// serialized and each gets a fresh slice.
func NewView(publish func([]Instance)) *View {
	return &View{sources: map[string][]Instance{}, publish: publish}
}

// Set replaces what one source contributes and publishes the merged list.
func (v *View) Set(source string, in []Instance) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.sources[source] = in
	v.publish(v.mergedLocked())
}

// Instances returns the merged list.
func (v *View) Instances() []Instance {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.mergedLocked()
}

func (v *View) mergedLocked() []Instance {
	var out []Instance
	for _, name := range slices.Sorted(maps.Keys(v.sources)) {
		out = append(out, v.sources[name]...)
	}
	return out
}

// Entries is the WorkloadEntries source: the entries of the configuration
// in force, kept healthy or not by Probe's TCP checks, and published to a
// View as source "workloadentries".
type Entries struct {
	view *View
	mu   sync.Mutex
	cur  []Instance
}

// NewEntries returns the WorkloadEntries source of view.
func NewEntries(view *View) *Entries { return &Entries{view: view} }

// Configure takes the configuration's entries. An entry seen before (same
// namespace, name and address) keeps the health last found, a new one is
// unhealthy until its first probe: a change that does not touch an entry
// must not mark it down, and one that adds an entry must not send traffic
// to it before it answers. Probe publishes the change at its next round.
func (e *Entries) Configure(c *config.Config) {
	e.mu.Lock()
	defer e.mu.Unlock()
	healthy := map[string]bool{}
	for _, in := range e.cur {
		healthy[entryKey(in)] = in.Healthy
	}
	var next []Instance
	for _, in := range WorkloadEntries(c) {
		in.Healthy = healthy[entryKey(in)]
		next = append(next, in)
	}
	e.cur = next
}

func entryKey(in Instance) string { return in.Namespace + "/" + in.Name + "@" + in.Address }

// Run probes the entries every interval until ctx is done.
func (e *Entries) Run(ctx context.Context, interval, timeout time.Duration) {
	Probe(ctx, interval, timeout, e.list, func(in []Instance) {
		e.mu.Lock()
		e.cur = in
		e.mu.Unlock()
		e.view.Set("workloadentries", in)
	})
}

func (e *Entries) list() []Instance {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.cur
}
