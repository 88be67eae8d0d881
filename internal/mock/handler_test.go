package mock

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// serveMock starts a mock on an httptest server and returns its URL.
func serveMock(t *testing.T, cfg Config, client *http.Client) string {
	t.Helper()
	srv := httptest.NewServer(Handler(cfg, client))
	t.Cleanup(srv.Close)
	return srv.URL
}

// get sends a request and returns the status and body.
func get(t *testing.T, url string, header http.Header) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

func TestHandlerAnswersAnyPathWithItsLine(t *testing.T) {
	url := serveMock(t, Config{App: "mockc", Version: "v3"}, nil)
	for _, path := range []string{"/", "/mock", "/a/b?c=d"} {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, url+path, strings.NewReader("ignored"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := "-> mockc(version: v3, ip: 127.0.0.1)"; string(body) != want || resp.StatusCode != 200 {
			t.Errorf("POST %s = %d %q, want 200 %q", path, resp.StatusCode, body, want)
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
			t.Errorf("Content-Type = %q, want text/plain", ct)
		}
	}
}

func TestHandlerChainsThreeMocks(t *testing.T) {
	c := serveMock(t, Config{App: "c", Version: "v1"}, nil)
	b := serveMock(t, Config{App: "b", Version: "v1", UpstreamURL: c + "/"}, nil)
	a := serveMock(t, Config{App: "a", Version: "v1", UpstreamURL: b + "/"}, nil)
	status, body := get(t, a+"/mock", nil)
	want := "-> a(version: v1, ip: 127.0.0.1)-> b(version: v1, ip: 127.0.0.1)-> c(version: v1, ip: 127.0.0.1)"
	if status != 200 || body != want {
		t.Errorf("chain = %d %q, want 200 %q", status, body, want)
	}
}

func TestHandlerReportsConfiguredPodIP(t *testing.T) {
	url := serveMock(t, Config{App: "mocka", Version: "v1", PodIP: "127.0.1.7"}, nil)
	if _, body := get(t, url, nil); body != "-> mocka(version: v1, ip: 127.0.1.7)" {
		t.Errorf("body = %q", body)
	}
}

// recorder is an upstream that remembers the headers of its last request
// and answers with a fixed status and body.
type recorder struct {
	mu     sync.Mutex
	header http.Header
	uri    string
	status int
	body   string
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec.mu.Lock()
	rec.header, rec.uri = r.Header.Clone(), r.RequestURI
	rec.mu.Unlock()
	w.WriteHeader(rec.status)
	io.WriteString(w, rec.body)
}

func (rec *recorder) last() (http.Header, string) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.header, rec.uri
}

