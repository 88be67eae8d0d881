package proxy

import (
	"bufio"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/lanemesh/lanemesh/internal/compile"
	"github.com/lanemesh/lanemesh/internal/config"
	"github.com/lanemesh/lanemesh/internal/credentials"
	"github.com/lanemesh/lanemesh/internal/meshxds"
	"github.com/lanemesh/lanemesh/internal/testpki"
)

// tlsMesh compiles a gateway configuration: yaml, with an upstream
// ServiceEntry echo.test whose endpoint is addr (host:port), and
// credentials under dir.
func tlsMesh(t testing.TB, yaml string, upstream *httptest.Server, dir string) *meshxds.Resources {
	t.Helper()
	return tlsMeshWith(t, yaml, upstream, credentials.Dir(dir))
}

// tlsMeshWith is tlsMesh with credentials from creds.
func tlsMeshWith(t testing.TB, yaml string, upstream *httptest.Server, creds compile.Credentials) *meshxds.Resources {
	t.Helper()
	host, port, _ := net.SplitHostPort(upstream.Listener.Addr().String())
	full := fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: echo, namespace: default}
spec:
  hosts: [echo.test]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: %s, ports: {http: %s}}]
---
`, host, port) + yaml
	c := &config.Config{}
	if diags := c.Parse("tls.yaml", []byte(full)); diags.HasErrors() {
		t.Fatalf("%v\n%s", diags.Err(), full)
	}
	if diags := config.Analyze(c); diags.HasErrors() {
		t.Fatalf("%v\n%s", diags.Err(), full)
	}
	return compile.CompileWith(c, nil, gatewayIdentity, compile.Options{Credentials: creds})
}

// tlsGet sends GET path over TLS to addr with SNI sni, trusting roots and
// presenting cert (if not nil). It returns the response's status and body,
// and the server's leaf certificate. The Host header is sni too.
func tlsGet(addr net.Addr, sni, path string, roots *x509.CertPool, cert *tls.Certificate) (int, string, *x509.Certificate, error) {
	cfg := &tls.Config{ServerName: sni, RootCAs: roots}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	var leaf *x509.Certificate
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		leaf = cs.PeerCertificates[0]
		return nil
	}
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}}
	defer c.CloseIdleConnections()
	req, err := http.NewRequest("GET", "https://"+addr.String()+path, nil)
	if err != nil {
		return 0, "", nil, err
	}
	req.Host = sni
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", leaf, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), leaf, err
}

func echoUpstream(t testing.TB) *httptest.Server {
	u := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(100 * time.Millisecond) // past the start of h1's watch for a hang-up (50 ms)
		}
		fmt.Fprintf(w, "host=%s proto=%s", r.Host, r.Header.Get("X-Forwarded-Proto"))
	}))
	t.Cleanup(u.Close)
	return u
}

// tlsPorts binds ports 80 and 443 on ephemeral ports; the bind addresses
// differ, as a listener's bind address is its key.
func tlsPorts() map[uint32]string {
	return map[uint32]string{80: "127.0.0.1:0", 443: "127.0.0.2:0"}
}

// TestGatewaySimpleTLS serves two HTTPS servers on one port, each with its
// own certificate chosen by SNI (one from files, one by credentialName),
// and redirects plain HTTP to https.
func TestGatewaySimpleTLS(t *testing.T) {
	ca := testpki.NewCA(t, "test CA")
	dir := t.TempDir()
	aCert, aKey, _ := testpki.WriteFiles(t, filepath.Join(dir, "files"), ca.Issue(t, []string{"a.example.com"}), nil, "a.crt", "a.key", "")
	testpki.WriteFiles(t, filepath.Join(dir, "creds", "b-cred"), ca.Issue(t, []string{"b.example.com"}), nil, "tls.crt", "tls.key", "")
	u := echoUpstream(t)
	res := tlsMesh(t, fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https-a, protocol: HTTPS}
    hosts: [a.example.com]
    tls: {mode: SIMPLE, serverCertificate: %s, privateKey: %s}
  - port: {number: 443, name: https-b, protocol: HTTPS}
    hosts: [b.example.com]
    tls: {mode: SIMPLE, credentialName: b-cred, minProtocolVersion: TLSV1_3}
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*"]
    tls: {httpsRedirect: true}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: echo, namespace: default}
spec:
  gateways: [istio-system/gw]
  hosts: [a.example.com, b.example.com]
  http: [{route: [{destination: {host: echo.test}}]}]
`, aCert, aKey), u, filepath.Join(dir, "creds"))
	p := startProxy(t, Options{Role: meshxds.Gateway, PortMap: tlsPorts()}, res)

	for _, host := range []string{"a.example.com", "b.example.com"} {
		status, body, leaf, err := tlsGet(p.Addr(443), host, "/x", ca.Pool(), nil)
		if err != nil || status != 200 || body != "host="+host+" proto=https" {
			t.Errorf("SNI %s: %d %q %v", host, status, body, err)
		}
		if leaf == nil || leaf.DNSNames[0] != host {
			t.Errorf("SNI %s: served certificate %v, want the one for %s", host, leaf.DNSNames, host)
		}
	}
	if _, _, _, err := tlsGet(p.Addr(443), "c.example.com", "/", ca.Pool(), nil); err == nil {
		t.Error("SNI c.example.com, which no server names: the handshake succeeded")
	}
	// b's server requires TLS 1.3.
	old := &tls.Config{ServerName: "b.example.com", RootCAs: ca.Pool(), MaxVersion: tls.VersionTLS12}
	if c, err := tls.Dial("tcp", p.Addr(443).String(), old); err == nil {
		c.Close()
		t.Error("TLS 1.2 to a server with minProtocolVersion TLSV1_3: the handshake succeeded")
	}

	// A chunked body hands the connection to net/http's server, and a slow
	// upstream starts the hang-up watch: both over TLS.
	tc, err := tls.Dial("tcp", p.Addr(443).String(), &tls.Config{ServerName: "a.example.com", RootCAs: ca.Pool()})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprint(tc, "GET /slow HTTP/1.1\r\nHost: a.example.com\r\n\r\n")
	br := bufio.NewReader(tc)
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("slow request over TLS: %v %v", resp, err)
	} else {
		body, _ := io.ReadAll(resp.Body)
		if string(body) != "host=a.example.com proto=https" {
			t.Errorf("slow request over TLS: %q", body)
		}
	}
	fmt.Fprint(tc, "POST /x HTTP/1.1\r\nHost: a.example.com\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("chunked request over TLS: %v %v", resp, err)
	} else {
		body, _ := io.ReadAll(resp.Body)
		if string(body) != "host=a.example.com proto=https" {
			t.Errorf("chunked request over TLS (handed to net/http): %q", body)
		}
	}

	raw := rawExchange(t, p.Addr(80), "GET /mock?a=1 HTTP/1.1\r\nHost: a.example.com:8080\r\nConnection: close\r\n\r\n")
	if statusOf(raw) != 301 || !strings.Contains(raw, "Location: https://a.example.com:8080/mock?a=1\r\n") {
		t.Errorf("plain HTTP with httpsRedirect: %q, want 301 to https", raw)
	}
}

