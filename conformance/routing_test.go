package conformance

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	faultv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/proto"
	"istio.io/istio/pilot/pkg/config/kube/crd"
	"istio.io/istio/pilot/pkg/model"
	"istio.io/istio/pilot/test/xds"
	"sigs.k8s.io/yaml"

	"github.com/lanemesh/lanemesh/internal/compile"
	lmconfig "github.com/lanemesh/lanemesh/internal/config"
	"github.com/lanemesh/lanemesh/internal/explain"
	"github.com/lanemesh/lanemesh/internal/local"
	"github.com/lanemesh/lanemesh/internal/meshxds"
	"github.com/lanemesh/lanemesh/internal/registry"
	"github.com/lanemesh/lanemesh/internal/route"
	"github.com/lanemesh/lanemesh/internal/scenario"
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
	scenarios := map[string]*scenario.File{"traffic-lanes": tutorialScenario(t)}
	for _, path := range files {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if scenarios[strings.TrimSuffix(filepath.Base(path), ".txt")], err = scenario.Parse(string(raw)); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	var compared, agreed int
	for name, sc := range scenarios {
		t.Run(name, func(t *testing.T) {
			if strings.Contains(sc.Config, "fallback:") {
				t.Skip("uses lanemesh's fallback")
			}
			c := &lmconfig.Config{}
			if diags := c.Parse(name, []byte(sc.Config)); diags.HasErrors() {
				t.Fatal(diags.Err())
			}
			istioDocs, kubeDocs := splitForPilot([]byte(sc.Config))
			configs, _, err := crd.ParseInputs(istioDocs)
			if err != nil {
				t.Fatalf("pilot refuses the configuration: %v", err)
			}
			for i := range configs {
				configs[i].Domain = "cluster.local" // as the Kubernetes controller sets it; short names resolve by it
			}
			s := xds.NewFakeDiscoveryServer(t, xds.FakeOptions{Configs: configs, KubernetesObjectString: kubeDocs})
			instances := local.Predict(c)
			for _, call := range sc.Calls {
				req, err := explain.Request(call.Method, call.URL, call.Headers)
				if err != nil {
					t.Fatal(err)
				}
				lane := lanemeshDecision(t, c, instances, call.Proxy, req)
				lmRoutes := explain.RouteConfigForRequest(compile.Compile(c, instances, call.Proxy), call.Proxy.Role, req)
				istio := pilotDecision(t, s, call.Proxy, req, lmRoutes)
				compared++
				if testing.Verbose() {
					t.Logf("%s -> %s", call.Line, istio)
				}
				if lane == istio {
					agreed++
					continue
				}
				t.Errorf("%s: Istio routes to %q, lanemesh to %q", call.Line, istio, lane)
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
func tutorialScenario(t *testing.T) *scenario.File {
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
	f, err := scenario.Parse(b.String())
	if err != nil {
		t.Fatal(err)
	}
	return f
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

// decision names where a request goes: a cluster, "redirect N", "direct
// N", or "no route"; then what the route does beside: the hash its policy
// computes for the request (and a cookie it would set), the mirrors it
// copies to, and what the CORS filter does with the request.
func decision(d route.Decision, req *route.Request) string {
	switch rt := d.Route; {
	case rt == nil:
		return "no route"
	case rt.Redirect != nil:
		return "redirect " + strconv.Itoa(route.RedirectStatus(rt.Redirect.GetResponseCode()))
	case rt.DirectResponse != nil:
		return fmt.Sprintf("direct %d", rt.DirectResponse.GetStatus())
	}
	out := d.Cluster
	if hp := d.Route.Hash; hp != nil {
		h := hp.Compute(req)
		out += fmt.Sprintf(" hash=%t:%x cookie=%q", h.OK, h.Value, h.SetCookie)
	}
	for i := range d.Route.Mirrors {
		m := &d.Route.Mirrors[i]
		out += fmt.Sprintf(" mirror=%s@%g%%", m.Cluster, m.Percent())
	}
	if c := d.Route.CORS; c != nil {
		out += fmt.Sprintf(" cors=%d", c.Check(req, 0))
	}
	return out + rewrites(d.Route.Action) + retries(d.Route.Action.GetRetryPolicy()) + faults(d.Route.Envoy)
}

// rewrites says how a route rewrites the path and the authority.
func rewrites(a *routev3.RouteAction) string {
	var out string
	if p := a.GetPrefixRewrite(); p != "" {
		out += " rewrite=prefix:" + p
	}
	if r := a.GetRegexRewrite(); r != nil {
		out += fmt.Sprintf(" rewrite=regex:%s→%s", r.GetPattern().GetRegex(), r.GetSubstitution())
	}
	if h := a.GetHostRewriteLiteral(); h != "" {
		out += " authority=" + h
	}
	return out
}

// retries says what a route's retry policy retries: how often, on what
// (conditions sorted, empty ones dropped, as Envoy reads the list) and
// which status codes, the per-try timeout and back-off base, and whether
// a retry goes to another host.
func retries(p *routev3.RetryPolicy) string {
	if p == nil {
		return " retry=none"
	}
	var on []string
	for tok := range strings.SplitSeq(p.GetRetryOn(), ",") {
		if tok = strings.TrimSpace(tok); tok != "" {
			on = append(on, tok)
		}
	}
	slices.Sort(on)
	codes := slices.Sorted(slices.Values(p.GetRetriableStatusCodes()))
	var hosts []string
	for _, hp := range p.GetRetryHostPredicate() {
		hosts = append(hosts, hp.GetName())
	}
	return fmt.Sprintf(" retry=%d on=%s codes=%v per-try=%v backoff=%v hosts=%v", p.GetNumRetries().GetValue(), strings.Join(on, ","), codes,
		p.GetPerTryTimeout().AsDuration(), p.GetRetryBackOff().GetBaseInterval().AsDuration(), hosts)
}

// faults says what a route's fault filter config does: its delay and
// abort, each with its share in parts per million; a config with neither
// (pilot writes one for a fault whose abort has no status) does nothing,
// as no config does.
func faults(r *routev3.Route) string {
	a := r.GetTypedPerFilterConfig()["envoy.filters.http.fault"]
	if a == nil {
		return ""
	}
	var f faultv3.HTTPFault
	if err := a.UnmarshalTo(&f); err != nil {
		return " fault=unreadable: " + err.Error()
	}
	ppm := func(p *typev3.FractionalPercent) uint64 {
		n := uint64(p.GetNumerator())
		switch p.GetDenominator() {
		case typev3.FractionalPercent_HUNDRED:
			return n * 10_000
		case typev3.FractionalPercent_TEN_THOUSAND:
			return n * 100
		}
		return n
	}
	if f.GetDelay() == nil && f.GetAbort() == nil {
		return ""
	}
	out := " fault="
	if d := f.GetDelay(); d != nil {
		out += fmt.Sprintf("delay:%v@%dppm", d.GetFixedDelay().AsDuration(), ppm(d.GetPercentage()))
	}
	if ab := f.GetAbort(); ab != nil {
		out += fmt.Sprintf("abort:%d@%dppm", ab.GetHttpStatus(), ppm(ab.GetPercentage()))
	}
	return out
}

func lanemeshDecision(t *testing.T, c *lmconfig.Config, instances []registry.Instance, p meshxds.Proxy, req *route.Request) string {
	t.Helper()
	res := compile.Compile(c, instances, p)
	name := explain.RouteConfigForRequest(res, p.Role, req)
	for _, rc := range res.Routes {
		if rc.Name == name {
			return decide(t, rc, req)
		}
	}
	return "no route"
}

func pilotDecision(t *testing.T, s *xds.FakeDiscoveryServer, cl meshxds.Proxy, req *route.Request, lanemeshRoutes string) string {
	t.Helper()
	p := &model.Proxy{ConfigNamespace: cl.Namespace, Labels: cl.Labels, Metadata: &model.NodeMetadata{Labels: cl.Labels, Namespace: cl.Namespace}}
	want := "80"
	if _, port, ok := strings.Cut(req.Authority, ":"); ok {
		want = port
	}
	if cl.Role == meshxds.Gateway {
		p.Type = model.Router
		want = "http." + want
		if req.TLS {
			// An HTTPS server's routes are named by Istio's scheme,
			// https.PORT.PORTNAME.GATEWAY.NAMESPACE, which lanemesh
			// uses too: the server that the request's SNI selects is
			// lanemesh's choice, and its routes are compared.
			want = lanemeshRoutes
		}
	}
	rcs := s.Routes(s.SetupProxy(p))
	for i, rc := range rcs {
		rcs[i] = retry503ByDefault(rc)
	}
	var plain []*routev3.RouteConfiguration
	for _, rc := range rcs {
		if rc.Name == want {
			return decide(t, rc, req)
		}
		if strings.HasPrefix(rc.Name, "http.") {
			plain = append(plain, rc)
		}
	}
	// A gateway's only plain HTTP port, as explain.RouteConfigForRequest
	// picks it for a URL whose port `lanemesh up` remapped (8080 for 80).
	if cl.Role == meshxds.Gateway && !req.TLS && len(plain) == 1 {
		return decide(t, plain[0], req)
	}
	return "no route"
}

// pilotDefaultRetryOn is the retry_on of Istio's default retry policy.
const pilotDefaultRetryOn = "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"

// retry503ByDefault gives pilot's default retry policies (a route with no
// retries, or attempts alone) the 503 that Istio's default had up to 1.23
// and in later ones' 1.23 compatibility profile, and that lanemesh's keeps
// (internal/compile's defaultRetryOn says why): the one deliberate
// difference in retries. An explicit retryOn with that same list but no
// codes would be changed too; no scenario has one. It changes a copy:
// pilot shares its default policy between routes and caches them.
func retry503ByDefault(rc *routev3.RouteConfiguration) *routev3.RouteConfiguration {
	rc = proto.Clone(rc).(*routev3.RouteConfiguration)
	for _, vh := range rc.GetVirtualHosts() {
		for _, r := range vh.GetRoutes() {
			if p := r.GetRoute().GetRetryPolicy(); p != nil && p.GetRetryOn() == pilotDefaultRetryOn && len(p.GetRetriableStatusCodes()) == 0 {
				p.RetriableStatusCodes = []uint32{503}
			}
		}
	}
	return rc
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
	return decision(tbl.Decide(req, 0), req)
}
