package explain

import (
	"testing"

	"github.com/lanemesh/lanemesh/internal/compile"
	"github.com/lanemesh/lanemesh/internal/config"
	"github.com/lanemesh/lanemesh/internal/meshxds"
)

// TestUpstreamTLSIsExplained: a destination whose DestinationRule
// originates TLS says so, with the SNI and what the server is checked
// against; a subset that skips verification says that.
func TestUpstreamTLSIsExplained(t *testing.T) {
	c := &config.Config{}
	if diags := c.Parse("tls.yaml", []byte(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api, namespace: default}
spec:
  hosts: [api.example.com]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 10.1.1.1, labels: {tier: lab}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: api, namespace: default}
spec:
  host: api.example.com
  trafficPolicy: {tls: {mode: SIMPLE, caCertificates: /certs/ca.pem, sni: edge.example.com}}
  subsets: [{name: lab, labels: {tier: lab}, trafficPolicy: {tls: {mode: SIMPLE, insecureSkipVerify: true}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: api, namespace: default}
spec:
  hosts: [api.example.com]
  http:
  - match: [{uri: {prefix: /lab}}]
    route: [{destination: {host: api.example.com, subset: lab}}]
  - route: [{destination: {host: api.example.com}}]
`)); diags.HasErrors() {
		t.Fatal(diags.Err())
	}
	p := meshxds.Proxy{Role: meshxds.Sidecar, Namespace: "default", Labels: map[string]string{"app": "x"}}
	res := compile.Compile(c, nil, p)
	for path, want := range map[string]string{
		"/":    "originated: SNI edge.example.com; server verified against /certs/ca.pem, SAN one of edge.example.com",
		"/lab": "originated: SNI api.example.com; server not verified (insecureSkipVerify)",
	} {
		req, err := Request("GET", "http://api.example.com"+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		r, err := Explain(res, RouteConfigForRequest(res, p.Role, req), req)
		if err != nil {
			t.Fatal(err)
		}
		if r.UpstreamTLS != want {
			t.Errorf("%s: %q, want %q", path, r.UpstreamTLS, want)
		}
	}
}
