package kubernetes_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// Scale of TestControlPlaneAtScale: pods, and the Services that each
// select all of them (pods × services EndpointSlice endpoints).
const (
	scalePods     = 1000
	scaleServices = 5
	scaleNS       = "scale"
)

// TestControlPlaneAtScale measures `lanemesh controlplane --kubeconfig`
// against a cluster of 1,000 running pods and 5,000 EndpointSlice
// endpoints, created in the real API server (the pods' status written as a
// kubelet would; no process runs): how long its first sync takes, its
// memory, and its CPU while every pod's readiness flips once. It reports
// figures and asserts only that the control plane saw every pod; it runs
// only with LANEMESH_KUBE_SCALE=1 (test/kubernetes/run.sh -run
// TestControlPlaneAtScale), as a benchmark, not in CI.
func TestControlPlaneAtScale(t *testing.T) {
	if os.Getenv("LANEMESH_KUBE_SCALE") != "1" {
		t.Skip("a measurement: LANEMESH_KUBE_SCALE=1 test/kubernetes/run.sh -run TestControlPlaneAtScale")
	}
	e := cluster(t)
	crds, _ := filepath.Glob("../../deploy/*crds.yaml")
	if len(crds) != 1 {
		t.Fatalf("deploy/ has %d files of CRDs, want one", len(crds))
	}
	e.kubectl(t, "", "apply", "-f", crds[0])
	cfg, err := clientcmd.BuildConfigFromFlags("", e.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.QPS, cfg.Burst = 1000, 2000 // client-go's 5 QPS would make this a test of the client
	kc, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	created := time.Now()
	populate(t, kc)
	t.Logf("created %d pods and %d services in %v", scalePods, scaleServices, time.Since(created).Round(time.Millisecond))
	eventually(t, 5*time.Minute, "the EndpointSlice controller to list every pod", func() (bool, string) {
		n := readyEndpoints(t, kc)
		return n == scalePods*scaleServices, fmt.Sprintf("%d ready endpoints", n)
	})

	start := time.Now()
	cp := e.startControlPlane(t, "--injector", "") // no webhook: this measures the sources
	synced := time.Since(start)
	pid := controlPlanePID(t, e)
	rss, cpu := procRSS(t, pid), procCPU(t, pid)
	pods := cp.get(t, e, "pods")
	if n := strings.Count(pods, scaleNS+" "); n < scalePods {
		t.Fatalf("the control plane lists %d pods of %s, want %d", n, scaleNS, scalePods)
	}
	t.Logf("controlplane: ready %v after start with %d pods and %d endpoints; RSS %d MiB (peak %d MiB); CPU %.2f s to sync",
		synced.Round(time.Millisecond), scalePods, scalePods*scaleServices, rss.now>>10, rss.peak>>10, cpu)

	// Churn: every pod goes unready, then ready again, as a rolling
	// restart would show it.
	before := procCPU(t, pid)
	churn := time.Now()
	setReady(t, kc, false)
	setReady(t, kc, true)
	eventually(t, 5*time.Minute, "the EndpointSlices to settle", func() (bool, string) {
		n := readyEndpoints(t, kc)
		return n == scalePods*scaleServices, fmt.Sprintf("%d ready endpoints", n)
	})
	time.Sleep(2 * time.Second) // the control plane's debounce and pushes
	rss = procRSS(t, pid)
	t.Logf("controlplane: %d readiness flips (×%d endpoints) in %v cost %.2f s CPU; RSS %d MiB (peak %d MiB)",
		2*scalePods, scaleServices, time.Since(churn).Round(time.Millisecond), procCPU(t, pid)-before, rss.now>>10, rss.peak>>10)
	_ = kc.CoreV1().Namespaces().Delete(ctx, scaleNS, metav1.DeleteOptions{})
}

// populate creates the namespace, the Node the pods are bound to (the
// EndpointSlice controller skips pods of unknown nodes), the services, and
// the pods with a kubelet's status: Running, an address, Ready.
func populate(t *testing.T, kc kubernetes.Interface) {
	ctx := context.Background()
	if _, err := kc.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: scaleNS}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "scale-node"}}
	if _, err := kc.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kc.CoreV1().Nodes().Delete(context.Background(), "scale-node", metav1.DeleteOptions{}) })
	for i := range scaleServices {
		svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("svc-%d", i), Namespace: scaleNS},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"scale": "yes"}, Ports: []corev1.ServicePort{{Name: "http", Port: 8000}}}}
		if _, err := kc.CoreV1().Services(scaleNS).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	parallel(t, scalePods, func(i int) error {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("pod-%d", i), Namespace: scaleNS,
				Labels: map[string]string{"scale": "yes", "app": fmt.Sprintf("app-%d", i%50), "version": fmt.Sprintf("v%d", i%3+1)}},
			Spec: corev1.PodSpec{NodeName: "scale-node", Containers: []corev1.Container{{Name: "app", Image: "lanemesh/mock",
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8000}}}}},
		}
		p, err := kc.CoreV1().Pods(scaleNS).Create(ctx, pod, metav1.CreateOptions{})
		if err != nil {
			return err
		}
		p.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: fmt.Sprintf("10.77.%d.%d", i/250, i%250+1),
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
		p.Status.PodIPs = []corev1.PodIP{{IP: p.Status.PodIP}}
		_, err = kc.CoreV1().Pods(scaleNS).UpdateStatus(ctx, p, metav1.UpdateOptions{})
		return err
	})
}

