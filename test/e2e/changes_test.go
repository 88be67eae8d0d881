package e2e

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lanemesh/lanemesh/internal/cli"
)

// mockbRoutes is mockb's VirtualService with the v2 lane's rule sending to
// subset v2 or, to make each change visible, v3.
func mockbRoutes(v2Subset string) string {
	return fmt.Sprintf(`apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: mockb, namespace: istio-system}
spec:
  hosts: [mockb.default.svc.cluster.local]
  http:
  - match: [{sourceLabels: {version: v2}}]
    route:
    - destination: {host: mockb.default.svc.cluster.local, subset: %s}
      fallback: {target: {host: mockb.default.svc.cluster.local, subset: v1}}
  - match: [{sourceLabels: {version: v3}}]
    route:
    - destination: {host: mockb.default.svc.cluster.local, subset: v3}
  - route:
    - destination: {host: mockb.default.svc.cluster.local, subset: v1}
`, v2Subset)
}

// TestChangesUnderLoad changes a VirtualService 50 times while load runs:
// no request may fail, and each change must be accepted by every proxy
// within a generous bound. The measured convergence is logged.
func TestChangesUnderLoad(t *testing.T) {
	m := startMesh(t, lanes)
	url := m.GatewayURL() + "/mock"
	l := startLoad(url, []string{"v1", "v2", "v3"}, 6)
	var took []time.Duration
	for i := range 50 {
		subset := []string{"v3", "v2"}[i%2]
		start := time.Now()
		lanemesh(t, m, "apply", "-f", writeTemp(t, "vs.yaml", mockbRoutes(subset)))
		_, gen := m.Store().Config()
		waitFor(t, 10*time.Second, fmt.Sprintf("change %d in force everywhere", i), func() bool {
			return m.ControlPlane().Converged() >= gen
		})
		took = append(took, time.Since(start))
		if body, _ := get(url, "v2"); chain(body) != "v2 "+subset+" "+subset {
			// mockb v3 calls mockc as a v3 caller, so the chain is v2 v3 v3.
			t.Errorf("change %d converged but v2 lane prints %q", i, body)
		}
	}
	sent, failed, examples := l.finish()
	slices.Sort(took)
	p50, p99 := took[len(took)/2], took[len(took)*99/100]
	t.Logf("%d changes under load: %d requests, %d failed; convergence p50 %v, p99 %v, max %v", len(took), sent, failed, p50, p99, took[len(took)-1])
	if failed != 0 {
		t.Fatalf("%d of %d requests failed while VirtualServices changed, e.g. %v", failed, sent, examples)
	}
	if p99 > 5*time.Second {
		t.Errorf("convergence p99 %v exceeds the generous bound of 5s", p99)
	}
}

// TestInvalidAppliesChangeNothing: broken YAML, an unknown field and a
// dangling subset are each rejected with a message naming the object, and
// the mesh keeps serving unchanged under load.
func TestInvalidAppliesChangeNothing(t *testing.T) {
	m := startMesh(t, lanes)
	url := m.GatewayURL() + "/mock"
	l := startLoad(url, []string{"v1", "v2", "v3"}, 4)
	_, gen := m.Store().Config()
	for name, tc := range map[string]struct{ yaml, want string }{
		"broken yaml":     {"apiVersion: v1\nkind: Service\nmetadata: {name: x\n", "LM0001"},
		"unknown field":   {strings.Replace(mockbRoutes("v2"), "hosts:", "hostz:", 1), `vs.yaml:5 spec.hostz: unknown field "hostz". Did you mean "hosts"?`},
		"dangling subset": {mockbRoutes("v7"), `Referenced host+subset in destinationrule not found: "mockb.default.svc.cluster.local+v7"`},
	} {
		var out, errOut bytes.Buffer
		code := cli.Main([]string{"apply", "--server=" + m.AdminURL(), "--token-file=" + m.TokenFile(), "-f", writeTemp(t, "vs.yaml", tc.yaml)}, strings.NewReader(""), &out, &errOut)
		if code != 1 || !strings.Contains(errOut.String(), tc.want) || !strings.Contains(errOut.String(), "nothing changed") {
			t.Errorf("%s: exit %d, stderr:\n%s\nwant exit 1 naming %q", name, code, errOut.String(), tc.want)
		}
	}
	if _, gen2 := m.Store().Config(); gen2 != gen {
		t.Errorf("rejected applies changed the configuration (generation %d → %d)", gen, gen2)
	}
	time.Sleep(300 * time.Millisecond)
	sent, failed, examples := l.finish()
	if failed != 0 {
		t.Fatalf("%d of %d requests failed around rejected applies, e.g. %v", failed, sent, examples)
	}
	for _, lane := range []string{"v1", "v2", "v3"} {
		if body, _ := get(url, lane); !inLane(body, lane) {
			t.Errorf("lane %s after rejected applies: %s", lane, body)
		}
	}
}
