package config

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
)

// expectation is one "# want:" or "# want-warning:" line of a corpus file.
type expectation struct {
	level Level
	code  string
	field string // "" for a finding about the whole file or object ("-" in the file)
}

func (e expectation) String() string { return fmt.Sprintf("%s %s %q", e.level, e.code, e.field) }

// readExpectations parses the comment lines at the top of a corpus file.
// The first line must be an expectation, so that every file says what it
// is for.
func readExpectations(t *testing.T, data []byte) []expectation {
	t.Helper()
	var out []expectation
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		level := Error
		rest, ok := strings.CutPrefix(line, "# want: ")
		if !ok {
			if rest, ok = strings.CutPrefix(line, "# want-warning: "); !ok {
				break
			}
			level = Warning
		}
		code, field, ok := strings.Cut(strings.TrimSpace(rest), " ")
		if !ok || code == "" || field == "" {
			t.Fatalf("malformed expectation %q: write \"# want: CODE FIELD\" (FIELD - for none)", line)
		}
		if field == "-" {
			field = ""
		}
		out = append(out, expectation{level, code, field})
	}
	if len(out) == 0 {
		t.Fatal("the first line must be \"# want: CODE FIELD\" or \"# want-warning: CODE FIELD\"")
	}
	return out
}

// check parses and analyzes data as one file, as `lanemesh analyze` does.
func check(file string, data []byte) Diagnostics {
	c := &Config{}
	loaded := c.Parse(file, data)
	return append(loaded, AnalyzeLoaded(c, loaded)...)
}

// TestCorpus runs every file of testdata/invalid. The Errors and Warnings
// found must be exactly those the file's header lists (by level, code and
// field, counted), so a check that stops firing fails the test, and so does
// a check that starts firing where it should not.
func TestCorpus(t *testing.T) {
	files, err := filepath.Glob("testdata/invalid/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 45 {
		t.Fatalf("corpus has %d files, want at least 45", len(files))
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".yaml"), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			want := readExpectations(t, data)
			diags := check(file, data)
			var got []expectation
			for _, d := range diags {
				if d.Level != Info {
					got = append(got, expectation{d.Level, d.Code, d.Field})
				}
				if d.File != file {
					t.Errorf("diagnostic names file %q, want %q: %v", d.File, file, d)
				}
			}
			sortExpectations(want)
			sortExpectations(got)
			if !slices.Equal(got, want) {
				t.Errorf("findings differ\n got: %v\nwant: %v\nall:\n%s", got, want, render(diags))
			}
		})
	}
}

func sortExpectations(es []expectation) {
	sort.Slice(es, func(i, j int) bool { return es[i].String() < es[j].String() })
}

func render(ds Diagnostics) string {
	var b strings.Builder
	for _, d := range ds {
		b.WriteString("  " + d.String() + "\n")
	}
	return b.String()
}

// TestAnalyzeDiagnosticsComplete checks the contract every finding of
// Analyze keeps across the whole corpus: a code, a message, a hint, a
// file and line and object, and the documented order.
func TestAnalyzeDiagnosticsComplete(t *testing.T) {
	files, _ := filepath.Glob("testdata/invalid/*.yaml")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		c := &Config{}
		c.Parse(file, data)
		ds := Analyze(c)
		for _, d := range ds {
			if d.Code == "" || d.Message == "" || d.Hint == "" || d.Kind == "" || d.Name == "" || d.File == "" || d.Line <= 0 {
				t.Errorf("%s: incomplete diagnostic %#v", file, d)
			}
		}
		if !sort.SliceIsSorted(ds, func(i, j int) bool { return lessDiag(ds[i], ds[j]) }) {
			t.Errorf("%s: diagnostics not sorted by file, line, code, field:\n%s", file, render(ds))
		}
	}
}

func lessDiag(x, y Diagnostic) bool {
	if x.File != y.File {
		return x.File < y.File
	}
	if x.Line != y.Line {
		return x.Line < y.Line
	}
	if x.Code != y.Code {
		return x.Code < y.Code
	}
	return x.Field < y.Field
}

