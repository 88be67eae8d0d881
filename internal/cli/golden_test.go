package cli

import (
	"bytes"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/lanemesh/lanemesh/internal/admin"
	"github.com/lanemesh/lanemesh/internal/compile"
	"github.com/lanemesh/lanemesh/internal/config"
	"github.com/lanemesh/lanemesh/internal/controlplane"
	"github.com/lanemesh/lanemesh/internal/events"
	"github.com/lanemesh/lanemesh/internal/local"
	"github.com/lanemesh/lanemesh/internal/meshxds"
	"github.com/lanemesh/lanemesh/internal/registry"
	"github.com/lanemesh/lanemesh/internal/xdsserver"
)

// update rewrites the golden files from what the commands print now. Only
// commit the change if you understand it.
var update = flag.Bool("update", false, "rewrite internal/cli/testdata/golden from the commands' output")

// goldenEpoch is when the fixture's objects and pods were created; the
// commands run 90 seconds later, so every AGE is 90s.
var goldenEpoch = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// TestGolden runs each command against a fixed mesh — the traffic-lanes
// tutorial with the fallback, its nine pods, their proxies and the
// resources the compiler gives them — and compares its exit code, stdout
// and stderr with testdata/golden/NAME.txt. go test ./internal/cli -update
// rewrites them.
func TestGolden(t *testing.T) {
	server := goldenMesh(t)
	runGolden(t, server, []goldenCase{
		{"get-vs", "get vs"},
		{"get-vs-yaml", "get vs -n istio-system -o yaml"},
		{"get-vs-one-yaml", "get vs mockb -o yaml"},
		{"get-dr-json", "get dr -o json"},
		{"get-type-name", "get vs/mockb dr/dr-mockb"},
		{"get-names", "get deploy mockb-v1 mockb-v2"},
		{"get-types", "get gw,svc -o wide"},
		{"get-pods-labels", "get pods --show-labels"},
		{"get-pods-selector", "get po -l app=mockb,version!=v1 -o wide"},
		{"get-pods-selector-set", "get po -n default -l 'version in (v2,v3)' -o name"},
		{"get-pods-yaml", "get pod mockb-v2-0 -o yaml"},
		{"get-ns-empty", "get vs -n nowhere"},
		{"get-events", "get events"},
		{"get-proxies", "get proxies"},
		{"get-missing", "get vs nope -n istio-system"},
		{"get-unknown-type", "get frobs"},
		{"get-mixed-forms", "get vs mockb/x"},
		{"get-bad-selector", "get pods -l 'app in'"},
		{"describe-vs", "describe vs mockb"},
		{"describe-dr", "describe dr/dr-mockb"},
		{"describe-pod", "describe pod mockb-v2-0"},
		{"describe-deploy", "describe deploy mockb-v2"},
		{"describe-svc", "describe svc mockb"},
		{"proxy-status", "proxy-status"},
		{"proxy-status-one", "proxy-status mocka-v2-0.default"},
		{"proxy-config-routes", "proxy-config routes mocka-v2-0"},
		{"proxy-config-routes-gateway", "proxy-config routes ingressgateway.istio-system"},
		{"proxy-config-clusters", "proxy-config clusters mocka-v2-0"},
		{"proxy-config-endpoints", "proxy-config endpoints mocka-v2-0"},
		{"proxy-config-listeners", "proxy-config listeners ingressgateway -n istio-system"},
		{"proxy-config-json", "proxy-config listeners mocka-v2-0 -o json"},
		{"proxy-config-unknown", "proxy-config routes nobody"},
		{"logs-tail", "logs mockb-v2-0 --tail 1"},
		{"logs-sidecar", "logs deployment/mockb-v2 -c sidecar"},
		{"logs-bad-container", "logs mockb-v2-0 -c nope"},
		{"explain-live", "explain --live --pod mocka-v2-0 --chain http://mockb:8000/"},
		{"explain-live-gateway", "explain --live --gateway istio-system/ingressgateway -H 'x-asm-prefer-tag: v3' http://gw/mock"},
	})
}

// TestGoldenLaneGroup runs the commands that show a lane group against
// the permissive example's mesh.
func TestGoldenLaneGroup(t *testing.T) {
	server := goldenMeshOf(t, "../../examples/lane-group-permissive")
	runGolden(t, server, []goldenCase{
		{"describe-lane-group", "describe asmswimlanegroup mock"},
		{"get-lane-groups", "get asmswimlanegroups -A"},
	})
}

// goldenCase is a command line and the golden file (NAME.txt) of what it prints.
type goldenCase struct{ name, args string }

func runGolden(t *testing.T, server string, cases []goldenCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := shellWords(tc.args)
			var out, errOut bytes.Buffer
			code := mainAt(func() time.Time { return goldenEpoch.Add(90 * time.Second) }, args, strings.NewReader(""), &out, &errOut)
			got := fmt.Sprintf("$ lanemesh %s\nexit: %d\n--- stdout\n%s--- stderr\n%s", tc.args, code, out.String(), errOut.String())
			got = strings.ReplaceAll(got, server, "SERVER")
			compareGolden(t, filepath.Join("testdata", "golden", tc.name+".txt"), got)
		})
	}
}

