package kubernetes_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/lanemesh/lanemesh/internal/dashboard"
	"github.com/lanemesh/lanemesh/internal/verify"
)

// TestTutorial runs the traffic-lane tutorial's own kubectl commands,
// verbatim, against the real control plane, with lanemesh's control plane
// as a process of this machine (its injector and xDS reached from the
// node's pods) and everything else in the cluster: sidecars injected by the
// webhook, the ingress gateway as deploy/05-ingressgateway.yaml runs it,
// the apps as the examples' Deployments.
//
// What the rehearsal adapts, and only that: no control-plane Deployment
// (the control plane runs here); its Service has no selector but an
// EndpointSlice naming this machine's process, which the apiserver
// (--enable-aggregator-routing) calls for the webhook as it would the pod;
// the gateway dials the control plane's xDS at its address here instead of
// the Service's DNS name, which nothing resolves on this machine.
func TestTutorial(t *testing.T) {
	e := cluster(t)
	ctx := context.Background()
	// An earlier test's pods of the same Deployments may still be
	// terminating; counting them as this test's would be wrong.
	eventually(t, 120*time.Second, "no pods of mocka, mockb, mockc left from earlier tests", func() (bool, string) {
		list, err := e.client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app in (mocka,mockb,mockc)"})
		if err != nil {
			return false, err.Error()
		}
		return len(list.Items) == 0, fmt.Sprintf("%d pods", len(list.Items))
	})

	// Install: namespace, CRDs, RBAC, webhook configuration.
	crds, _ := filepath.Glob("../../deploy/*crds.yaml")
	if len(crds) != 1 {
		t.Fatalf("deploy/ has %d files of CRDs (%v), want one", len(crds), crds)
	}
	for _, f := range []string{"../../deploy/00-namespace.yaml", crds[0], "../../deploy/02-rbac.yaml"} {
		e.kubectl(t, "", "apply", "-f", f)
	}
	e.kubectl(t, "", "wait", "--for", "condition=established", "--timeout=60s",
		"crd/virtualservices.networking.istio.io", "crd/destinationrules.networking.istio.io", "crd/gateways.networking.istio.io")

	xdsPort, injPort := freePort(t), freePort(t)
	e.kubectl(t, webhookService(injPort), "apply", "-f", "-")
	e.kubectl(t, "", "apply", "-f", "../../deploy/04-injector.yaml")
	t.Cleanup(func() {
		_, _ = e.kubectlErr("", "delete", "--ignore-not-found", "-f", "../../deploy/04-injector.yaml")
		_, _ = e.kubectlErr(webhookService(injPort), "delete", "--ignore-not-found", "-f", "-")
	})

	e.startNode(t, "rehearsal-tutorial")
	xds := fmt.Sprintf("127.0.0.1:%d", xdsPort)
	cp := e.startControlPlane(t, "--xds", xds,
		"--injector", fmt.Sprintf("127.0.0.1:%d", injPort), "--capture-mode", "http-proxy",
		"--injector-bind-pod-ip", "--injector-xds-address", xds)
	// The apiserver trusts the injector once its caBundle is set.
	eventually(t, 30*time.Second, "every webhook's caBundle set", func() (bool, string) {
		out, _ := e.kubectlErr("", "get", "mutatingwebhookconfiguration", "lanemesh-sidecar-injector", "-o", "jsonpath={.webhooks[*].clientConfig.caBundle}")
		return len(strings.Fields(out)) == 5, out
	})

	// The ingress gateway, as deploy/05-ingressgateway.yaml runs it.
	gw, err := os.ReadFile("../../deploy/05-ingressgateway.yaml")
	if err != nil {
		t.Fatal(err)
	}
	gwYAML := strings.Replace(string(gw), "--xds=lanemesh.istio-system.svc:15010", "--xds="+xds, 1)
	if gwYAML == string(gw) {
		t.Fatal("deploy/05-ingressgateway.yaml no longer dials --xds=lanemesh.istio-system.svc:15010: adapt the rehearsal")
	}
	e.kubectl(t, gwYAML, "apply", "-f", "-")
	t.Cleanup(func() { _, _ = e.kubectlErr(gwYAML, "delete", "--ignore-not-found", "--wait=false", "-f", "-") })

	// The tutorial, verbatim.
	e.tutorial(t, "kubectl label namespace default istio-injection=enabled")
	t.Cleanup(func() { _, _ = e.kubectlErr("", "label", "namespace", "default", "istio-injection-") })
	files := []string{
		"examples/traffic-lanes/app-services.yaml",
		"examples/traffic-lanes/app-v1.yaml",
		"examples/traffic-lanes/app-v2.yaml",
		"examples/traffic-lanes/app-v3.yaml",
		"examples/traffic-lanes/dr-mock.yaml",
		"examples/traffic-lanes/vs-mock.yaml",
		"examples/traffic-lanes/gw-mock.yaml",
	}
	for _, f := range files {
		e.tutorial(t, "kubectl apply -f "+f)
	}
	t.Cleanup(func() {
		for _, f := range files {
			_, _ = e.kubectlErr("", "delete", "--ignore-not-found", "--wait=false", "-f", "../../"+f)
		}
	})

	pods := readyPods(t, e, "app in (mocka,mockb,mockc)", 9)
	for _, p := range pods {
		var names []string
		for _, c := range p.Spec.Containers {
			names = append(names, c.Name)
		}
		if !slices.Contains(names, "lanemesh-proxy") {
			t.Errorf("pod %s has containers %v: no injected lanemesh-proxy", p.Name, names)
		}
	}
	gwPod := readyPodsIn(t, e, "istio-system", "istio=ingressgateway", 1)[0]
	gwURL := "http://" + gwPod.Status.PodIP + ":8080/mock"

	// Every sidecar and the gateway connected, each as its pod.
	want := []string{"gateway~istio-system/" + gwPod.Name}
	for _, p := range pods {
		want = append(want, "sidecar~default/"+p.Name)
	}
	sort.Strings(want)
	eventually(t, 60*time.Second, "the 9 sidecars and the gateway connected to the control plane", func() (bool, string) {
		var got []string
		for id := range cp.versions(t) {
			got = append(got, id)
		}
		sort.Strings(got)
		return slices.Equal(got, want), fmt.Sprint(got)
	})

	// 100 requests per lane, each the full in-lane chain.
	for _, lane := range []string{"v1", "v2", "v3"} {
		eventually(t, 60*time.Second, "lane "+lane+" through the gateway", func() (bool, string) {
			body, code := laneGet(gwURL, lane)
			return code == 200 && chainOf(body) == lane+" "+lane+" "+lane, fmt.Sprintf("%d %s", code, body)
		})
		for i := range 100 {
			body, code := laneGet(gwURL, lane)
			if code != 200 || chainOf(body) != lane+" "+lane+" "+lane {
				t.Fatalf("lane %s request %d: %d %q, want the chain %s %s %s", lane, i, code, body, lane, lane, lane)
			}
		}
	}

	// A pod relabelled while its sidecar is connected: the sidecar is
	// served as the pod now is (Istio follows the pod's labels).
	e.kubectl(t, "", "label", "pod", pods[0].Name, "-n", pods[0].Namespace, "lanemesh-test=relabelled")
	eventually(t, 30*time.Second, "the relabelled pod's sidecar served with its new labels", func() (bool, string) {
		out := cp.get(t, e, "proxies", "-o", "json")
		return strings.Contains(out, "relabelled"), out
	})

	// The dashboard shows the tutorial's 3 × 3, every cell serving.
	eventually(t, 30*time.Second, "the dashboard's matrix: 9 cells, each serving", func() (bool, string) {
		cells := cp.dashboard(t).cells()
		return len(cells) == 9 && !slices.ContainsFunc(slices.Collect(maps.Values(cells)), func(s string) bool { return s != "ok" }), fmt.Sprint(cells)
	})

	// Step 6: fallback.
	e.tutorial(t, "kubectl apply -f examples/traffic-lanes-fallback/vs-mock-fallback.yaml")
	eventually(t, 30*time.Second, "the control plane has mockb's fallback", func() (bool, string) {
		out := cp.get(t, e, "vs", "mockb", "-n", "istio-system", "-o", "yaml")
		return strings.Contains(out, "fallback"), out
	})
	cp.settled(t)

	// Scale mockb-v2 away under ~300 req/s of lane v2: no request fails, and
	// lane v2 falls back to mockb v1 (whose calls stay in lane v1).
	began := time.Now()
	l := startPacedLoad(gwURL, "v2", 10, 33*time.Millisecond)
	// A second of load before the scale-down, and one after fallback is
	// seen, so that the switch happens under load, not at its edges.
	l.waitSent(t, 300)
	e.tutorial(t, "kubectl scale deployment mockb-v2 --replicas=0")
	eventually(t, 60*time.Second, "mockb-v2's pod gone", func() (bool, string) {
		list, err := e.client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=mockb,version=v2"})
		if err != nil {
			return false, err.Error()
		}
		return len(list.Items) == 0, fmt.Sprintf("%d pods", len(list.Items))
	})
	eventually(t, 30*time.Second, "lane v2 falls back to mockb v1", func() (bool, string) {
		body, code := laneGet(gwURL, "v2")
		return code == 200 && chainOf(body) == "v2 v1 v1", fmt.Sprintf("%d %s", code, body)
	})
	// The dashboard sees it too: mockb v2's cell falls back, and the
	// sidecars' metrics, scraped over their pods' admin ports, show lane
	// v2's mocka calling mockb v1 through the fallback.
	eventually(t, 30*time.Second, "the dashboard shows mockb v2 falling back, with traffic", func() (bool, string) {
		d := cp.dashboard(t)
		fellBack := slices.ContainsFunc(d.Edges, func(e dashboard.EdgeStats) bool {
			return e.Lane == "v2" && e.From == "mocka" && e.To == "mockb" && e.ToVersion == "v1" && e.FallbackRPS > 0
		})
		return d.cells()["mockb/v2"] == "fallback" && fellBack, fmt.Sprintf("cells %v, %d proxies scraped, edges %+v", d.cells(), d.Scraped, d.Edges)
	})
	l.waitSent(t, l.sent.Load()+300)
	sent, failed, chains, examples := l.finish()
	rate := float64(sent) / time.Since(began).Seconds()
	t.Logf("scale to 0 under load: %d requests (%.0f/s), %d failed, chains %v", sent, rate, failed, chains)
	if failed != 0 {
		t.Errorf("%d of %d lane-v2 requests failed while mockb-v2 scaled to 0; e.g. %q", failed, sent, examples)
	}
	if chains["v2 v1 v1"] == 0 {
		t.Errorf("no lane-v2 request went mocka v2 -> mockb v1 -> mockc v1 after the scale-down: %v", chains)
	}
	for c := range chains {
		if c != "v2 v2 v2" && c != "v2 v1 v1" {
			t.Errorf("lane v2 answered with chain %q during the scale-down", c)
		}
	}
	if rate < 200 {
		t.Errorf("the load ran at %.0f req/s, meant to be ~300: the assertion above is weaker than it says", rate)
	}

	// Recovery.
	e.tutorial(t, "kubectl scale deployment mockb-v2 --replicas=1")
	readyPods(t, e, "app=mockb,version=v2", 1)
	eventually(t, 60*time.Second, "lane v2 back in lane after scaling up", func() (bool, string) {
		body, code := laneGet(gwURL, "v2")
		return code == 200 && chainOf(body) == "v2 v2 v2", fmt.Sprintf("%d %s", code, body)
	})

	// A bad VirtualService: a fallback to its own destination. The CRD
	// admits it; the control plane reports it on its status and keeps the
	// last good mockb, so lane v2 routing is unchanged.
	good, err := os.ReadFile("../../examples/traffic-lanes-fallback/vs-mock-fallback.yaml")
	if err != nil {
		t.Fatal(err)
	}
	docs := strings.SplitN(string(good), "\n---\n", 2)
	badMockb := strings.Replace(docs[0], "subset: v1\n    - match:", "subset: v2\n    - match:", 1)
	if badMockb == docs[0] {
		t.Fatal("could not make the bad VirtualService: the example changed")
	}
	before := cp.versions(t)
	if out, err := e.kubectlErr(badMockb, "apply", "-f", "-"); err != nil {
		t.Logf("the bad VirtualService was refused by kubectl apply: %s", out)
	} else {
		eventually(t, 30*time.Second, "the bad VirtualService reported on its status", func() (bool, string) {
			out, _ := e.kubectlErr("", "get", "vs", "mockb", "-n", "istio-system", "-o", "jsonpath={.status}")
			return strings.Contains(out, "LM0005"), out
		})
	}
	if after := cp.versions(t); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("a refused VirtualService changed what proxies were sent:\nbefore %v\nafter  %v", before, after)
	}
	for i := range 50 {
		body, code := laneGet(gwURL, "v2")
		if code != 200 || chainOf(body) != "v2 v2 v2" {
			t.Fatalf("after the bad VirtualService, lane v2 request %d: %d %q", i, code, body)
		}
	}
	e.tutorial(t, "kubectl apply -f examples/traffic-lanes-fallback/vs-mock-fallback.yaml")

	// How long a VirtualService change takes to reach every proxy it
	// concerns: a figure, not an assertion.
	cp.measurePropagation(t, e, docs[0], 50)

	// Clean-up, as the tutorial does it.
	for _, f := range append([]string{"examples/traffic-lanes-fallback/vs-mock-fallback.yaml"}, files...) {
		if f == "examples/traffic-lanes/vs-mock.yaml" {
			continue // the same objects as the fallback file: already gone
		}
		e.tutorial(t, "kubectl delete -f "+f)
	}
	eventually(t, 90*time.Second, "the tutorial's pods gone", func() (bool, string) {
		list, err := e.client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app in (mocka,mockb,mockc)"})
		if err != nil {
			return false, err.Error()
		}
		return len(list.Items) == 0, fmt.Sprintf("%d pods", len(list.Items))
	})
	eventually(t, 30*time.Second, "the control plane lists none of the tutorial's VirtualServices", func() (bool, string) {
		out := cp.get(t, e, "vs", "-A")
		return !strings.Contains(out, "mockb") && !strings.Contains(out, "swimlane-ingress-vs"), out
	})
}

