package kubernetes_test

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// controlPlane is a `lanemesh controlplane --kubeconfig` the test started.
type controlPlane struct {
	admin, tokenFile string
	proc             *process
}

// startControlPlane runs the control plane against the cluster, on free
// ports (extra flags override), and waits until it has synced and says
// ready.
func (e *env) startControlPlane(t *testing.T, extra ...string) *controlPlane {
	t.Helper()
	home := t.TempDir()
	t.Setenv("LANEMESH_HOME", home)
	p := e.start(t, append([]string{"controlplane", "--kubeconfig", e.kubeconfig, "--xds", "127.0.0.1:0", "--admin", "127.0.0.1:0",
		"--lease-namespace", "istio-system", "--log-level", "info"}, extra...)...)
	re := regexp.MustCompile(`admin: (http://\S+) \(token in (\S+)\)\n`)
	var cp controlPlane
	eventually(t, 60*time.Second, "controlplane ready", func() (bool, string) {
		select {
		case <-p.done:
			t.Fatalf("controlplane exited:\n%s", p.out.String())
		default:
		}
		out := p.out.String()
		m := re.FindStringSubmatch(out)
		if m == nil || !strings.Contains(out, "\nready\n") {
			return false, out
		}
		cp = controlPlane{admin: m[1], tokenFile: m[2], proc: p}
		return true, ""
	})
	return &cp
}

