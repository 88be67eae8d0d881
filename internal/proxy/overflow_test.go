package proxy

import (
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestIstioCircuitBreakerDefaults: 2,000 requests in flight at once to one
// pod, on 2,000 connections, with no DestinationRule connectionPool. Istio
// sets every threshold to the maximum, so none may get 503 UO; Envoy's own
// defaults (1024) would fail about half (issue #9).
func TestIstioCircuitBreakerDefaults(t *testing.T) {
	if testing.Short() {
		t.Skip("2,000 connections")
	}
	const n = 2000
	m := newMesh(t, lanesDir)
	var arrived atomic.Int64
	all := make(chan struct{})
	var once sync.Once
	m.pods["mocka-v1-0"].answer(func(w http.ResponseWriter, r *http.Request) {
		if arrived.Add(1) == n {
			once.Do(func() { close(all) })
		}
		select { // hold every request until all are in flight
		case <-all:
		case <-time.After(5 * time.Second):
		}
		w.WriteHeader(http.StatusOK)
	})
	p := startProxy(t, Options{Role: gatewayIdentity.Role}, m.resources(gatewayIdentity, nil))
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: n, DisableKeepAlives: true}}
	var ok, overflow, other atomic.Int64
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			req, _ := http.NewRequest("GET", gatewayURL(p, "/mock"), nil)
			req.Header.Set("x-asm-prefer-tag", "v1")
			resp, err := c.Do(req)
			switch {
			case err != nil:
				other.Add(1)
			case resp.StatusCode == 200:
				ok.Add(1)
			case resp.Header.Get("x-envoy-response-flags") == "UO" || resp.StatusCode == 503:
				overflow.Add(1)
			default:
				other.Add(1)
			}
			if resp != nil {
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	if ok.Load() != n {
		t.Fatalf("%d of %d requests in flight at once succeeded; %d got 503 (UO), %d failed otherwise; at most %d reached the pod together",
			ok.Load(), n, overflow.Load(), other.Load(), arrived.Load())
	}
}
