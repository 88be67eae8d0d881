package compile_test

import (
	"slices"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"

	"github.com/lanemesh/lanemesh/internal/compile"
	"github.com/lanemesh/lanemesh/internal/config"
)

const tlsYAML = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https-a, protocol: HTTPS}
    hosts: [a.example.com]
    tls: {mode: SIMPLE, serverCertificate: /certs/a.crt, privateKey: /certs/a.key}
  - port: {number: 443, name: https-b, protocol: HTTPS}
    hosts: ["*.b.example.com"]
    tls: {mode: MUTUAL, credentialName: b-cred, subjectAltNames: [spiffe://c], maxProtocolVersion: TLSV1_2}
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: [a.example.com, plain.example.com]
    tls: {httpsRedirect: true}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: vs, namespace: istio-system}
spec:
  hosts: [a.example.com, x.b.example.com]
  gateways: [gw]
  http: [{route: [{destination: {host: up.example.com}}]}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: up, namespace: istio-system}
spec:
  hosts: [up.example.com]
  ports: [{number: 443, name: https, protocol: HTTPS}, {number: 80, name: http, protocol: HTTP}]
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: up, namespace: istio-system}
spec:
  host: up.example.com
  trafficPolicy:
    tls: {mode: SIMPLE, caCertificates: /certs/ca.pem}
    portLevelSettings: [{port: {number: 80}, loadBalancer: {simple: RANDOM}}]
  subsets:
  - name: m
    labels: {v: m}
    trafficPolicy: {tls: {mode: MUTUAL, credentialName: client, sni: m.up.example.com}}
`

// creds resolves every credential NAME to /creds/NAME/{tls.crt,tls.key,ca.crt}.
type creds struct{}

func (creds) Credential(_, name string) (compile.Credential, bool) {
	return compile.Credential{Cert: compile.FileSource("/creds/" + name + "/tls.crt"), Key: compile.FileSource("/creds/" + name + "/tls.key"),
		CA: compile.FileSource("/creds/" + name + "/ca.crt")}, true
}

// TestGatewayTLSResources: HTTPS servers become filter chains matched by
// SNI with their certificates, each with its own routes; httpsRedirect
// makes the port-80 virtual hosts require TLS; DestinationRule tls becomes
// the clusters' UpstreamTlsContext, merged as Istio merges policies (a
// port-level entry replaces the whole policy, TLS included).
func TestGatewayTLSResources(t *testing.T) {
	c := &config.Config{}
	if diags := c.Parse("tls.yaml", []byte(tlsYAML)); diags.HasErrors() {
		t.Fatal(diags.Err())
	}
	res := compile.CompileWith(c, nil, gateway, compile.Options{Credentials: creds{}})
	if _, err := compile.Snapshot(res); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	if len(res.Listeners) != 2 {
		t.Fatalf("%d listeners, want 80 and 443", len(res.Listeners))
	}
	l443 := res.Listeners[0] // sorted by name: "0.0.0.0_443" < "0.0.0.0_80"
	if l443.Name != "0.0.0.0_443" || len(l443.FilterChains) != 2 {
		t.Fatalf("listener %s has %d chains, want 0.0.0.0_443 with 2", l443.Name, len(l443.FilterChains))
	}
	want := map[string]struct{ cert, san string }{
		"a.example.com":   {"/certs/a.crt", ""},
		"*.b.example.com": {"/creds/b-cred/tls.crt", "spiffe://c"},
	}
	for _, fc := range l443.FilterChains {
		names := fc.GetFilterChainMatch().GetServerNames()
		if len(names) != 1 {
			t.Fatalf("server_names %v", names)
		}
		var ctx tlsv3.DownstreamTlsContext
		if err := fc.GetTransportSocket().GetTypedConfig().UnmarshalTo(&ctx); err != nil {
			t.Fatal(err)
		}
		w := want[names[0]]
		if got := ctx.GetCommonTlsContext().GetTlsCertificates()[0].GetCertificateChain().GetFilename(); got != w.cert {
			t.Errorf("%s: certificate %q, want %q", names[0], got, w.cert)
		}
		vc := ctx.GetCommonTlsContext().GetValidationContext()
		if w.san == "" && (vc != nil || ctx.GetRequireClientCertificate().GetValue()) {
			t.Errorf("%s: SIMPLE asks for client certificates", names[0])
		}
		if w.san != "" && (!ctx.GetRequireClientCertificate().GetValue() || vc.GetTrustedCa().GetFilename() != "/creds/b-cred/ca.crt" ||
			vc.GetMatchTypedSubjectAltNames()[0].GetMatcher().GetExact() != w.san ||
			ctx.GetCommonTlsContext().GetTlsParams().GetTlsMaximumProtocolVersion() != tlsv3.TlsParameters_TLSv1_2) {
			t.Errorf("%s: MUTUAL context %v", names[0], &ctx)
		}
	}
	routes := map[string]*routev3.RouteConfiguration{}
	for _, rc := range res.Routes {
		routes[rc.Name] = rc
	}
	if rc := routes["https.443.https-a.gw.istio-system"]; rc == nil || len(rc.VirtualHosts) != 1 || rc.VirtualHosts[0].Domains[0] != "a.example.com" {
		t.Errorf("server a's routes: %v", rc)
	}
	for _, vh := range routes["http.80"].GetVirtualHosts() {
		if vh.RequireTls != routev3.VirtualHost_ALL {
			t.Errorf("port 80 virtual host %s: require_tls %v, want ALL", vh.Name, vh.RequireTls)
		}
	}
	if n := len(routes["http.80"].GetVirtualHosts()); n != 2 {
		t.Errorf("port 80 has %d virtual hosts, want a.example.com and plain.example.com (redirect only)", n)
	}
	clusters := map[string]*corev3.TransportSocket{}
	for _, cl := range res.Clusters {
		clusters[cl.Name] = cl.TransportSocket
	}
	upstream := func(name string) *tlsv3.UpstreamTlsContext {
		ts := clusters[name]
		if ts == nil {
			return nil
		}
		var ctx tlsv3.UpstreamTlsContext
		if err := ts.GetTypedConfig().UnmarshalTo(&ctx); err != nil {
			t.Fatal(err)
		}
		return &ctx
	}
	if u := upstream("outbound|443||up.example.com"); u == nil || u.Sni != "up.example.com" ||
		u.GetCommonTlsContext().GetValidationContext().GetTrustedCa().GetFilename() != "/certs/ca.pem" ||
		u.GetCommonTlsContext().GetValidationContext().GetMatchTypedSubjectAltNames()[0].GetMatcher().GetExact() != "up.example.com" {
		t.Errorf("port 443: %v", u)
	}
	if u := upstream("outbound|80||up.example.com"); u != nil {
		t.Errorf("port 80, whose port-level policy has no tls: %v, want plain text", u)
	}
	if u := upstream("outbound|443|m|up.example.com"); u == nil || u.Sni != "m.up.example.com" ||
		u.GetCommonTlsContext().GetTlsCertificates()[0].GetPrivateKey().GetFilename() != "/creds/client/tls.key" {
		t.Errorf("subset m: %v", u)
	}
	if u := upstream("outbound|80|m|up.example.com"); u == nil {
		t.Error("subset m on port 80: the subset's tls must apply over the port-level entry of the top-level policy")
	}
}

// nsCreds resolves a credential only in one namespace, and records every
// namespace it was asked about.
type nsCreds struct {
	ns    string
	asked map[string]bool
}

func (n nsCreds) Credential(ns, name string) (compile.Credential, bool) {
	n.asked[ns] = true
	if ns != n.ns {
		return compile.Credential{}, false
	}
	return compile.Credential{Cert: compile.FileSource("/" + ns + "/" + name + ".crt"), Key: compile.FileSource("/" + ns + "/" + name + ".key")}, true
}

// TestCredentialsComeFromTheProxysNamespace: a Gateway in one namespace
// that selects a gateway proxy in another gets its credentialName from
// the proxy's namespace, as Istio reads it; a proxy never reads another
// namespace's Secrets.
func TestCredentialsComeFromTheProxysNamespace(t *testing.T) {
	c := &config.Config{}
	yaml := `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: shop, namespace: shop}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [shop.example.com]
    tls: {mode: SIMPLE, credentialName: shop-cert}
