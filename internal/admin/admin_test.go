package admin

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/lanemesh/lanemesh/internal/config"
	"github.com/lanemesh/lanemesh/internal/controlplane"
)

// testServer is the API on a real guarded listener, as `up` serves it.
type testServer struct {
	URL string
	ln  *Listener
}

func newServer(t *testing.T) (*testServer, *controlplane.Store) {
	t.Helper()
	store := controlplane.NewStore(nil)
	c, diags := config.Load([]string{"../../examples/traffic-lanes"}, nil)
	if diags.HasErrors() {
		t.Fatal(diags.Err())
	}
	if _, err := store.Apply(c, false); err != nil {
		t.Fatal(err)
	}
	ln, err := Listen("127.0.0.1:0", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: (&Server{Store: store, Listener: ln}).Handler()}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return &testServer{URL: ln.URL(), ln: ln}, store
}

// do sends an authenticated request, as lanemesh's commands do.
func (s *testServer) do(t *testing.T, method, path, contentType, body string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(method, s.URL+path, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Authorization", "Bearer "+s.ln.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func post(t *testing.T, srv *testServer, path, body string) (int, Result) {
	t.Helper()
	req, _ := http.NewRequest("POST", srv.URL+path, strings.NewReader(body))
	req.Header.Set("X-Filename", "vs.yaml")
	req.Header.Set("Content-Type", "application/yaml")
	req.Header.Set("Authorization", "Bearer "+srv.ln.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var res Result
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, res
}

func TestApplyRejectsWholeAndKeepsServing(t *testing.T) {
	srv, store := newServer(t)
	before, gen := store.Config()
	for name, body := range map[string]string{
		"broken yaml":     "apiVersion: v1\nkind: [\n",
		"unknown field":   "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: mockb, namespace: istio-system}\nspec: {hosts: [a], htp: []}\n",
		"dangling subset": "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: mockb, namespace: istio-system}\nspec:\n  hosts: [mockb.default.svc.cluster.local]\n  http: [{route: [{destination: {host: mockb.default.svc.cluster.local, subset: v7}}]}]\n",
	} {
		code, res := post(t, srv, "/v1/apply", body)
		if code != http.StatusUnprocessableEntity || !res.Rejected || !res.Diagnostics.HasErrors() {
			t.Errorf("%s: status %d, %+v", name, code, res)
		}
		for _, d := range res.Diagnostics.Errors() {
			if d.File != "vs.yaml" && name != "dangling subset" {
				t.Errorf("%s: diagnostic does not name the file: %v", name, d)
			}
		}
	}
	if after, gen2 := store.Config(); after != before || gen2 != gen {
		t.Fatal("a rejected apply changed the configuration")
	}
}

func TestApplyReportsChanges(t *testing.T) {
	srv, _ := newServer(t)
	fb, _ := os.ReadFile("../../examples/traffic-lanes-fallback/vs-mock-fallback.yaml")
	code, res := post(t, srv, "/v1/apply", string(fb))
	if code != 200 || strings.Join(res.Changes, ";") != "virtualservice istio-system/mockb configured;virtualservice istio-system/mockc configured" {
		t.Fatalf("status %d, changes %v", code, res.Changes)
	}
	_, res = post(t, srv, "/v1/apply", string(fb))
	if res.Changes[0] != "virtualservice istio-system/mockb unchanged" {
		t.Fatalf("re-apply: %v", res.Changes)
	}
}

func TestScaleAndGet(t *testing.T) {
	srv, store := newServer(t)
	resp := srv.do(t, "POST", "/v1/scale", "application/json", `{"namespace":"default","name":"mockb-v2","replicas":0}`)
	if resp.StatusCode != 200 {
		t.Fatalf("scale: %v", resp.Status)
	}
	c, _ := store.Config()
	for _, d := range c.Deployments {
		if d.Metadata.Name == "mockb-v2" && d.Spec.ReplicaCount() != 0 {
			t.Fatal("not scaled")
		}
	}
	resp = srv.do(t, "POST", "/v1/scale", "application/json", `{"namespace":"default","name":"nope","replicas":1}`)
	if resp.StatusCode != 404 {
		t.Fatalf("scale of a missing deployment: %s", resp.Status)
	}
	resp = srv.do(t, "GET", "/v1/objects/vs?namespace=istio-system", "", "")
	var list []map[string]any
	json.NewDecoder(resp.Body).Decode(&list)
	if len(list) != 3 || list[0]["kind"] != "VirtualService" {
		t.Fatalf("get vs: %v", list)
	}
	resp = srv.do(t, "GET", "/v1/objects/frobs", "", "")
	if resp.StatusCode != 404 {
		t.Fatalf("unknown kind: %s", resp.Status)
	}
}

func TestTailLines(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"a\nb\nc\n", -1, "a\nb\nc\n"},
		{"a\nb\nc\n", 0, ""},
		{"a\nb\nc\n", 2, "b\nc\n"},
		{"a\nb\nc", 2, "b\nc"},
		{"a\nb\nc\n", 5, "a\nb\nc\n"},
		{"", 3, ""},
	} {
		if got := string(tailLines([]byte(tc.in), tc.n)); got != tc.want {
			t.Errorf("tailLines(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

// TestApplyLayers: as with kubectl apply -f a -f b, an object in a later
// -f path replaces the same one of an earlier path; twice in one path it
// is an error.
func TestApplyLayers(t *testing.T) {
	srv, store := newServer(t)
	vs := func(host string) []byte {
		return []byte("apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: extra, namespace: default}\nspec:\n  hosts: [" + host + "]\n  http: [{route: [{destination: {host: mockb}}]}]\n")
	}
	send := func(files []config.File) (int, Result) {
		body, _ := json.Marshal(map[string]any{"files": files})
		resp := srv.do(t, "POST", "/v1/apply", "application/json", string(body))
		var res Result
		if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, res
	}
	code, res := send([]config.File{{Name: "a.yaml", Data: vs("a.example.com")}, {Name: "b.yaml", Data: vs("b.example.com"), Layer: 1}})
	if code != 200 || len(res.Changes) != 1 || !strings.Contains(res.Changes[0], "virtualservice default/extra created") {
		t.Fatalf("two layers: status %d, %+v", code, res)
	}
	c, _ := store.Config()
	for _, vs := range c.VirtualServices {
		if vs.Metadata.Name == "extra" && vs.Spec.Hosts[0] != "b.example.com" {
			t.Errorf("the later layer did not win: hosts %v", vs.Spec.Hosts)
		}
	}
	code, res = send([]config.File{{Name: "a.yaml", Data: vs("a.example.com")}, {Name: "b.yaml", Data: vs("b.example.com")}})
	if code != http.StatusUnprocessableEntity || !strings.Contains(res.Diagnostics.Err().Error(), "defined twice") {
		t.Fatalf("one layer: status %d, %+v", code, res)
	}
}

// TestDeleteDryRunSaysSo: a dry-run delete reports what it would delete as
// such, and deletes nothing.
func TestDeleteDryRunSaysSo(t *testing.T) {
	srv, store := newServer(t)
	fb, _ := os.ReadFile("../../examples/traffic-lanes/gw-mock.yaml")
	before, gen := store.Config()
	code, res := post(t, srv, "/v1/delete?dryRun=true", string(fb))
	if code != 200 || len(res.Changes) == 0 || !strings.HasSuffix(res.Changes[0], "deleted (dry run)") {
		t.Fatalf("status %d, changes %v", code, res.Changes)
	}
	if after, gen2 := store.Config(); after != before || gen2 != gen {
		t.Error("a dry-run delete changed the configuration")
	}
}
