package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const (
	lanes    = "../../examples/traffic-lanes"
	fallback = "../../examples/traffic-lanes-fallback"
)

// run runs lanemesh with args and returns exit code, stdout and stderr.
func run(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Main(args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "vs.yaml")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const badSubset = `apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata:
  name: mockb
  namespace: istio-system
spec:
  hosts: [mockb.default.svc.cluster.local]
  http:
  - route:
    - destination:
        host: mockb.default.svc.cluster.local
        subset: v4
`

func TestAnalyzeExitCodes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout string
	}{
		{"clean", []string{"analyze", "-f", lanes}, 0, "No validation issues"},
		{"clean with fallback", []string{"analyze", "-f", lanes, "-f", fallback}, 0, "No validation issues"},
		{"undefined subset", []string{"analyze", "-f", lanes, "-f", "BAD"}, 1,
			`Error [IST0101] (VirtualService mockb.istio-system) BAD:12 spec.http[0].route[0].destination.subset: Referenced host+subset in destinationrule not found: "mockb.default.svc.cluster.local+v4"`},
		{"missing file", []string{"analyze", "-f", "/nonexistent.yaml"}, 2, "cannot read"},
		{"no -f", []string{"analyze"}, 2, ""},
		{"bad -o", []string{"analyze", "-f", lanes, "-o", "xml"}, 2, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := writeFile(t, badSubset)
			for i, a := range tc.args {
				tc.args[i] = strings.ReplaceAll(a, "BAD", bad)
			}
			code, out, errOut := run(t, "", tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, out, errOut)
			}
			if want := strings.ReplaceAll(tc.stdout, "BAD", bad); !strings.Contains(out, want) {
				t.Errorf("stdout does not contain %q:\n%s", want, out)
			}
		})
	}
}

func TestAnalyzeStdinJSON(t *testing.T) {
	code, out, _ := run(t, badSubset, "analyze", "-f", "-", "-o", "json")
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	var diags []map[string]any
	if err := json.Unmarshal([]byte(out), &diags); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	var codes []string
	for _, d := range diags {
		codes = append(codes, d["code"].(string)+" "+d["level"].(string)+" "+d["file"].(string))
	}
	if !strings.Contains(strings.Join(codes, ","), "IST0101 Error <stdin>") {
		t.Errorf("codes %v, want an IST0101 Error from <stdin>", codes)
	}
}