// setReady writes every pod's Ready condition.
func setReady(t *testing.T, kc kubernetes.Interface, ready bool) {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	parallel(t, scalePods, func(i int) error {
		ctx := context.Background()
		p, err := kc.CoreV1().Pods(scaleNS).Get(ctx, fmt.Sprintf("pod-%d", i), metav1.GetOptions{})
		if err != nil {
			return err
		}
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}
		_, err = kc.CoreV1().Pods(scaleNS).UpdateStatus(ctx, p, metav1.UpdateOptions{})
		return err
	})
}

// parallel runs f(0..n-1) on 16 workers and fails the test on an error.
func parallel(t *testing.T, n int, f func(i int) error) {
	t.Helper()
	next := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for range 16 {
		wg.Go(func() {
			for i := range next {
				if err := f(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	if first != nil {
		t.Fatal(first)
	}
}

// readyEndpoints counts the ready endpoints of the scale namespace's slices.
func readyEndpoints(t *testing.T, kc kubernetes.Interface) int {
	list, err := kc.DiscoveryV1().EndpointSlices(scaleNS).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, s := range list.Items {
		for _, ep := range s.Endpoints {
			if ep.Conditions.Ready == nil || *ep.Conditions.Ready {
				n++
			}
		}
	}
	return n
}

// controlPlanePID finds the controlplane process the test started.
func controlPlanePID(t *testing.T, e *env) int {
	t.Helper()
	entries, _ := os.ReadDir("/proc")
	for _, d := range entries {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline"))
		args := strings.Split(string(cmdline), "\x00")
		if len(args) > 1 && args[0] == e.lanemesh && args[1] == "controlplane" {
			return pid
		}
	}
	t.Fatal("no controlplane process")
	return 0
}

type memory struct{ now, peak int64 } // KiB

// procRSS reads VmRSS and VmHWM of a process.
func procRSS(t *testing.T, pid int) memory {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	var m memory
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			m.now = v
		case "VmHWM:":
			m.peak = v
		}
	}
	return m
}

// procCPU is a process's user and system CPU time, in seconds.
func procCPU(t *testing.T, pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the command's closing parenthesis: utime and stime are
	// the 12th and 13th of them, in clock ticks (100 a second on Linux).
	rest := strings.Fields(string(b)[strings.LastIndexByte(string(b), ')')+1:])
	u, _ := strconv.ParseFloat(rest[11], 64)
	s, _ := strconv.ParseFloat(rest[12], 64)
	return (u + s) / 100
}
