package proxy

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"

	"github.com/lanemesh/lanemesh/internal/compile"
	"github.com/lanemesh/lanemesh/internal/config"
	"github.com/lanemesh/lanemesh/internal/local"
	"github.com/lanemesh/lanemesh/internal/meshxds"
	"github.com/lanemesh/lanemesh/internal/registry"
	"github.com/lanemesh/lanemesh/internal/wiretest"
)

// The tutorial's configuration (examples/traffic-lanes) and its fallback
// step, and the identities of its proxies.
const (
	lanesDir    = "../../examples/traffic-lanes"
	fallbackDir = "../../examples/traffic-lanes-fallback"
)

var gatewayIdentity = meshxds.Proxy{Role: meshxds.Gateway, Namespace: "istio-system", Labels: map[string]string{"istio": "ingressgateway"}}

func sidecarIdentity(app, version string) meshxds.Proxy {
	return meshxds.Proxy{Role: meshxds.Sidecar, Namespace: "default", Labels: map[string]string{"app": app, "version": version}}
}

// seen is one request as an upstream received it.
type seen struct {
	Method, Path, Host string
	Remote             string // the proxy's end of the connection it came on
	Header             http.Header
	Body               string
	ContentLength      int64
	TransferEncoding   []string
}

// upstream is an httptest server standing for one pod. It answers with its
// name (body and X-Pod header) and records what it saw, so tests can prove
// what reached it and what did not.
type upstream struct {
	name    string
	srv     *httptest.Server
	hits    atomic.Int64
	mu      sync.Mutex
	seen    []seen
	handler atomic.Pointer[http.HandlerFunc] // optional override of the answer
}

func newUpstream(t testing.TB, name string) *upstream {
	u := &upstream{name: name}
	u.srv = httptest.NewServer(http.HandlerFunc(u.serve))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	u.hits.Add(1)
	u.mu.Lock()
	u.seen = append(u.seen, seen{Method: r.Method, Path: r.URL.RequestURI(), Host: r.Host, Remote: r.RemoteAddr, Header: r.Header.Clone(),
		Body: string(body), ContentLength: r.ContentLength, TransferEncoding: r.TransferEncoding})
	u.mu.Unlock()
	if h := u.handler.Load(); h != nil {
		(*h)(w, r)
		return
	}
	w.Header().Set("X-Pod", u.name)
	_, _ = io.WriteString(w, u.name)
}

// answer replaces the upstream's answer.
func (u *upstream) answer(h http.HandlerFunc) { u.handler.Store(&h) }

func (u *upstream) requests() []seen {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]seen(nil), u.seen...)
}

func (u *upstream) hostPort() (string, uint32) {
	a := u.srv.Listener.Addr().(*net.TCPAddr)
	return a.IP.String(), uint32(a.Port)
}

// kill makes the pod vanish: no new connections, and the open ones are
// cut, including any request being served.
func (u *upstream) kill() {
	_ = u.srv.Listener.Close()
	u.srv.CloseClientConnections()
}

// mesh is the tutorial with one upstream per pod.
type mesh struct {
	cfg       *config.Config
	instances []registry.Instance
	pods      map[string]*upstream // by pod name, "mockb-v2-0"
}

func newMesh(t testing.TB, paths ...string) *mesh {
	t.Helper()
	c, diags := config.Load(paths, nil)
	if diags.HasErrors() {
		t.Fatalf("load %v: %v", paths, diags.Err())
	}
	m := &mesh{cfg: c, instances: local.Predict(c), pods: map[string]*upstream{}}
	for _, in := range m.instances {
		m.pods[in.Name] = newUpstream(t, in.Name)
	}
	return m
}

// resources compiles the resources of proxy p, with the instances changed
// by edit (for example, a pod made unhealthy), and points every endpoint at
// its pod's upstream.
func (m *mesh) resources(p meshxds.Proxy, edit func(in *registry.Instance)) *meshxds.Resources {
	instances := append([]registry.Instance(nil), m.instances...)
	if edit != nil {
		for i := range instances {
			edit(&instances[i])
		}
	}
	res := compile.Compile(m.cfg, instances, p)
	for _, cla := range res.Endpoints {
		for _, loc := range cla.Endpoints {
			for _, ep := range loc.LbEndpoints {
				pod := ep.GetMetadata().GetFilterMetadata()[meshxds.MetadataKey].GetFields()["pod"].GetStringValue()
				if u := m.pods[pod]; u != nil {
					host, port := u.hostPort()
					sa := ep.GetEndpoint().GetAddress().GetSocketAddress()
					sa.Address, sa.PortSpecifier = host, &corev3.SocketAddress_PortValue{PortValue: port}
				}
			}
		}
	}
	return res
}

// podDown is an instance edit that marks pods of one deployment unhealthy.
func podDown(deployment string) func(*registry.Instance) {
	return func(in *registry.Instance) {
		if in.Owner == "Deployment/"+deployment {
			in.Healthy = false
		}
	}
}

// logBuffer is a goroutine-safe access-log sink.
type logBuffer struct{ wiretest.Buffer }

// entries parses the JSON lines written so far.
func (b *logBuffer) entries(t testing.TB) []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(b.String()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("access log line %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

// startProxy builds a proxy bound to loopback ports, applies res (if not
// nil), runs it until the test ends, and waits until it is ready.
func startProxy(t testing.TB, opts Options, res *meshxds.Resources) *Proxy {
	t.Helper()
	if opts.PortMap == nil {
		opts.PortMap = map[uint32]string{80: "127.0.0.1:0"}
	}
	if opts.OutboundAddr == "" {
		opts.OutboundAddr = "127.0.0.1:0"
	}
	if opts.AdminAddr == "" {
		opts.AdminAddr = "127.0.0.1:0"
	}
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if res != nil {
		if err := p.Apply(res); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	if res != nil {
		waitFor(t, "proxy ready", p.Ready)
	}
	return p
}

// waitFor polls cond until it holds, failing the test after 10s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// newClient is a keep-alive client that ignores the environment's proxy
// settings, or sends every request through proxy when it is not nil.
func newClient(proxy net.Addr) *http.Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}
	if proxy != nil {
		tr.Proxy = http.ProxyURL(&url.URL{Scheme: "http", Host: proxy.String()})
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// call sends one request and returns status, body and response header.
func call(t testing.TB, c *http.Client, method, rawURL, host string, header map[string]string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, rawURL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, rawURL, err)
	}
	return resp.StatusCode, string(body), resp.Header
}

// gatewayURL is the URL of path on the gateway's port 80 listener.
func gatewayURL(p *Proxy, path string) string {
	return "http://" + p.Addr(80).String() + path
}

// rawExchange writes raw bytes to addr and returns everything the server
// sends back until it closes the connection or 3s pass.
func rawExchange(t testing.TB, addr net.Addr, raw string) string {
	t.Helper()
	out, _ := rawExchangeClosed(t, addr, raw)
	return out
}

// statusOf and rawExchangeClosed (rawExchange that also reports whether
// the server closed the connection): see package wiretest.
var (
	statusOf          = wiretest.StatusOf
	rawExchangeClosed = wiretest.Exchange
)