// get runs `lanemesh get` against the control plane's admin API.
func (cp *controlPlane) get(t *testing.T, e *env, args ...string) string {
	t.Helper()
	out, err := runOut(e.lanemesh, append(append([]string{"get"}, args...), "--server", cp.admin, "--token-file", cp.tokenFile)...)
	if err != nil {
		t.Fatalf("lanemesh get %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// TestControlPlaneSyncsCRDs: lanemesh's generated CRDs install in the real
// API server; the tutorial's DestinationRules, VirtualServices and Gateway
// applied with kubectl reach `lanemesh controlplane --kubeconfig`, with the
// pods lanemesh node runs and their addresses; ASM's fallback survives the
// API server (stock Istio CRDs would prune it); and a VirtualService the
// loader refuses, though the CRD schema admits it, is reported on the
// object while the last good version stays in force.
func TestControlPlaneSyncsCRDs(t *testing.T) {
	e := cluster(t)
	e.installCRDs(t)
	e.startNode(t, "rehearsal-cp")

	ex := "../../examples/traffic-lanes/"
	files := []string{"app-services.yaml", "app-v1.yaml", "app-v2.yaml", "app-v3.yaml", "dr-mock.yaml", "vs-mock.yaml", "gw-mock.yaml"}
	for _, f := range files {
		e.kubectl(t, "", "apply", "-f", ex+f)
	}
	t.Cleanup(func() {
		for _, f := range files {
			_, _ = e.kubectlErr("", "delete", "--ignore-not-found", "--wait=false", "-f", ex+f)
		}
	})
	pods := readyPods(t, e, "app in (mocka,mockb,mockc)", 9)

	cp := e.startControlPlane(t)
	eventually(t, 60*time.Second, "controlplane lists the node's pods at their addresses", func() (bool, string) {
		out := cp.get(t, e, "pods", "-o", "wide") // wide shows the IP
		for _, p := range pods {
			if !strings.Contains(out, p.Status.PodIP) {
				return false, out
			}
		}
		return true, ""
	})
	vs := cp.get(t, e, "vs", "-n", "istio-system")
	for _, name := range []string{"mockb", "mockc", "swimlane-ingress-vs"} {
		if !strings.Contains(vs, name) {
			t.Errorf("controlplane's virtualservices lack %s:\n%s", name, vs)
		}
	}
	if dr := cp.get(t, e, "dr", "-A"); !strings.Contains(dr, "mockb") {
		t.Errorf("controlplane's destinationrules lack mockb:\n%s", dr)
	}

	// Step 6 of the tutorial: the fallback VirtualService, through kubectl.
	e.kubectl(t, "", "apply", "-f", "../../examples/traffic-lanes-fallback/vs-mock-fallback.yaml")
	if got := e.kubectl(t, "", "get", "vs", "mockb", "-n", "istio-system", "-o", "jsonpath={.spec.http[0].route[0].fallback.target.subset}"); got != "v1" {
		t.Fatalf("the API server kept fallback.target.subset %q, want v1 (pruned by the CRD schema?)", got)
	}
	eventually(t, 30*time.Second, "controlplane has mockb's fallback", func() (bool, string) {
		out := cp.get(t, e, "vs", "mockb", "-n", "istio-system", "-o", "yaml")
		return strings.Contains(out, "fallback"), out
	})

	// A fallback to the destination itself: the CRD admits it, lanemesh
	// refuses it (LM0005) and keeps the last good mockb.
	bad, err := os.ReadFile("../../examples/traffic-lanes-fallback/vs-mock-fallback.yaml")
	if err != nil {
		t.Fatal(err)
	}
	docs := strings.SplitN(string(bad), "\n---\n", 2)
	badMockb := strings.Replace(docs[0], "subset: v1\n    - match:", "subset: v2\n    - match:", 1)
	if badMockb == docs[0] {
		t.Fatal("could not make the bad VirtualService: the example changed")
	}
	e.kubectl(t, badMockb, "apply", "-f", "-")
	eventually(t, 30*time.Second, "the refused VirtualService reported on its status", func() (bool, string) {
		out, _ := e.kubectlErr("", "get", "vs", "mockb", "-n", "istio-system", "-o", "jsonpath={.status}")
		return strings.Contains(out, "LM0005") || strings.Contains(strings.ToLower(out), "fallback"), out
	})
	out := cp.get(t, e, "vs", "mockb", "-n", "istio-system", "-o", "yaml")
	if !regexp.MustCompile(`(?s)subset: v2\s+fallback:\s+target:\s+host: \S+\s+subset: v1`).MatchString(out) {
		t.Errorf("after a refused change the controlplane's mockb is not the last good one:\n%s", out)
	}

	// Deleting the Gateway closes the ingress, though a VirtualService
	// still names it: a deletion is the cluster's state, not input to
	// refuse. The VirtualService goes out with it, and says why.
	e.kubectl(t, "", "delete", "gateway", "ingressgateway", "-n", "istio-system")
	eventually(t, 30*time.Second, "the deleted Gateway and the VirtualService bound to it are out", func() (bool, string) {
		gw, vs := cp.get(t, e, "gw", "-A"), cp.get(t, e, "vs", "-n", "istio-system")
		return !strings.Contains(gw, "ingressgateway") && !strings.Contains(vs, "swimlane-ingress-vs"), gw + vs
	})
	eventually(t, 30*time.Second, "the VirtualService's status names the missing Gateway", func() (bool, string) {
		out, _ := e.kubectlErr("", "get", "vs", "swimlane-ingress-vs", "-n", "istio-system", "-o", "jsonpath={.status}")
		return strings.Contains(out, "IST0101") && strings.Contains(out, `"status":"False"`), out
	})

	// The same lanes as one ASM lane group, in place of the hand-written
	// routes: the control plane generates their objects, marked with the
	// group that owns them.
	for _, f := range []string{ex + "dr-mock.yaml", "../../examples/traffic-lanes-fallback/vs-mock-fallback.yaml", ex + "gw-mock.yaml"} {
		e.kubectl(t, "", "delete", "--ignore-not-found", "-f", f)
	}
	group := "../../examples/lane-group-strict/"
	e.kubectl(t, "", "apply", "-f", group+"gateway.yaml", "-f", group+"lanes.yaml")
	t.Cleanup(func() {
		_, _ = e.kubectlErr("", "delete", "--ignore-not-found", "--wait=false", "-f", group+"lanes.yaml", "-f", group+"gateway.yaml")
	})
	eventually(t, 30*time.Second, "controlplane has the lane group's VirtualServices", func() (bool, string) {
		out := cp.get(t, e, "vs", "mock-mockb", "-n", "default", "-o", "yaml")
		return strings.Contains(out, "lanemesh.io/generated-by: ASMSwimLaneGroup/mock") && strings.Contains(out, "subset: v2"), out
	})
	if out := cp.get(t, e, "vs", "mock-ingress", "-n", "istio-system", "-o", "yaml"); !strings.Contains(out, "x-asm-prefer-tag") {
		t.Errorf("the group's ingress VirtualService does not route by x-asm-prefer-tag:\n%s", out)
	}
	// A strict lane that lacks a service of its group is reported on the
	// lane's status, naming what it lacks.
	e.kubectl(t, `apiVersion: istio.alibabacloud.com/v1
kind: ASMSwimLane
metadata: {name: v4, labels: {swimlane-group: mock}}
spec:
  labelSelector: {version: v4}
  services: [{name: mocka, namespace: default}]
`, "apply", "-f", "-")
	t.Cleanup(func() { _, _ = e.kubectlErr("", "delete", "--ignore-not-found", "asmswimlane", "v4") })
	eventually(t, 30*time.Second, "the incomplete strict lane reported on its status", func() (bool, string) {
		out, _ := e.kubectlErr("", "get", "asmswimlane", "v4", "-o", "jsonpath={.status}")
		return strings.Contains(out, "LM0006") && strings.Contains(out, "default/mockb"), out
	})
}

// TestNotEnforcedKindsAreReported: an Istio kind lanemesh does not enforce,
// left in the cluster by an Istio install (here an AuthorizationPolicy
// whose CRD is Istio's, reduced), is said to have no effect, on the
// object, as a file holding it is refused.
func TestNotEnforcedKindsAreReported(t *testing.T) {
	e := cluster(t)
	e.installCRDs(t)
	e.kubectl(t, `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: authorizationpolicies.security.istio.io}
spec:
  group: security.istio.io
  names: {kind: AuthorizationPolicy, listKind: AuthorizationPolicyList, plural: authorizationpolicies, singular: authorizationpolicy}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
`, "apply", "-f", "-")
	e.kubectl(t, "", "wait", "--for", "condition=established", "--timeout=60s", "crd/authorizationpolicies.security.istio.io")
	e.kubectl(t, `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-all, namespace: istio-system}
spec: {action: DENY, rules: [{}]}
`, "apply", "-f", "-")
	t.Cleanup(func() {
		_, _ = e.kubectlErr("", "delete", "--ignore-not-found", "--wait=false", "crd", "authorizationpolicies.security.istio.io")
	})
	e.startControlPlane(t)
	eventually(t, 30*time.Second, "a Warning Event says the policy has no effect", func() (bool, string) {
		out, _ := e.kubectlErr("", "get", "events", "-n", "istio-system", "--field-selector", "involvedObject.name=deny-all",
			"-o", "jsonpath={.items[*].message}")
		return strings.Contains(out, "not enforced by lanemesh") && strings.Contains(out, "security policy"), out
	})
}

// TestLeaseHandedOverOnStop: a control plane that stops releases its
// lease, so the next one leads, and writes status, at once rather than
// after the lease expires (15 s).
func TestLeaseHandedOverOnStop(t *testing.T) {
	e := cluster(t)
	e.installCRDs(t)
	leads := func(cp *controlPlane) func() (bool, string) {
		return func() (bool, string) {
			out := cp.proc.out.String()
			return strings.Contains(out, `msg=leading`), out
		}
	}
	first := e.startControlPlane(t)
	eventually(t, 30*time.Second, "the first control plane leads", leads(first))
	stopped := time.Now()
	_ = first.proc.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-first.proc.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the first control plane did not stop")
	}
	second := e.startControlPlane(t)
	eventually(t, 30*time.Second, "the second control plane leads", leads(second))
	if d := time.Since(stopped); d > 12*time.Second {
		t.Errorf("the second control plane led %v after the first stopped: the lease was not released", d.Round(time.Second))
	}
}

// runOut runs a command and returns its combined output.
func runOut(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(out), err
}