// TestGatewayMutualTLS refuses clients without a certificate, or with one
// whose SAN is not listed, and serves the others, telling the upstream of
// the client's certificate in x-forwarded-client-cert as Istio's gateways
// do (SANITIZE_SET: Hash, Cert, Subject, URI, DNS).
func TestGatewayMutualTLS(t *testing.T) {
	ca := testpki.NewCA(t, "test CA")
	clientCA := testpki.NewCA(t, "client CA")
	dir := t.TempDir()
	cert, key, caPath := testpki.WriteFiles(t, dir, ca.Issue(t, []string{"m.example.com"}), clientCA, "tls.crt", "tls.key", "clients.crt")
	u := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, strings.Join(r.Header.Values("X-Forwarded-Client-Cert"), "|"))
	}))
	t.Cleanup(u.Close)
	res := tlsMesh(t, fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: ["*"]
    tls: {mode: MUTUAL, serverCertificate: %s, privateKey: %s, caCertificates: %s, subjectAltNames: [spiffe://test/good]}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: echo, namespace: default}
spec:
  gateways: [istio-system/gw]
  hosts: ["*"]
  http: [{route: [{destination: {host: echo.test}}]}]
`, cert, key, caPath), u, dir)
	p := startProxy(t, Options{Role: meshxds.Gateway, PortMap: tlsPorts()}, res)

	if _, _, _, err := tlsGet(p.Addr(443), "m.example.com", "/", ca.Pool(), nil); err == nil {
		t.Error("a client without a certificate was served")
	}
	bad := clientCA.Issue(t, nil, "spiffe://test/bad").TLS
	if _, _, _, err := tlsGet(p.Addr(443), "m.example.com", "/", ca.Pool(), &bad); err == nil {
		t.Error("a client whose SAN is not listed was served")
	}
	stranger := testpki.NewCA(t, "other").Issue(t, nil, "spiffe://test/good").TLS
	if _, _, _, err := tlsGet(p.Addr(443), "m.example.com", "/", ca.Pool(), &stranger); err == nil {
		t.Error("a client signed by another CA was served")
	}
	good := clientCA.Issue(t, nil, "spiffe://test/good")
	status, body, _, err := tlsGet(p.Addr(443), "m.example.com", "/", ca.Pool(), &good.TLS)
	if err != nil || status != 200 {
		t.Fatalf("a client with a good certificate: %d %v", status, err)
	}
	sum := sha256.Sum256(good.TLS.Certificate[0])
	want := regexp.MustCompile(`^Hash=` + hex.EncodeToString(sum[:]) + `;Cert="-----BEGIN%20CERTIFICATE-----%0A[^"]+";Subject="[^"]*";URI=spiffe://test/good$`)
	if !want.MatchString(body) {
		t.Errorf("the upstream got x-forwarded-client-cert %q, want %s", body, want)
	}
}

// TestGatewayCertificateRotation serves a new certificate as soon as its
// files change, without a new configuration.
func TestGatewayCertificateRotation(t *testing.T) {
	ca := testpki.NewCA(t, "test CA")
	dir := t.TempDir()
	credDir := filepath.Join(dir, "site")
	testpki.WriteFiles(t, credDir, ca.Issue(t, []string{"old.example.com", "site.example.com"}), nil, "tls.crt", "tls.key", "")
	u := echoUpstream(t)
	res := tlsMesh(t, `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [site.example.com]
    tls: {mode: SIMPLE, credentialName: site}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: echo, namespace: default}
spec:
  gateways: [istio-system/gw]
  hosts: [site.example.com]
  http: [{route: [{destination: {host: echo.test}}]}]
`, u, dir)
	p := startProxy(t, Options{Role: meshxds.Gateway, PortMap: tlsPorts()}, res)
	if _, _, leaf, err := tlsGet(p.Addr(443), "site.example.com", "/", ca.Pool(), nil); err != nil || leaf.DNSNames[0] != "old.example.com" {
		t.Fatalf("before rotation: %v %v", leaf, err)
	}
	// Mid-rotation the new certificate is written but not yet its key:
	// the pair does not match, and the old certificate is still served,
	// as Envoy keeps a secret it cannot load the update of.
	next := ca.Issue(t, []string{"new.example.com", "site.example.com"})
	if err := os.WriteFile(filepath.Join(credDir, "tls.crt"), next.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, leaf, err := tlsGet(p.Addr(443), "site.example.com", "/", ca.Pool(), nil); err != nil || leaf.DNSNames[0] != "old.example.com" {
		t.Fatalf("mid-rotation: %v %v, want the old certificate still", leaf, err)
	}
	testpki.WriteFiles(t, credDir, next, nil, "tls.crt", "tls.key", "")
	if _, _, leaf, err := tlsGet(p.Addr(443), "site.example.com", "/", ca.Pool(), nil); err != nil || leaf.DNSNames[0] != "new.example.com" {
		t.Fatalf("after rotation: %v %v, want the new certificate", leaf.DNSNames, err)
	}
}

// TestUpstreamTLS originates TLS to the upstream as a DestinationRule asks:
// SIMPLE verified against a CA with SNI, MUTUAL with a client certificate,
// and a SAN mismatch failing as a connect failure (503 UF).
func TestUpstreamTLS(t *testing.T) {
	ca := testpki.NewCA(t, "upstream CA")
	clientCA := testpki.NewCA(t, "client CA")
	dir := t.TempDir()
	_, _, caPath := testpki.WriteFiles(t, dir, nil, ca, "", "", "ca.crt")
	clientCert, clientKey, _ := testpki.WriteFiles(t, dir, clientCA.Issue(t, []string{"client"}), nil, "client.crt", "client.key", "")
	serverLeaf := ca.Issue(t, []string{"echo.test", "alias.test"})
	sawSNI := make(chan string, 16)
	u := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		who := "anonymous"
		if len(r.TLS.PeerCertificates) > 0 {
			who = r.TLS.PeerCertificates[0].Subject.CommonName
		}
		fmt.Fprintf(w, "tls client=%s", who)
	}))
	u.TLS = &tls.Config{Certificates: []tls.Certificate{serverLeaf.TLS}, ClientCAs: clientCA.Pool(), ClientAuth: tls.VerifyClientCertIfGiven,
		GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
			sawSNI <- h.ServerName
			return nil, nil
		}}
	u.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are the point
	u.StartTLS()
	t.Cleanup(u.Close)

	for _, tc := range []struct {
		name, tls string
		status    int
		body, sni string
		wantFlags string
	}{
		{"simple", fmt.Sprintf("{mode: SIMPLE, caCertificates: %s}", caPath), 200, "tls client=anonymous", "echo.test", "-"},
		{"sni and san", fmt.Sprintf("{mode: SIMPLE, caCertificates: %s, sni: alias.test, subjectAltNames: [alias.test]}", caPath), 200, "tls client=anonymous", "alias.test", "-"},
		{"mutual", fmt.Sprintf("{mode: MUTUAL, caCertificates: %s, clientCertificate: %s, privateKey: %s}", caPath, clientCert, clientKey), 200, "tls client=client", "echo.test", "-"},
		{"san mismatch", fmt.Sprintf("{mode: SIMPLE, caCertificates: %s, subjectAltNames: [other.test]}", caPath), 503, "", "echo.test", "UF"},
		{"unknown CA", "{mode: SIMPLE}", 503, "", "echo.test", "UF"},
		{"skip verify", "{mode: SIMPLE, insecureSkipVerify: true}", 200, "tls client=anonymous", "echo.test", "-"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log logBuffer
			res := tlsMesh(t, `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: echo, namespace: default}
spec:
  host: echo.test
  trafficPolicy: {tls: `+tc.tls+`}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: echo, namespace: default}
spec:
  gateways: [istio-system/gw]
  hosts: ["*"]
  http: [{route: [{destination: {host: echo.test}}]}]
`, u, dir)
			p := startProxy(t, Options{Role: meshxds.Gateway, AccessLog: &log}, res)
			for len(sawSNI) > 0 {
				<-sawSNI
			}
			status, body, _ := call(t, newClient(nil), "GET", gatewayURL(p, "/"), "echo.test", nil)
			if status != tc.status || tc.status == 200 && body != tc.body {
				t.Errorf("%d %q, want %d %q", status, body, tc.status, tc.body)
			}
			select {
			case sni := <-sawSNI:
				if sni != tc.sni {
					t.Errorf("SNI %q, want %q", sni, tc.sni)
				}
			default:
				t.Error("the upstream saw no TLS handshake")
			}
			// A failed handshake is a connect failure, which Istio's
			// default retry policy retries (URX when they run out).
			if e := log.entries(t); len(e) == 0 || !strings.HasPrefix(e[0]["response_flags"].(string), tc.wantFlags) {
				t.Errorf("access log %v, want flags %s", e, tc.wantFlags)
			} else if why := e[0]["upstream_transport_failure_reason"].(string); (tc.wantFlags == "UF") != strings.HasPrefix(why, "TLS error: ") {
				t.Errorf("transport failure reason %q with flags %s", why, tc.wantFlags)
			}
			// The client is told why, as Envoy's local reply says it.
			if tc.status == 503 && !strings.Contains(body, "TLS error: ") {
				t.Errorf("503 body %q does not say why the handshake failed", body)
			}
		})
	}
}