// loadExample loads directories of examples/, failing on any loader
// finding.
func loadExample(t *testing.T, dir string) *Config {
	t.Helper()
	c, diags := Load([]string{filepath.Join("..", "..", "examples", dir)}, nil)
	if len(diags) > 0 {
		t.Fatalf("loading %s:\n%s", dir, render(diags))
	}
	return c
}

// TestExamplesClean: the reference scenario, with and without fallback,
// must analyze without a single Error or Warning (DESIGN.md §2).
func TestExamplesClean(t *testing.T) {
	lanes := loadExample(t, "traffic-lanes")
	if len(lanes.VirtualServices) == 0 || len(lanes.Deployments) != 9 {
		t.Fatalf("examples/traffic-lanes loaded %d VirtualServices, %d Deployments; the test would prove nothing",
			len(lanes.VirtualServices), len(lanes.Deployments))
	}
	if ds := Analyze(lanes); len(ds) != 0 {
		t.Errorf("traffic-lanes:\n%s", render(ds))
	}
	withFallback := loadExample(t, "traffic-lanes")
	withFallback.Replace(loadExample(t, "traffic-lanes-fallback"))
	fallbacks := 0
	for _, vs := range withFallback.VirtualServices {
		for _, r := range vs.Spec.HTTP {
			for _, d := range r.Route {
				if d.Fallback != nil {
					fallbacks++
				}
			}
		}
	}
	if fallbacks != 4 {
		t.Fatalf("Replace left %d fallback routes, want 4", fallbacks)
	}
	if ds := Analyze(withFallback); len(ds) != 0 {
		t.Errorf("traffic-lanes + fallback:\n%s", render(ds))
	}
}

// TestAnalyzePure: Analyze does not change the configuration and gives the
// same answer twice.
func TestAnalyzePure(t *testing.T) {
	data, err := os.ReadFile("testdata/invalid/conflict-mesh.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c1, c2 := &Config{}, &Config{}
	c1.Parse("f.yaml", data)
	c2.Parse("f.yaml", data)
	first := Analyze(c1)
	if !reflect.DeepEqual(c1, c2) {
		t.Error("Analyze changed the configuration")
	}
	if second := Analyze(c1); !reflect.DeepEqual(first, second) {
		t.Errorf("Analyze is not deterministic:\n%s\nthen\n%s", render(first), render(second))
	}
}

// Building blocks for the table tests below.
const (
	svcB = `apiVersion: v1
kind: Service
metadata: {name: mockb}
spec:
  selector: {app: mockb}
  ports: [{name: http, port: 8000}]
`
	drB = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: mockb}
spec:
  host: mockb
  subsets:
    - {name: v1, labels: {version: v1}}
    - {name: v2, labels: {version: v2}}
`
	gwIngress = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: ingressgateway, namespace: istio-system}
spec:
  servers:
    - port: {number: 80, name: http, protocol: HTTP}
      hosts: ['*']
`
)

// deployment returns a Deployment of app at version with replicas pods.
func deployment(app, version string, replicas int) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: %[1]s-%[2]s}
spec:
  replicas: %[3]d
  selector: {matchLabels: {app: %[1]s, version: %[2]s}}
  template:
    metadata: {labels: {app: %[1]s, version: %[2]s}}
    spec: {containers: [{name: app, image: lanemesh/mock}]}
`, app, version, replicas)
}

// virtualService returns VirtualService name in namespace ns with the
// given spec lines (indented by two spaces).
func virtualService(name, ns, spec string) string {
	return fmt.Sprintf("apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: %s, namespace: %s}\nspec:\n%s", name, ns, spec)
}

func docs(parts ...string) string { return strings.Join(parts, "---\n") }

// TestMessages pins the exact text of findings users read most, in
// istioctl analyze's wording.
func TestMessages(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{
			name: "subset not in DestinationRule",
			yaml: docs(svcB, drB, virtualService("mockb", "default", `  hosts: [mockb]
  http:
    - route:
        - destination: {host: mockb, subset: v4}
`)),
			want: []string{`Error [IST0101] (VirtualService mockb.default) f.yaml:24 spec.http[0].route[0].destination.subset: ` +
				`Referenced host+subset in destinationrule not found: "mockb.default.svc.cluster.local+v4". ` +
				`Add subset "v4" to DestinationRule default/mockb, or use one it defines ("v1", "v2")`},
		},
		{
			name: "gateway not found",
			yaml: docs(svcB, virtualService("ingress", "istio-system", `  hosts: ['*']
  gateways: [foo]
  http:
    - route:
        - destination: {host: mockb.default.svc.cluster.local}
