package arena

import (
	"bytes"
	"fmt"
	"testing"
)

// TestStringsAreNeverOverwritten holds the package's promise: what String
// handed out reads the same after any number of later strings, including
// across chunks, and the caller's bytes may change at once.
func TestStringsAreNeverOverwritten(t *testing.T) {
	var a Strings
	var got []string
	var want []string
	buf := make([]byte, 0, 64)
	for i := range 500 {
		buf = fmt.Appendf(buf[:0], "value-%d-%s", i, bytes.Repeat([]byte{'x'}, i%40))
		got = append(got, a.String(buf))
		want = append(want, string(buf))
		clear(buf[:cap(buf)]) // the caller reuses its buffer
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("string %d reads %q, want %q", i, got[i], want[i])
		}
	}
}

func TestStringLimits(t *testing.T) {
	var a Strings
	if s := a.String(nil); s != "" {
		t.Fatalf("empty input gave %q", s)
	}
	big := bytes.Repeat([]byte{'b'}, StringChunk/4+1)
	if s := a.String(big); s != string(big) || len(a.free) != 0 {
		t.Fatalf("a string over a quarter chunk should get its own allocation, not the arena's (free %d)", len(a.free))
	}
	var none *Strings
	if s := none.String([]byte("nil arena")); s != "nil arena" {
		t.Fatalf("nil arena gave %q", s)
	}
}

// TestStringsAllocateOncePerChunk is what the arena is for: heads of a
// typical size share a chunk instead of costing an allocation each.
func TestStringsAllocateOncePerChunk(t *testing.T) {
	var a Strings
	head := bytes.Repeat([]byte{'h'}, 150)
	allocs := testing.AllocsPerRun(1000, func() { _ = a.String(head) })
	if want := 1.0 / float64(StringChunk/len(head)); allocs > want*1.5 {
		t.Fatalf("%.3f allocations per string of %d bytes, want about %.3f (one per %d-byte chunk)", allocs, len(head), want, StringChunk)
	}
}

// TestSlicesAreSeparate: a slice from Make has its own elements and a
// capacity of its length, so that neither writes nor appends through one
// reach another.
func TestSlicesAreSeparate(t *testing.T) {
	var a Slices[string]
	var all [][]string
	for i := range 200 {
		s := a.Make(1 + i%5)
		if len(s) != cap(s) {
			t.Fatalf("Make(%d) has capacity %d", len(s), cap(s))
		}
		for j := range s {
			if s[j] != "" {
				t.Fatalf("Make returned a used element %q", s[j])
			}
			s[j] = fmt.Sprint(i, "/", j)
		}
		_ = append(s, "appended") // must reallocate, not write past s
		all = append(all, s)
	}
	for i, s := range all {
		for j := range s {
			if want := fmt.Sprint(i, "/", j); s[j] != want {
				t.Fatalf("slice %d element %d reads %q, want %q", i, j, s[j], want)
			}
		}
	}
	if s := a.Make(sliceChunk/4 + 1); len(s) != sliceChunk/4+1 {
		t.Fatalf("large Make gave %d elements", len(s))
	}
	var none *Slices[int]
	if s := none.Make(3); len(s) != 3 {
		t.Fatalf("nil arena gave %d elements", len(s))
	}
}

// TestFirstUseTakesNoChunk: an arena used for one string or slice only
// (a request whose state is fresh each time) allocates just that, not a
// chunk; the second use takes one.
func TestFirstUseTakesNoChunk(t *testing.T) {
	var s Strings
	if got := s.String([]byte("request-id")); got != "request-id" || cap(s.free) != 0 {
		t.Fatalf("first string %q left a chunk of %d bytes", got, cap(s.free))
	}
	if got := s.String([]byte("second")); got != "second" || cap(s.free) != StringChunk-len("second") {
		t.Fatalf("second string %q: chunk left %d bytes, want %d", got, cap(s.free), StringChunk-len("second"))
	}
	var v Slices[string]
	if got := v.Make(3); len(got) != 3 || cap(v.free) != 0 {
		t.Fatalf("first slice left a chunk of %d", cap(v.free))
	}
	if got := v.Make(3); len(got) != 3 || len(v.free) != sliceChunk-3 {
		t.Fatalf("second slice: chunk left %d, want %d", len(v.free), sliceChunk-3)
	}
	id := []byte("0123456789abcdef0123456789abcdef0123")
	if n := testing.AllocsPerRun(100, func() { var fresh Strings; sink = fresh.String(id) }); n != 1 {
		t.Fatalf("a fresh arena's one string costs %v allocations, want 1", n)
	}
}

// sink keeps what the allocation tests make, so that the compiler cannot
// keep it on the stack.
var sink string
