package kube

import (
	"log/slog"
	"testing"
)

// TestNewLeaderReportsAtOnce: a replica that becomes leader (after one that
// stopped or crashed) starts a sync, so findings made while another led
// are written now, not at the next change in the cluster; losing the lead
// starts none.
func TestNewLeaderReportsAtOnce(t *testing.T) {
	rep := &Reporter{log: slog.Default(), said: map[objKey]string{{"VirtualService", "ns", "vs"}: "1\nold"}}
	s := &Source{opts: Options{Reporter: rep}, kick: make(chan struct{}, 1)}

	s.SetLeader(false)
	select {
	case <-s.kick:
		t.Error("losing the lead started a sync")
	default:
	}
	s.SetLeader(true)
	select {
	case <-s.kick:
	default:
		t.Fatal("becoming leader started no sync: findings from before stay unreported until the next change")
	}
	if !rep.leader.Load() || len(rep.said) != 0 {
		t.Errorf("reporter: leader=%v said=%v, want leading with nothing taken as said", rep.leader.Load(), rep.said)
	}
	s.SetLeader(true) // a kick already pending is enough
	s.SetLeader(true)
	if len(s.kick) != 1 {
		t.Errorf("%d syncs pending, want 1", len(s.kick))
	}
}
