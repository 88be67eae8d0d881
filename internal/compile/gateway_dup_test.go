package compile_test

import (
	"slices"
	"testing"

	"github.com/lanemesh/lanemesh/internal/compile"
	"github.com/lanemesh/lanemesh/internal/config"
)

// TestDuplicateTLSHostsLeaveTheLaterServerOut: as Istio's CheckDuplicates,
// a server with TLS settings that names a host an earlier server on the
// port named is left out whole, its other hosts with it (Envoy refuses two
// filter chains matching one SNI); it was served for those.
func TestDuplicateTLSHostsLeaveTheLaterServerOut(t *testing.T) {
	c := &config.Config{}
	yaml := `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: a, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https-a, protocol: HTTPS}
    hosts: [a.example.com, b.example.com]
    tls: {mode: SIMPLE, credentialName: a}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: b, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https-b, protocol: HTTPS}
    hosts: [b.example.com, c.example.com]
    tls: {mode: SIMPLE, credentialName: b}
`
	if diags := c.Parse("gw.yaml", []byte(yaml)); diags.HasErrors() {
		t.Fatal(diags.Err())
	}
	res := compile.Compile(c, nil, gateway)
	var sni []string
	for _, l := range res.Listeners {
		for _, fc := range l.GetFilterChains() {
			sni = append(sni, fc.GetFilterChainMatch().GetServerNames()...)
		}
	}
	if slices.Contains(sni, "c.example.com") || !slices.Contains(sni, "a.example.com") {
		t.Errorf("filter chains for SNI %v; want gateway a's only", sni)
	}
}
