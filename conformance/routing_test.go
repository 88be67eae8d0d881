package conformance

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"istio.io/istio/pilot/pkg/config/kube/crd"
	"istio.io/istio/pilot/pkg/model"
	"istio.io/istio/pilot/test/xds"
	"sigs.k8s.io/yaml"

	"github.com/lanemesh/lanemesh/internal/compile"
	lmconfig "github.com/lanemesh/lanemesh/internal/config"
	"github.com/lanemesh/lanemesh/internal/explain"
	"github.com/lanemesh/lanemesh/internal/registry"
	"github.com/lanemesh/lanemesh/internal/route"
)

// TestRoutingAgreement: for every rule scenario of internal/explain
// (a configuration and the requests of some callers), Istio's pilot, run
// in process through its test discovery server, builds each caller's
// RouteConfiguration; lanemesh's own route table decides every request on
// pilot's routes and on lanemesh's, and both must pick the same cluster
// (or both refuse with no route). Scenarios that use lanemesh's fallback
// are not compared; the fallback is lanemesh's alone.
func TestRoutingAgreement(t *testing.T) {
	files, _ := filepath.Glob("../internal/explain/testdata/rules/*.txt")
	if len(files) == 0 {
		t.Fatal("no rule scenarios")
	}
	scenarios := map[string][]byte{"traffic-lanes": tutorialScenario(t)}
	for _, path := range files {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		scenarios[strings.TrimSuffix(filepath.Base(path), ".txt")] = raw
	}
	var compared, agreed int
	for name, raw := range scenarios {
		path := name
		t.Run(name, func(t *testing.T) {
			cfgYAML := section(raw, "config")
			if bytes.Contains(cfgYAML, []byte("fallback:")) {
				t.Skip("uses lanemesh's fallback")
			}
			c := &lmconfig.Config{}
			if diags := c.Parse(path, cfgYAML); diags.HasErrors() {
				t.Fatal(diags.Err())
			}
			istioDocs, kubeDocs := splitForPilot(cfgYAML)
			configs, _, err := crd.ParseInputs(istioDocs)
			if err != nil {
				t.Fatalf("pilot refuses the configuration: %v", err)
			}
			for i := range configs {
				configs[i].Domain = "cluster.local" // as the Kubernetes controller sets it; short names resolve by it
			}
			s := xds.NewFakeDiscoveryServer(t, xds.FakeOptions{Configs: configs, KubernetesObjectString: kubeDocs})
			instances := registry.FromConfig(c)
			for _, line := range strings.Split(strings.TrimSpace(string(section(raw, "requests"))), "\n") {
				caller, req := parseRequest(t, line)
				lane := lanemeshDecision(t, c, instances, caller, req)
				istio := pilotDecision(t, s, caller, req)
				compared++
				if testing.Verbose() {
					t.Logf("%s -> %s", line, istio)
				}
				if lane == istio {
					agreed++
					continue
				}
				t.Errorf("%s: Istio routes to %q, lanemesh to %q", line, istio, lane)
			}
		})
	}
	t.Logf("routing agreement: %d of %d requests decided alike", agreed, compared)
	if compared < 60 {
		t.Errorf("compared %d requests; want at least 60", compared)
	}
}

// tutorialScenario is the traffic-lanes tutorial (without the fallback
// step) as a scenario: every lane from the gateway, and each of the nine
// workloads calling mockb and mockc, routed by its sourceLabels.
func tutorialScenario(t *testing.T) []byte {
	files, _ := filepath.Glob("../examples/traffic-lanes/*.yaml")
	var b bytes.Buffer
	b.WriteString("-- config --\n")
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(data)
		b.WriteString("\n---\n")
	}
	b.WriteString("-- requests --\n")
	for _, lane := range []string{"v1", "v2", "v3", "v4"} {
		fmt.Fprintf(&b, "gateway istio-system istio=ingressgateway GET http://gateway/mock x-asm-prefer-tag: %s\n", lane)
	}
	b.WriteString("gateway istio-system istio=ingressgateway GET http://gateway/other\n")
	for _, app := range []string{"mocka", "mockb", "mockc"} {
		for _, v := range []string{"v1", "v2", "v3"} {
			for _, target := range []string{"mockb", "mockc"} {
				fmt.Fprintf(&b, "sidecar default app=%s,version=%s GET http://%s:8000/\n", app, v, target)
			}
		}
	}
	return b.Bytes()
}

