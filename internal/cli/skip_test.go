package cli

import (
	"strings"
	"testing"
)

// peerAuth is a security policy lanemesh does not enforce, beside a route.
const peerAuth = `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istio-system}
spec: {mtls: {mode: STRICT}}
---
apiVersion: v1
kind: Service
metadata: {name: extra}
spec: {selector: {app: extra}, ports: [{name: http, port: 8000}]}
`

// TestSkipUnsupportedKindsFlag: analyze and apply refuse a file holding a
// PeerAuthentication, naming it; with --skip-unsupported-kinds they accept
// the rest, still print a warning naming it, and apply stores the rest
// only (through the admin API's query parameter).
func TestSkipUnsupportedKindsFlag(t *testing.T) {
	file := writeFile(t, peerAuth)
	code, out, _ := run(t, "", "analyze", "-f", lanes, "-f", file)
	if code != 1 || !strings.Contains(out, "PeerAuthentication (security.istio.io/v1) is not enforced") || !strings.Contains(out, "--skip-unsupported-kinds") {
		t.Fatalf("analyze without the flag: exit %d\n%s", code, out)
	}
	code, out, _ = run(t, "", "analyze", "--skip-unsupported-kinds", "-f", lanes, "-f", file)
	if code != 0 || !strings.Contains(out, "Warning [LM0002] (PeerAuthentication default.istio-system)") {
		t.Fatalf("analyze with the flag: exit %d\n%s", code, out)
	}

	store, ln := serveAdmin(t)
	s := "--server=" + ln.URL()
	code, _, errOut := run(t, "", "apply", s, "-f", file)
	if c, _ := store.Config(); code != 1 || !strings.Contains(errOut, "PeerAuthentication") || len(c.Services) != 0 {
		t.Fatalf("apply without the flag: exit %d, %d services stored\n%s", code, len(c.Services), errOut)
	}
	code, out, errOut = run(t, "", "apply", s, "--skip-unsupported-kinds", "-f", file)
	if c, _ := store.Config(); code != 0 || !strings.Contains(out, "service default/extra created") || !strings.Contains(errOut, "Warning [LM0002]") || len(c.Services) != 1 {
		t.Fatalf("apply with the flag: exit %d, %d services stored\n%s%s", code, len(c.Services), out, errOut)
	}
}