func TestExplainJSON(t *testing.T) {
	code, out, errOut := run(t, "", "explain", "-f", lanes, "-f", fallback, "--source-labels", "app=mocka,version=v2", "-o", "json", "http://mockb:8000/")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var r struct {
		VirtualService string
		RouteIndex     int
		Destination    struct{ Host, Subset string }
		Fallback       *struct{ Host, Subset string }
		Cluster        string
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if r.VirtualService != "istio-system/mockb" || r.RouteIndex != 0 || r.Destination.Subset != "v2" ||
		r.Fallback == nil || r.Fallback.Subset != "v1" || !strings.HasPrefix(r.Cluster, "outbound|8000|v2|mockb") {
		t.Errorf("unexpected explanation: %+v\n%s", r, out)
	}
}

func TestExplainNoRoute(t *testing.T) {
	code, out, _ := run(t, "", "explain", "-f", lanes, "--gateway", "istio-system/ingressgateway", "-H", "x-asm-prefer-tag: v9", "http://gateway/mock")
	if code != 1 || !strings.Contains(out, "404 NR") {
		t.Errorf("exit %d, want 1 with 404 NR:\n%s", code, out)
	}
	code, out, _ = run(t, "", "explain", "-f", lanes, "-o", "json", "--gateway", "istio-system/ingressgateway", "http://gateway/mock")
	if code != 1 || !strings.Contains(out, `"fallback": null`) || !strings.Contains(out, `"flag": "NR"`) {
		t.Errorf("exit %d, want 1 with a JSON NR answer:\n%s", code, out)
	}
}

func TestExplainUsage(t *testing.T) {
	for name, args := range map[string][]string{
		"no proxy":        {"explain", "-f", lanes, "http://x/"},
		"both proxies":    {"explain", "-f", lanes, "--gateway", "a/b", "--source-labels", "a=b", "http://x/"},
		"unknown gateway": {"explain", "-f", lanes, "--gateway", "istio-system/nope", "http://x/"},
		"bad label":       {"explain", "-f", lanes, "--source-labels", "app", "http://x/"},
		"bad header":      {"explain", "-f", lanes, "--source-labels", "app=a", "-H", "novalue", "http://x/"},
		"bad url":         {"explain", "-f", lanes, "--source-labels", "app=a", "/relative"},
	} {
		code, _, errOut := run(t, "", args...)
		if code != 2 || errOut == "" {
			t.Errorf("%s: exit %d, stderr %q; want 2 with a message", name, code, errOut)
		}
	}
}

func TestExplainRefusesBrokenConfig(t *testing.T) {
	code, _, errOut := run(t, "", "explain", "-f", lanes, "-f", writeFile(t, badSubset), "--source-labels", "app=a", "http://mockb:8000/")
	if code != 1 || !strings.Contains(errOut, "IST0101") {
		t.Errorf("exit %d, stderr %q; want 1 naming IST0101", code, errOut)
	}
}

func TestVerifyExitCodes(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := r.Header.Get("x-asm-prefer-tag")
		if v == "v3" {
			v = "v2" // a leak
		}
		fmt.Fprintf(w, "-> mocka(version: %s, ip: 127.0.0.1)", v)
	}))
	defer srv.Close()
	code, out, _ := run(t, "", "verify", "--lanes", "v1,v2", "-n", "5", srv.URL)
	if code != 0 || !strings.Contains(out, "v2    5         5") {
		t.Errorf("exit %d, want 0:\n%s", code, out)
	}
	code, out, _ = run(t, "", "verify", "--lanes", "v1,v3", "-n", "5", srv.URL)
	if code != 1 || !strings.Contains(out, "lane v3, leaked") {
		t.Errorf("exit %d, want 1 with a leak example:\n%s", code, out)
	}
	// Progress goes to stderr only, so stdout stays the report; off the
	// terminal, a line per lane at each tenth.
	_, quiet, _ := run(t, "", "verify", "--lanes", "v1,v2", "-n", "20", srv.URL)
	code, out, errOut := run(t, "", "verify", "--lanes", "v1,v2", "-n", "20", "--progress", "always", srv.URL)
	if code != 0 || out != quiet {
		t.Errorf("exit %d; stdout with --progress differs from without:\n%s\n%s", code, out, quiet)
	}
	if strings.Count(errOut, "lane v2: ") != 10 || !strings.Contains(errOut, "lane v1: 20/20 requests\n") {
		t.Errorf("progress on stderr:\n%s\nwant 10 lines per lane ending at 20/20", errOut)
	}
	if _, _, errOut = run(t, "", "verify", "--lanes", "v1", "-n", "3", srv.URL); errOut != "" {
		t.Errorf("progress printed off a terminal without --progress: %q", errOut)
	}
}

// TestCompletion: the shell scripts come from cobra, and object names
// complete from the running mesh.
func TestCompletion(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish"} {
		if code, out, _ := run(t, "", "completion", shell); code != 0 || !strings.Contains(out, "lanemesh") {
			t.Errorf("completion %s: exit %d", shell, code)
		}
	}
	_, ln := serveAdmin(t)
	s := "--server=" + ln.URL()
	if code, _, errOut := run(t, "", "apply", s, "-f", lanes); code != 0 {
		t.Fatal(errOut)
	}
	_, out, _ := run(t, "", "__complete", "get", s, "")
	if !strings.Contains(out, "virtualservices\n") || !strings.Contains(out, "pods\n") {
		t.Errorf("types do not complete:\n%s", out)
	}
	_, out, _ = run(t, "", "__complete", "get", s, "vs", "")
	if !strings.HasPrefix(out, "mockb\nmockc\nswimlane-ingress-vs\n:4") {
		t.Errorf("VirtualService names do not complete:\n%s", out)
	}
	_, out, _ = run(t, "", "__complete", "describe", s, "dr/")
	if !strings.HasPrefix(out, "dr/dr-mocka\ndr/dr-mockb\ndr/dr-mockc\n") {
		t.Errorf("TYPE/NAME does not complete:\n%s", out)
	}
}

// TestEmbeddedDefaultIsTheExample: `lanemesh up` with no -f runs exactly
// examples/traffic-lanes, and it analyzes clean.
func TestEmbeddedDefaultIsTheExample(t *testing.T) {
	dir, err := writeEmbeddedDefault()
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	for _, sub := range []string{"traffic-lanes", "traffic-lanes-fallback"} {
		entries, _ := os.ReadDir(filepath.Join("../../examples", sub))
		for _, e := range entries {
			want, _ := os.ReadFile(filepath.Join("../../examples", sub, e.Name()))
			got, err := os.ReadFile(filepath.Join(dir, sub, e.Name()))
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("embedded %s/%s differs from the example (%v)", sub, e.Name(), err)
			}
		}
	}
	if code, out, _ := run(t, "", "analyze", "-f", filepath.Join(dir, "traffic-lanes")); code != 0 {
		t.Errorf("embedded default does not analyze clean:\n%s", out)
	}
}

