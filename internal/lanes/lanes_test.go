package lanes

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lanemesh/lanemesh/internal/compile"
	"github.com/lanemesh/lanemesh/internal/config"
	"github.com/lanemesh/lanemesh/internal/explain"
	"github.com/lanemesh/lanemesh/internal/local"
	"github.com/lanemesh/lanemesh/internal/meshxds"
	"github.com/lanemesh/lanemesh/internal/route"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

const (
	tutorial   = "../../examples/traffic-lanes"
	strict     = "../../examples/lane-group-strict"
	permissive = "../../examples/lane-group-permissive"
)

func load(t testing.TB, paths ...string) *config.Config {
	t.Helper()
	c, diags := config.Load(paths, nil)
	if diags.HasErrors() {
		t.Fatalf("load %v: %v", paths, diags.Err())
	}
	return c
}

// resolve loads paths and resolves them, failing on any error.
func resolve(t testing.TB, paths ...string) *config.Config {
	t.Helper()
	eff, diags := Resolve(load(t, paths...))
	if diags.HasErrors() {
		t.Fatalf("resolve %v: %v", paths, diags.Err())
	}
	return eff
}

// TestGenerated pins what the example groups generate. Only commit a
// changed golden file when you understand why it changed.
func TestGenerated(t *testing.T) {
	for _, dir := range []string{strict, permissive} {
		name := filepath.Base(dir)
		t.Run(name, func(t *testing.T) {
			c := load(t, dir)
			eff := resolve(t, dir)
			var out strings.Builder
			for _, obj := range eff.Objects() {
				if c.Find(obj) != nil {
					continue // written by the user
				}
				b, err := yaml.Marshal(obj)
				if err != nil {
					t.Fatal(err)
				}
				out.WriteString("---\n")
				out.Write(b)
			}
			golden := filepath.Join("testdata", name+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(out.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./internal/lanes -update to create it)", err)
			}
			if out.String() != string(want) {
				t.Errorf("generated objects differ from %s (run with -update if the change is intended):\n%s", golden, out.String())
			}
		})
	}
}

// chains returns, per lane, the chain of pods a request of that lane goes
// through, as explain follows it.
func chains(t *testing.T, c *config.Config, lanes ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	instances := local.Predict(c)
	gw := meshxds.Proxy{Role: meshxds.Gateway, Namespace: "istio-system", Labels: map[string]string{"istio": "ingressgateway"}}
	for _, lane := range lanes {
		req := &route.Request{Method: "GET", Authority: "gateway", Path: "/mock", Header: http.Header{"X-Asm-Prefer-Tag": {lane}}}
		hops, err := explain.Chain(c, instances, gw, "gateway", req, "http://gateway/mock")
		if err != nil {
			t.Fatalf("lane %s: %v", lane, err)
		}
		var pods []string
		for _, h := range hops {
			pods = append(pods, h.Pod)
		}
		out[lane] = strings.Join(pods, " -> ")
	}
	return out
}

// TestStrictGroupIsTheTutorial: the tutorial written as one strict lane
// group sends every lane through the same pods as the hand-written files.
func TestStrictGroupIsTheTutorial(t *testing.T) {
	lanes := []string{"v1", "v2", "v3", "v4", ""}
	want := chains(t, resolve(t, tutorial), lanes...)
	got := chains(t, resolve(t, strict), lanes...)
	for _, l := range lanes {
		if got[l] != want[l] {
			t.Errorf("lane %q: group gives %q, hand-written files %q", l, got[l], want[l])
		}
	}
	if !strings.Contains(got["v2"], "mocka-v2-0 -> default/mockb-v2-0 -> default/mockc-v2-0") {
		t.Errorf("lane v2 chain = %q", got["v2"])
	}
}

