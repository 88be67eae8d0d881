package cli

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lanemesh/lanemesh/internal/config"
	"github.com/lanemesh/lanemesh/internal/up"
)

// startMesh runs lanemesh up on the tutorial with its fallback, on free
// ports, until the test ends, and points the commands at it.
func startMesh(t *testing.T) *up.Mesh {
	t.Helper()
	home := t.TempDir()
	t.Setenv("LANEMESH_HOME", home)
	t.Setenv("LANEMESH_TOKEN_FILE", "")
	ctx, cancel := context.WithCancel(t.Context())
	m, diags, err := up.Start(ctx, up.Options{Paths: []string{lanes, fallback}, PortMap: map[uint32]string{80: "127.0.0.1:0"},
		Admin: "127.0.0.1:0", XDS: "127.0.0.1:0", GatewayAdmin: "-", Metrics: "-", TokenDir: home})
	if err != nil {
		cancel()
		t.Fatal(err, diags)
	}
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	t.Setenv("LANEMESH_SERVER", m.AdminURL())
	waitFor(t, 20*time.Second, "every proxy SYNCED", func() bool {
		_, out, _ := run(t, "", "proxy-status")
		return strings.Count(out, "SYNCED") == 10*4 && !strings.Contains(out, "STALE")
	})
	return m
}

// waitFor polls cond until it holds or the timeout ends.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestGetApplyRoundTrip: what get -o yaml and -o json print, for every
// kind at once, is accepted unchanged by apply -f - (nothing changes) and
// analyze -f -; an edit of it applies as a change, which get then shows.
func TestGetApplyRoundTrip(t *testing.T) {
	m := startMesh(t)
	all := "deploy,svc,gw,vs,dr"
	for _, format := range []string{"yaml", "json"} {
		code, listed, errOut := run(t, "", "get", all, "-o", format)
		if code != 0 || !strings.Contains(listed, "kind: List") && !strings.Contains(listed, `"kind": "List"`) {
			t.Fatalf("get -o %s: exit %d\n%s%s", format, code, listed, errOut)
		}
		code, out, errOut := run(t, listed, "apply", "-f", "-")
		if code != 0 || strings.Contains(out, "configured") || strings.Count(out, "unchanged") != 9+3+1+3+3 {
			t.Fatalf("apply of get -o %s: exit %d, want every object unchanged\n%s%s", format, code, out, errOut)
		}
		if code, out, errOut = run(t, listed, "analyze", "-f", "-"); code != 0 {
			t.Fatalf("analyze of get -o %s: exit %d\n%s%s", format, code, out, errOut)
		}
	}
	_, one, _ := run(t, "", "get", "vs", "mockb", "-n", "istio-system", "-o", "yaml")
	edited := strings.Replace(one, "subset: v3", "subset: v2", 1)
	if edited == one {
		t.Fatalf("no subset v3 to edit in:\n%s", one)
	}
	code, out, errOut := run(t, edited, "apply", "-f", "-")
	if code != 0 || out != "virtualservice istio-system/mockb configured\n" {
		t.Fatalf("apply of an edited get: exit %d\n%s%s", code, out, errOut)
	}
	c, _ := m.Store().Config()
	var subsets []string
	for _, vs := range c.VirtualServices {
		if vs.Metadata.Name == "mockb" {
			for _, r := range vs.Spec.HTTP {
				subsets = append(subsets, r.Route[0].Destination.Subset)
			}
		}
	}
	if strings.Join(subsets, ",") != "v2,v2,v1" {
		t.Fatalf("mockb's subsets after the edit: %v, want v2,v2,v1", subsets)
	}
}

