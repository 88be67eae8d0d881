package proxy

import (
	"hash/maphash"
	"strings"
	"sync"
)

// traceTable remembers, per trace id, the lane of a request the sidecar's
// pod received, so that the pod's outgoing calls that carry the trace id
// but not the lane get the lane back (permissive lanes whose apps
// propagate only a trace header, see api.PermissiveSwimLaneGroupConfiguration).
//
// Its memory is bounded whatever the traffic: it holds at most capacity
// entries, in fixed slot arrays split over shards, each shard evicting by
// CLOCK (an approximation of LRU that costs no list maintenance on a hit)
// with expired entries taken first. Written and read entries are
// referenced alike, so a trace id outlives at least about 0.45 × capacity
// newer ones (half a table's worth, less the shards' imbalance; see
// TestTraceTableKeepsInFlight), which is what sizes the default
// (meshxds.DefaultTraceTableCapacity). An entry lives for ttl nanoseconds
// after it was last written; a trace id only needs to outlive the request
// that brought it, so a lookup after that is a miss.
//
// It reads no clock: callers pass now, monotonic nanoseconds. Methods are
// safe for concurrent use; a shard's lock is held for a map access and a
// few slot moves, never across I/O.
type traceTable struct {
	seed     maphash.Seed
	shards   []traceShard
	mask     uint64
	ttl      int64
	capacity int
	// requested is the capacity asked for, which the store compares to
	// reuse the table across updates (capacity is rounded up to shards).
	requested int
}

// traceShard is one lock's worth of the table.
type traceShard struct {
	mu    sync.Mutex
	index map[string]int32 // trace id -> slot
	slots []traceSlot      // fixed length: the shard's capacity
	used  int32            // slots filled so far; the rest have never held an entry
	hand  int32            // the CLOCK hand
	lanes map[string]string
	_     [64]byte // keeps neighbouring shards' locks off one cache line
}

// traceSlot is one remembered trace id.
type traceSlot struct {
	key     string
	lane    string
	expires int64
	ref     bool // read or written since the hand last passed
}

// Bounds on what the table keeps. A header longer than these is hostile or
// not a trace id, and is not remembered: a table of long keys would use
// memory its capacity does not account for.
const (
	maxTraceIDBytes  = 256
	maxLaneNameBytes = 253 // a Kubernetes object name's limit
	maxLaneIntern    = 64  // distinct lane values each shard shares, not copies
)

// newTraceTable returns a table holding at most capacity entries (at least
// one), each for ttl nanoseconds (at least one).
func newTraceTable(capacity int, ttl int64) *traceTable {
	capacity = max(capacity, 1)
	n := 1
	for n < 64 && n*1024 < capacity { // shards of at least 1,024 slots, at most 64 shards
		n *= 2
	}
	per := (capacity + n - 1) / n
	t := &traceTable{seed: maphash.MakeSeed(), shards: make([]traceShard, n), mask: uint64(n - 1),
		ttl: max(ttl, 1), capacity: per * n}
	for i := range t.shards {
		t.shards[i].index = map[string]int32{} // grows with use, to at most per entries
		t.shards[i].slots = make([]traceSlot, per)
		t.shards[i].lanes = map[string]string{}
	}
	return t
}

func (t *traceTable) shard(key string) *traceShard {
	return &t.shards[maphash.String(t.seed, key)&t.mask]
}

// put remembers that trace id key is in lane at time now. Keys and lanes
// that are empty or over their bounds are ignored.
func (t *traceTable) put(key, lane string, now int64) {
	if key == "" || lane == "" || len(key) > maxTraceIDBytes || len(lane) > maxLaneNameBytes {
		return
	}
	s := t.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if i, ok := s.index[key]; ok {
		sl := &s.slots[i]
		if sl.lane != lane {
			sl.lane = s.intern(lane)
		}
		sl.expires, sl.ref = now+t.ttl, true
		return
	}
	i := s.victim(now)
	// The key is copied: a header value may share its memory with the
	// whole request head it was parsed from, which the table must not
	// keep alive.
	key = strings.Clone(key)
	// A new entry starts referenced: its pod's outbound calls have not
	// read it yet, and an entry CLOCK found unreferenced on its first pass
	// would be the first to go, while entries already read got their
	// second chance.
	s.slots[i] = traceSlot{key: key, lane: s.intern(lane), expires: now + t.ttl, ref: true}
	s.index[key] = i
}

// get returns the lane remembered for trace id key at time now.
func (t *traceTable) get(key string, now int64) (string, bool) {
	if key == "" || len(key) > maxTraceIDBytes {
		return "", false
	}
	s := t.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := s.index[key]
	if !ok {
		return "", false
	}
	sl := &s.slots[i]
	if sl.expires <= now {
		delete(s.index, key)
		*sl = traceSlot{}
		return "", false
	}
	sl.ref = true
	return sl.lane, true
}

// len returns how many entries the table holds, expired ones included.
func (t *traceTable) len() int {
	n := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		n += len(s.index)
		s.mu.Unlock()
	}
	return n
}

// victim returns the slot a new entry goes in: a never-used one while
// there are any, else the first the CLOCK hand finds expired, emptied or
// not referenced since its last pass. It frees the slot's old entry. The
// hand clears reference bits as it goes, so it stops within two turns.
func (s *traceShard) victim(now int64) int32 {
	if int(s.used) < len(s.slots) {
		s.used++
		return s.used - 1
	}
	n := int32(len(s.slots))
	for {
		i := s.hand
		s.hand = (s.hand + 1) % n
		sl := &s.slots[i]
		if sl.key != "" && sl.ref && sl.expires > now {
			sl.ref = false
			continue
		}
		if sl.key != "" {
			delete(s.index, sl.key)
		}
		return i
	}
}

// intern returns lane as held by the shard, so that the many entries of
// one lane share one string. Past maxLaneIntern distinct values (a client
// inventing lanes) each entry keeps its own copy.
func (s *traceShard) intern(lane string) string {
	if v, ok := s.lanes[lane]; ok {
		return v
	}
	lane = strings.Clone(lane)
	if len(s.lanes) < maxLaneIntern {
		s.lanes[lane] = lane
	}
	return lane
}