// TestPermissiveStaysInLaneAtTheGateway checks the permissive example's
// entry: each lane's request reaches the lane's version of mocka, or the
// baseline's when the lane does not hold mocka, carrying its lane.
func TestPermissiveEntry(t *testing.T) {
	c := resolve(t, permissive)
	instances := local.Predict(c)
	gw := meshxds.Proxy{Role: meshxds.Gateway, Namespace: "istio-system", Labels: map[string]string{"istio": "ingressgateway"}}
	res := compile.Compile(c, instances, gw)
	for lane, want := range map[string]string{"v1": "v1", "v2": "v2", "v3": "v1", "": "v1", "v9": "v1"} {
		req := &route.Request{Method: "GET", Authority: "gateway", Path: "/mock", Header: http.Header{"X-Asm-Prefer-Tag": {lane}}}
		r, err := explain.Explain(res, explain.RouteConfigForRequest(res, meshxds.Gateway, req), req)
		if err != nil {
			t.Fatal(err)
		}
		if r.Destination == nil || r.Destination.Subset != want {
			t.Errorf("lane %q: destination %+v, want subset %s", lane, r.Destination, want)
		}
	}
}

func TestDiagnostics(t *testing.T) {
	const group = `apiVersion: istio.alibabacloud.com/v1
kind: ASMSwimLaneGroup
metadata: {name: g}
spec:
  ingress: {gateway: {name: ingressgateway, namespace: istio-system}}
  services: [{name: mocka, namespace: default}, {name: mockb, namespace: default}]
`
	const services = "---\napiVersion: v1\nkind: Service\nmetadata: {name: mocka}\nspec: {selector: {app: mocka}, ports: [{port: 8000}]}\n" +
		"---\napiVersion: v1\nkind: Service\nmetadata: {name: mockb}\nspec: {selector: {app: mockb}, ports: [{port: 8000}]}\n"
	permissiveGroup := strings.Replace(group, "spec:\n", "spec:\n  isPermissive: true\n  permissiveModeConfiguration: {routeHeader: x-lane, traceHeader: x-request-id, fallbackTarget: base}\n", 1)
	lane := func(name, group, extra string) string {
		return fmt.Sprintf("---\napiVersion: istio.alibabacloud.com/v1\nkind: ASMSwimLane\nmetadata: {name: %s, labels: {swimlane-group: %s}}\nspec:\n  labelSelector: {version: %s}\n%s", name, group, name, extra)
	}
	for _, tc := range []struct {
		name, yaml string
		want       string // substring of an error; "" for none
	}{
		{"strict lanes hold every service", group + lane("v1", "g", "") + lane("v2", "g", "  services: [{name: mocka}]\n"),
			"ASMSwimLane v2) x.yaml:19 spec.services: lane v2 lacks default/mockb of group g"},
		{"lane of no group", group + "---\napiVersion: istio.alibabacloud.com/v1\nkind: ASMSwimLane\nmetadata: {name: v1}\nspec: {labelSelector: {version: v1}}\n",
			"metadata.labels: the lane names no group"},
		{"lane of a missing group", group + lane("v1", "nope", ""), `ASMSwimLaneGroup "nope" not found`},
		{"lane selects nothing", group + "---\napiVersion: istio.alibabacloud.com/v1\nkind: ASMSwimLane\nmetadata: {name: v1, labels: {swimlane-group: g}}\nspec: {}\n",
			"spec.labelSelector: the lane selects no pods"},
		{"lane service outside the group", permissiveGroup + lane("base", "g", "") + lane("v2", "g", "  services: [{name: mockz}]\n"),
			"service default/mockz is not a service of group g"},
		{"permissive needs its configuration", strings.Replace(group, "spec:\n", "spec:\n  isPermissive: true\n", 1) + lane("v1", "g", ""),
			"a permissive group needs permissiveModeConfiguration"},
		{"fallback lane missing", permissiveGroup + lane("v1", "g", ""), `fallback lane "base" is not a lane of the group`},
		{"route header not a token", strings.Replace(permissiveGroup, "routeHeader: x-lane", "routeHeader: 'x lane'", 1) + lane("base", "g", ""),
			`"x lane" is not a valid header name`},
		{"route header any token", strings.Replace(permissiveGroup, "routeHeader: x-lane", "routeHeader: x.lane", 1) + lane("base", "g", ""), ""},
		{"fallback lane lacks a service", permissiveGroup + lane("base", "g", "  services: [{name: mocka}]\n"),
			"service default/mockb is in no lane it can fall back to"},
		{"service-level fallback of no service", strings.Replace(permissiveGroup, "fallbackTarget: base}", "fallbackTarget: base, serviceLevelFallbackTarget: {default/mockz: base}}", 1) + lane("base", "g", ""),
			"default/mockz is not a service of the group"},
		{"weights must add up to 100", strings.Replace(group, "namespace: istio-system}}", "namespace: istio-system}, ingressRouting: {ingressRoutingStrategy: weighted, weightedRoutingRule: {hosts: ['*']}}}", 1) +
			lane("v1", "g", "  ingressWeight: {destination: {host: mocka}, weight: 60}\n") + lane("v2", "g", "  ingressWeight: {destination: {host: mocka}, weight: 30}\n"),
			"weights add up to 90, not 100"},
		{"ingress to a service outside the group", group + lane("v1", "g", "  ingressRules: [{name: r, online: true, match: {uri: {exact: /}}, route: {destination: {host: mockz}}}]\n"),
			`"mockz" is not a service of group g`},
		{"route patch cannot route", strings.Replace(group, "{name: mockb, namespace: default}]", "{name: mockb, namespace: default, httpRoutePatch: {route: [{destination: {host: x}}]}}]", 1) + lane("v1", "g", ""),
			"a route patch cannot set name, match, route"},
		{"generated name taken", group + lane("v1", "g", "") + "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: g-mocka}\nspec: {host: other}\n",
			"the group generates DestinationRule default/g-mocka, which already exists"},
		{"lane name that cannot name a subset", group + lane("v1", "g", "") + strings.Replace(lane("v2", "g", ""), "name: v2,", "name: v2.canary,", 1),
			`(ASMSwimLane v2.canary) x.yaml:16 metadata.name: lane name "v2.canary" cannot name the subset`},
		{"a bad ingress rule is the lane's", group + lane("v1", "g", "  ingressRules: [{name: r, online: true, match: {uri: {regex: '/a(?=b)'}}, route: {destination: {host: mocka}}}]\n"),
			"(ASMSwimLane v1) x.yaml:13 spec.ingressRules[0].match.uri.regex: \"/a(?=b)\" is not a valid RE2 regular expression"},
		{"a valid permissive group", permissiveGroup + lane("base", "g", "") + lane("v2", "g", "  services: [{name: mockb}]\n"), ""},
		{"a valid strict group", group + lane("v1", "g", "") + lane("v2", "g", ""), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			diags := resolveYAML(t, tc.yaml+services)
			var errs []string
			for _, d := range diags.Errors() {
				errs = append(errs, d.String())
			}
			all := strings.Join(errs, "\n")
			switch {
			case tc.want == "" && len(errs) > 0:
				t.Errorf("unexpected errors:\n%s", all)
			case tc.want != "" && !strings.Contains(all, tc.want):
				t.Errorf("want an error containing %q, got:\n%s", tc.want, all)
			case len(slices.Compact(slices.Sorted(slices.Values(errs)))) != len(errs):
				t.Errorf("an error is reported more than once:\n%s", all)
			}
		})
	}
}