`)),
			want: []string{`Error [IST0101] (VirtualService ingress.istio-system) f.yaml:13 spec.gateways[0]: ` +
				`Referenced gateway not found: "istio-system/foo". Define Gateway istio-system/foo, or fix the name ` +
				`(a bare name means namespace istio-system; write "namespace/name" for another)`},
		},
		{
			name: "conflicting VirtualServices on mesh",
			yaml: docs(svcB, virtualService("a", "istio-system", `  hosts: [mockb.default.svc.cluster.local]
  http: [{route: [{destination: {host: mockb.default.svc.cluster.local}}]}]
`), virtualService("b", "default", `  hosts: [mockb]
  http: [{route: [{destination: {host: mockb}}]}]
`)),
			want: []string{
				`Error [IST0109] (VirtualService a.istio-system) f.yaml:12 spec.hosts[0]: The VirtualServices istio-system/a,default/b ` +
					`associated with mesh define the same host mockb.default.svc.cluster.local which can lead to undefined behavior. ` +
					`Merge the conflicting VirtualServices into a single resource, or bind them to different gateways`,
				`Error [IST0109] (VirtualService b.default) f.yaml:19 spec.hosts[0]: The VirtualServices istio-system/a,default/b ` +
					`associated with mesh define the same host mockb.default.svc.cluster.local which can lead to undefined behavior. ` +
					`Merge the conflicting VirtualServices into a single resource, or bind them to different gateways`,
			},
		},
		{
			name: "fallback to itself",
			yaml: docs(svcB, drB, virtualService("mockb", "default", `  hosts: [mockb]
  http:
    - route:
        - destination: {host: mockb, subset: v2}
          fallback:
            target: {host: mockb.default.svc.cluster.local, subset: v2}
