// Package hashring builds Envoy's consistent-hash load balancer tables,
// ring hash and Maglev, so that a key picks the endpoint Envoy would pick
// from the same endpoints.
//
// The contract: Ring and Maglev are pure (keys in, table out) and a Table
// never changes after they return, so a proxy shares one between requests
// without locks. Keys are the endpoints' addresses as Envoy writes them
// ("10.0.0.1:8000", "[::1]:8000"), all of equal weight; Pick returns an
// index into them. Lookups do not allocate.
//
// A Table is a cycle of slots (ring entries sorted by hash, or Maglev's
// lookup table): Start gives the slot a hash lands on and At the endpoint
// of a slot, so a caller that finds that endpoint unusable (ejected,
// unhealthy) walks on to the next slots. Walking moves only the keys of
// unusable endpoints, and spreads them over the others, which is the
// property consistent hashing is for.
package hashring

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/cespare/xxhash/v2"
)

// Envoy's defaults and bounds.
const (
	DefaultMinRingSize = 1024
	DefaultMaxRingSize = 8 * 1024 * 1024
	DefaultTableSize   = 65537
	// MaxRingEntries bounds what a configuration can make a proxy build.
	MaxRingEntries = DefaultMaxRingSize
)

// ErrSize is a ring or table size Envoy would refuse.
var ErrSize = errors.New("invalid consistent hash size")

// Table is a built ring or Maglev table; see the package comment.
type Table struct {
	hashes []uint64 // ring: sorted entry hashes; nil for Maglev
	slots  []int32  // endpoint index of each ring entry or Maglev slot
}

// Len is the number of slots; 0 when there are no endpoints.
func (t *Table) Len() int { return len(t.slots) }

// At is the endpoint index of slot i (0 <= i < Len).
func (t *Table) At(i int) int { return int(t.slots[i]) }

// Start is the slot hash lands on: for a ring, the first entry whose hash
// is at least hash, wrapping to the first entry (Envoy's ketama search);
// for Maglev, hash modulo the table size.
func (t *Table) Start(hash uint64) int {
	if len(t.slots) == 0 {
		return -1
	}
	if t.hashes == nil {
		return int(hash % uint64(len(t.slots)))
	}
	i, _ := slices.BinarySearch(t.hashes, hash)
	if i == len(t.hashes) {
		i = 0
	}
	return i
}

// Pick is the endpoint index for hash, or -1 without endpoints.
func (t *Table) Pick(hash uint64) int {
	s := t.Start(hash)
	if s < 0 {
		return -1
	}
	return t.At(s)
}

// Ring builds Envoy's RingHashLoadBalancer ring (xxHash64) for keys of
// equal weight: each key gets ceil(minSize/n) entries or more, hashes of
// "key_0", "key_1", ..., up to maxSize entries in all.
func Ring(keys []string, minSize, maxSize uint64) (*Table, error) {
	if minSize == 0 {
		minSize = DefaultMinRingSize
	}
	if maxSize == 0 {
		maxSize = DefaultMaxRingSize
	}
	switch {
	case minSize > maxSize:
		return nil, fmt.Errorf("%w: minimum_ring_size %d is larger than maximum_ring_size %d", ErrSize, minSize, maxSize)
	case maxSize > MaxRingEntries:
		return nil, fmt.Errorf("%w: ring size %d is over %d", ErrSize, maxSize, MaxRingEntries)
	}
	t := &Table{}
	if len(keys) == 0 {
		return t, nil
	}
	// The same double arithmetic as Envoy's, so that the entry counts
	// agree to the last one.
	weight := 1.0 / float64(len(keys))
	scale := math.Min(math.Ceil(weight*float64(minSize))/weight, float64(maxSize))
	type entry struct {
		hash uint64
		idx  int32
	}
	ring := make([]entry, 0, int(math.Ceil(scale)))
	current, target := 0.0, 0.0
	buf := make([]byte, 0, 64)
	for idx, key := range keys {
		target += scale * weight
		for i := uint64(0); current < target; i++ {
			buf = strconv.AppendUint(append(append(buf[:0], key...), '_'), i, 10)
			ring = append(ring, entry{xxhash.Sum64(buf), int32(idx)})
			current++
		}
	}
	slices.SortStableFunc(ring, func(a, b entry) int {
		switch {
		case a.hash < b.hash:
			return -1
		case a.hash > b.hash:
			return 1
		}
		return 0
	})
	t.hashes, t.slots = make([]uint64, len(ring)), make([]int32, len(ring))
	for i, e := range ring {
		t.hashes[i], t.slots[i] = e.hash, e.idx
	}
	return t, nil
}

// Maglev builds Envoy's MaglevTable for keys of equal weight: each key's
// permutation of the table starts at xxHash64(key) and steps by
// xxHash64(key, seed 1), and keys take turns claiming their next free
// slot until the table is full. size must be prime (Envoy's default
// 65537 when zero).
func Maglev(keys []string, size uint64) (*Table, error) {
	if size == 0 {
		size = DefaultTableSize
	}
	if size > math.MaxInt32 || !prime(size) {
		return nil, fmt.Errorf("%w: Maglev table_size %d must be a prime below 2^31", ErrSize, size)
	}
	t := &Table{}
	if len(keys) == 0 {
		return t, nil
	}
	type build struct {
		offset, skip, next uint64
		weight, target     float64
	}
	weight := 1.0 / float64(len(keys))
	entries := make([]build, len(keys))
	var d xxhash.Digest
	for i, k := range keys {
		d.ResetWithSeed(1)
		_, _ = d.WriteString(k)
		entries[i] = build{offset: xxhash.Sum64String(k) % size, skip: d.Sum64()%(size-1) + 1, weight: weight}
	}
	slots := make([]int32, size)
	for i := range slots {
		slots[i] = -1
	}
	filled := uint64(0)
	for iteration := 1; filled < size; iteration++ {
		for i := range entries {
			if filled >= size {
				break
			}
			e := &entries[i]
			// As in Envoy: a key of the largest weight claims a slot every
			// round; lighter keys skip rounds in proportion.
			if float64(iteration)*e.weight < e.target {
				continue
			}
			e.target += weight
			c := (e.offset + e.skip*e.next) % size
			for slots[c] >= 0 {
				e.next++
				c = (e.offset + e.skip*e.next) % size
			}
			slots[c] = int32(i)
			e.next++
			filled++
		}
	}
	t.slots = slots
	return t, nil
}

func prime(n uint64) bool {
	if n < 2 {
		return false
	}
	for d := uint64(2); d*d <= n; d++ {
		if n%d == 0 {
			return false
		}
	}
	return true
}
