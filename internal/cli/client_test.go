package cli

import (
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/lanemesh/lanemesh/internal/admin"
	"github.com/lanemesh/lanemesh/internal/controlplane"
	"github.com/lanemesh/lanemesh/internal/events"
)

// TestKubectlLikeCommands drives apply, get and scale against the real
// admin API over a real socket; the commands find its token by themselves,
// from the server's port, in $LANEMESH_HOME.
func TestKubectlLikeCommands(t *testing.T) {
	store, ln := serveAdmin(t)
	s := "--server=" + ln.URL()

	code, out, errOut := run(t, "", "apply", s, "-f", lanes)
	if code != 0 || !strings.Contains(out, "virtualservice istio-system/mockb created") {
		t.Fatalf("apply: exit %d\n%s%s", code, out, errOut)
	}
	_, before := store.Config()
	code, _, errOut = run(t, "", "apply", s, "-f", writeFile(t, badSubset))
	if code != 1 || !strings.Contains(errOut, "IST0101") || !strings.Contains(errOut, "nothing changed") {
		t.Fatalf("bad apply: exit %d\n%s", code, errOut)
	}
	if _, after := store.Config(); after != before {
		t.Fatal("rejected apply changed the store")
	}
	code, out, _ = run(t, "", "apply", s, "-f", fallback)
	if code != 0 || !strings.Contains(out, "virtualservice istio-system/mockc configured") {
		t.Fatalf("apply fallback: exit %d\n%s", code, out)
	}
	code, out, _ = run(t, "", "get", s, "vs", "-n", "istio-system")
	if code != 0 || !strings.Contains(out, "swimlane-ingress-vs") || !strings.Contains(out, "istio-system/ingressgateway") {
		t.Fatalf("get vs: exit %d\n%s", code, out)
	}
	code, out, _ = run(t, "", "scale", s, "deployment/mockb-v2", "--replicas", "0")
	if code != 0 || out != "deployment default/mockb-v2 scaled to 0\n" {
		t.Fatalf("scale: exit %d %q", code, out)
	}
	code, out, _ = run(t, "", "get", s, "deployments", "mockb-v2", "-o", "yaml")
	if code != 0 || !strings.Contains(out, "replicas: 0") || !strings.Contains(out, "kind: Deployment") {
		t.Fatalf("get -o yaml: exit %d\n%s", code, out)
	}
	if code, _, errOut = run(t, "", "get", s, "frobs"); code != 2 {
		t.Fatalf("get frobs: exit %d %s", code, errOut)
	}
	if code, _, errOut = run(t, "", "get", "--server=http://127.0.0.1:1", "pods"); code == 0 || !strings.Contains(errOut, "lanemesh up") {
		t.Fatalf("unreachable server: exit %d %s", code, errOut)
	}
	if err := os.WriteFile(ln.TokenFile, []byte("forged\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut = run(t, "", "get", s, "pods"); code == 0 || !strings.Contains(errOut, "wrong token") {
		t.Fatalf("wrong token: exit %d %s", code, errOut)
	}
}

// serveAdmin runs the admin API on a real guarded listener until the test
// ends, with its token in a temporary $LANEMESH_HOME where the commands
// look for it.
func serveAdmin(t *testing.T) (*controlplane.Store, *admin.Listener) {
	t.Helper()
	home := t.TempDir()
	t.Setenv("LANEMESH_HOME", home)
	t.Setenv("LANEMESH_TOKEN_FILE", "")
	feed := &events.Feed{}
	store := controlplane.NewStore(feed.Bump)
	ln, err := admin.Listen("127.0.0.1:0", home)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: (&admin.Server{Store: store, Listener: ln, Feed: feed}).Handler()}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return store, ln
}