// TestTLSListenerRefusesPlainText: a plain request to a TLS port is a
// failed handshake, not a request.
func TestTLSListenerRefusesPlainText(t *testing.T) {
	ca := testpki.NewCA(t, "test CA")
	dir := t.TempDir()
	testpki.WriteFiles(t, filepath.Join(dir, "c"), ca.Issue(t, []string{"x.example.com"}), nil, "tls.crt", "tls.key", "")
	res := tlsMesh(t, `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 443, name: https, protocol: HTTPS}, hosts: ["*"], tls: {mode: SIMPLE, credentialName: c}}]
`, echoUpstream(t), dir)
	p := startProxy(t, Options{Role: meshxds.Gateway, PortMap: tlsPorts()}, res)
	raw, closed := rawExchangeClosed(t, p.Addr(443), "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if strings.HasPrefix(raw, "HTTP/1.1 200") || !closed {
		t.Errorf("plain text on a TLS port: %q (closed %v)", raw, closed)
	}
	var recErr tls.RecordHeaderError
	if _, err := tls.Dial("tcp", p.Addr(443).String(), &tls.Config{ServerName: "x.example.com", RootCAs: ca.Pool()}); err != nil && !errors.As(err, &recErr) {
		// The handshake itself works; the point above is that plain
		// text is refused.
		t.Logf("handshake: %v", err)
	}
}

