package e2e

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lanemesh/lanemesh/internal/cli"
	"github.com/lanemesh/lanemesh/internal/up"
)

// TestTutorial runs the traffic-lane tutorial's steps 5 to 7 on lanemesh up:
// every lane stays in its lane; with fallback applied, mockb-v2 scaled to 0
// while load runs loses no request and sends v2 traffic to mockb v1 →
// mockc v1; scaling back returns it to mockb v2.
func TestTutorial(t *testing.T) {
	m := startMesh(t, lanes)
	url := m.GatewayURL() + "/mock"

	// Step 5: 100 requests per lane, every chain in its lane.
	for _, lane := range []string{"v1", "v2", "v3"} {
		for i := range 100 {
			if body, code := get(url, lane); code != 200 || !inLane(body, lane) {
				t.Fatalf("lane %s request %d: %d %s", lane, i, code, body)
			}
		}
	}

	// Step 6: fallback on the v2/v3 routes.
	lanemesh(t, m, "apply", "-f", fallback)
	// Step 7: scale mockb-v2 to 0 while load runs.
	l := startLoad(url, []string{"v1", "v2", "v3"}, 6)
	time.Sleep(500 * time.Millisecond)
	scale(t, m, "mockb-v2", 0)
	waitFor(t, 10*time.Second, "v2 to fall back", func() bool {
		body, _ := get(url, "v2")
		return chain(body) == "v2 v1 v1"
	})
	time.Sleep(500 * time.Millisecond)
	sent, failed, examples := l.finish()
	t.Logf("scale-down under load: %d requests, %d failed", sent, failed)
	if failed != 0 {
		t.Fatalf("%d of %d requests failed during the scale-down, e.g. %v", failed, sent, examples)
	}
	for i := range 20 {
		if body, _ := get(url, "v2"); chain(body) != "v2 v1 v1" {
			t.Fatalf("v2 request %d after scale-down: %s, want mocka v2 -> mockb v1 -> mockc v1", i, body)
		}
	}

	scale(t, m, "mockb-v2", 1)
	waitFor(t, 15*time.Second, "v2 to return to mockb v2", func() bool {
		body, _ := get(url, "v2")
		return inLane(body, "v2")
	})
}

// lanemesh runs a lanemesh command against the mesh's admin API, as a user
// would, and fails the test unless it exits 0.
func lanemesh(t *testing.T, m *up.Mesh, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	args = append(args, "--server="+m.AdminURL(), "--token-file="+m.TokenFile())
	if code := cli.Main(args, strings.NewReader(""), &out, &errOut); code != 0 {
		t.Fatalf("lanemesh %v: exit %d\n%s%s", args, code, out.String(), errOut.String())
	}
	return out.String()
}

func scale(t *testing.T, m *up.Mesh, name string, n int) {
	t.Helper()
	lanemesh(t, m, "scale", "deployment/"+name, "--replicas", fmt.Sprint(n))
}
