package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lanemesh/lanemesh/api"
	"github.com/lanemesh/lanemesh/internal/registry"
)

func TestMockPodsGetTheirOwnAddressesAndAnswer(t *testing.T) {
	w := newWatcher()
	base := addressBase()
	r, _ := startRunner(t, Options{OnChange: w.OnChange, AddressBase: base})
	if err := r.Apply([]*api.Deployment{mockDeployment("mocka", "v1", 3)}); err != nil {
		t.Fatal(err)
	}
	list := w.waitFor(t, "3 ready pods", healthy(3))
	for i, in := range list {
		// A fresh start names and places pods as Predict does.
		wantName, wantAddr := fmt.Sprintf("mocka-%d", i), LoopbackAddress(base+i+1)
		if in.Name != wantName || in.Address != wantAddr || in.Namespace != "default" || in.Owner != "Deployment/mocka" {
			t.Errorf("instance %d = %s/%s %s owner %s, want default/%s %s owner Deployment/mocka",
				i, in.Namespace, in.Name, in.Address, in.Owner, wantName, wantAddr)
		}
		if want := map[string]string{"app": "mocka", "version": "v1"}; !maps.Equal(in.Labels, want) {
			t.Errorf("%s labels = %v, want %v", in.Name, in.Labels, want)
		}
		if want := map[string]uint32{"http": 8000, "8000": 8000}; !maps.Equal(in.Ports, want) {
			t.Errorf("%s ports = %v, want %v", in.Name, in.Ports, want)
		}
		body := get(t, "http://"+in.Address+":8000/any/path")
		if want := fmt.Sprintf("-> mocka(version: v1, ip: %s)", in.Address); body != want {
			t.Errorf("GET %s = %q, want %q", in.Address, body, want)
		}
	}
	for _, p := range r.Pods() {
		if p.Phase != Ready || p.Restarts != 0 {
			t.Errorf("pod %s: phase %s, restarts %d; want Ready, 0", p.Name, p.Phase, p.Restarts)
		}
	}
	logs, err := r.Logs("default", "mocka-0")
	if err != nil || !strings.Contains(string(logs), "mock listening") {
		t.Errorf("Logs(mocka-0) = %q, %v; want the mock's own log", logs, err)
	}
}

