package wait

import (
	"context"
	"testing"
	"time"
)

func TestSleep(t *testing.T) {
	if !Sleep(t.Context(), time.Millisecond) || !Sleep(t.Context(), 0) {
		t.Fatal("a live context must let Sleep finish")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	start := time.Now()
	if Sleep(ctx, time.Hour) || Sleep(ctx, 0) {
		t.Fatal("a done context must end Sleep with false")
	}
	if time.Since(start) > time.Second {
		t.Fatal("Sleep did not return when its context was done")
	}
}
