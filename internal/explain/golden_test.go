package explain

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lanemesh/lanemesh/internal/compile"
	"github.com/lanemesh/lanemesh/internal/config"
	"github.com/lanemesh/lanemesh/internal/local"
	"github.com/lanemesh/lanemesh/internal/meshxds"
)

// update regenerates the golden files. Only commit a changed golden file
// when you understand why it changed.
var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

const (
	base     = "../../examples/traffic-lanes"
	fallback = "../../examples/traffic-lanes-fallback"
	gateway  = "istio-system/ingressgateway"
)

// scenario is a configuration (paths, later ones replacing objects of
// earlier ones) with some Deployments scaled, as the tutorial does.
type scenario struct {
	name   string
	paths  []string
	scaled map[string]int32 // Deployment name → replicas
}

var scenarios = []scenario{
	{name: "lanes", paths: []string{base}},
	{name: "lanes-fallback", paths: []string{base, fallback}},
	{name: "mockb-v2-down", paths: []string{base}, scaled: map[string]int32{"mockb-v2": 0}},
	{name: "mockb-v2-down-fallback", paths: []string{base, fallback}, scaled: map[string]int32{"mockb-v2": 0}},
	{name: "mockc-v3-down-fallback", paths: []string{base, fallback}, scaled: map[string]int32{"mockc-v3": 0}},
	{name: "v2-lane-gone-fallback", paths: []string{base, fallback}, scaled: map[string]int32{"mockb-v2": 0, "mockc-v2": 0}},
}

func load(t testing.TB, sc scenario) *config.Config {
	t.Helper()
	c, diags := config.Load(sc.paths, nil)
	if diags.HasErrors() {
		t.Fatalf("load %v: %v", sc.paths, diags.Err())
	}
	for name, n := range sc.scaled {
		found := false
		for _, d := range c.Deployments {
			if d.Metadata.Name == name {
				d.Spec.Replicas, found = &n, true
			}
		}
		if !found {
			t.Fatalf("no Deployment %s to scale", name)
		}
	}
	return c
}

// TestGoldenScenarios reproduces the tutorial: every lane from the gateway,
// and every one of the nine workloads calling each service, for each
// scenario. The expected chains are in testdata/<scenario>.golden.
func TestGoldenScenarios(t *testing.T) {
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			got := runScenario(t, sc)
			path := filepath.Join("testdata", sc.name+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./internal/explain -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("chains differ from %s (go test ./internal/explain -run Golden -update rewrites it):\n--- got\n%s--- want\n%s", path, got, want)
			}
		})
	}
}

func runScenario(t *testing.T, sc scenario) string {
	c := load(t, sc)
	instances := local.Predict(c)
	var b strings.Builder
	gw := meshxds.Proxy{Role: meshxds.Gateway, Namespace: "istio-system", Labels: map[string]string{"istio": "ingressgateway"}}
	for _, lane := range []string{"v1", "v2", "v3", "v4", ""} {
		fmt.Fprintf(&b, "# lane %q from the gateway\n", lane)
		var headers []string
		if lane != "" {
			headers = []string{"x-asm-prefer-tag: " + lane}
		}
		req, err := Request("GET", "http://gateway/mock", headers)
		if err != nil {
			t.Fatal(err)
		}
		hops, err := Chain(c, instances, gw, "gateway "+gateway, req, "http://gateway/mock")
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(FormatChain(hops))
	}
	for _, app := range []string{"mocka", "mockb", "mockc"} {
		for _, v := range []string{"v1", "v2", "v3"} {
			caller := meshxds.Proxy{Role: meshxds.Sidecar, Namespace: "default", Labels: map[string]string{"app": app, "version": v}}
			res := compile.Compile(c, instances, caller)
			for _, target := range []string{"mockb", "mockc"} {
				url := "http://" + target + ":8000/"
				req, _ := Request("GET", url, nil)
				r, err := Explain(res, meshxds.SidecarRoutes, req)
				if err != nil {
					t.Fatal(err)
				}
				hop := Hop{From: fmt.Sprintf("sidecar %s-%s", app, v), URL: url, Result: r}
				if pod := servingPod(instances, r); pod != nil {
					hop.Pod = pod.Namespace + "/" + pod.Name
				}
				b.WriteString(FormatChain([]Hop{hop}))
			}
		}
	}
	return b.String()
}