// tutorial runs one of the tutorial's commands exactly as written, from
// the repository's root, as its reader would.
func (e *env) tutorial(t *testing.T, command string) string {
	t.Helper()
	args := strings.Fields(command)
	if args[0] != "kubectl" {
		t.Fatalf("tutorial command %q is not kubectl", command)
	}
	cmd := exec.Command(e.kubectlBin, args[1:]...)
	cmd.Dir = "../.."
	cmd.Env = append(os.Environ(), "KUBECONFIG="+e.kubeconfig)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", command, err, out)
	}
	return string(out)
}

// webhookService is the control plane's Service of deploy/03 without its
// Deployment: no selector, and an EndpointSlice naming the injector on
// this machine, where the apiserver calls it.
func webhookService(port int) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata: {name: lanemesh, namespace: istio-system}
spec:
  ports:
  - {name: https-webhook, port: 443, targetPort: %[1]d}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: lanemesh-rehearsal
  namespace: istio-system
  labels:
    kubernetes.io/service-name: lanemesh
    endpointslice.kubernetes.io/managed-by: lanemesh-rehearsal
addressType: IPv4
ports:
- {name: https-webhook, port: %[1]d, protocol: TCP}
endpoints:
- addresses: [127.0.0.1]
  conditions: {ready: true}
