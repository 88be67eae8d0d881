package bootstrap

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lanemesh/lanemesh/internal/config"
	"github.com/lanemesh/lanemesh/internal/guard"
	"github.com/lanemesh/lanemesh/internal/meshxds"
	"github.com/lanemesh/lanemesh/internal/registry"
	"github.com/lanemesh/lanemesh/internal/xds"
)

// TestOneAssembly: the files' WorkloadEntries are probed into the same
// view that a mode's own source feeds, and a second control plane on a
// taken address is refused with what to do.
func TestOneAssembly(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	dir := t.TempDir()
	yaml := fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: vm, namespace: default}
spec:
  hosts: [vm.example.com]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  workloadSelector: {labels: {app: vm}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: vm-1, namespace: default}
spec:
  address: 127.0.0.1
  labels: {app: vm}
  ports: {http: %d}
`, port)
	if err := os.WriteFile(filepath.Join(dir, "mesh.yaml"), []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	srv, _, err := Start(t.Context(), Options{Paths: []string{dir}, XDS: "127.0.0.1:0", Admin: "127.0.0.1:0",
		TokenDir: t.TempDir(), ProbeInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { srv.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	srv.Instances.Set("pods", []registry.Instance{{Name: "a-0", Namespace: "default", Address: "127.0.1.1", Healthy: true}})
	deadline := time.Now().Add(5 * time.Second)
	for {
		in := srv.Instances.Instances()
		if len(in) == 2 && in[0].Name == "a-0" && in[1].Name == "vm-1" && in[1].Healthy {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("instances %+v: want the pod and the probed, healthy entry", in)
		}
		time.Sleep(10 * time.Millisecond)
	}

	_, _, err = Start(t.Context(), Options{XDS: srv.XDSAddr(), Admin: "127.0.0.1:0", TokenDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "--xds") {
		t.Fatalf("second control plane on %s: %v, want an error that names --xds", srv.XDSAddr(), err)
	}
}

// TestXDSNeedsTheOperatorToken: the control plane writes an operator token
// beside its admin token, owner-only; a proxy presenting it is served, one
// presenting nothing is refused; the token goes with the server.
func TestXDSNeedsTheOperatorToken(t *testing.T) {
	dir := t.TempDir()
	srv, _, err := Start(t.Context(), Options{Paths: []string{"../../examples/traffic-lanes"}, XDS: "127.0.0.1:0", Admin: "127.0.0.1:0", TokenDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { srv.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	path := srv.XDSTokenFile()
	if filepath.Dir(path) != dir {
		t.Errorf("token file %s, want it in %s", path, dir)
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v, %v; want mode 0600", info, err)
	}
	gw := meshxds.Proxy{Role: meshxds.Gateway, Namespace: "istio-system", Labels: config.GatewayLabels}
	run := func(tok xds.TokenSource) *xds.Client {
		c := &xds.Client{Target: srv.XDSAddr(), Node: meshxds.NodeFor("gw-"+fmt.Sprint(tok != nil), gw), Token: tok,
			Apply: func(*meshxds.Resources) error { return nil }, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}
		go c.Run(ctx)
		return c
	}
	withToken, without := run(xds.TokenFile(path)), run(nil)
	deadline := time.Now().Add(10 * time.Second)
	for len(withToken.Status().Acked) == 0 || status.Code(without.Status().LastError) != codes.Unauthenticated {
		if time.Now().After(deadline) {
			t.Fatalf("with the token: %+v; without: %+v; want the first configured, the second refused", withToken.Status(), without.Status())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(without.Status().Acked) != 0 {
		t.Error("a proxy without a token was configured")
	}
	srv.Close()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("token file outlived its server: %v", err)
	}
}

// TestDashboardIsGuarded: the dashboard's page is served to anyone (it
// holds no data), its data only with the admin token and never to another
// site's page; a live stream does not hold up the server's shutdown.
func TestDashboardIsGuarded(t *testing.T) {
	srv, _, err := Start(t.Context(), Options{Paths: []string{"../../examples/traffic-lanes"}, XDS: "127.0.0.1:0", Admin: "127.0.0.1:0", TokenDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { srv.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	token, err := guard.ReadToken(srv.TokenFile())
	if err != nil {
		t.Fatal(err)
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string, headers ...string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.AdminURL()+path, nil)
		for i := 0; i < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	bearer := "Bearer " + token
	deadline := time.Now().Add(5 * time.Second)
	for get("/v1/dashboard", "Authorization", bearer).StatusCode != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("the dashboard never had a state")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, tc := range []struct {
		path    string
		headers []string
		want    int
	}{
		{"/ui/", nil, http.StatusOK},
		{"/ui/app.js", nil, http.StatusOK},
		{"/", nil, http.StatusFound},
		{"/v1/dashboard", nil, http.StatusUnauthorized},
		{"/v1/dashboard/stream", []string{"Authorization", "Bearer wrong"}, http.StatusUnauthorized},
		{"/v1/dashboard/explain?lane=v2", nil, http.StatusUnauthorized},
		{"/v1/dashboard/explain?lane=v2", []string{"Authorization", bearer}, http.StatusOK},
		{"/v1/dashboard", []string{"Authorization", bearer, "Origin", "http://evil.example"}, http.StatusForbidden},
		{"/v1/dashboard", []string{"Authorization", bearer, "Sec-Fetch-Site", "cross-site"}, http.StatusForbidden},
	} {
		if got := get(tc.path, tc.headers...).StatusCode; got != tc.want {
			t.Errorf("GET %s %v: %d, want %d", tc.path, tc.headers, got, tc.want)
		}
	}
	if loc := get("/").Header.Get("Location"); loc != "/ui/" {
		t.Errorf("/ redirects to %q, want /ui/", loc)
	}

	stream := get("/v1/dashboard/stream", "Authorization", bearer)
	if stream.StatusCode != http.StatusOK {
		t.Fatalf("stream: %s", stream.Status)
	}
	line, err := bufio.NewReader(stream.Body).ReadString('\n')
	if err != nil || !strings.Contains(line, `"matrix"`) {
		t.Fatalf("first streamed state: %q, %v", line, err)
	}
	stopped := time.Now()
	cancel()
	select {
	case <-done:
	case <-time.After(4 * time.Second):
		t.Fatal("an open stream held the admin API's shutdown")
	}
	t.Logf("shut down in %v with a stream open", time.Since(stopped).Round(time.Millisecond))
}
