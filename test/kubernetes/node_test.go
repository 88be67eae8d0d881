package kubernetes_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// echoApp is a Deployment of two containers the node runs in two ways: the
// built-in mock by its image, and lanemesh's own image, whose entrypoint is
// the lanemesh binary (here `lanemesh mock`), told where to bind through
// the downward API and $(VAR) expansion. Both have readiness probes; the
// Service selects the pods.
const echoApp = `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: echo
  namespace: default
spec:
  replicas: 2
  selector:
    matchLabels: {app: echo}
  template:
    metadata:
      labels: {app: echo, version: v1}
    spec:
      terminationGracePeriodSeconds: 5
      containers:
      - name: app
        image: lanemesh/mock:latest
        env:
        - {name: app, value: echo}
        - {name: version, value: v1}
        ports:
        - {name: http, containerPort: 8000}
        readinessProbe:
          httpGet: {path: /, port: http}
          periodSeconds: 1
      - name: second
        image: registry.example/lanemesh/lanemesh:dev
        args: [mock]
        env:
        - name: POD_IP
          valueFrom: {fieldRef: {fieldPath: status.podIP}}
        - {name: bind, value: "$(POD_IP):9000"}
        - {name: app, value: second}
        readinessProbe:
          tcpSocket: {port: 9000}
          periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata:
  name: echo
  namespace: default
spec:
  selector: {app: echo}
  ports:
  - {name: http, port: 8000, targetPort: http}
`

// TestDeploymentRunsOnNode: a Deployment applied with kubectl gets its pods
// from the real controllers, bound by the real scheduler to lanemesh node,
// which runs them, reports them Ready with their own addresses, gives them
// a service-account token bound to the pod, and the EndpointSlice
// controller lists them; `kubectl scale --replicas=0` takes them away
// again, through termination.
func TestDeploymentRunsOnNode(t *testing.T) {
	e := cluster(t)
	dir := e.startNode(t, "rehearsal-1")
	ctx := context.Background()

	e.kubectl(t, echoApp, "apply", "-f", "-")
	t.Cleanup(func() { _, _ = e.kubectlErr(echoApp, "delete", "--ignore-not-found", "--wait=false", "-f", "-") })

	pods := readyPods(t, e, "app=echo", 2)
	var ips []string
	for _, p := range pods {
		if p.Spec.NodeName != "rehearsal-1" {
			t.Errorf("pod %s is on node %q, want rehearsal-1", p.Name, p.Spec.NodeName)
		}
		if !strings.HasPrefix(p.Status.PodIP, "127.0.") || len(p.Status.PodIPs) != 1 || p.Status.PodIPs[0].IP != p.Status.PodIP {
			t.Errorf("pod %s: podIP %q podIPs %v, want one 127.0.x.y", p.Name, p.Status.PodIP, p.Status.PodIPs)
		}
		if slices.Contains(ips, p.Status.PodIP) {
			t.Errorf("pod %s shares address %s with another pod", p.Name, p.Status.PodIP)
		}
		ips = append(ips, p.Status.PodIP)
		for _, port := range []string{"8000", "9000"} {
			body := get(t, "http://"+p.Status.PodIP+":"+port+"/")
			if !strings.Contains(body, "ip: "+p.Status.PodIP) {
				t.Errorf("pod %s port %s answered %q, want its own ip", p.Name, port, body)
			}
		}
		checkToken(t, e, dir, p)
	}

	// The EndpointSlice controller lists exactly the ready pods.
	eventually(t, 60*time.Second, "EndpointSlice of service echo lists both pods ready", func() (bool, string) {
		got := sliceEndpoints(t, e, "echo")
		want := map[string]string{}
		for _, ip := range ips {
			want[ip] = "ready"
		}
		return fmt.Sprint(got) == fmt.Sprint(want), fmt.Sprint(got)
	})

	e.kubectl(t, "", "scale", "deployment/echo", "--replicas=0")
	eventually(t, 60*time.Second, "pods of echo gone after scale to 0", func() (bool, string) {
		list, err := e.client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=echo"})
		if err != nil {
			return false, err.Error()
		}
		var names []string
		for _, p := range list.Items {
			names = append(names, p.Name)
		}
		return len(list.Items) == 0, strings.Join(names, ",")
	})
	eventually(t, 60*time.Second, "EndpointSlice of echo empty", func() (bool, string) {
		got := sliceEndpoints(t, e, "echo")
		return len(got) == 0, fmt.Sprint(got)
	})
	for _, ip := range ips {
		if _, err := http.Get("http://" + ip + ":8000/"); err == nil {
			t.Errorf("pod address %s still serves after its pod was deleted", ip)
		}
	}
	// The node removes a deleted pod's files with it.
	left, _ := filepath.Glob(filepath.Join(dir, "pods", "default_echo-*"))
	if len(left) > 0 {
		t.Errorf("pod directories left after deletion: %v", left)
	}
}

