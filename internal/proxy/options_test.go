package proxy

import (
	"testing"
	"time"
)

// TestIdleTimeoutIsEnvoys: a client's idle keep-alive connection is closed
// after Envoy's hour, which Istio keeps; at 60 s, requests a client sent
// on it just as it closed were lost, where Envoy would have served them.
func TestIdleTimeoutIsEnvoys(t *testing.T) {
	if got := (Options{}).withDefaults().IdleTimeout; got != time.Hour {
		t.Errorf("default idle timeout %v, want 1h", got)
	}
	if got := (Options{IdleTimeout: time.Minute}).withDefaults().IdleTimeout; got != time.Minute {
		t.Errorf("a set idle timeout became %v", got)
	}
}