func TestHandlerForwardsOnlyRequestID(t *testing.T) {
	up := &recorder{status: 200, body: "-> up"}
	upSrv := httptest.NewServer(up)
	defer upSrv.Close()
	url := serveMock(t, Config{App: "a", Version: "v1", UpstreamURL: upSrv.URL}, nil)
	get(t, url, http.Header{
		"X-Request-Id":     {"req-42"},
		"X-Asm-Prefer-Tag": {"v2"},
		"Authorization":    {"Bearer secret"},
		"Cookie":           {"session=1"},
		"Traceparent":      {"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
	})
	h, _ := up.last()
	if got := h.Get("X-Request-Id"); got != "req-42" {
		t.Errorf("upstream x-request-id = %q, want req-42", got)
	}
	for _, k := range []string{"X-Asm-Prefer-Tag", "Authorization", "Cookie", "Traceparent"} {
		if v, ok := h[k]; ok {
			t.Errorf("upstream received %s: %q; only x-request-id may be forwarded", k, v)
		}
	}
}

func TestHandlerAppendsUpstreamBodyWhateverTheStatus(t *testing.T) {
	up := httptest.NewServer(&recorder{status: http.StatusServiceUnavailable, body: "no healthy upstream"})
	defer up.Close()
	url := serveMock(t, Config{App: "mocka", Version: "v2", UpstreamURL: up.URL}, nil)
	status, body := get(t, url, nil)
	if want := "-> mocka(version: v2, ip: 127.0.0.1)no healthy upstream"; status != 503 || body != want {
		t.Errorf("got %d %q, want 503 %q", status, body, want)
	}
}

func TestHandlerShowsUpstreamErrorInTheChain(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String() + "/"
	ln.Close()
	url := serveMock(t, Config{App: "mockb", Version: "v1", UpstreamURL: closed}, nil)
	status, body := get(t, url, nil)
	prefix := "-> mockb(version: v1, ip: 127.0.0.1)upstream error: "
	// 503, as Envoy answers a connect failure (UF), so that the caller's
	// sidecar retries it under Istio's default retry policy.
	if status != http.StatusServiceUnavailable || !strings.HasPrefix(body, prefix) || !strings.Contains(body, "connection refused") {
		t.Errorf("got %d %q, want 503 starting %q and naming the refused connection", status, body, prefix)
	}
}

func TestHandlerCallsUpstreamThroughProxy(t *testing.T) {
	proxy := &recorder{status: 200, body: "-> via-proxy"}
	proxySrv := httptest.NewServer(proxy)
	defer proxySrv.Close()
	client, err := NewClient(proxySrv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer client.CloseIdleConnections()
	url := serveMock(t, Config{App: "mocka", Version: "v1", UpstreamURL: "http://mockb:8000/"}, client)
	status, body := get(t, url, http.Header{"X-Request-Id": {"r1"}})
	if want := "-> mocka(version: v1, ip: 127.0.0.1)-> via-proxy"; status != 200 || body != want {
		t.Errorf("got %d %q, want 200 %q", status, body, want)
	}
	h, uri := proxy.last()
	if uri != "http://mockb:8000/" {
		t.Errorf("proxy saw request-target %q, want the absolute form http://mockb:8000/", uri)
	}
	if h.Get("X-Request-Id") != "r1" {
		t.Errorf("proxy saw x-request-id %q, want r1", h.Get("X-Request-Id"))
	}
}

func TestHandlerDoesNotFollowRedirects(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/elsewhere" {
			t.Error("the mock followed a redirect")
		}
		w.Header().Set("Location", "/elsewhere")
		w.WriteHeader(http.StatusFound)
		io.WriteString(w, "moved")
	}))
	defer up.Close()
	url := serveMock(t, Config{App: "a", Version: "v1", UpstreamURL: up.URL}, nil)
	if status, body := get(t, url, nil); status != http.StatusFound || !strings.HasSuffix(body, ")moved") {
		t.Errorf("got %d %q, want 302 ending in )moved", status, body)
	}
}

func TestHandlerPropagatesConfiguredHeaders(t *testing.T) {
	up := &recorder{status: 200, body: "-> up"}
	upSrv := httptest.NewServer(up)
	defer upSrv.Close()
	cfg := ConfigFromEnv(func(k string) string {
		return map[string]string{"upstream_url": upSrv.URL, "propagate": " x-request-id, baggage ,,my-trace-id"}[k]
	})
	url := serveMock(t, cfg, nil)
	get(t, url, http.Header{
		"X-Request-Id":     {"req-42"},
		"Baggage":          {"userId=alice", "x-asm-prefer-tag=s2"},
		"My-Trace-Id":      {"t-1"},
		"X-Asm-Prefer-Tag": {"s2"},
	})
	h, _ := up.last()
	if h.Get("X-Request-Id") != "req-42" || h.Get("My-Trace-Id") != "t-1" || strings.Join(h.Values("Baggage"), ",") != "userId=alice,x-asm-prefer-tag=s2" {
		t.Errorf("upstream headers %v: want x-request-id, both baggage lines and my-trace-id", h)
	}
	if _, ok := h["X-Asm-Prefer-Tag"]; ok {
		t.Error("the route header was forwarded though propagate does not name it")
	}
}