// readyPods waits until want pods of namespace default match selector and
// all are Ready.
func readyPods(t *testing.T, e *env, selector string, want int) []corev1.Pod {
	t.Helper()
	return readyPodsIn(t, e, "default", selector, want)
}

// readyPodsIn is readyPods in namespace ns.
func readyPodsIn(t *testing.T, e *env, ns, selector string, want int) []corev1.Pod {
	t.Helper()
	var pods []corev1.Pod
	eventually(t, 90*time.Second, fmt.Sprintf("%d Ready pods with %s in %s", want, selector, ns), func() (bool, string) {
		list, err := e.client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return false, err.Error()
		}
		var seen []string
		ready := 0
		for _, p := range list.Items {
			ok := p.DeletionTimestamp == nil && podReady(p)
			if ok {
				ready++
			}
			seen = append(seen, fmt.Sprintf("%s phase=%s ready=%v ip=%s", p.Name, p.Status.Phase, ok, p.Status.PodIP))
		}
		pods = list.Items
		return ready == want && len(list.Items) == want, strings.Join(seen, "; ")
	})
	return pods
}

func podReady(p corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// sliceEndpoints maps each address in service's EndpointSlices to
// "ready", or to its conditions when it is not ready.
func sliceEndpoints(t *testing.T, e *env, service string) map[string]string {
	t.Helper()
	list, err := e.client.DiscoveryV1().EndpointSlices("default").List(context.Background(),
		metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + service})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, s := range list.Items {
		for _, ep := range s.Endpoints {
			b := func(p *bool) bool { return p != nil && *p }
			state := "ready"
			if !b(ep.Conditions.Ready) {
				state = fmt.Sprintf("ready=%v serving=%v terminating=%v", b(ep.Conditions.Ready), b(ep.Conditions.Serving), b(ep.Conditions.Terminating))
			}
			for _, a := range ep.Addresses {
				out[a] = state
			}
		}
	}
	return out
}

func get(t *testing.T, url string) string {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil}}
	resp, err := c.Get(url)
	if err != nil {
		t.Errorf("GET %s: %v", url, err)
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// checkToken: the pod's service-account token, written where the pod's
// processes find /var/run/secrets/kubernetes.io/serviceaccount/token, is
// accepted by the API server as the pod's service account, bound to the
// pod.
func checkToken(t *testing.T, e *env, nodeDir string, p corev1.Pod) {
	t.Helper()
	root := filepath.Join(nodeDir, "pods", p.Namespace+"_"+p.Name+"_"+string(p.UID), "root")
	tok, err := os.ReadFile(filepath.Join(root, "var/run/secrets/kubernetes.io/serviceaccount/token"))
	if err != nil {
		t.Errorf("pod %s: service-account token: %v", p.Name, err)
		return
	}
	ns, err := os.ReadFile(filepath.Join(root, "var/run/secrets/kubernetes.io/serviceaccount/namespace"))
	if err != nil || string(ns) != p.Namespace {
		t.Errorf("pod %s: namespace file %q, %v; want %q", p.Name, ns, err, p.Namespace)
	}
	if _, err := os.Stat(filepath.Join(root, "var/run/secrets/kubernetes.io/serviceaccount/ca.crt")); err != nil {
		t.Errorf("pod %s: ca.crt: %v", p.Name, err)
	}
	rev, err := e.client.AuthenticationV1().TokenReviews().Create(context.Background(),
		&authv1.TokenReview{Spec: authv1.TokenReviewSpec{Token: string(tok)}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	st := rev.Status
	if !st.Authenticated || st.User.Username != "system:serviceaccount:default:default" {
		t.Errorf("pod %s: token review: authenticated=%v user=%q error=%q", p.Name, st.Authenticated, st.User.Username, st.Error)
	}
	if got := st.User.Extra["authentication.kubernetes.io/pod-name"]; len(got) != 1 || got[0] != p.Name {
		t.Errorf("pod %s: token is bound to pod %v, want the pod itself", p.Name, got)
	}
}
