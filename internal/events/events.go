// Package events keeps what a running mesh has to tell its user beside its
// configuration, as Kubernetes Events do (a watched file's edit that
// overrode an apply), and signals changes to whoever watches the mesh
// (`lanemesh get -w`). Both are bounded and safe for concurrent use.
package events

import (
	"context"
	"slices"
	"sync"
	"time"
)

// Event is one thing that happened to an object.
type Event struct {
	Time time.Time `json:"time"`
	// Type is "Normal" or "Warning", as in Kubernetes.
	Type      string `json:"type"`
	Reason    string `json:"reason"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Message   string `json:"message"`
}

// Log keeps the latest events, oldest first; past its limit the oldest
// are dropped. The zero value keeps DefaultLimit events.
type Log struct {
	// Limit is how many events are kept [DefaultLimit].
	Limit int
	// Feed, if set, is bumped by each Add.
	Feed *Feed

	mu     sync.Mutex
	events []Event
}

// DefaultLimit is how many events a Log keeps by default.
const DefaultLimit = 256

// Add records e, stamped with the time now if it has none.
func (l *Log) Add(e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	limit := l.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	l.mu.Lock()
	l.events = append(l.events, e)
	if over := len(l.events) - limit; over > 0 {
		l.events = slices.Delete(l.events, 0, over)
	}
	l.mu.Unlock()
	if l.Feed != nil {
		l.Feed.Bump()
	}
}

// List returns the events kept, oldest first.
func (l *Log) List() []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.events)
}

// Feed is a generation that grows with every change of what a watcher
// sees (configuration, pods, events), so that a watch can wait for the
// next one instead of polling. The zero value is ready.
type Feed struct {
	mu      sync.Mutex
	gen     uint64
	changed chan struct{}
}

// Bump records a change and wakes every Wait.
func (f *Feed) Bump() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gen++
	if f.changed != nil {
		close(f.changed)
		f.changed = nil
	}
}

// Generation returns the current generation.
func (f *Feed) Generation() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.gen
}

// Wait returns the generation once it is past since, or the current one
// when ctx is done first.
func (f *Feed) Wait(ctx context.Context, since uint64) uint64 {
	for {
		f.mu.Lock()
		gen := f.gen
		if gen > since {
			f.mu.Unlock()
			return gen
		}
		if f.changed == nil {
			f.changed = make(chan struct{})
		}
		ch := f.changed
		f.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return gen
		}
	}
}