// secretLookup is a Kubernetes Secret cache for one test.
type secretLookup map[string]map[string][]byte

func (s secretLookup) Secret(ns, name string) (map[string][]byte, bool) {
	d, ok := s[ns+"/"+name]
	return d, ok
}

// TestGatewayTLSFromSecret serves a certificate that reaches the proxy as
// inline bytes, as a Kubernetes Secret's does; /config_dump, which asks for
// no token, shows "[redacted]" for its private key, as Envoy's config dump
// does.
func TestGatewayTLSFromSecret(t *testing.T) {
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
	if status, _, served, err := tlsGet(p.Addr(443), "k.example.com", "/", ca.Pool(), nil); err != nil || status != 200 || served.DNSNames[0] != "k.example.com" {
		t.Errorf("certificate from a Secret: %d %v", status, err)
	}
	_, body, _ := call(t, newClient(nil), "GET", "http://"+p.AdminAddr().String()+"/config_dump", "", nil)
	if strings.Contains(body, base64.StdEncoding.EncodeToString(leaf.KeyPEM)) || strings.Contains(body, string(leaf.KeyPEM[:40])) {
		t.Errorf("/config_dump (no token) contains the gateway's private key")
	}
	if compact := strings.Join(strings.Fields(body), ""); !strings.Contains(compact, `"privateKey":{"inlineString":"[redacted]"}`) {
		t.Errorf("/config_dump shows no redacted private key:\n%s", body)
	}
	if !strings.Contains(body, base64.StdEncoding.EncodeToString(leaf.CertPEM)) {
		t.Errorf("/config_dump lost the certificate, which is no secret")
	}
}