// TestConflictNamesTheGroup: a hand-written VirtualService for a host a
// group routes is reported with the group that generated the other.
func TestConflictNamesTheGroup(t *testing.T) {
	c := load(t, strict)
	var extra config.Config
	if d := extra.Parse("mine.yaml", []byte("apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: mine}\nspec:\n  hosts: [mockb]\n  http: [{route: [{destination: {host: mockb}}]}]\n")); d.HasErrors() {
		t.Fatal(d.Err())
	}
	c.Replace(&extra)
	_, diags := Resolve(c)
	var found bool
	for _, d := range diags {
		if d.Code == config.CodeConflictingVS && strings.Contains(d.String(), "generated by ASMSwimLaneGroup mock") {
			found = true
		}
	}
	if !found {
		t.Errorf("no conflict naming the group in:\n%v", diags)
	}
}

// BenchmarkResolve30x5 measures a group of 30 services and 5 lanes:
// generating and analyzing its objects (reporting how many), and compiling
// one sidecar's snapshot from them.
func BenchmarkResolve30x5(b *testing.B) {
	var y strings.Builder
	y.WriteString("apiVersion: istio.alibabacloud.com/v1\nkind: ASMSwimLaneGroup\nmetadata: {name: big}\nspec:\n  ingress: {gateway: {name: ingressgateway}}\n  services:\n")
	for i := range 30 {
		fmt.Fprintf(&y, "  - {name: svc%d, namespace: default}\n", i)
	}
	for l := range 5 {
		fmt.Fprintf(&y, "---\napiVersion: istio.alibabacloud.com/v1\nkind: ASMSwimLane\nmetadata: {name: l%d, labels: {swimlane-group: big}}\nspec:\n  labelSelector: {version: l%d}\n", l, l)
		fmt.Fprintf(&y, "  ingressRules: [{name: r%d, online: true, match: {headers: {x-asm-prefer-tag: {exact: l%d}}}, route: {destination: {host: svc0}}}]\n", l, l)
	}
	y.WriteString("---\napiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: ingressgateway, namespace: istio-system}\nspec: {selector: {istio: ingressgateway}, servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ['*']}]}\n")
	for i := range 30 {
		fmt.Fprintf(&y, "---\napiVersion: v1\nkind: Service\nmetadata: {name: svc%d}\nspec: {selector: {app: svc%d}, ports: [{port: 8000}]}\n", i, i)
	}
	var c config.Config
	if d := c.Parse("big.yaml", []byte(y.String())); d.HasErrors() {
		b.Fatal(d.Err())
	}
	eff, diags := Resolve(&c)
	if diags.HasErrors() {
		b.Fatal(diags.Err())
	}
	generated := float64(len(eff.Objects()) - len(c.Objects()))
	sidecar := meshxds.Proxy{Role: meshxds.Sidecar, Namespace: "default", Labels: map[string]string{"app": "svc3", "version": "l2"}}
	b.Run("resolve", func(b *testing.B) {
		for b.Loop() {
			Resolve(&c)
		}
		b.ReportMetric(generated, "objects")
	})
	b.Run("compile-sidecar", func(b *testing.B) {
		for b.Loop() {
			compile.Compile(eff, nil, sidecar)
		}
	})
}

