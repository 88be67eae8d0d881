package proxycmd

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/lanemesh/lanemesh/"

// controlPlane are the packages the data plane must not link: the loader,
// the compiler, the control plane and its sources, and the xDS server.
var controlPlane = []string{
	"api", "internal/config", "internal/compile", "internal/controlplane", "internal/registry",
	"internal/local", "internal/kube", "internal/crd", "internal/inject", "internal/explain",
	"internal/xdsserver", "internal/admin", "internal/cli", "internal/up", "internal/node",
	"k8s.io/", "sigs.k8s.io/", "go.yaml.in/yaml",
	"github.com/envoyproxy/go-control-plane/pkg/",
}

// allowed are the exceptions to a package's forbidden dependencies below.
var allowed = map[string][]string{
	// The HTTP/1.1 codec's sockets make their reads and writes through rawio.
	"internal/h1": {module + "internal/rawio"},
}

// TestDataPlaneLinksNoControlPlane: the proxy, its xDS client, the route
// table, the shared contract and the proxy-only binary link none of the
// control plane's packages (go list -deps, what the linker is given), and
// the pure core (route), the contract and the HTTP/1.1 codec (h1) link
// nothing of lanemesh at all, nor gRPC.
func TestDataPlaneLinksNoControlPlane(t *testing.T) {
	for _, tc := range []struct {
		pkg    string
		forbid []string
	}{
		// The CLI framework (cobra, and text/template with it) is the full
		// binary's; the proxy alone parses its flags with pflag.
		{"cmd/lanemesh-proxy", append([]string{"github.com/spf13/cobra"}, controlPlane...)},
		{"internal/proxycmd", append([]string{"github.com/spf13/cobra"}, controlPlane...)},
		{"internal/proxy", controlPlane},
		{"internal/xds", controlPlane},
		{"internal/route", append([]string{module + "internal/", "google.golang.org/grpc"}, controlPlane...)},
		{"internal/meshxds", append([]string{module + "internal/", "google.golang.org/grpc"}, controlPlane...)},
		// The router's decisions are pure: no I/O packages of lanemesh, no gRPC.
		{"internal/policy", append([]string{"internal/proxy", "internal/h1", "internal/xds", "google.golang.org/grpc"}, controlPlane...)},
		// The HTTP/1.1 codec knows nothing of routing or xDS; the raw
		// system calls of its sockets are its one lanemesh dependency.
		{"internal/h1", append([]string{module + "internal/", "google.golang.org/grpc", "github.com/envoyproxy/"}, controlPlane...)},
	} {
		deps := goListDeps(t, tc.pkg)
		if !slices.Contains(deps, module+tc.pkg) {
			t.Fatalf("go list -deps %s does not list the package itself: %q", tc.pkg, deps)
		}
		for _, d := range deps {
			if d == module+tc.pkg || slices.Contains(allowed[tc.pkg], d) {
				continue
			}
			for _, f := range tc.forbid {
				if !strings.Contains(f, ".") || strings.HasPrefix(f, "internal/") || f == "api" {
					f = module + f
				}
				if d == f || strings.HasPrefix(d, strings.TrimSuffix(f, "/")+"/") {
					t.Errorf("%s links %s; the data plane must depend only on internal/meshxds, internal/xds and internal/route", tc.pkg, d)
				}
			}
		}
	}
}

// goListDeps is every package pkg links, tests excluded.
func goListDeps(t *testing.T, pkg string) []string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("this test runs go list: %v", err)
	}
	cmd := exec.Command(gobin, "list", "-deps", "-f", "{{.ImportPath}}", module+pkg)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	return strings.Fields(string(out))
}

// TestSlimBuildLinks: the slim proxy as build-proxy.sh builds it (no cgo,
// -tags grpcnotrace) links neither cgo nor grpc-go's request tracing,
// golang.org/x/net/trace, which brings html/template and text/template
// with it: about 1 MB of resident memory in every proxy for pages the proxy
// never serves. A plain `go build` links them all; the test fails if the
// script's flags stop keeping them out (a dependency that imports one of
// them directly, or a grpc-go that drops the tag).
func TestSlimBuildLinks(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list over the whole proxy")
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skipf("build-proxy.sh needs bash: %v", err)
	}
	out, err := exec.Command(bash, "../../build-proxy.sh", "--deps").Output()
	if err != nil {
		t.Fatalf("build-proxy.sh --deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if !slices.Contains(deps, module+"cmd/lanemesh-proxy") {
		t.Fatalf("build-proxy.sh --deps does not list cmd/lanemesh-proxy: %q", deps)
	}
	for _, f := range []string{"runtime/cgo", "golang.org/x/net/trace", "html/template", "text/template"} {
		if slices.Contains(deps, f) {
			t.Errorf("the slim build links %s; build-proxy.sh's flags (CGO_ENABLED=0, -tags grpcnotrace) exist to keep it out: find who imports it with go list -tags grpcnotrace -deps -f '{{.ImportPath}}: {{.Imports}}' ./cmd/lanemesh-proxy", f)
		}
	}
}