// BenchmarkGatewayTLS is BenchmarkGateway's round trip over keep-alive TLS
// connections (the handshake is paid once per connection): compare it with
// BenchmarkGateway in one run for the cost of encryption.
func BenchmarkGatewayTLS(b *testing.B) {
	ca := testpki.NewCA(b, "bench CA")
	dir := b.TempDir()
	testpki.WriteFiles(b, filepath.Join(dir, "bench"), ca.Issue(b, []string{"bench.example.com"}), nil, "tls.crt", "tls.key", "")
	res := tlsMesh(b, `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 443, name: https, protocol: HTTPS}, hosts: ["*"], tls: {mode: SIMPLE, credentialName: bench}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: echo, namespace: default}
spec:
  gateways: [istio-system/gw]
  hosts: ["*"]
  http: [{route: [{destination: {host: echo.test}}]}]
`, benchUpstream(b), dir)
	p := startProxy(b, Options{Role: meshxds.Gateway, PortMap: tlsPorts()}, res)
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, DisableCompression: true,
		TLSClientConfig: &tls.Config{ServerName: "bench.example.com", RootCAs: ca.Pool()}}}
	runBench(b, c, "https://"+p.Addr(443).String()+"/mock", "bench.example.com")
}

// TestTLSListenerRefusals: TLS resources the proxy cannot serve as Envoy
// would are rejected, naming the listener or cluster at fault.
func TestTLSListenerRefusals(t *testing.T) {
	dir := t.TempDir()
	gw := `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - {port: {number: 443, name: a, protocol: HTTPS}, hosts: [a.example.com], tls: {mode: SIMPLE, credentialName: a}}
  - {port: {number: 443, name: b, protocol: HTTPS}, hosts: [b.example.com], tls: {mode: SIMPLE, credentialName: b}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: echo, namespace: default}
spec:
  host: echo.test
  trafficPolicy: {tls: {mode: SIMPLE}}
`
	u := echoUpstream(t)
	for _, tc := range []struct {
		name, want string
		edit       func(res *meshxds.Resources)
	}{
		{"two chains match the same names", "matched by an earlier chain", func(res *meshxds.Resources) {
			l := res.Listeners[0]
			l.FilterChains[1].FilterChainMatch = proto.Clone(l.FilterChains[0].FilterChainMatch).(*listenerv3.FilterChainMatch)
		}},
		{"a plain chain beside TLS ones", "must all terminate TLS", func(res *meshxds.Resources) {
			res.Listeners[0].FilterChains[1].TransportSocket = nil
			res.Listeners[0].FilterChains[1].FilterChainMatch = nil
		}},
		{"a match on more than server names", "only server_names", func(res *meshxds.Resources) {
			res.Listeners[0].FilterChains[0].FilterChainMatch.DestinationPort = wrapperspb.UInt32(443)
		}},
		{"SDS certificates", "SDS secrets are not supported", func(res *meshxds.Resources) {
			fc := res.Listeners[0].FilterChains[0]
			var ctx tlsv3.DownstreamTlsContext
			if err := fc.TransportSocket.GetTypedConfig().UnmarshalTo(&ctx); err != nil {
				t.Fatal(err)
			}
			ctx.CommonTlsContext.TlsCertificateSdsSecretConfigs = []*tlsv3.SdsSecretConfig{{Name: "kubernetes://a"}}
			fc.TransportSocket.ConfigType = &corev3.TransportSocket_TypedConfig{TypedConfig: mustAnyT(t, &ctx)}
		}},
		{"an unknown upstream transport socket", `transport socket "envoy.transport_sockets.raw_buffer"`, func(res *meshxds.Resources) {
			res.Clusters[0].TransportSocket.Name = "envoy.transport_sockets.raw_buffer"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := tlsMesh(t, gw, u, dir)
			tc.edit(res)
			p, err := New(Options{Role: meshxds.Gateway, PortMap: tlsPorts(), OutboundAddr: "127.0.0.1:0"})
			if err != nil {
				t.Fatal(err)
			}
			err = p.Apply(res)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Apply: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func mustAnyT(t *testing.T, m proto.Message) *anypb.Any {
	a, err := anypb.New(m)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestUpstreamTLSAutoSNI: TLS to a wildcard ServiceEntry host, whose
// DestinationRule names no sni, sends each request's host as SNI and
// requires the server's certificate to be valid for it (Istio's auto_sni
// and auto_san_validation). It sent no SNI and accepted any certificate
// of the CA for any host.
func TestUpstreamTLSAutoSNI(t *testing.T) {
	ca := testpki.NewCA(t, "upstream CA")
	dir := t.TempDir()
	_, _, caPath := testpki.WriteFiles(t, dir, nil, ca, "", "", "ca.crt")
	sawSNI := make(chan string, 16)
	u := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") }))
	u.TLS = &tls.Config{Certificates: []tls.Certificate{ca.Issue(t, []string{"api.ext.test"}).TLS},
		GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
			sawSNI <- h.ServerName
			return nil, nil
		}}
	u.Config.ErrorLog = log.New(io.Discard, "", 0)
	u.StartTLS()
	t.Cleanup(u.Close)
	host, port, _ := net.SplitHostPort(u.Listener.Addr().String())
	c := &config.Config{}
	yaml := fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext, namespace: default}
spec:
  hosts: ["*.ext.test"]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: %s, ports: {http: %s}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ext, namespace: default}
spec:
  host: "*.ext.test"
  trafficPolicy: {tls: {mode: SIMPLE, caCertificates: %s}}
`, host, port, caPath)
	if diags := c.Parse("tls.yaml", []byte(yaml)); diags.HasErrors() {
		t.Fatal(diags.Err())
	}
	id := sidecarIdentity("mocka", "v1")
	p := startProxy(t, Options{Role: meshxds.Sidecar}, compile.Compile(c, nil, id))
	for _, tc := range []struct {
		host   string
		status int
	}{{"api.ext.test", 200}, {"bank.ext.test", 503}, {"api.ext.test", 200}} {
		status, _, _ := call(t, newClient(p.OutboundAddr()), "GET", "http://"+tc.host+"/", tc.host, nil)
		if status != tc.status {
			t.Errorf("%s: %d, want %d", tc.host, status, tc.status)
		}
		select {
		case sni := <-sawSNI:
			if sni != tc.host {
				t.Errorf("%s: SNI %q", tc.host, sni)
			}
		default:
			if tc.status != 200 {
				t.Errorf("%s: no handshake", tc.host)
			}
		}
		for len(sawSNI) > 0 {
			<-sawSNI
		}
	}
}

// TestAutoSNIHostsBounded: each request's host names a set of pooled
// connections under autoSNI; an app naming ever more hosts does not grow
// the pool without bound.
func TestAutoSNIHostsBounded(t *testing.T) {
	p := newPool(&clusterStats{}, poolSettings{autoSNI: true}, time.Now())
	for i := range maxAutoHosts + 100 {
		p.hostFor("10.0.0.1:443", &autoName{sni: fmt.Sprintf("h%d.ext.test", i)})
	}
	if n := len(p.hosts); n > maxAutoHosts {
		t.Errorf("%d host sets kept, want at most %d", n, maxAutoHosts)
	}
	a, b := p.hostFor("10.0.0.1:443", &autoName{sni: "h1.ext.test"}), p.hostFor("10.0.0.1:443", &autoName{sni: "h1.ext.test"})
	if a != b {
		t.Error("a host within the bound does not keep its connections")
	}
}
