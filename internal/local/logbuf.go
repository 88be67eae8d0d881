package local

import (
	"bytes"
	"sync"
)

// logLimit is how much output each pod keeps for Logs.
const logLimit = 128 << 10

// LogBuffer keeps the last size bytes written to it, so a chatty pod costs
// bounded memory however long it runs. It is safe for concurrent use: an
// app's stdout, stderr and the mock's logger all write to one.
type LogBuffer struct {
	mu      sync.Mutex
	buf     []byte // len == size once wrapped
	size    int
	next    int   // where the next byte goes once wrapped
	wrapped bool  // buf is full and next marks its oldest byte
	total   int64 // bytes ever written: the offset of the end
}

// NewLogBuffer returns a buffer that keeps the last size bytes.
func NewLogBuffer(size int) *LogBuffer { return &LogBuffer{size: size} }

// Write implements io.Writer; it never fails.
func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := len(p)
	b.total += int64(n)
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
func (b *LogBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.bytesLocked()
}

// From returns what was written at or after offset (counted from the first
// byte ever written), as far as it is still kept, and the offset of the
// end, from which to ask next: `logs -f` follows a pod this way.
func (b *LogBuffer) From(offset int64) ([]byte, int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if offset >= b.total {
		return nil, b.total
	}
	if offset < 0 {
		offset = 0
	}
	kept := b.bytesLocked()
	if missed := b.total - offset; missed < int64(len(kept)) {
		kept = kept[int64(len(kept))-missed:]
	}
	return kept, b.total
}

func (b *LogBuffer) bytesLocked() []byte {
	if !b.wrapped {
		return bytes.Clone(b.buf)
	}
	out := append(bytes.Clone(b.buf[b.next:]), b.buf[:b.next]...)
	if i := bytes.IndexByte(out, '\n'); i >= 0 {
		out = out[i+1:]
	}
	return out
}