// TestLaneWithoutPods: a lane whose version runs nowhere is one warning per
// service, on the lane, not one per generated route and subset.
func TestLaneWithoutPods(t *testing.T) {
	c := load(t, strict)
	var extra config.Config
	if d := extra.Parse("v4.yaml", []byte("apiVersion: istio.alibabacloud.com/v1\nkind: ASMSwimLane\nmetadata: {name: v4, labels: {swimlane-group: mock}}\nspec: {labelSelector: {version: v4}}\n")); d.HasErrors() {
		t.Fatal(d.Err())
	}
	c.Replace(&extra)
	_, diags := Resolve(c)
	var got []string
	for _, d := range diags {
		if d.Code == config.CodeSubsetNoWorkload {
			got = append(got, d.Kind+" "+d.Name+": "+d.Message)
		}
	}
	want := []string{
		"ASMSwimLane v4: lane v4 selects no pod of mocka.default.svc.cluster.local (labels {version: v4})",
		"ASMSwimLane v4: lane v4 selects no pod of mockb.default.svc.cluster.local (labels {version: v4})",
		"ASMSwimLane v4: lane v4 selects no pod of mockc.default.svc.cluster.local (labels {version: v4})",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestPermissiveChains: explain follows a permissive lane as its sidecars
// carry it: a lane that lacks a service, or whose version of it is down,
// goes to the baseline for that hop and returns to the lane on the next.
func TestPermissiveChains(t *testing.T) {
	c := resolve(t, permissive)
	want := map[string]string{
		"v1": "default/mocka-v1-0 -> default/mockb-v1-0 -> default/mockc-v1-0",
		"v2": "default/mocka-v2-0 -> default/mockb-v2-0 -> default/mockc-v2-0",
		"v3": "default/mocka-v1-0 -> default/mockb-v3-0 -> default/mockc-v1-0",
	}
	got := chains(t, c, "v1", "v2", "v3")
	for lane, w := range want {
		if got[lane] != w {
			t.Errorf("lane %s: %q, want %q", lane, got[lane], w)
		}
	}
	zero := int32(0)
	for _, d := range c.Deployments {
		if d.Metadata.Name == "mockb-v2" {
			scaled := *d
			scaled.Spec.Replicas = &zero
			c = c.Clone()
			c.Put(&scaled)
		}
	}
	if got := chains(t, c, "v2")["v2"]; got != "default/mocka-v2-0 -> default/mockb-v1-0 -> default/mockc-v2-0" {
		t.Errorf("lane v2 with mockb-v2 down: %q, want mocka v2 -> mockb v1 -> mockc v2", got)
	}
}

// TestIngressRulesKeepTheirHosts: a rule routes only the hosts it names,
// even when another lane's rule names others.
func TestIngressRulesKeepTheirHosts(t *testing.T) {
	c := load(t, strict)
	var v2 config.Config
	if d := v2.Parse("v2.yaml", []byte(`apiVersion: istio.alibabacloud.com/v1
kind: ASMSwimLane
metadata: {name: v2, labels: {swimlane-group: mock}}
spec:
  labelSelector: {version: v2}
  ingressRules:
  - {name: only-a, online: true, hosts: [a.example], match: {uri: {exact: /mock}, headers: {x-asm-prefer-tag: {exact: v2}}}, route: {destination: {host: mocka, portNum: 8000}}}
`)); d.HasErrors() {
		t.Fatal(d.Err())
	}
	c.Replace(&v2)
	eff, diags := Resolve(c)
	if diags.HasErrors() {
		t.Fatal(diags.Err())
	}
	gw := meshxds.Proxy{Role: meshxds.Gateway, Namespace: "istio-system", Labels: map[string]string{"istio": "ingressgateway"}}
	res := compile.Compile(eff, local.Predict(eff), gw)
	for host, want := range map[string]string{"a.example": "v2", "b.example": ""} {
		req := &route.Request{Method: "GET", Authority: host, Path: "/mock", Header: http.Header{"X-Asm-Prefer-Tag": {"v2"}}}
		r, err := explain.Explain(res, explain.RouteConfigForRequest(res, meshxds.Gateway, req), req)
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		if r.Destination != nil {
			got = r.Destination.Subset
		}
		if got != want {
			t.Errorf("host %s with lane v2: subset %q (status %d), want %q", host, got, r.Status, want)
		}
	}
}

// TestLaneSelectorsOverlap: a lane whose labelSelector selects every pod of
// another lane, for a service both hold, is warned about (the lane named);
// lanes that tell their pods apart, or share no service, are not.
func TestLaneSelectorsOverlap(t *testing.T) {
	const group = `apiVersion: istio.alibabacloud.com/v1
kind: ASMSwimLaneGroup
metadata: {name: g}
spec:
  ingress: {gateway: {name: ingressgateway, namespace: istio-system}}
  isPermissive: true
  permissiveModeConfiguration: {routeHeader: x-lane, traceHeader: x-request-id, fallbackTarget: base}
  services: [{name: mocka, namespace: default}, {name: mockb, namespace: default}]
---
apiVersion: v1
kind: Service
metadata: {name: mocka}
spec: {selector: {app: mocka}, ports: [{port: 8000}]}
---
apiVersion: v1
kind: Service
metadata: {name: mockb}
spec: {selector: {app: mockb}, ports: [{port: 8000}]}
`
	lane := func(name, selector, services string) string {
		return fmt.Sprintf("---\napiVersion: istio.alibabacloud.com/v1\nkind: ASMSwimLane\nmetadata: {name: %s, labels: {swimlane-group: g}}\nspec:\n  labelSelector: %s\n  services: %s\n",
			name, selector, services)
	}
	both := "[{name: mocka}, {name: mockb}]"
	for _, tc := range []struct {
		name, lanes, want string // want: substring of the one warning; "" for none
	}{
		{"same selector", lane("base", "{version: v1}", both) + lane("v2", "{version: v1}", both),
			"(ASMSwimLane v2) x.yaml:31 spec.labelSelector: lane v2 selects the same pods as lane base ({version: v1})"},
		{"one selector wider", lane("base", "{track: stable, version: v1}", both) + lane("v2", "{track: stable}", both),
			"(ASMSwimLane v2) x.yaml:31 spec.labelSelector: lane v2's labelSelector ({track: stable}) also selects every pod of lane base ({track: stable, version: v1})"},
		{"selectors apart", lane("base", "{version: v1}", both) + lane("v2", "{version: v2}", both), ""},
		{"no service in common", lane("base", "{version: v1}", both) + lane("v3", "{track: x}", "[{name: mockb}]") + lane("v4", "{track: x}", "[{name: mocka}]"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			diags := resolveYAML(t, group+tc.lanes)
			var got []string
			for _, d := range diags {
				if d.Level == config.Warning && d.Field == "spec.labelSelector" {
					got = append(got, d.String())
				}
			}
			switch {
			case tc.want == "" && len(got) > 0:
				t.Errorf("unexpected warnings:\n%s", strings.Join(got, "\n"))
			case tc.want != "" && (len(got) != 1 || !strings.Contains(got[0], tc.want)):
				t.Errorf("want one warning containing %q, got:\n%s", tc.want, strings.Join(got, "\n"))
			}
		})
	}
}

// TestGeneratedFindingsOnce: a mistake the group's generated objects all
// repeat (a service with no Service behind it, in its DestinationRule and
// each lane's route) is reported once.
func TestGeneratedFindingsOnce(t *testing.T) {
	const yaml = `apiVersion: istio.alibabacloud.com/v1
kind: ASMSwimLaneGroup
metadata: {name: g}
spec:
  ingress: {gateway: {name: ingressgateway, namespace: istio-system}}
  services: [{name: mockd, namespace: default}]
---
apiVersion: istio.alibabacloud.com/v1
kind: ASMSwimLane
metadata: {name: v1, labels: {swimlane-group: g}}
spec: {labelSelector: {version: v1}}
---
apiVersion: istio.alibabacloud.com/v1
kind: ASMSwimLane
metadata: {name: v2, labels: {swimlane-group: g}}
spec: {labelSelector: {version: v2}}
`
	diags := resolveYAML(t, yaml)
	n := 0
	for _, d := range diags {
		if d.Code == config.CodeHostNotFound && d.Level == config.Warning && strings.Contains(d.Message, "mockd.default.svc.cluster.local") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d warnings of the missing host, want 1:\n%v", n, diags)
	}
}

// TestWeightedIgnoresIngressRules: under weighted ingress routing a lane's
// ingressRules are dead configuration, and said to be, as ingressWeight is
// under rule_based.
func TestWeightedIgnoresIngressRules(t *testing.T) {
	const yaml = `apiVersion: istio.alibabacloud.com/v1
kind: ASMSwimLaneGroup
metadata: {name: g}
spec:
  ingress:
    gateway: {name: ingressgateway, namespace: istio-system}
    ingressRouting: {ingressRoutingStrategy: weighted, weightedRoutingRule: {hosts: ['*']}}
  services: [{name: mocka, namespace: default}]
---
apiVersion: v1
kind: Service
metadata: {name: mocka}
spec: {selector: {app: mocka}, ports: [{port: 8000}]}
---
apiVersion: istio.alibabacloud.com/v1
kind: ASMSwimLane
metadata: {name: v1, labels: {swimlane-group: g}}
spec:
  labelSelector: {version: v1}
  ingressWeight: {destination: {host: mocka}, weight: 100}
  ingressRules: [{name: r, online: true, match: {uri: {exact: /}}, route: {destination: {host: mocka}}}]
`
	diags := resolveYAML(t, yaml)
	found := false
	for _, d := range diags {
		found = found || d.Level == config.Warning && d.Kind == "ASMSwimLane" && d.Field == "spec.ingressRules"
	}
	if !found {
		t.Errorf("want a warning on the lane's ingressRules, got:\n%v", diags)
	}
}

// resolveYAML parses yaml as file x.yaml and resolves its lane groups.
func resolveYAML(t *testing.T, yaml string) config.Diagnostics {
	t.Helper()
	var c config.Config
	if diags := c.Parse("x.yaml", []byte(yaml)); diags.HasErrors() {
		t.Fatal(diags.Err())
	}
	_, diags := Resolve(&c)
	return diags
}
