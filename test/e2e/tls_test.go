package e2e

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lanemesh/lanemesh/internal/testpki"
	"github.com/lanemesh/lanemesh/internal/up"
)

// TestUpServesHTTPS runs the tutorial with an HTTPS Gateway whose
// certificate comes by credentialName from the credentials directory, as
// `lanemesh up --credentials-dir` gives it: a TLS client reaches the lane
// chain, and the certificate is the credential's.
func TestUpServesHTTPS(t *testing.T) {
	ca := testpki.NewCA(t, "e2e CA")
	creds := t.TempDir()
	testpki.WriteFiles(t, filepath.Join(creds, "mock-cert"), ca.Issue(t, []string{"mock.example.com"}), nil, "tls.crt", "tls.key", "")
	gw := writeTemp(t, "https.yaml", `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: https-gateway, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [mock.example.com]
    tls: {mode: SIMPLE, credentialName: mock-cert}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: https-mock, namespace: istio-system}
spec:
  hosts: [mock.example.com]
  gateways: [https-gateway]
  http: [{route: [{destination: {host: mocka.default.svc.cluster.local, subset: v2}}]}]
`)
	https := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	m, diags, err := up.Start(ctx, up.Options{Paths: []string{lanes, gw}, PortMap: map[uint32]string{80: "127.0.0.1:0", 443: https},
		Admin: "127.0.0.1:0", TokenDir: t.TempDir(), XDS: "127.0.0.1:0", GatewayAdmin: "127.0.0.1:0", Metrics: "127.0.0.1:0", CredentialsDir: creds})
	if err != nil {
		cancel()
		t.Fatalf("up: %v %v", err, diags)
	}
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{ServerName: "mock.example.com", RootCAs: ca.Pool()}}}
	defer c.CloseIdleConnections()
	var body string
	waitFor(t, 20*time.Second, "the HTTPS gateway to answer", func() bool {
		req, _ := http.NewRequest("GET", "https://"+https+"/mock", nil)
		req.Host = "mock.example.com"
		resp, err := c.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return resp.StatusCode == 200
	})
	if !strings.HasPrefix(body, "-> mocka(version: v2") {
		t.Errorf("over HTTPS: %q, want mocka v2's chain", body)
	}
}
