package admin

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/lanemesh/lanemesh/internal/config"
	"github.com/lanemesh/lanemesh/internal/controlplane"
)

func newServer(t *testing.T) (*httptest.Server, *controlplane.Store) {
	t.Helper()
	store := controlplane.NewStore(nil)
	c, diags := config.Load([]string{"../../examples/traffic-lanes"}, nil)
	if diags.HasErrors() {
		t.Fatal(diags.Err())
	}
	if _, err := store.Apply(c, false); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer((&Server{Store: store}).Handler())
	t.Cleanup(srv.Close)
	return srv, store
}

func post(t *testing.T, url, body string) (int, Result) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("X-Filename", "vs.yaml")
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
		code, res := post(t, srv.URL+"/v1/apply", body)
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
	code, res := post(t, srv.URL+"/v1/apply", string(fb))
	if code != 200 || strings.Join(res.Changes, ";") != "virtualservice istio-system/mockb configured;virtualservice istio-system/mockc configured" {
		t.Fatalf("status %d, changes %v", code, res.Changes)
	}
	_, res = post(t, srv.URL+"/v1/apply", string(fb))
	if res.Changes[0] != "virtualservice istio-system/mockb unchanged" {
		t.Fatalf("re-apply: %v", res.Changes)
	}
}

func TestScaleAndGet(t *testing.T) {
	srv, store := newServer(t)
	resp, err := http.Post(srv.URL+"/v1/scale", "application/json", strings.NewReader(`{"namespace":"default","name":"mockb-v2","replicas":0}`))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("scale: %v %v", err, resp.Status)
	}
	c, _ := store.Config()
	for _, d := range c.Deployments {
		if d.Metadata.Name == "mockb-v2" && d.Spec.ReplicaCount() != 0 {
			t.Fatal("not scaled")
		}
	}
	resp, _ = http.Post(srv.URL+"/v1/scale", "application/json", strings.NewReader(`{"namespace":"default","name":"nope","replicas":1}`))
	if resp.StatusCode != 404 {
		t.Fatalf("scale of a missing deployment: %s", resp.Status)
	}
	resp, err = http.Get(srv.URL + "/v1/objects/vs?namespace=istio-system")
	if err != nil {
		t.Fatal(err)
	}
	var list []map[string]any
	json.NewDecoder(resp.Body).Decode(&list)
	if len(list) != 3 || list[0]["kind"] != "VirtualService" {
		t.Fatalf("get vs: %v", list)
	}
	resp, _ = http.Get(srv.URL + "/v1/objects/frobs")
	if resp.StatusCode != 404 {
		t.Fatalf("unknown kind: %s", resp.Status)
	}
}
