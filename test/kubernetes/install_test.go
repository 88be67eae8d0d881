package kubernetes_test

import (
	"strings"
	"testing"
)

// TestInstallManifestsServerDryRun: every manifest `lanemesh install
// --dry-run` prints is accepted by the real API server's validation and
// admission (kubectl apply --dry-run=server), as a user would apply it.
func TestInstallManifestsServerDryRun(t *testing.T) {
	e := cluster(t)
	manifests, err := runOut(e.lanemesh, "install", "--dry-run")
	if err != nil {
		t.Fatalf("lanemesh install --dry-run: %v\n%s", err, manifests)
	}
	// Namespaced objects need their namespace to exist even in a dry run.
	if _, err := e.kubectlErr("", "get", "namespace", "istio-system"); err != nil {
		e.kubectl(t, "", "create", "namespace", "istio-system")
	}
	out := e.kubectl(t, manifests, "apply", "--dry-run=server", "-f", "-")
	for _, kind := range []string{"customresourcedefinition", "deployment", "mutatingwebhookconfiguration", "clusterrole"} {
		if !strings.Contains(out, kind) {
			t.Errorf("kubectl apply --dry-run=server printed no %s:\n%s", kind, out)
		}
	}
}
