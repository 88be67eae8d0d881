package events

import (
	"context"
	"testing"
	"time"
)

func TestLogKeepsTheLatest(t *testing.T) {
	var f Feed
	l := &Log{Limit: 2, Feed: &f}
	for _, r := range []string{"a", "b", "c"} {
		l.Add(Event{Reason: r})
	}
	got := l.List()
	if len(got) != 2 || got[0].Reason != "b" || got[1].Reason != "c" || got[0].Time.IsZero() {
		t.Fatalf("kept %+v, want b then c, stamped", got)
	}
	if g := f.Generation(); g != 3 {
		t.Fatalf("feed at %d after 3 events, want 3", g)
	}
}

func TestFeedWaitWakesOnBump(t *testing.T) {
	var f Feed
	done := make(chan uint64)
	go func() { done <- f.Wait(context.Background(), 0) }()
	f.Bump()
	if g := <-done; g != 1 {
		t.Fatalf("Wait returned %d, want 1", g)
	}
	if g := f.Wait(context.Background(), 0); g != 1 {
		t.Fatalf("Wait past the generation returned %d, want 1 at once", g)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if g := f.Wait(ctx, 1); g != 1 {
		t.Fatalf("Wait that timed out returned %d, want the current 1", g)
	}
}
