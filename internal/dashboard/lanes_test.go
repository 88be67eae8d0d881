package dashboard

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/lanemesh/lanemesh/internal/config"
	lanegen "github.com/lanemesh/lanemesh/internal/lanes"
	"github.com/lanemesh/lanemesh/internal/registry"
)

func load(t testing.TB, paths ...string) *config.Config {
	t.Helper()
	c, diags := config.Load(paths, nil)
	if diags.HasErrors() {
		t.Fatal(diags.Err())
	}
	return c
}

func parse(t *testing.T, yaml string) *config.Config {
	t.Helper()
	c := &config.Config{}
	if diags := c.ParseWith("test.yaml", []byte(yaml), config.Options{}); diags.HasErrors() {
		t.Fatal(diags.Err())
	}
	return c
}

// pods are one ready pod per app and version, as the tutorial runs them,
// but for those named in down (unready) or gone (absent): "mockb-v2".
func pods(apps, versions []string, down, gone []string) []registry.Instance {
	var out []registry.Instance
	for _, a := range apps {
		for _, v := range versions {
			name := a + "-" + v
			if slices.Contains(gone, name) {
				continue
			}
			out = append(out, registry.Instance{Name: name + "-0", Namespace: "default", Owner: "Deployment/" + name,
				Labels: map[string]string{"app": a, "version": v}, Address: "127.0.1.1", Healthy: !slices.Contains(down, name)})
		}
	}
	return out
}

var mocks, versions = []string{"mocka", "mockb", "mockc"}, []string{"v1", "v2", "v3"}

