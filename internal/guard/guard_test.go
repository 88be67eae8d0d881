package guard

import (
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// serve runs Browser(Bearer(handler)) on a real loopback socket and
// returns its address and a counter of requests that reached the handler.
func serve(t *testing.T, bound string) (addr string, reached *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	reached = new(atomic.Int32)
	h := Browser(bound, Bearer("s3cret", "/tmp/token", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		io.WriteString(w, "ok")
	})))
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), reached
}

// TestRefusesWhatABrowserSends: each request is one that a web page can
// make a browser send (or, for the token cases, one from a process that
// does not have the token). Each case changes one thing from a request
// that is served, so removing any single check fails its case.
func TestRefusesWhatABrowserSends(t *testing.T) {
	addr, reached := serve(t, "127.0.0.1:0")
	_, port, _ := net.SplitHostPort(addr)
	for _, tc := range []struct {
		name    string
		method  string
		host    string // "" keeps the address dialled
		headers map[string]string
		want    int
	}{
		{"the owner's client", "POST", "", map[string]string{"Content-Type": "application/json"}, 200},
		{"the owner's client, yaml", "POST", "", map[string]string{"Content-Type": "application/yaml; charset=utf-8"}, 200},
		{"the owner's client, by localhost", "GET", "localhost:" + port, nil, 200},
		{"same-origin page", "POST", "", map[string]string{"Content-Type": "application/json", "Origin": "http://" + addr, "Sec-Fetch-Site": "same-origin"}, 200},
		{"DNS rebinding", "GET", "attacker.example:" + port, nil, 403},
		{"DNS rebinding, no port", "GET", "attacker.example", nil, 403},
		{"cross-origin simple POST", "POST", "", map[string]string{"Content-Type": "application/json", "Origin": "http://attacker.example"}, 403},
		{"opaque origin (sandboxed iframe)", "POST", "", map[string]string{"Content-Type": "application/json", "Origin": "null"}, 403},
		{"cross-site fetch metadata", "POST", "", map[string]string{"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"}, 403},
		{"CORS preflight", "OPTIONS", "", map[string]string{"Access-Control-Request-Method": "POST"}, 403},
		{"text/plain body", "POST", "", map[string]string{"Content-Type": "text/plain"}, 415},
		{"form body", "POST", "", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, 415},
		{"multipart body", "POST", "", map[string]string{"Content-Type": "multipart/form-data; boundary=x"}, 415},
		{"no content type", "POST", "", nil, 415},
		{"no token", "POST", "", map[string]string{"Content-Type": "application/json", "Authorization": ""}, 401},
		{"wrong token", "POST", "", map[string]string{"Content-Type": "application/json", "Authorization": "Bearer s3cre"}, 401},
		{"token as basic auth", "POST", "", map[string]string{"Content-Type": "application/json", "Authorization": "Basic czNjcmV0"}, 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := reached.Load()
			req, _ := http.NewRequest(tc.method, "http://"+addr+"/v1/apply", strings.NewReader("{}"))
			if tc.host != "" {
				req.Host = tc.host
			}
			req.Header.Set("Authorization", "Bearer s3cret")
			for k, v := range tc.headers {
				if v == "" {
					req.Header.Del(k)
				} else {
					req.Header.Set(k, v)
				}
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.want, body)
			}
			served := reached.Load() != before
			if served != (tc.want == 200) {
				t.Fatalf("handler reached: %v, want %v", served, tc.want == 200)
			}
			if tc.want != 200 && !strings.Contains(string(body), `"error"`) {
				t.Errorf("refusal does not say why: %s", body)
			}
		})
	}
}

// TestBoundName: a server bound by name accepts that name in Host, and
// still no other.
func TestBoundName(t *testing.T) {
	addr, _ := serve(t, "lanemesh.internal:15000")
	_, port, _ := net.SplitHostPort(addr)
	for host, want := range map[string]int{"lanemesh.internal:" + port: 200, "LaneMesh.Internal.:" + port: 200, "other.internal:" + port: 403} {
		req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
		req.Host = host
		req.Header.Set("Authorization", "Bearer s3cret")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("Host %s: status %d, want %d", host, resp.StatusCode, want)
		}
	}
}

func TestBearerRefusesEmptyToken(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("Bearer with an empty token served an open API")
		}
	}()
	Bearer("", "", http.NotFoundHandler())
}

func TestTokenFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "lanemesh")
	path := TokenPath(dir, "127.0.0.1:15000")
	if filepath.Base(path) != "admin-15000.token" {
		t.Fatalf("token path %s", path)
	}
	tok, err := WriteToken(path)
	if err != nil || len(tok) < 20 {
		t.Fatalf("WriteToken: %q %v", tok, err)
	}
	for p, want := range map[string]os.FileMode{path: 0o600, dir: 0o700} {
		if info, err := os.Stat(p); err != nil || info.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v (%v)", p, info.Mode().Perm(), want, err)
		}
	}
	if got, err := ReadToken(path); err != nil || got != tok {
		t.Fatalf("ReadToken: %q %v, want %q", got, err, tok)
	}
	again, _ := WriteToken(path)
	if again == tok {
		t.Fatal("a new server got the old token")
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadToken(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("a world-readable token was used: %v", err)
	}
	if _, err := ReadToken(filepath.Join(dir, "admin-1.token")); err == nil || !strings.Contains(err.Error(), "lanemesh up") {
		t.Errorf("a missing token does not say what writes it: %v", err)
	}
}

// TestServerBoundsIdleConnections: MaxConns connections that send nothing
// hold the surface only until the head timeout closes them; the owner's
// request, queued behind them, is then served.
func TestServerBoundsIdleConnections(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := Server(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }), 300*time.Millisecond)
	go func() { _ = srv.Serve(Listener(ln)) }()
	t.Cleanup(func() { _ = srv.Close() })
	var idle []net.Conn
	for range MaxConns {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, c)
	}
	t.Cleanup(func() {
		for _, c := range idle {
			c.Close()
		}
	})
	start := time.Now()
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatalf("the owner's request behind %d idle connections: %v", MaxConns, err)
	}
	resp.Body.Close()
	if waited := time.Since(start); waited < 200*time.Millisecond {
		t.Errorf("served after %v: the %d idle connections did not hold the surface (is it bounded?)", waited, MaxConns)
	}
	for _, c := range idle[:3] {
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("an idle connection was not closed by the head timeout: %v", err)
		}
	}
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:15000": true, "localhost:15000": true, "[::1]:15000": true, ":15010": true, "127.0.1.7:15000": true, "LOCALHOST": true,
		"127.0.0.2": true, "10.0.0.5:15000": false, "example.com:15000": false, "[2001:db8::1]:15000": false, "lanemesh.istio-system.svc:15010": false,
	} {
		if got := IsLoopback(addr); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
}