`
	if diags := c.Parse("gw.yaml", []byte(yaml)); diags.HasErrors() {
		t.Fatal(diags.Err())
	}
	creds := nsCreds{ns: gateway.Namespace, asked: map[string]bool{}}
	res := compile.CompileWith(c, nil, gateway, compile.Options{Credentials: creds})
	if len(creds.asked) != 1 || !creds.asked[gateway.Namespace] {
		t.Errorf("credentials asked in %v, want only the proxy's namespace %s", creds.asked, gateway.Namespace)
	}
	var certs []string
	for _, l := range res.Listeners {
		for _, fc := range l.GetFilterChains() {
			ctx := &tlsv3.DownstreamTlsContext{}
			if fc.GetTransportSocket().GetTypedConfig().UnmarshalTo(ctx) == nil {
				for _, tc := range ctx.GetCommonTlsContext().GetTlsCertificates() {
					certs = append(certs, tc.GetCertificateChain().GetFilename())
				}
			}
		}
	}
	if want := "/" + gateway.Namespace + "/shop-cert.crt"; len(certs) != 1 || certs[0] != want {
		t.Errorf("certificates %v, want [%s]", certs, want)
	}
}

// TestGatewayHTTPProtocols: a server's protocol is read in any case, and
// every protocol Istio carries as HTTP gets a listener (HTTP2, GRPC,
// GRPC-WEB and HTTP_PROXY are served as HTTP/1.1).
func TestGatewayHTTPProtocols(t *testing.T) {
	const yaml = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - {port: {number: 80, name: a, protocol: Http}, hosts: ["*"]}
  - {port: {number: 81, name: b, protocol: http2}, hosts: ["*"]}
  - {port: {number: 82, name: c, protocol: GRPC}, hosts: ["*"]}
  - {port: {number: 83, name: d, protocol: grpc-web}, hosts: ["*"]}
  - {port: {number: 84, name: e, protocol: HTTP_PROXY}, hosts: ["*"]}
`
	c := &config.Config{}
	if diags := c.Parse("gw.yaml", []byte(yaml)); diags.HasErrors() {
		t.Fatal(diags.Err())
	}
	res := compile.Compile(c, nil, gateway)
	var got []string
	for _, l := range res.Listeners {
		got = append(got, l.Name)
	}
	if want := []string{"0.0.0.0_80", "0.0.0.0_81", "0.0.0.0_82", "0.0.0.0_83", "0.0.0.0_84"}; !slices.Equal(got, want) {
		t.Errorf("listeners %v, want %v", got, want)
	}
}
