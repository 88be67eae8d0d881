package e2e

import (
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// TestLaneEntryOverXDS applies examples/lane-entry to a running mesh with
// `lanemesh apply`: the policy reaches the gateway over xDS, and from then
// on a v2 request from an address outside the policy gets the v1 chain,
// one from the office network (through the trusted load balancer's
// X-Forwarded-For) or with the demo CI token gets the v2 chain; deleting
// the policy opens the lanes again.
func TestLaneEntryOverXDS(t *testing.T) {
	m := startMesh(t, lanes)
	url := m.GatewayURL() + "/mock"
	const example = "../../examples/lane-entry"
	lanemesh(t, m, "apply", "-f", example)
	waitFor(t, 10*time.Second, "the policy to send v2 to the baseline", func() bool {
		body, _ := get(url, "v2")
		return chain(body) == "v1 v1 v1"
	})
	tok, err := os.ReadFile(example + "/ci-token-v2.jwt")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		header map[string]string
		want   string
	}{
		{"outside", map[string]string{"x-asm-prefer-tag": "v2", "x-forwarded-for": "203.0.113.9"}, "v1 v1 v1"},
		{"office network", map[string]string{"x-asm-prefer-tag": "v2", "x-forwarded-for": "10.1.2.3"}, "v2 v2 v2"},
		{"demo CI token", map[string]string{"x-asm-prefer-tag": "v3", "authorization": "Bearer " + strings.TrimSpace(string(tok))}, "v1 v1 v1"},
		{"demo CI token for its lane", map[string]string{"x-asm-prefer-tag": "v2", "authorization": "Bearer " + strings.TrimSpace(string(tok))}, "v2 v2 v2"},
		{"baseline", map[string]string{"x-asm-prefer-tag": "v1"}, "v1 v1 v1"},
	} {
		for i := range 20 {
			if got := chain(getWith(t, url, tc.header)); got != tc.want {
				t.Fatalf("%s, request %d: chain %q, want %q", tc.name, i, got, tc.want)
			}
		}
	}
	lanemesh(t, m, "delete", "-f", example+"/lane-entry-policy.yaml")
	waitFor(t, 10*time.Second, "v2 open again without the policy", func() bool {
		body, _ := get(url, "v2")
		return inLane(body, "v2")
	})
}

// getWith sends one request with headers and returns its body.
func getWith(t *testing.T, url string, header map[string]string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
