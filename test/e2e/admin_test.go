package e2e

import (
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lanemesh/lanemesh/internal/guard"
)

// pwnDeployment is what a hostile web page would POST to the admin API:
// a Deployment whose command runs as the user. It touches marker, so the
// test can tell whether it ran.
func pwnDeployment(marker string) string {
	return `apiVersion: apps/v1
kind: Deployment
metadata: {name: pwn, namespace: default}
spec:
  replicas: 1
  selector: {matchLabels: {app: pwn}}
  template:
    metadata: {labels: {app: pwn}}
    spec:
      containers:
      - name: pwn
        image: busybox
        command: ["sh", "-c", "touch ` + marker + `; exec sleep 60"]
`
}

// TestAdminAPIRefusesWebPages plays the attacks of issue #9 against a real
// `lanemesh up`: a page the user visits POSTs a Deployment with a command,
// as a browser sends it (text/plain, cross-origin, no token), or through a
// DNS name rebound to 127.0.0.1. None may change the mesh or run anything.
// The owner's own request, with the token, then runs the same Deployment,
// which proves the marker would have shown a run.
func TestAdminAPIRefusesWebPages(t *testing.T) {
	m := startMesh(t, lanes)
	marker := filepath.Join(t.TempDir(), "pwned")
	body := pwnDeployment(marker)
	token, err := guard.ReadToken(m.TokenFile())
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(m.AdminURL(), "http://"))
	send := func(host string, headers map[string]string) int {
		req, _ := http.NewRequest("POST", m.AdminURL()+"/v1/apply", strings.NewReader(body))
		if host != "" {
			req.Host = host
		}
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tc := range []struct {
		name    string
		host    string
		headers map[string]string
	}{
		{"form-less simple POST from a page", "", map[string]string{"Content-Type": "text/plain", "Origin": "http://attacker.example", "Sec-Fetch-Site": "cross-site"}},
		{"simple POST with the token leaked", "", map[string]string{"Content-Type": "text/plain", "Authorization": "Bearer " + token}},
		{"cross-origin with the token leaked", "", map[string]string{"Content-Type": "application/yaml", "Origin": "http://attacker.example", "Authorization": "Bearer " + token}},
		{"DNS rebinding with the token leaked", "attacker.example:" + port, map[string]string{"Content-Type": "application/yaml", "Authorization": "Bearer " + token}},
		{"another local process without the token", "", map[string]string{"Content-Type": "application/yaml"}},
	} {
		if code := send(tc.host, tc.headers); code < 400 || code >= 500 {
			t.Errorf("%s: status %d, want a 4xx refusal", tc.name, code)
		}
	}
	cfg, _ := m.Store().Config()
	for _, d := range cfg.Deployments {
		if d.Metadata.Name == "pwn" {
			t.Fatal("a refused request added its Deployment")
		}
	}
	time.Sleep(500 * time.Millisecond) // a pod would have started by now
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("a refused request ran its command")
	}

	if code := send("", map[string]string{"Content-Type": "application/yaml", "Authorization": "Bearer " + token}); code != 200 {
		t.Fatalf("the owner's apply: status %d", code)
	}
	waitFor(t, 10*time.Second, "the owner's Deployment to run", func() bool {
		_, err := os.Stat(marker)
		return err == nil
	})
}
