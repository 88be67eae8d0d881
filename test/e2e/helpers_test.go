// Package e2e runs lanemesh end to end over real sockets: the tutorial on
// `lanemesh up`, configuration changes under load, and the xDS path across
// separate processes.
package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lanemesh/lanemesh/internal/config"
	"github.com/lanemesh/lanemesh/internal/up"
	"github.com/lanemesh/lanemesh/internal/verify"
)

const (
	lanes    = "../../examples/traffic-lanes"
	fallback = "../../examples/traffic-lanes-fallback"
)

// startMesh runs `lanemesh up` in-process on free ports, with a pod range
// it claims itself, as a second `up` on a machine would, so that parallel
// test packages never share one.
func startMesh(t *testing.T, paths ...string) *up.Mesh {
	t.Helper()
	m := startMeshOnly(t, paths...)
	waitFor(t, 20*time.Second, "every lane to answer", func() bool {
		for _, v := range []string{"v1", "v2", "v3"} {
			if body, code := get(m.GatewayURL()+"/mock", v); code != 200 || !inLane(body, v) {
				return false
			}
		}
		return true
	})
	return m
}

// startMeshOnly is startMesh for configurations that are not the
// tutorial's lanes: it does not wait for them.
func startMeshOnly(t *testing.T, paths ...string) *up.Mesh {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	m, diags, err := up.Start(ctx, up.Options{Paths: paths, PortMap: map[uint32]string{80: "127.0.0.1:0"},
		Admin: "127.0.0.1:0", TokenDir: t.TempDir(), XDS: "127.0.0.1:0", GatewayAdmin: "127.0.0.1:0", Metrics: "127.0.0.1:0", DrainDelay: 500 * time.Millisecond})
	if err != nil {
		cancel()
		t.Fatalf("up: %v %v", err, diags)
	}
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("the mesh did not stop within 30s")
		}
	})
	return m
}

var client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

// get sends one lane request and returns the body and status (0 when it
// got no response).
func get(url, lane string) (string, int) {
	req, _ := http.NewRequest("GET", url, nil)
	if lane != "" {
		req.Header.Set("x-asm-prefer-tag", lane)
	}
	resp, err := client.Do(req)
	if err != nil {
		return err.Error(), 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b), resp.StatusCode
}

// chain returns the versions of a printed chain: "v2 v1 v1".
func chain(body string) string { return verify.Versions(verify.Parse(body)) }

func inLane(body, lane string) bool { return chain(body) == lane+" "+lane+" "+lane }

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// load sends requests from workers until finish, and counts those that
// fail, keeping a few examples.
type load struct {
	sent, failed atomic.Int64
	mu           sync.Mutex
	examples     []string
	wg           sync.WaitGroup
	stop         chan struct{}
}

// runLoad starts workers, each calling try (with its index) until finish,
// pause apart; try says whether the request succeeded and, if not, how it
// failed.
func runLoad(workers int, pause time.Duration, try func(worker int) (ok bool, failure string)) *load {
	l := &load{stop: make(chan struct{})}
	for i := range workers {
		l.wg.Go(func() {
			for !l.stopped(pause) {
				ok, failure := try(i)
				l.sent.Add(1)
				if !ok {
					l.failed.Add(1)
					l.mu.Lock()
					if len(l.examples) < 5 {
						l.examples = append(l.examples, failure)
					}
					l.mu.Unlock()
				}
			}
		})
	}
	return l
}

// startLoad sends lane requests, the lanes spread over the workers; a
// failure is anything but a 200 with a full three-hop chain.
func startLoad(url string, lanes []string, workers int) *load {
	return runLoad(workers, 0, func(i int) (bool, string) {
		body, code := get(url, lanes[i%len(lanes)])
		return code == 200 && len(strings.Fields(chain(body))) == 3, fmt.Sprintf("%d %s", code, body)
	})
}

// stopped waits pause (not at all when zero) and says whether finish was
// called.
func (l *load) stopped(pause time.Duration) bool {
	if pause == 0 {
		select {
		case <-l.stop:
			return true
		default:
			return false
		}
	}
	select {
	case <-l.stop:
		return true
	case <-time.After(pause):
		return false
	}
}

func (l *load) finish() (sent, failed int64, examples []string) {
	close(l.stop)
	l.wg.Wait()
	return l.sent.Load(), l.failed.Load(), l.examples
}

func readExample(t *testing.T, path string) *config.Config {
	t.Helper()
	c, diags := config.Load([]string{path}, nil)
	if diags.HasErrors() {
		t.Fatal(diags.Err())
	}
	return c
}

func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
