package kubernetes_test

import (
	"strings"
	"testing"
	"time"
)

// TestLaneEntryPolicyInCluster: the generated LaneEntryPolicy CRD installs
// in the real API server; examples/lane-entry's policy applied with kubectl
// reaches `lanemesh controlplane --kubeconfig`; a policy the loader refuses
// (a CIDR that does not parse, which the CRD schema admits as a string) is
// reported on its status while the last good version stays in force.
func TestLaneEntryPolicyInCluster(t *testing.T) {
	e := cluster(t)
	e.installCRDs(t)
	policy := "../../examples/lane-entry/lane-entry-policy.yaml"
	e.kubectl(t, "", "apply", "-f", policy)
	t.Cleanup(func() { _, _ = e.kubectlErr("", "delete", "--ignore-not-found", "--wait=false", "-f", policy) })

	cp := e.startControlPlane(t)
	eventually(t, 30*time.Second, "controlplane has the policy", func() (bool, string) {
		out := cp.get(t, e, "lep", "lane-entry", "-n", "istio-system", "-o", "yaml")
		return strings.Contains(out, "10.0.0.0/8") && strings.Contains(out, "https://ci.example.com"), out
	})

	bad := "apiVersion: lanemesh.io/v1alpha1\nkind: LaneEntryPolicy\nmetadata: {name: lane-entry, namespace: istio-system}\n" +
		"spec:\n  baselineLanes: [v1]\n  rules:\n  - sourceCIDRs: [10.0.0.0/33]\n"
	e.kubectl(t, bad, "apply", "-f", "-")
	eventually(t, 30*time.Second, "the refused policy reported on its status", func() (bool, string) {
		out, _ := e.kubectlErr("", "get", "lep", "lane-entry", "-n", "istio-system", "-o", "jsonpath={.status}")
		return strings.Contains(out, "IST0106") && strings.Contains(out, "sourceCIDRs"), out
	})
	if out := cp.get(t, e, "lep", "lane-entry", "-n", "istio-system", "-o", "yaml"); !strings.Contains(out, "10.0.0.0/8") {
		t.Errorf("after a refused change the controlplane's policy is not the last good one:\n%s", out)
	}
}
