package cli

import (
	"strings"
	"testing"
)

// TestClusterScopedKindsHaveNoNamespaceColumn: ASM's lane kinds have no
// namespace, and kubectl prints none for them, even across namespaces.
func TestClusterScopedKindsHaveNoNamespaceColumn(t *testing.T) {
	for kind, want := range map[string]bool{"ASMSwimLaneGroup": false, "ASMSwimLane": false, "VirtualService": true} {
		var b strings.Builder
		tb := newTable(&b, listing{req: getRequest{resource: kind}}, getFlags{}, false)
		tb.header()
		_ = tb.flush()
		if got := strings.Contains(b.String(), "NAMESPACE"); got != want {
			t.Errorf("%s: header %q, NAMESPACE column %v, want %v", kind, b.String(), got, want)
		}
	}
}