func compareGolden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/cli -run TestGolden -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (-update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// goldenMesh serves the admin API of a fixed mesh until the test ends and
// points the commands at it (LANEMESH_SERVER); it returns the server URL.
func goldenMesh(t *testing.T) string { return goldenMeshOf(t, lanes, fallback) }

// goldenMeshOf is goldenMesh of the configuration at paths.
func goldenMeshOf(t *testing.T, paths ...string) string {
	t.Helper()
	home := t.TempDir()
	t.Setenv("LANEMESH_HOME", home)
	t.Setenv("LANEMESH_TOKEN_FILE", "")
	store := controlplane.NewStore(nil)
	store.Clock = func() time.Time { return goldenEpoch }
	cfg, diags := config.Load(paths, nil)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if _, err := store.Apply(cfg, false); err != nil {
		t.Fatal(err)
	}
	instances := local.Predict(cfg)
	w := &fakeWorkloads{logs: map[string]string{}}
	for _, in := range instances {
		w.pods = append(w.pods, admin.Pod{Name: in.Name, Namespace: in.Namespace, Owner: in.Owner, IP: in.Address, Phase: "Ready",
			Ready: true, Labels: in.Labels, Created: goldenEpoch})
		w.logs[in.Namespace+"/"+in.Name+"/app"] = fmt.Sprintf("mock listening app=%s\nGET / 200\n", in.Labels["app"])
		w.logs[in.Namespace+"/"+in.Name+"/sidecar"] = "configuration applied\n{\"path\":\"/\",\"status\":200}\n"
	}
	w.pods[4].Restarts, w.pods[4].Message = 2, "" // mockb-v2-0: restarted twice
	resources := map[string]*meshxds.Resources{}
	var proxies []xdsserver.ProxyStatus
	addProxy := func(id string, p meshxds.Proxy, sync xdsserver.SyncState) {
		resources[id] = compile.Compile(cfg, instances, p)
		ps := xdsserver.ProxyStatus{ID: id, Proxy: p, Connected: true, Cluster: meshxds.NodeCluster, Agent: "lanemesh v0.9.0",
			Acked: map[string]string{}, Sync: map[string]xdsserver.SyncState{}}
		for _, typ := range []string{resourcev3.ClusterType, resourcev3.ListenerType, resourcev3.RouteType, resourcev3.EndpointType} {
			ps.Acked[typ], ps.Sync[typ] = "7", xdsserver.Synced
		}
		ps.Sync[resourcev3.RouteType] = sync
		if sync == xdsserver.Stale {
			ps.LastNACK = &xdsserver.NACK{TypeURL: resourcev3.RouteType, Version: "8", Message: "route refused", Time: goldenEpoch.Add(time.Minute)}
		}
		proxies = append(proxies, ps)
	}
	addProxy("gateway~istio-system/ingressgateway", meshxds.Proxy{Role: meshxds.Gateway, Namespace: "istio-system", Labels: config.GatewayLabels}, xdsserver.Synced)
	for i, in := range instances {
		sync := xdsserver.Synced
		if i == 5 {
			sync = xdsserver.Stale
		}
		addProxy("sidecar~"+in.Namespace+"/"+in.Name, meshxds.Proxy{Role: meshxds.Sidecar, Namespace: in.Namespace, Labels: in.Labels}, sync)
	}
	log := &events.Log{}
	log.Add(events.Event{Time: goldenEpoch.Add(30 * time.Second), Type: "Warning", Reason: "FileOverrodeChange", Kind: "VirtualService",
		Namespace: "istio-system", Name: "mockb", Message: "VirtualService istio-system/mockb: the edit of vs.yaml replaces the change made by lanemesh apply at 2026-12-01T12:00:00Z"})
	ln, err := admin.Listen("127.0.0.1:0", home)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: (&admin.Server{Store: store, Listener: ln, Workloads: w, Events: log, Feed: &events.Feed{}, Name: "lanemesh-0",
		Proxies: func() any { return proxies }, Instances: func() []registry.Instance { return instances },
		ProxyConfig: func(node, typ string) ([]*anypb.Any, string, bool) {
			res := resources[node]
			if res == nil {
				return nil, "", false
			}
			return anys(t, res, typ), "7", true
		}}).Handler()}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	t.Setenv("LANEMESH_SERVER", ln.URL())
	return ln.URL()
}

// anys marshals one type of compiled resources as xDS sends them.
func anys(t *testing.T, res *meshxds.Resources, typ string) []*anypb.Any {
	var msgs []proto.Message
	switch typ {
	case resourcev3.ClusterType:
		for _, m := range res.Clusters {
			msgs = append(msgs, m)
		}
	case resourcev3.ListenerType:
		for _, m := range res.Listeners {
			msgs = append(msgs, m)
		}
	case resourcev3.RouteType:
		for _, m := range res.Routes {
			msgs = append(msgs, m)
		}
	case resourcev3.EndpointType:
		for _, m := range res.Endpoints {
			msgs = append(msgs, m)
		}
	}
	var out []*anypb.Any
	for _, m := range msgs {
		a, err := anypb.New(m)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, a)
	}
	return out
}

// fakeWorkloads are pods whose logs are fixed strings, by ns/pod/container.
type fakeWorkloads struct {
	pods []admin.Pod
	logs map[string]string
}

func (f *fakeWorkloads) Pods() []admin.Pod { return f.pods }

func (f *fakeWorkloads) Logs(ns, pod string) ([]byte, error) {
	b, _, err := f.LogsFrom(ns, pod, "app", 0)
	return b, err
}

func (f *fakeWorkloads) LogsFrom(ns, pod, container string, offset int64) ([]byte, int64, error) {
	if container == "" {
		container = "app"
	}
	s, ok := f.logs[ns+"/"+pod+"/"+container]
	if !ok {
		return nil, 0, fmt.Errorf("pod %s/%s has no container %q: use app or sidecar", ns, pod, container)
	}
	if offset >= int64(len(s)) {
		return nil, int64(len(s)), nil
	}
	return []byte(s[offset:]), int64(len(s)), nil
}