// cells renders a matrix as "service/lane=state(ready/pods,fallback,mode)".
func cells(m Matrix) string {
	var b strings.Builder
	for _, r := range m.Services {
		for i, c := range r.Cells {
			fmt.Fprintf(&b, "%s/%s=%s(%d/%d,%s,%s) ", r.Short, m.Lanes[i].Name, c.State, c.Ready, c.Pods, c.Fallback, c.Mode)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func lanes(m Matrix) string {
	var out []string
	for _, l := range m.Lanes {
		s := l.Name + ":" + l.Mode
		if l.Baseline {
			s += ",baseline"
		}
		if l.Entry != nil {
			s += fmt.Sprintf(",%s%s%v", l.Entry.Gateway, l.Entry.Path, l.Entry.Headers)
		}
		out = append(out, s)
	}
	return strings.Join(out, " ")
}

func TestLanesOfTheTutorial(t *testing.T) {
	tutorial := load(t, "../../examples/traffic-lanes")
	withFallback := load(t, "../../examples/traffic-lanes", "../../examples/traffic-lanes-fallback")
	entries := "v1:,baseline,istio-system/ingressgateway/mockmap[x-asm-prefer-tag:v1] " +
		"v2:strict,istio-system/ingressgateway/mockmap[x-asm-prefer-tag:v2] " +
		"v3:strict,istio-system/ingressgateway/mockmap[x-asm-prefer-tag:v3]"
	for _, tc := range []struct {
		name      string
		cfg       *config.Config
		instances []registry.Instance
		lanes     string
		cells     string
	}{{
		name: "steps 1-5: every version runs", cfg: tutorial, instances: pods(mocks, versions, nil, nil), lanes: entries,
		cells: "mocka/v1=ok(1/1,,) mocka/v2=ok(1/1,,) mocka/v3=ok(1/1,,) \n" +
			"mockb/v1=ok(1/1,,) mockb/v2=ok(1/1,,strict) mockb/v3=ok(1/1,,strict) \n" +
			"mockc/v1=ok(1/1,,) mockc/v2=ok(1/1,,strict) mockc/v3=ok(1/1,,strict) \n",
	}, {
		name: "step 7: mockb-v2 scaled to 0, with fallback", cfg: withFallback, instances: pods(mocks, versions, nil, []string{"mockb-v2"}), lanes: entries,
		cells: "mocka/v1=ok(1/1,,) mocka/v2=ok(1/1,,) mocka/v3=ok(1/1,,) \n" +
			"mockb/v1=ok(1/1,,) mockb/v2=fallback(0/0,v1,strict) mockb/v3=ok(1/1,v1,strict) \n" +
			"mockc/v1=ok(1/1,,) mockc/v2=ok(1/1,v1,strict) mockc/v3=ok(1/1,v1,strict) \n",
	}, {
		name: "mockb-v2 unready, no fallback", cfg: tutorial, instances: pods(mocks, versions, []string{"mockb-v2"}, nil), lanes: entries,
		cells: "mocka/v1=ok(1/1,,) mocka/v2=ok(1/1,,) mocka/v3=ok(1/1,,) \n" +
			"mockb/v1=ok(1/1,,) mockb/v2=down(0/1,,strict) mockb/v3=ok(1/1,,strict) \n" +
			"mockc/v1=ok(1/1,,) mockc/v2=ok(1/1,,strict) mockc/v3=ok(1/1,,strict) \n",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			m := Lanes(tc.cfg, tc.instances)
			if got := lanes(m); got != tc.lanes {
				t.Errorf("lanes:\n got %s\nwant %s", got, tc.lanes)
			}
			if got := cells(m); got != tc.cells {
				t.Errorf("cells:\n got %s\nwant %s", got, tc.cells)
			}
		})
	}
}

// TestLanesPermissiveAndIncomplete: a lane routed by a header is
// permissive; a service without the lane's subset is absent from it; a
// pod of two is degraded; lanes sort as numbers; a fallback to another
// service names it.
func TestLanesPermissiveAndIncomplete(t *testing.T) {
	c := parse(t, `apiVersion: v1
kind: Service
metadata: {name: cart, namespace: shop}
spec: {selector: {app: cart}, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: pay, namespace: shop}
spec: {selector: {app: pay}, ports: [{port: 80}]}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: cart, namespace: shop}
spec:
  host: cart
  subsets: [{name: base, labels: {lane: base}}, {name: f10, labels: {lane: f10}}, {name: f2, labels: {lane: f2}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: pay, namespace: shop}
spec:
  host: pay.shop.svc.cluster.local
  subsets: [{name: base, labels: {lane: base}}, {name: f2, labels: {lane: f2}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: cart, namespace: shop}
spec:
  hosts: [cart]
  http:
  - match: [{headers: {x-lane: {exact: f2}}}]
    route: [{destination: {host: cart, subset: f2}, fallback: {target: {host: pay, subset: base}}}]
  - match: [{sourceLabels: {lane: f10}}]
    route: [{destination: {host: cart, subset: f10}}]
  - match: [{headers: {x-lane: {exact: f10}}}]
    route: [{destination: {host: cart, subset: f10}}]
  - route: [{destination: {host: cart, subset: base}}]
`)
	var instances []registry.Instance
	for i, p := range []struct {
		app, lane string
		ready     bool
	}{{"cart", "base", true}, {"cart", "f2", true}, {"cart", "f2", false}, {"cart", "f10", true}, {"pay", "base", true}, {"pay", "f2", true}, {"pay", "f2", true}} {
		instances = append(instances, registry.Instance{Name: fmt.Sprint(p.app, i), Namespace: "shop",
			Labels: map[string]string{"app": p.app, "lane": p.lane}, Healthy: p.ready})
	}
	instances = append(instances, registry.Instance{Name: "elsewhere", Namespace: "other", Labels: map[string]string{"app": "cart", "lane": "base"}, Healthy: true})
	m := Lanes(c, instances)
	if got, want := lanes(m), "base:,baseline f2:permissive f10:mixed"; got != want {
		t.Errorf("lanes:\n got %s\nwant %s", got, want)
	}
	want := "cart/base=ok(1/1,,) cart/f2=degraded(1/2,pay/base,permissive) cart/f10=ok(1/1,,mixed) \n" +
		"pay/base=ok(1/1,,) pay/f2=ok(2/2,,) pay/f10=absent(0/0,,) \n"
	if got := cells(m); got != want {
		t.Errorf("cells:\n got %s\nwant %s", got, want)
	}
}

// TestLanesOfAPermissiveGroup: each lane's way in is its own gateway
// route, the one that sets the group's route header to the lane, though
// a lane that lacks the first service is routed to the baseline's subset
// (examples/lane-group-permissive: v3 holds mockb only).
func TestLanesOfAPermissiveGroup(t *testing.T) {
	c, diags := lanegen.Resolve(load(t, "../../examples/lane-group-permissive"))
	if diags.HasErrors() {
		t.Fatal(diags.Err())
	}
	m := Lanes(c, pods(mocks, versions, nil, nil))
	want := map[string]string{"v1": "/mock map[]", "v2": "/mock map[x-asm-prefer-tag:v2]", "v3": "/mock map[x-asm-prefer-tag:v3]"}
	for _, l := range m.Lanes {
		got := "none"
		if l.Entry != nil {
			got = fmt.Sprint(l.Entry.Path, " ", l.Entry.Headers)
		}
		if got != want[l.Name] {
			t.Errorf("lane %s is entered by %s, want %s", l.Name, got, want[l.Name])
		}
	}
}