// splitForPilot separates Istio's kinds from the Kubernetes Services that
// pilot reads through its fake Kubernetes client; Deployments are left
// out (a route decision needs services, not pods).
func splitForPilot(data []byte) (istio, kube string) {
	var ib, kb strings.Builder
	for _, raw := range bytes.Split(data, []byte("\n---")) {
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if yaml.Unmarshal(raw, &head) != nil {
			continue
		}
		doc := string(bytes.TrimLeft(raw, "-\n"))
		switch {
		case strings.HasPrefix(head.APIVersion, "networking.istio.io/"):
			ib.WriteString(doc + "\n---\n")
		case head.Kind == "Service":
			kb.WriteString(doc + "\n---\n")
		}
	}
	return ib.String(), kb.String()
}

// caller is a proxy of a scenario's requests line.
type caller struct {
	role      compile.Role
	namespace string
	labels    map[string]string
}

func parseRequest(t *testing.T, line string) (caller, *route.Request) {
	t.Helper()
	f := strings.Fields(line)
	if len(f) < 5 {
		t.Fatalf("request %q", line)
	}
	c := caller{role: compile.Role(f[0]), namespace: f[1], labels: map[string]string{}}
	for _, kv := range strings.Split(f[2], ",") {
		k, v, _ := strings.Cut(kv, "=")
		c.labels[k] = v
	}
	var headers []string
	for h := range strings.SplitSeq(strings.Join(f[5:], " "), ";") {
		if h = strings.TrimSpace(h); h != "" {
			headers = append(headers, h)
		}
	}
	req, err := explain.Request(f[3], f[4], headers)
	if err != nil {
		t.Fatal(err)
	}
	return c, req
}

// decision names where a request goes: a cluster, "redirect N", "direct
// N", or "no route".
func decision(d route.Decision) string {
	switch rt := d.Route; {
	case rt == nil:
		return "no route"
	case rt.Redirect != nil:
		return "redirect " + strconv.Itoa(route.RedirectStatus(rt.Redirect.GetResponseCode()))
	case rt.DirectResponse != nil:
		return fmt.Sprintf("direct %d", rt.DirectResponse.GetStatus())
	}
	return d.Cluster
}

func lanemeshDecision(t *testing.T, c *lmconfig.Config, instances []registry.Instance, cl caller, req *route.Request) string {
	t.Helper()
	p := compile.Proxy{Role: cl.role, Namespace: cl.namespace, Labels: cl.labels}
	res := compile.Compile(c, instances, p)
	name := explain.RouteConfigFor(res, p.Role, req.Authority)
	for _, rc := range res.Routes {
		if rc.Name == name {
			return decide(t, rc, req)
		}
	}
	return "no route"
}

func pilotDecision(t *testing.T, s *xds.FakeDiscoveryServer, cl caller, req *route.Request) string {
	t.Helper()
	p := &model.Proxy{ConfigNamespace: cl.namespace, Labels: cl.labels, Metadata: &model.NodeMetadata{Labels: cl.labels, Namespace: cl.namespace}}
	want := "80"
	if _, port, ok := strings.Cut(req.Authority, ":"); ok {
		want = port
	}
	if cl.role == compile.Gateway {
		p.Type = model.Router
		want = "http." + want
	}
	rcs := s.Routes(s.SetupProxy(p))
	for _, rc := range rcs {
		if rc.Name == want {
			return decide(t, rc, req)
		}
	}
	if cl.role == compile.Gateway && len(rcs) == 1 { // a gateway's only port, as explain.RouteConfigFor picks it
		return decide(t, rcs[0], req)
	}
	return "no route"
}

// decide runs lanemesh's route table on a RouteConfiguration, with what the
// table does not read taken out: a refusal of Istio's RDS is reported as
// such, not as a decision.
func decide(t *testing.T, rc *routev3.RouteConfiguration, req *route.Request) string {
	t.Helper()
	tbl, err := route.New(rc)
	if err != nil {
		return "table refused: " + err.Error()
	}
	return decision(tbl.Decide(req, 0))
}