`)),
			want: []string{`Error [LM0005] (VirtualService mockb.default) f.yaml:26 spec.http[0].route[0].fallback.target: ` +
				`fallback target mockb.default.svc.cluster.local+v2 is the same as its destination. ` +
				`Point the fallback at another subset (usually v1) or remove it; falling back to the destination itself never helps`},
		},
		{
			name: "subset selects no workload",
			yaml: docs(svcB, drB, deployment("mockb", "v1", 1)),
			want: []string{`Warning [IST0173] (DestinationRule mockb.default) f.yaml:15 spec.subsets[1].labels: ` +
				`The Subset v2 defined in the DestinationRule does not select any pods, which may lead to 503 UH (NoHealthyUpstream). ` +
				`Run a workload of mockb.default.svc.cluster.local labelled {version: v2}, or fix the subset's labels`},
		},
		{
			name: "short host in another namespace",
			yaml: docs(svcB, virtualService("mockb", "istio-system", `  hosts: [mockb.default.svc.cluster.local]
  http: [{route: [{destination: {host: mockb}}]}]
`)),
			want: []string{`Warning [IST0101] (VirtualService mockb.istio-system) f.yaml:13 spec.http[0].route[0].destination.host: ` +
				`Referenced host not found: "mockb.istio-system.svc.cluster.local". ` +
				`Write the full name, e.g. mockb.default.svc.cluster.local: a short name resolves in the object's namespace, istio-system`},
		},
		{
			name: "weights",
			yaml: docs(svcB, drB, virtualService("mockb", "default", `  hosts: [mockb]
  http:
    - route:
        - {destination: {host: mockb, subset: v1}}
        - {destination: {host: mockb, subset: v2}}
`)),
			want: []string{`Error [IST0106] (VirtualService mockb.default) f.yaml:24 spec.http[0].route: ` +
				`total destination weight = 0. Give at least one of the 2 destinations a weight; traffic is split in proportion to them`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, d := range check("f.yaml", []byte(tt.yaml)) {
				got = append(got, d.String())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// TestClean lists configurations that are right, or whose oddity is
// deliberate, and must analyze without any finding: each pins a rule that
// keeps a check from firing where it should not.
func TestClean(t *testing.T) {
	route := func(spec string) string { return virtualService("mockb", "default", spec) }
	tests := []struct{ name, yaml string }{
		{"header presence match", docs(svcB, route(`  hosts: [mockb]
  http:
    - match: [{headers: {x-lane: {}}, withoutHeaders: {x-debug: {}}, queryParams: {lane: {exact: ''}}}]
      route: [{destination: {host: mockb}}]
    - route: [{destination: {host: mockb}}]
`))},
		{"one destination needs no weight", docs(svcB, drB, route(`  hosts: [mockb]
  http: [{route: [{destination: {host: mockb, subset: v1}, weight: 30}]}]
`))},
		{"weights add up to 100", docs(svcB, drB, route(`  hosts: [mockb]
  http:
    - route:
        - {destination: {host: mockb, subset: v1}, weight: 0}
        - {destination: {host: mockb, subset: v2}, weight: 100}
`))},
		{"replicas 0 still selected", docs(svcB, drB, deployment("mockb", "v1", 0), deployment("mockb", "v2", 0))},
		{"rules without workloads are not judged", docs(svcB, drB, route(`  hosts: [mockb]
  http:
    - match: [{sourceLabels: {version: v9}}]
      route: [{destination: {host: mockb, subset: v2}}]
    - route: [{destination: {host: mockb, subset: v1}}]
`))},
		{"sourceLabels of a gateway-only rule are the gateway's", docs(svcB, drB, gwIngress,
			deployment("mockb", "v1", 1), deployment("mockb", "v2", 1), route(`  hosts: ['*']
  gateways: [istio-system/ingressgateway]
  http:
    - match: [{sourceLabels: {istio: ingressgateway}}]
      route: [{destination: {host: mockb, subset: v2}}]
`))},
		{"mesh and a gateway, hosts distinct per binding", docs(svcB, gwIngress, route(`  hosts: [mockb]
  gateways: [mesh, istio-system/ingressgateway]
  http: [{route: [{destination: {host: mockb}}]}]
`), virtualService("edge", "istio-system", `  hosts: ['*']
  gateways: [ingressgateway]
  http: [{route: [{destination: {host: mockb.default.svc.cluster.local}}]}]
`))},
		{"same host on different gateways", docs(svcB, gwIngress, route(`  hosts: [mockb]
  http: [{route: [{destination: {host: mockb}}]}]
`), virtualService("edge", "istio-system", `  hosts: [mockb.default.svc.cluster.local]
  gateways: [ingressgateway]
  http: [{route: [{destination: {host: mockb.default.svc.cluster.local}}]}]
`))},
		{"wildcard destination host is not looked up", docs(route(`  hosts: [mockb]
  http: [{route: [{destination: {host: '*.example.com'}}]}]
`))},
		{"fallback to the whole service", docs(svcB, drB, route(`  hosts: [mockb]
  http: [{route: [{destination: {host: mockb, subset: v2}, fallback: {target: {host: mockb}}}]}]
`))},
		{"ServiceEntry endpoints and a subset", `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: legacy}
spec:
  hosts: [legacy.example.com]
  ports: [{number: 80, name: http, protocol: HTTP}]
  endpoints: [{address: 10.0.0.1, labels: {version: v1}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: legacy}
spec:
  host: legacy.example.com
  subsets: [{name: v1, labels: {version: v1}}]
`},
		{"Service with TCP and UDP on one port", `apiVersion: v1
kind: Service
metadata: {name: dns}
spec:
  ports: [{name: tcp, port: 53}, {name: udp, port: 53, protocol: UDP}]
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if ds := check("f.yaml", []byte(tt.yaml)); len(ds) != 0 {
				t.Errorf("want no findings, got:\n%s", render(ds))
			}
		})
	}
}

// TestShortServiceEntryHostHint: a short host that misses only because a
// ServiceEntry's dotless host is kept as written gets a hint that says so.
func TestShortServiceEntryHostHint(t *testing.T) {
	const file = "testdata/invalid/serviceentry-short-host.yaml"
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range check(file, data) {
		if d.Code == CodeHostNotFound && !strings.Contains(d.Hint, `ServiceEntry's host "shorty" is kept as written`) {
			t.Errorf("hint does not explain the ServiceEntry's short host: %v", d)
		}
	}
}
