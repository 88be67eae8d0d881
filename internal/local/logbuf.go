package local

import (
	"bytes"
	"sync"
)

// logLimit is how much output each pod keeps for Logs.
const logLimit = 128 << 10

// ringBuffer keeps the last size bytes written to it, so a chatty pod costs
// bounded memory however long it runs. It is safe for concurrent use: an
// app's stdout, stderr and the mock's logger all write to one.
type ringBuffer struct {
	mu      sync.Mutex
	buf     []byte // len == size once wrapped
	size    int
	next    int  // where the next byte goes once wrapped
	wrapped bool // buf is full and next marks its oldest byte
}

func newRingBuffer(size int) *ringBuffer { return &ringBuffer{size: size} }

// Write implements io.Writer; it never fails.
func (b *ringBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := len(p)
	if len(p) > b.size {
		p = p[len(p)-b.size:]
	}
	if !b.wrapped {
		room := b.size - len(b.buf)
		if len(p) <= room {
			b.buf = append(b.buf, p...)
			return n, nil
		}
		b.buf = append(b.buf, p[:room]...)
		p = p[room:]
		b.wrapped, b.next = true, 0
	}
	for len(p) > 0 {
		c := copy(b.buf[b.next:], p)
		p = p[c:]
		b.next = (b.next + c) % b.size
	}
	return n, nil
}

// Bytes returns a copy of what is kept, oldest first. Once output has been
// dropped, the partial line at the start is dropped too.
func (b *ringBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.wrapped {
		return bytes.Clone(b.buf)
	}
	out := append(bytes.Clone(b.buf[b.next:]), b.buf[:b.next]...)
	if i := bytes.IndexByte(out, '\n'); i >= 0 {
		out = out[i+1:]
	}
	return out
}
