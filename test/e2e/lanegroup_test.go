package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

const strictGroup = "../../examples/lane-group-strict"

// TestStrictLaneGroup: the tutorial written as one ASM lane group gives the
// tutorial's chains on real sockets, 100 of 100 per lane.
func TestStrictLaneGroup(t *testing.T) {
	m := startMesh(t, strictGroup) // waits until each lane answers in lane
	for _, lane := range []string{"v1", "v2", "v3"} {
		for i := range 100 {
			if body, code := get(m.GatewayURL()+"/mock", lane); code != 200 || !inLane(body, lane) {
				t.Fatalf("lane %s request %d: %d %q", lane, i, code, body)
			}
		}
	}
}

// TestWeightedLaneEntry: weighted entry sends 10% of users into lane v2,
// and a user (keyed by the x-user header, through the consistentHash patch
// of the entry service) stays in one lane across requests.
func TestWeightedLaneEntry(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"app-services.yaml", "app-v1.yaml", "app-v2.yaml", "gateway.yaml"} {
		b, err := os.ReadFile(filepath.Join(strictGroup, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	lane := func(name string, weight int) string {
		return fmt.Sprintf(`---
apiVersion: istio.alibabacloud.com/v1
kind: ASMSwimLane
metadata: {name: %s, labels: {swimlane-group: mock}}
spec:
  labelSelector: {version: %s}
  ingressWeight: {destination: {host: mocka.default.svc.cluster.local, portNum: 8000}, weight: %d}
`, name, name, weight)
	}
	group := `apiVersion: istio.alibabacloud.com/v1
kind: ASMSwimLaneGroup
metadata: {name: mock}
spec:
  ingress:
    gateway: {name: ingressgateway, namespace: istio-system}
    ingressRouting:
      ingressRoutingStrategy: weighted
      weightedRoutingRule:
        hosts: ['*']
        requestMatches: [{uri: {exact: /mock}}]
  services:
  - name: mocka
    namespace: default
    trafficPolicyPatch: {loadBalancer: {consistentHash: {httpHeaderName: x-user}}}
  - {name: mockb, namespace: default}
  - {name: mockc, namespace: default}
` + lane("v1", 90) + lane("v2", 10)
	if err := os.WriteFile(filepath.Join(dir, "lanes.yaml"), []byte(group), 0o644); err != nil {
		t.Fatal(err)
	}
	m := startMeshOnly(t, dir)
	user := func(u int) (string, int) {
		req, _ := http.NewRequest("GET", m.GatewayURL()+"/mock", nil)
		req.Header.Set("x-user", fmt.Sprintf("user-%d", u))
		resp, err := client.Do(req)
		if err != nil {
			return err.Error(), 0
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b), resp.StatusCode
	}
	// Ready when both lanes answer, whole: every pod up and every proxy
	// in step.
	waitFor(t, 30*time.Second, "both lanes to answer through the weighted entry", func() bool {
		seen := map[string]bool{}
		for u := range 200 {
			body, code := user(u)
			if code != 200 {
				return false
			}
			seen[chain(body)] = true
		}
		return seen["v1 v1 v1"] && seen["v2 v2 v2"]
	})
	const users = 2000
	inV2 := 0
	for u := range users {
		body, code := user(u)
		if code != 200 {
			t.Fatalf("user-%d: %d %q", u, code, body)
		}
		c := chain(body)
		if c != "v1 v1 v1" && c != "v2 v2 v2" {
			t.Fatalf("user-%d: chain %q left its lane", u, c)
		}
		if c == "v2 v2 v2" {
			inV2++
		}
		if u%100 == 0 { // the same user, again: the same lane
			for range 5 {
				if again, _ := user(u); chain(again) != c {
					t.Fatalf("user-%d went %q, then %q", u, c, chain(again))
				}
			}
		}
	}
	share := 100 * float64(inV2) / users
	t.Logf("weighted entry: %d of %d users (%.1f%%) in lane v2", inV2, users, share)
	if share < 8 || share > 12 {
		t.Errorf("%.1f%% of users entered lane v2, want 10 ± 2", share)
	}
}