`, port)
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

var laneClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 64}}

// laneGet sends one request of lane (x-asm-prefer-tag) and returns the
// body and status, 0 when there was no response.
func laneGet(url, lane string) (string, int) {
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("x-asm-prefer-tag", lane)
	resp, err := laneClient.Do(req)
	if err != nil {
		return err.Error(), 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b), resp.StatusCode
}

// chainOf returns the versions of the chain the mocks print: "v2 v1 v1".
func chainOf(body string) string { return verify.Versions(verify.Parse(body)) }

// pacedLoad sends lane requests from workers, each at most one per pause,
// and counts failures (anything but a 200 with a three-hop chain) and the
// chains seen.
type pacedLoad struct {
	sent, failed atomic.Int64
	mu           sync.Mutex
	chains       map[string]int
	examples     []string
	stop         chan struct{}
	wg           sync.WaitGroup
}

func startPacedLoad(url, lane string, workers int, pause time.Duration) *pacedLoad {
	l := &pacedLoad{chains: map[string]int{}, stop: make(chan struct{})}
	for range workers {
		l.wg.Go(func() {
			tick := time.NewTicker(pause)
			defer tick.Stop()
			for {
				select {
				case <-l.stop:
					return
				case <-tick.C:
				}
				body, code := laneGet(url, lane)
				c := chainOf(body)
				l.sent.Add(1)
				l.mu.Lock()
				if code != 200 || len(strings.Fields(c)) != 3 {
					l.failed.Add(1)
					if len(l.examples) < 5 {
						l.examples = append(l.examples, fmt.Sprintf("%d %s", code, body))
					}
				} else {
					l.chains[c]++
				}
				l.mu.Unlock()
			}
		})
	}
	return l
}

// waitSent waits until the load has sent n requests in all.
func (l *pacedLoad) waitSent(t *testing.T, n int64) {
	t.Helper()
	eventually(t, 30*time.Second, fmt.Sprintf("%d requests of load sent", n), func() (bool, string) {
		return l.sent.Load() >= n, fmt.Sprint(l.sent.Load())
	})
}

func (l *pacedLoad) finish() (sent, failed int64, chains map[string]int, examples []string) {
	close(l.stop)
	l.wg.Wait()
	return l.sent.Load(), l.failed.Load(), l.chains, l.examples
}

// proxyStatus is what the admin API's /v1/proxies says of one proxy.
type proxyStatus struct {
	ID        string
	Connected bool
	Acked     map[string]string
}

func (cp *controlPlane) proxies(t *testing.T) []proxyStatus {
	t.Helper()
	tok, err := os.ReadFile(cp.tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", cp.admin+"/v1/proxies", nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	resp, err := laneClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ps []proxyStatus
	if err := json.NewDecoder(resp.Body).Decode(&ps); err != nil {
		t.Fatalf("/v1/proxies: %v", err)
	}
	return ps
}

// dashboardState is the dashboard's state as the control plane serves it.
type dashboardState struct{ dashboard.State }

func (cp *controlPlane) dashboard(t *testing.T) dashboardState {
	t.Helper()
	tok, err := os.ReadFile(cp.tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", cp.admin+"/v1/dashboard", nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	resp, err := laneClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var d dashboardState
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&d.State); err != nil {
			t.Fatalf("/v1/dashboard: %v", err)
		}
	}
	return d
}

// cells maps "service/lane" to each cell's state.
func (d dashboardState) cells() map[string]string {
	out := map[string]string{}
	for _, row := range d.Matrix.Services {
		for i, c := range row.Cells {
			out[row.Short+"/"+d.Matrix.Lanes[i].Name] = c.State
		}
	}
	return out
}

const routeType = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"

// versions maps each connected proxy to the route configuration it ACKed.
func (cp *controlPlane) versions(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, p := range cp.proxies(t) {
		if p.Connected {
			out[p.ID] = p.Acked[routeType]
		}
	}
	return out
}

// settled waits until the proxies' ACKed versions stay the same for a
// second.
func (cp *controlPlane) settled(t *testing.T) {
	t.Helper()
	last := fmt.Sprint(cp.versions(t))
	stable := time.Now()
	eventually(t, 30*time.Second, "proxies' ACKed versions settle", func() (bool, string) {
		now := fmt.Sprint(cp.versions(t))
		if now != last {
			last, stable = now, time.Now()
		}
		return time.Since(stable) > time.Second, now
	})
}

// measurePropagation applies n changes of the mockb VirtualService (yaml:
// its good version), each a new timeout on its default route, which every
// sidecar's routes hold, and logs how long each took from the start of
// `kubectl apply` until every sidecar had ACKed a new route configuration.
func (cp *controlPlane) measurePropagation(t *testing.T, e *env, yaml string, n int) {
	t.Helper()
	re := regexp.MustCompile(`(?m)^    - route:\n        - destination:\n            host: mockb.default.svc.cluster.local\n            subset: v1$`)
	if !re.MatchString(yaml) {
		t.Logf("propagation not measured: the mockb VirtualService's default route is not where it was")
		return
	}
	var took, afterApply []time.Duration
	for i := range n {
		changed := re.ReplaceAllString(yaml, "    - timeout: "+strconv.Itoa(30+i)+"s\n      route:\n        - destination:\n            host: mockb.default.svc.cluster.local\n            subset: v1")
		before := cp.versions(t)
		began := time.Now()
		e.kubectl(t, changed, "apply", "-f", "-")
		applied := time.Now()
		ok := true
		for {
			now := cp.versions(t)
			done := true
			for id, v := range before {
				if strings.HasPrefix(id, "sidecar~") && now[id] == v {
					done = false
				}
			}
			if done {
				break
			}
			if time.Since(began) > 30*time.Second {
				t.Errorf("change %d: not every sidecar ACKed a new route configuration within 30s: before %v, now %v", i, before, now)
				ok = false
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		if ok {
			took = append(took, time.Since(began))
			afterApply = append(afterApply, time.Since(applied))
		}
	}
	if len(took) == 0 {
		return
	}
	for _, d := range []struct {
		what string
		ds   []time.Duration
	}{{"from the start of kubectl apply", took}, {"from kubectl apply's return", afterApply}} {
		slices.Sort(d.ds)
		q := func(p float64) time.Duration { return d.ds[min(len(d.ds)-1, int(p*float64(len(d.ds))))] }
		t.Logf("FIGURE VirtualService change until every sidecar ACKed it, %s: n=%d p50=%v p99=%v max=%v (admin API polled every ~5ms)",
			d.what, len(d.ds), q(0.5), q(0.99), d.ds[len(d.ds)-1])
	}
}
