package proxy

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"

	"github.com/lanemesh/lanemesh/internal/meshxds"
	"github.com/lanemesh/lanemesh/internal/wiretest"
)

// The benchmarks measure whole round trips on loopback: client, proxy and
// upstream run in this process, so ns/op and allocs/op include all three.
// BenchmarkDirect is the floor (no proxy); BenchmarkReverseProxyBaseline is
// a tuned net/http/httputil.ReverseProxy making the same header-based
// choice; BenchmarkGateway is lanemesh's gateway with the tutorial's
// routes. Compare them within one run, never against fixed numbers.

// benchClient is a keep-alive client sized for RunParallel.
func benchClient() *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, DisableCompression: true}}
}

func runBench(b *testing.B, c *http.Client, rawURL, host string) {
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		req, _ := http.NewRequest("GET", rawURL, nil)
		req.Host = host
		req.Header.Set("X-Asm-Prefer-Tag", "v2")
		for pb.Next() {
			resp, err := c.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}

// pointAllAt sends every endpoint of res to srv.
func pointAllAt(res *meshxds.Resources, srv *httptest.Server) {
	host, port := (&upstream{srv: srv}).hostPort()
	pointAllAtAddr(res, host, port)
}

// pointAllAtAddr sends every endpoint of res to host:port.
func pointAllAtAddr(res *meshxds.Resources, host string, port uint32) {
	for _, cla := range res.Endpoints {
		for _, loc := range cla.Endpoints {
			for _, ep := range loc.LbEndpoints {
				sa := ep.GetEndpoint().GetAddress().GetSocketAddress()
				sa.Address, sa.PortSpecifier = host, &corev3.SocketAddress_PortValue{PortValue: port}
			}
		}
	}
}

// benchUpstream answers every request with a short body, as the tutorial's
// mock app does, and records nothing, so that memory measurements see the
// proxy only.
func benchUpstream(b testing.TB) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "-> mocka(version: v2, ip: 127.0.0.1)")
	}))
	b.Cleanup(srv.Close)
	return srv
}

func BenchmarkDirect(b *testing.B) {
	up := benchUpstream(b)
	runBench(b, benchClient(), up.URL+"/mock", "gateway")
}

func BenchmarkGateway(b *testing.B) {
	m := newMesh(b, lanesDir)
	// Every endpoint is the same fast upstream, so only the proxy differs
	// from the baseline.
	res := m.resources(gatewayIdentity, nil)
	pointAllAt(res, benchUpstream(b))
	p := startProxy(b, Options{Role: meshxds.Gateway}, res)
	runBench(b, benchClient(), gatewayURL(p, "/mock"), "gateway")
}

func BenchmarkReverseProxyBaseline(b *testing.B) {
	up := benchUpstream(b)
	target, _ := url.Parse(up.URL)
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			// The same decision the gateway makes: lane header and path.
			if pr.In.URL.Path == "/mock" && pr.In.Header.Get("X-Asm-Prefer-Tag") != "" {
				pr.SetURL(target)
			}
			pr.SetXForwarded()
			pr.Out.Host = pr.In.Host
		},
		Transport: &http.Transport{MaxIdleConnsPerHost: 256, DisableCompression: true},
	}
	front := httptest.NewServer(rp)
	b.Cleanup(front.Close)
	runBench(b, benchClient(), front.URL+"/mock", "gateway")
}

// BenchmarkGatewayAlone is BenchmarkGateway with a client and an upstream
// that write and read raw bytes over one kept-alive connection each and
// allocate nothing, so that allocs/op and B/op are the proxy's own: what
// one hop allocates per request.
func BenchmarkGatewayAlone(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = ln.Close() })
	go wiretest.ServeRaw(ln, rawUpstreamAnswer)
	m := newMesh(b, lanesDir)
	res := m.resources(gatewayIdentity, nil)
	a := ln.Addr().(*net.TCPAddr)
	pointAllAtAddr(res, a.IP.String(), uint32(a.Port))
	p := startProxy(b, Options{Role: meshxds.Gateway}, res)
	req := []byte("GET /mock HTTP/1.1\r\nHost: gateway\r\nuser-agent: wrk\r\nx-asm-prefer-tag: v2\r\n\r\n")
	wiretest.RawRoundTrips(b, p.Addr(80).String(), req, len(rawUpstreamBody))
}

// rawUpstreamBody is the bench upstream's body, in rawUpstreamAnswer.
const rawUpstreamBody = "ok"

var rawUpstreamAnswer = []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n" + rawUpstreamBody)
