// Package wait holds the one helper that several packages need to pause
// without outliving their context.
package wait

import (
	"context"
	"time"
)

// Sleep waits for d or until ctx is done, and reports whether ctx is still
// live: true means the full d elapsed (or d was not positive) and the
// caller should go on.
func Sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