// serving reports whether addr accepts connections.
func serving(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func TestScaleDownReportsUnreadyBeforeTheAppStops(t *testing.T) {
	var mu sync.Mutex
	wasHealthy := map[string]bool{}
	var servingWhenUnready, closedWhenUnready, shared []string
	w := newWatcher()
	w.hook = func(list []registry.Instance) {
		mu.Lock()
		defer mu.Unlock()
		addrs := map[string]bool{}
		for _, in := range list {
			if addrs[in.Address] {
				shared = append(shared, in.Address)
			}
			addrs[in.Address] = true
			if !in.Healthy && wasHealthy[in.Name] {
				// OnChange is hearing that the pod is unready: the runner
				// must not have stopped it yet.
				if serving(in.Address + ":8000") {
					servingWhenUnready = append(servingWhenUnready, in.Name)
				} else {
					closedWhenUnready = append(closedWhenUnready, in.Name)
				}
			}
			wasHealthy[in.Name] = in.Healthy
		}
	}
	r, _ := startRunner(t, Options{OnChange: w.OnChange})
	if err := r.Apply([]*api.Deployment{mockDeployment("mockb", "v2", 3)}); err != nil {
		t.Fatal(err)
	}
	before := w.waitFor(t, "3 ready pods", healthy(3))
	if err := r.Scale("default", "mockb", 0); err != nil {
		t.Fatal(err)
	}
	w.waitFor(t, "no pods", empty)
	mu.Lock()
	if len(servingWhenUnready) != 3 || len(closedWhenUnready) > 0 {
		t.Errorf("pods still serving when reported unready: %v; already closed: %v", servingWhenUnready, closedWhenUnready)
	}
	mu.Unlock()
	for _, in := range before {
		if serving(in.Address + ":8000") {
			t.Errorf("%s still accepts connections at %s after its pod is gone", in.Name, in.Address)
		}
	}

	// Scaling up again reuses the same names and addresses.
	if err := r.Scale("default", "mockb", 3); err != nil {
		t.Fatal(err)
	}
	after := w.waitFor(t, "3 ready pods again", healthy(3))
	key := func(in registry.Instance) string { return in.Name + "@" + in.Address }
	if a, b := mapKeys(before, key), mapKeys(after, key); !slices.Equal(a, b) {
		t.Errorf("pods after scaling 3→0→3 = %v, want %v", b, a)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(shared) > 0 {
		t.Errorf("two live pods shared an address: %v", shared)
	}
}

func mapKeys(list []registry.Instance, key func(registry.Instance) string) []string {
	var out []string
	for _, in := range list {
		out = append(out, key(in))
	}
	slices.Sort(out)
	return out
}

// proxyRecorder is a sidecar stand-in: an HTTP proxy that answers every
// request itself and remembers the request-target it was sent.
type proxyRecorder struct {
	mu   sync.Mutex
	uris []string
}

func (p *proxyRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.uris = append(p.uris, r.RequestURI)
	p.mu.Unlock()
	io.WriteString(w, "-> proxied")
}

func TestSidecarCarriesTheAppsUpstreamCalls(t *testing.T) {
	proxy := &proxyRecorder{}
	proxySrv := httptest.NewServer(proxy)
	defer proxySrv.Close()
	var mu sync.Mutex
	var infos []PodInfo
	var sidecarCtx context.Context
	sidecar := func(ctx context.Context, pod PodInfo) (Sidecar, error) {
		mu.Lock()
		defer mu.Unlock()
		infos, sidecarCtx = append(infos, pod), ctx
		return Sidecar{ProxyURL: proxySrv.URL}, nil
	}
	w := newWatcher()
	r, stop := startRunner(t, Options{OnChange: w.OnChange, Sidecar: sidecar})
	d := mockDeployment("mocka", "v1", 1, api.EnvVar{Name: "upstream_url", Value: "http://mockb:8000/"})
	if err := r.Apply([]*api.Deployment{d}); err != nil {
		t.Fatal(err)
	}
	in := w.waitFor(t, "a ready pod", healthy(1))[0]
	body := get(t, "http://"+in.Address+":8000/")
	if want := fmt.Sprintf("-> mocka(version: v1, ip: %s)-> proxied", in.Address); body != want {
		t.Errorf("GET = %q, want %q", body, want)
	}
	proxy.mu.Lock()
	if !slices.Equal(proxy.uris, []string{"http://mockb:8000/"}) {
		t.Errorf("sidecar saw %q, want one absolute-form request for http://mockb:8000/", proxy.uris)
	}
	proxy.mu.Unlock()

	stop()
	mu.Lock()
	defer mu.Unlock()
	want := PodInfo{Name: "mocka-0", Namespace: "default", Labels: map[string]string{"app": "mocka", "version": "v1"},
		IP: in.Address, Owner: "Deployment/mocka"}
	if len(infos) != 1 || !podInfoEqual(infos[0], want) {
		t.Errorf("SidecarFunc got %+v, want one call with %+v", infos, want)
	}
	if sidecarCtx.Err() == nil {
		t.Error("the sidecar's context is still live after its pod stopped")
	}
}

func podInfoEqual(a, b PodInfo) bool {
	return a.Name == b.Name && a.Namespace == b.Namespace && maps.Equal(a.Labels, b.Labels) && a.IP == b.IP && a.Owner == b.Owner
}

// flakyUpstream answers with whatever status it is set to and counts calls.
type flakyUpstream struct {
	mu     sync.Mutex
	status int
	calls  int
}

func (u *flakyUpstream) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	u.mu.Lock()
	u.calls++
	status := u.status
	u.mu.Unlock()
	w.WriteHeader(status)
}

func (u *flakyUpstream) set(status int) {
	u.mu.Lock()
	u.status = status
	u.mu.Unlock()
}

func (u *flakyUpstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.calls
}

func TestHTTPReadinessProbe(t *testing.T) {
	// The mock answers with its upstream's status, so the upstream decides
	// what the pod's readiness probe sees.
	up := &flakyUpstream{status: http.StatusInternalServerError}
	upSrv := httptest.NewServer(up)
	defer upSrv.Close()
	d := mockDeployment("mockc", "v1", 1, api.EnvVar{Name: "upstream_url", Value: upSrv.URL})
	// The probe's httpGet is an anonymous struct with blank fields, which
	// only decoding can fill from outside package api.
	probe := `{"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 1, "failureThreshold": 1}`
	c := &d.Spec.Template.Spec.Containers[0]
	if err := json.Unmarshal([]byte(probe), &c.ReadinessProbe); err != nil {
		t.Fatal(err)
	}

	w := newWatcher()
	r, _ := startRunner(t, Options{OnChange: w.OnChange})
	if err := r.Apply([]*api.Deployment{d}); err != nil {
		t.Fatal(err)
	}
	waitPods(t, r, "three failed probes", func([]Pod) bool { return up.count() >= 3 })
	pods := r.Pods()
	if len(pods) != 1 || pods[0].Phase != Running || !strings.Contains(pods[0].Message, "answered 500") {
		t.Fatalf("after failing probes, pods = %+v; want one Running pod whose message names the 500", pods)
	}
	up.set(http.StatusOK)
	w.waitFor(t, "the pod ready once its probe passes", healthy(1))
	up.set(http.StatusServiceUnavailable)
	w.waitFor(t, "the pod unready once its probe fails", func(list []registry.Instance) bool {
		return len(list) == 1 && !list[0].Healthy
	})
}

func TestRollingUpdateKeepsAPodReady(t *testing.T) {
	w := newWatcher()
	r, _ := startRunner(t, Options{OnChange: w.OnChange})
	if err := r.Apply([]*api.Deployment{mockDeployment("mocka", "v1", 1)}); err != nil {
		t.Fatal(err)
	}
	w.waitFor(t, "v1 ready", healthy(1))
	// Same labels, new template: the pod is replaced, not edited.
	changed := mockDeployment("mocka", "v1", 1, api.EnvVar{Name: "version", Value: "v1-patched"})
	if err := r.Apply([]*api.Deployment{changed}); err != nil {
		t.Fatal(err)
	}
	in := w.waitFor(t, "only the new pod, ready", func(list []registry.Instance) bool {
		return healthy(1)(list) && list[0].Name == "mocka-1"
	})[0]
	if body := get(t, "http://"+in.Address+":8000/"); !strings.Contains(body, "version: v1-patched") {
		t.Errorf("new pod answers %q, want the new template's version", body)
	}
	seenReady := false
	for i, list := range w.all() {
		n := 0
		for _, in := range list {
			if in.Healthy {
				n++
			}
		}
		if seenReady && n == 0 {
			t.Errorf("OnChange call %d had no ready pod during the rollout: %+v", i, list)
		}
		seenReady = seenReady || n > 0
	}
}

func TestApplyStopsPodsOfRemovedDeployments(t *testing.T) {
	w := newWatcher()
	r, _ := startRunner(t, Options{OnChange: w.OnChange})
	a, b := mockDeployment("mocka", "v1", 1), mockDeployment("mockb", "v1", 1)
	if err := r.Apply([]*api.Deployment{a, b}); err != nil {
		t.Fatal(err)
	}
	w.waitFor(t, "two ready pods", healthy(2))
	if err := r.Apply([]*api.Deployment{a}); err != nil {
		t.Fatal(err)
	}
	w.waitFor(t, "only mocka", func(list []registry.Instance) bool {
		return healthy(1)(list) && list[0].Owner == "Deployment/mocka"
	})
	if err := r.Scale("default", "mockb", 1); !errors.Is(err, ErrNotFound) {
		t.Errorf("Scale of a removed deployment = %v, want ErrNotFound", err)
	}
	if _, err := r.Logs("default", "mockb-0"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Logs of a removed pod = %v, want ErrNotFound", err)
	}
	if err := r.Run(t.Context()); err == nil {
		t.Error("a second Run succeeded")
	}
}
