package proxy

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/lanemesh/lanemesh/internal/credentials"
	"github.com/lanemesh/lanemesh/internal/meshxds"
	"github.com/lanemesh/lanemesh/internal/testpki"
)

// TestConfigDumpRedactsKeys: /config_dump, which asks for no token, shows
// "[redacted]" for a private key that travels inline (a gateway's
// certificate from a Kubernetes Secret), as Envoy's config dump does.
func TestConfigDumpRedactsKeys(t *testing.T) {
	ca := testpki.NewCA(t, "test CA")
	leaf := ca.Issue(t, []string{"k.example.com"})
	yaml := `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 443, name: https, protocol: HTTPS}, hosts: ["*"], tls: {mode: SIMPLE, credentialName: k-cert}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: echo, namespace: default}
spec:
  gateways: [istio-system/gw]
  hosts: ["*"]
  http: [{route: [{destination: {host: echo.test}}]}]
`
	secrets := credentials.Secrets{Lookup: secretLookup{"istio-system/k-cert": {"cert": leaf.CertPEM, "key": leaf.KeyPEM}}}
	res := tlsMeshWith(t, yaml, echoUpstream(t), secrets)
	p := startProxy(t, Options{Role: meshxds.Gateway, PortMap: tlsPorts()}, res)
	c := newClient(nil)
	_, body, _ := call(t, c, "GET", "http://"+p.AdminAddr().String()+"/config_dump", "", nil)
	key := base64.StdEncoding.EncodeToString(leaf.KeyPEM)
	if strings.Contains(body, key) || strings.Contains(body, string(leaf.KeyPEM[:40])) {
		t.Errorf("/config_dump (no token) contains the gateway's private key")
	}
	if compact := strings.Join(strings.Fields(body), ""); !strings.Contains(compact, `"privateKey":{"inlineString":"[redacted]"}`) {
		t.Errorf("/config_dump shows no redacted private key:\n%s", body)
	}
	if !strings.Contains(body, base64.StdEncoding.EncodeToString(leaf.CertPEM)) {
		t.Errorf("/config_dump lost the certificate, which is no secret")
	}
}
