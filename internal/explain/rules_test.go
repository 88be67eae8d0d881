package explain

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"

	"github.com/lanemesh/lanemesh/internal/compile"
	"github.com/lanemesh/lanemesh/internal/config"
	"github.com/lanemesh/lanemesh/internal/local"
	"github.com/lanemesh/lanemesh/internal/meshxds"
	rules "github.com/lanemesh/lanemesh/internal/scenario"
)

// TestRuleScenarios runs testdata/rules/*.txt (the format is package
// scenario's): one of Istio's resolution rules each. The want section has a
// line per request: the cluster, the endpoints that would serve it and the
// cluster's load-balancing policy, or what the proxy answers itself.
// -update rewrites the want sections; commit a change only when you
// understand it.
func TestRuleScenarios(t *testing.T) {
	files, _ := filepath.Glob("testdata/rules/*.txt")
	if len(files) == 0 {
		t.Fatal("no rule scenarios in testdata/rules")
	}
	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txt"), func(t *testing.T) {
			f, c := loadScenario(t, path)
			if diags := config.Analyze(c); diags.HasErrors() {
				t.Fatalf("the scenario's config does not analyze clean: %v", diags.Err())
			}
			got := runRequests(t, c, f.Calls)
			if *update {
				if err := os.WriteFile(path, []byte(f.Format(got)), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if got != f.Want {
				t.Errorf("%s (go test ./internal/explain -run RuleScenarios -update rewrites it):\n--- got\n%s--- want\n%s", path, got, f.Want)
			}
		})
	}
}

// loadScenario reads a scenario file and parses its configuration.
func loadScenario(t *testing.T, path string) (*rules.File, *config.Config) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := rules.Parse(string(raw))
	if err != nil {
		t.Fatal(err)
	}
	c := &config.Config{}
	if diags := c.Parse(path, []byte(f.Config)); diags.HasErrors() {
		t.Fatalf("config: %v", diags.Err())
	}
	return f, c
}

func runRequests(t *testing.T, c *config.Config, calls []rules.Request) string {
	t.Helper()
	instances := local.Predict(c)
	var b strings.Builder
	for _, call := range calls {
		req, err := Request(call.Method, call.URL, call.Headers)
		if err != nil {
			t.Fatalf("request %q: %v", call.Line, err)
		}
		res := compile.Compile(c, instances, call.Proxy)
		r, err := Explain(res, RouteConfigForRequest(res, call.Proxy.Role, req), req)
		if err != nil {
			t.Fatalf("request %q: %v", call.Line, err)
		}
		fmt.Fprintf(&b, "%s -> %s\n", call.Line, describe(res, r))
	}
	return b.String()
}

// describe says where a request goes: the cluster that would serve it,
// its endpoints and load balancing policy, or the proxy's own answer.
func describe(res *meshxds.Resources, r *Result) string {
	switch {
	case r.Location != "":
		return fmt.Sprintf("%d Location: %s", r.Status, r.Location)
	case r.Status == 0 && r.Flag != "":
		return r.Flag
	case r.Status != 0 && r.Flag == "":
		return fmt.Sprintf("%d (direct response)", r.Status)
	case r.Status != 0:
		return fmt.Sprintf("%d %s", r.Status, r.Flag)
	}
	var eps []string
	for _, e := range r.Endpoints {
		eps = append(eps, e.Address)
	}
	lb := ""
	for _, cl := range res.Clusters {
		if cl.Name == r.ServedBy {
			lb = clusterv3.Cluster_LbPolicy_name[int32(cl.LbPolicy)]
		}
	}
	out := fmt.Sprintf("%s [%s] %s", r.ServedBy, strings.Join(eps, " "), lb)
	if b := r.Balancing; b != nil && b.Key != "" {
		switch {
		case b.Endpoint != "":
			out += fmt.Sprintf(" by %s -> %s", b.Key, b.Endpoint)
		case b.SetCookie:
			out += fmt.Sprintf(" by %s -> Set-Cookie", b.Key)
		default:
			out += fmt.Sprintf(" by %s -> random", b.Key)
		}
	}
	for _, m := range r.Mirrors {
		out += fmt.Sprintf(" mirror %s %g%%", m.Cluster, m.Percent)
		if m.Missing {
			out += " (no such cluster: no copy)"
		}
	}
	if r.CORS != "" {
		out += " cors: " + r.CORS
	}
	for _, sh := range r.Split {
		out += fmt.Sprintf(" split %g%% ", sh.Percent)
		switch {
		case sh.Status != 0:
			out += fmt.Sprintf("%s %d %s", sh.Destination.Subset, sh.Status, sh.Flag)
		case sh.FellBack:
			out += sh.ServedBy + " (FB)"
		default:
			out += sh.ServedBy
		}
	}
	return out
}

// TestDelegatedRuleOrigin: a rule that delegation moved is named by the
// VirtualService and index it was written at, not by its place in the
// merged list: a delegate's rule by the delegate's, and a root rule after
// a delegated one (or after one left out) by the root's own index.
func TestDelegatedRuleOrigin(t *testing.T) {
	_, c := loadScenario(t, "testdata/rules/vs-delegate.txt")
	gw := meshxds.Proxy{Role: meshxds.Gateway, Namespace: "istio-system", Labels: map[string]string{"istio": "ingressgateway"}}
	res := compile.Compile(c, local.Predict(c), gw)
	for path, want := range map[string]string{
		"/api/v2/items": "team-api/api-routes rule 0",
		"/api/items":    "team-api/api-routes rule 2",
		"/other":        "istio-system/root rule 2",
	} {
		req, err := Request("GET", "http://shop.example.com"+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		r, err := Explain(res, RouteConfigForRequest(res, gw.Role, req), req)
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprintf("%s rule %d", r.VirtualService, r.RouteIndex); got != want {
			t.Errorf("%s: %s, want %s", path, got, want)
		}
	}
}
