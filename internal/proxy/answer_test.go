package proxy

import (
	"io"
	"net/http"
	"testing"

	"github.com/lanemesh/lanemesh/internal/compile"
	"github.com/lanemesh/lanemesh/internal/config"
	"github.com/lanemesh/lanemesh/internal/meshxds"
)

// TestRoutesThatAnswerThemselves: a gateway answers redirect and direct
// response rules itself, over a real socket, and forwards nothing.
func TestRoutesThatAnswerThemselves(t *testing.T) {
	c := &config.Config{}
	if diags := c.Parse("edge.yaml", []byte(`apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: public, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: edge, namespace: istio-system}
spec:
  hosts: ["*"]
  gateways: [public]
  http:
  - match: [{uri: {prefix: /v1/}}]
    redirect: {prefixRewrite: /v2/, redirectCode: 307}
  - match: [{uri: {exact: /healthz}}]
    directResponse: {status: 200, body: {string: "ok\n"}}
  - directResponse: {status: 410}
`)); diags.HasErrors() {
		t.Fatal(diags.Err())
	}
	p := startProxy(t, Options{Role: meshxds.Gateway}, compile.Compile(c, nil, gatewayIdentity))
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tc := range []struct {
		method, path   string
		status         int
		location, body string
	}{
		{"GET", "/v1/users?id=7", 307, "http://" + p.Addr(80).String() + "/v2/users?id=7", ""},
		{"GET", "/healthz", 200, "", "ok\n"},
		{"HEAD", "/healthz", 200, "", ""},
		{"POST", "/anything", 410, "", ""},
	} {
		req, _ := http.NewRequest(tc.method, gatewayURL(p, tc.path), nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || resp.Header.Get("Location") != tc.location || string(body) != tc.body {
			t.Errorf("%s %s: %d Location %q body %q; want %d %q %q", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Location"), body,
				tc.status, tc.location, tc.body)
		}
	}
}