// TestExplainHTTPFeatures: explain shows the hash key and the endpoint it
// lands on, the mirrors and what the CORS filter does.
func TestExplainHTTPFeatures(t *testing.T) {
	cfg := `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: shop, namespace: default}
spec:
  hosts: [shop.example.internal]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 10.1.0.1}, {address: 10.1.0.2}, {address: 10.1.0.3}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: shop, namespace: default}
spec:
  host: shop.example.internal
  trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: x-user, maglev: {tableSize: 251}}}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: shop, namespace: default}
spec:
  hosts: [shop.example.internal]
  http:
  - route: [{destination: {host: shop.example.internal}}]
    mirror: {host: shop.example.internal}
    mirrorPercentage: {value: 12.5}
    corsPolicy: {allowOrigins: [{prefix: "https://dev."}]}
`
	code, out, errOut := run(t, cfg, "explain", "-f", "-", "--source-labels", "app=client", "-H", "Origin: https://dev.shop.example.com",
		"-H", "x-user: alice", "http://shop.example.internal/items")
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
	for _, want := range []string{"Load balancing: MAGLEV by header x-user -> 10.1.0.", "Mirror:         outbound|80||shop.example.internal (12.5% of requests)",
		"CORS:           origin https://dev.shop.example.com allowed"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = run(t, cfg, "explain", "-f", "-", "--source-labels", "app=client", "-o", "json", "http://shop.example.internal/")
	if code != 0 || !strings.Contains(out, `"hashKey": "header x-user"`) || !strings.Contains(out, `"policy": "MAGLEV"`) || strings.Contains(out, `"endpoint"`) {
		t.Errorf("exit %d, want the hash key and no endpoint (no key) in JSON:\n%s", code, out)
	}
}

// TestExplainServiceEntryEndpoint: a DNS ServiceEntry's host is its own
// endpoint, printed without a pod.
func TestExplainServiceEntryEndpoint(t *testing.T) {
	const se = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api, namespace: shop}
spec:
  hosts: [api.example.com]
  ports: [{number: 80, name: http, protocol: HTTP, targetPort: 8080}]
  resolution: DNS
`
	code, out, errOut := run(t, se, "explain", "-f", "-", "--source-labels", "app=web", "-n", "shop", "http://api.example.com/")
	if code != 0 || !strings.Contains(out, "Endpoints:      api.example.com:8080 (healthy)\n") {
		t.Errorf("exit %d, want the host as its endpoint:\n%s%s", code, out, errOut)
	}
}

// TestTokenStaysLocal: without --token-file, the token of an up on this
// machine is sent to a loopback server only; another host on the same
// port is refused before any connection.
func TestTokenStaysLocal(t *testing.T) {
	code, _, stderr := run(t, "", "get", "pods", "--server", "http://192.0.2.1:15000")
	if code != 2 || !strings.Contains(stderr, "--token-file") {
		t.Fatalf("exit %d, stderr %q; want a usage error naming --token-file", code, stderr)
	}
}

// TestProxyStaticNeedsFiles: --static with no -f is a usage error, not a
// proxy that serves nothing and says it is ready.
func TestProxyStaticNeedsFiles(t *testing.T) {
	code, _, stderr := run(t, "", "proxy", "--role", "gateway", "--static", "--admin", "")
	if code != 2 || !strings.Contains(stderr, "-f PATH") {
		t.Fatalf("exit %d, stderr %q; want a usage error asking for -f", code, stderr)
	}
}

// TestInterruptibleStdin: a read of stdin that would block gives up when
// the command's context ends (Ctrl-C during `analyze -f -`).
func TestInterruptibleStdin(t *testing.T) {
	r, w := io.Pipe() // nothing is ever written
	defer w.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := io.ReadAll(interruptible{ctx, r})
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("read ended with %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the read did not give up when the context ended")
	}
	if got, err := io.ReadAll(interruptible{context.Background(), strings.NewReader("kind: x")}); string(got) != "kind: x" || err != nil {
		t.Errorf("a plain read: %q %v", got, err)
	}
}
