// Package arena hands out the small strings and slices that every request
// makes (the text of a head, the values of its header fields, a request
// id) from chunks shared by many requests, so that a request costs no
// allocation of its own for them.
//
// A chunk is never written twice: what was handed out stays as it was for
// as long as anything refers to it, and the garbage collector frees a chunk
// once nothing does. So a string from an arena is an ordinary immutable Go
// string that may be kept (as a map key, in a log line) for any time; what
// keeping one costs is that its whole chunk stays alive with it.
//
// An arena's first string or slice gets an allocation of its own, and
// only the second takes a chunk: an arena used once (the connection handed
// to net/http, whose every request comes with a fresh one, or a connection
// that carries one request) costs what a plain conversion does, not a
// chunk.
//
// An arena belongs to one goroutine at a time, as the connection that
// holds it does.
package arena

import "unsafe"

// StringChunk is the size of a Strings chunk. A connection holds one
// chunk at a time, so the size weighs the allocations saved (a chunk
// serves ten to twenty typical heads) against the memory an idle
// connection keeps (its buffers are 8 KiB already).
const StringChunk = 2 << 10

// Strings copies byte strings into chunks of StringChunk bytes.
type Strings struct {
	free []byte // the rest of the current chunk
	used bool   // a string was made: the next that does not fit takes a chunk
}

// String returns a copy of b as a string. Strings longer than a quarter
// of a chunk get an allocation of their own, so that a large head does
// not waste the rest of a chunk; so does every string of a nil arena.
func (a *Strings) String(b []byte) string {
	switch {
	case a == nil:
		return string(b)
	case len(b) == 0:
		return ""
	case len(b) > StringChunk/4:
		return string(b)
	case len(b) > len(a.free):
		if !a.used {
			a.used = true
			return string(b)
		}
		a.free = make([]byte, StringChunk)
	}
	n := copy(a.free, b)
	s := unsafe.String(&a.free[0], n)
	a.free = a.free[n:]
	return s
}

// sliceChunk is the length of a Slices chunk.
const sliceChunk = 64

// Slices hands out slices of T from chunks of 64 elements.
type Slices[T any] struct {
	free []T
	used bool // as Strings.used
}

// Make returns a zeroed slice of n elements whose capacity is n, so that
// an append to it reallocates rather than writing into the chunk. Slices
// longer than a quarter of a chunk get an allocation of their own; so
// does every slice of a nil arena.
func (a *Slices[T]) Make(n int) []T {
	switch {
	case a == nil || n > sliceChunk/4:
		return make([]T, n)
	case n > len(a.free):
		if !a.used {
			a.used = true
			return make([]T, n)
		}
		a.free = make([]T, sliceChunk)
	}
	s := a.free[:n:n]
	a.free = a.free[n:]
	return s
}
