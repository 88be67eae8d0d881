// Package kubernetes_test runs lanemesh against a real Kubernetes control
// plane: etcd, kube-apiserver, kube-controller-manager and kube-scheduler
// built from the Go module proxy, with kubectl, and `lanemesh node` as the
// only node. test/kubernetes/run.sh builds and starts all of it and runs
// these tests; plain `go test ./...` skips them, saying so.
package kubernetes_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// env is what cluster.sh hands the tests: KUBECONFIG (the admin's) and
// KUBE_BIN_DIR (where kubectl and the control plane's binaries are).
type env struct {
	kubeconfig string
	kubectlBin string
	client     kubernetes.Interface
	lanemesh   string // the lanemesh binary under test
}

var (
	shared     env
	sharedOnce sync.Once
	sharedErr  error
	sharedDir  string // holds the lanemesh binary; removed by TestMain
)

func TestMain(m *testing.M) {
	code := m.Run()
	if sharedDir != "" {
		os.RemoveAll(sharedDir)
	}
	os.Exit(code)
}

// cluster returns the cluster the tests run against, or skips the test
// when there is none.
func cluster(t *testing.T) *env {
	t.Helper()
	bin := os.Getenv("KUBE_BIN_DIR")
	kc := os.Getenv("KUBECONFIG")
	if bin == "" || kc == "" {
		t.Skip("no Kubernetes control plane: these tests run under test/kubernetes/run.sh, which builds etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kubectl (cached) and sets KUBECONFIG and KUBE_BIN_DIR")
	}
	sharedOnce.Do(func() {
		cfg, err := clientcmd.BuildConfigFromFlags("", kc)
		if err != nil {
			sharedErr = err
			return
		}
		client, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			sharedErr = err
			return
		}
		dir, err := os.MkdirTemp("", "lanemesh-kube-test-")
		if err != nil {
			sharedErr = err
			return
		}
		sharedDir = dir
		lm := filepath.Join(dir, "lanemesh")
		if out, err := exec.Command("go", "build", "-o", lm, "../../cmd/lanemesh").CombinedOutput(); err != nil {
			sharedErr = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		shared = env{kubeconfig: kc, kubectlBin: filepath.Join(bin, "kubectl"), client: client, lanemesh: lm}
	})
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	return &shared
}

// kubectl runs kubectl with args (stdin: in, if not empty) and returns its
// output; it fails the test on a non-zero exit.
func (e *env) kubectl(t *testing.T, in string, args ...string) string {
	t.Helper()
	out, err := e.kubectlErr(in, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (e *env) kubectlErr(in string, args ...string) (string, error) {
	cmd := exec.Command(e.kubectlBin, append([]string{"--kubeconfig", e.kubeconfig}, args...)...)
	if in != "" {
		cmd.Stdin = strings.NewReader(in)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// process is a lanemesh process the test started; it is stopped with
// SIGTERM (then SIGKILL) when the test ends.
type process struct {
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// start runs lanemesh with args until the test ends.
func (e *env) start(t *testing.T, args ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(e.lanemesh, args...), out: &lockedBuffer{}, done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(60 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("lanemesh %s:\n%s", strings.Join(args, " "), p.out.String())
		}
	})
	return p
}

// installCRDs applies lanemesh's generated CRDs, waits until the API
// server serves them, and makes the istio-system namespace.
func (e *env) installCRDs(t *testing.T) {
	t.Helper()
	crds, _ := filepath.Glob("../../deploy/*crds.yaml") // the generated CRDs, however deploy/ numbers its files
	if len(crds) != 1 {
		t.Fatalf("deploy/ has %d files of CRDs (%v), want one", len(crds), crds)
	}
	e.kubectl(t, "", "apply", "-f", crds[0])
	e.kubectl(t, "", "wait", "--for", "condition=established", "--timeout=60s", "crd/virtualservices.networking.istio.io",
		"crd/destinationrules.networking.istio.io", "crd/gateways.networking.istio.io", "crd/laneentrypolicies.lanemesh.io")
	if _, err := e.kubectlErr("", "create", "namespace", "istio-system"); err != nil {
		e.kubectl(t, "", "get", "namespace", "istio-system")
	}
}

// eventually polls cond until it holds or timeout passes; cond says what
// it saw last, for the failure message.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		ok, seen := cond()
		if ok {
			return
		}
		last = seen
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %v; last seen: %s", what, timeout, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// startNode runs `lanemesh node` named name and waits until its Node is
// Ready.
func (e *env) startNode(t *testing.T, name string) (dir string) {
	t.Helper()
	dir = t.TempDir()
	t.Cleanup(func() {
		// After the process has stopped (cleanups run last-in first-out):
		// the Node goes too, so that a later test's pods are not scheduled
		// on a node nobody runs.
		_ = e.client.CoreV1().Nodes().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	p := e.start(t, "node", "--kubeconfig", e.kubeconfig, "--name", name, "--dir", dir, "--log-level", "info")
	eventually(t, 60*time.Second, "node "+name+" Ready", func() (bool, string) {
		select {
		case <-p.done:
			t.Fatalf("lanemesh node exited:\n%s", p.out.String())
		default:
		}
		n, err := e.client.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady {
				return c.Status == corev1.ConditionTrue, string(c.Status)
			}
		}
		return false, "no Ready condition"
	})
	return dir
}