// TestLiveCommands: logs of a sidecar carry the request just sent, in
// follow mode too; describe shows the pod's sidecar in step; explain
// --live follows the chain the mesh serves.
func TestLiveCommands(t *testing.T) {
	m := startMesh(t)
	follow := &syncBuffer{}
	followDone := make(chan int)
	go func() {
		followDone <- mainAt(time.Now, []string{"logs", "mockb-v2-0", "-c", "sidecar", "-f", "--tail", "0", "--timeout", "5s"},
			strings.NewReader(""), follow, &bytes.Buffer{})
	}()
	req, _ := http.NewRequest("GET", m.GatewayURL()+"/mock", nil)
	req.Header.Set("x-asm-prefer-tag", "v2")
	waitFor(t, 5*time.Second, "the request in the followed sidecar log", func() bool {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		return strings.Contains(follow.String(), `"authority":"mockc:8000"`)
	})
	if code := <-followDone; code != 0 {
		t.Fatalf("logs -f: exit %d", code)
	}
	code, out, errOut := run(t, "", "logs", "mockb-v2-0", "-c", "sidecar")
	if code != 0 || !strings.Contains(out, `"upstream_cluster":"outbound|8000|v2|mockc`) {
		t.Fatalf("logs -c sidecar: exit %d\n%s%s", code, out, errOut)
	}
	// The sidecar may log more (a configuration update) at any time, so
	// only the shape of a tail is certain.
	code, out, errOut = run(t, "", "logs", "mockb-v2-0", "-c", "sidecar", "--tail", "1")
	if code != 0 || strings.Count(out, "\n") != 1 || len(out) < 10 {
		t.Fatalf("logs --tail 1: exit %d, want one line\n%s%s", code, out, errOut)
	}
	// A push may be in flight (endpoints change as pods get ready): wait
	// for the sidecar to be in step rather than catch it between.
	waitFor(t, 10*time.Second, "describe pod to show its sidecar in step", func() bool {
		code, out, _ = run(t, "", "describe", "pod", "mockb-v2-0")
		return code == 0 && strings.Contains(out, "CDS SYNCED, LDS SYNCED, EDS SYNCED, RDS SYNCED") && strings.Contains(out, "Logs (sidecar")
	})
	code, out, _ = run(t, "", "explain", "--live", "--gateway", "istio-system/ingressgateway", "-H", "x-asm-prefer-tag: v3", "--chain", "http://gw/mock")
	if code != 0 || !strings.Contains(out, "default/mocka-v3-0") || !strings.Contains(out, "default/mockb-v3-0") || !strings.Contains(out, "default/mockc-v3-0") {
		t.Fatalf("explain --live --chain: exit %d\n%s", code, out)
	}
}

// TestGetWatch: get -w prints the initial rows, then a row per change as
// the change happens: modified, added, deleted.
func TestGetWatch(t *testing.T) {
	store, ln := serveAdmin(t)
	load := func(yaml string) *config.Config {
		var c config.Config
		if d := c.Parse("test.yaml", []byte(yaml)); d.HasErrors() {
			t.Fatal(d)
		}
		return &c
	}
	if _, err := store.Apply(load(drA), false); err != nil {
		t.Fatal(err)
	}
	out := &syncBuffer{}
	done := make(chan int)
	go func() {
		done <- mainAt(time.Now, []string{"get", "dr", "-w", "--output-watch-events", "--timeout", "3s", "--server=" + ln.URL()}, strings.NewReader(""), out, os.Stderr)
	}()
	waitFor(t, 3*time.Second, "the initial list", func() bool { return strings.Contains(out.String(), "ADDED") })
	if _, err := store.Apply(load(strings.Replace(drA, "host: a", "host: a2", 1)), false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 3*time.Second, "the change", func() bool { return strings.Contains(out.String(), "MODIFIED") })
	if _, err := store.Delete(load(drA), false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 3*time.Second, "the deletion", func() bool { return strings.Contains(out.String(), "DELETED") })
	if code := <-done; code != 0 {
		t.Fatalf("get -w: exit %d\n%s", code, out)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	want := []string{"EVENT", "ADDED", "MODIFIED", "DELETED"}
	if len(lines) != len(want) {
		t.Fatalf("get -w printed:\n%s\nwant a header and 3 rows", out)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d = %q, want it to start with %s", i, lines[i], w)
		}
	}
	if !strings.Contains(lines[2], " a2 ") && !strings.Contains(lines[2], "a2") {
		t.Errorf("the MODIFIED row does not show the new host: %q", lines[2])
	}
}

const drA = "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: a, namespace: default}\nspec: {host: a}\n"

// syncBuffer is a bytes.Buffer a command writes while a test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
