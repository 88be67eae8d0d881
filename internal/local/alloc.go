package local

import "time"

// slots hands out pod address numbers: always the smallest free one, so a
// restarted or rescaled set of pods gets the same addresses back and two live
// pods never share one. The zero value is empty.
type slots struct{ used map[int]bool }

// take returns the smallest free number, from 1.
func (s *slots) take() int {
	if s.used == nil {
		s.used = map[int]bool{}
	}
	n := 1
	for s.used[n] {
		n++
	}
	s.used[n] = true
	return n
}

// release makes n free again.
func (s *slots) release(n int) { delete(s.used, n) }

// Restart back-off, as the kubelet does it: 1s, 2s, 4s … capped at 30s,
// forgotten once an app has run for a minute.
const (
	backoffMin   = time.Second
	backoffMax   = 30 * time.Second
	backoffReset = time.Minute
)

// backoff computes restart delays. The zero value starts at backoffMin.
type backoff struct{ last time.Duration }

// next returns the delay before the next start of an app that ran for ran.
func (b *backoff) next(ran time.Duration) time.Duration {
	if b.last == 0 || ran >= backoffReset {
		b.last = backoffMin
	} else {
		b.last = min(2*b.last, backoffMax)
	}
	return b.last
}
