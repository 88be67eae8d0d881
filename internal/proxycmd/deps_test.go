package proxycmd

import (
	"os/exec"
	"path/filepath"
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

// TestDataPlaneLinksNoControlPlane: the proxy, its xDS client, the route
// table, the shared contract and the proxy-only binary link none of the
// control plane's packages (go list -deps, what the linker is given), and
// the pure core (route), the contract and the HTTP/1.1 codec (h1) link
// nothing of lanemesh at all, nor gRPC, but for the route table Envoy's
// validation rules (xdsrules) and for the codec its sockets' raw reads and
// writes (rawio) and its heads' arena (arena), which link nothing of
// lanemesh either.
func TestDataPlaneLinksNoControlPlane(t *testing.T) {
	for _, tc := range []struct {
		pkg    string
		forbid []string
		allow  []string // packages of forbid's that pkg may link
	}{
		// The CLI framework (cobra, and text/template with it) is the full
		// binary's; the proxy alone parses its flags with pflag.
		{"cmd/lanemesh-proxy", append([]string{"github.com/spf13/cobra"}, controlPlane...), nil},
		{"internal/proxycmd", append([]string{"github.com/spf13/cobra"}, controlPlane...), nil},
		{"internal/proxy", controlPlane, nil},
		{"internal/xds", controlPlane, nil},
		{"internal/route", append([]string{module + "internal/", "google.golang.org/grpc"}, controlPlane...), []string{module + "internal/xdsrules"}},
		{"internal/xdsrules", append([]string{module + "internal/", "google.golang.org/grpc"}, controlPlane...), nil},
		{"internal/rawio", append([]string{module + "internal/", "google.golang.org/grpc", "github.com/envoyproxy/"}, controlPlane...), nil},
		{"internal/arena", append([]string{module + "internal/", "google.golang.org/grpc", "github.com/envoyproxy/"}, controlPlane...), nil},
		{"internal/meshxds", append([]string{module + "internal/", "google.golang.org/grpc"}, controlPlane...), nil},
		// The router's decisions are pure: no I/O packages of lanemesh, no gRPC.
		{"internal/policy", append([]string{"internal/proxy", "internal/h1", "internal/xds", "google.golang.org/grpc"}, controlPlane...), nil},
		// The HTTP/1.1 codec knows nothing of routing or xDS; its sockets
		// make their reads and writes through rawio, and their heads' text
		// comes from arena.
		{"internal/h1", append([]string{module + "internal/", "google.golang.org/grpc", "github.com/envoyproxy/"}, controlPlane...),
			[]string{module + "internal/rawio", module + "internal/arena"}},
	} {
		deps := goListDeps(t, tc.pkg)
		if !slices.Contains(deps, module+tc.pkg) {
			t.Fatalf("go list -deps %s does not list the package itself: %q", tc.pkg, deps)
		}
		for _, d := range deps {
			if d == module+tc.pkg || slices.Contains(tc.allow, d) {
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

// TestSlimBuildHasNoGeneratedValidation: the slim proxy links none of
// go-control-plane's (nor cncf/xds's) generated protoc-gen-validate
// methods. They check every field of every message a resource can hold,
// and cost about 3 MB of resident memory in every proxy; the proxy checks
// the fields it reads with internal/xdsrules instead. The test fails when
// a call of Validate or ValidateAll on a generated message comes back:
// one call links the whole tree of them. Nor does it link go-control-plane's
// validation files at all (-tags disable_pgv): their package-level regular
// expressions and lookup tables are built at start-up even when no method
// is called.
func TestSlimBuildHasNoGeneratedValidation(t *testing.T) {
	var found []string
	for _, sym := range slimSymbols(t) {
		if generatedValidation(sym) {
			found = append(found, sym)
		}
	}
	if len(found) > 0 {
		t.Errorf("the slim proxy links %d generated validation symbols, such as %q; find the call with go build -tags grpcnotrace -gcflags=-m or grep for Validate( in the packages ./build-proxy.sh --deps lists, and check that build-proxy.sh still builds with -tags disable_pgv",
			len(found), found[:min(len(found), 5)])
	}
}

// TestSlimBuildHasNoNetHTTP2: the slim proxy links no HTTP/2 of net/http's
// own (-tags nethttpomithttp2), about 0.5 MB of resident memory in every
// proxy for a protocol none of its net/http servers and clients speaks
// (build-proxy.sh says why). The test fails if the script stops passing
// the tag or a Go release stops honouring it.
func TestSlimBuildHasNoNetHTTP2(t *testing.T) {
	var found []string
	for _, sym := range slimSymbols(t) {
		// The bundle's framer, server and client connections; the tag
		// leaves a few stubs of other names.
		for _, s := range []string{"net/http.(*http2Framer)", "net/http.(*http2serverConn)", "net/http.(*http2ClientConn)"} {
			if strings.HasPrefix(sym, s) {
				found = append(found, sym)
			}
		}
	}
	if len(found) > 0 {
		t.Errorf("the slim proxy links %d symbols of net/http's bundled HTTP/2, such as %q; build-proxy.sh's -tags nethttpomithttp2 exists to keep it out",
			len(found), found[:min(len(found), 5)])
	}
}

// slimSymbols builds the slim proxy with build-proxy.sh and lists its
// symbols (go tool nm).
func slimSymbols(t *testing.T) []string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the slim proxy")
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skipf("build-proxy.sh needs bash: %v", err)
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("this test runs go tool nm: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "lanemesh-proxy")
	if out, err := exec.Command(bash, "../../build-proxy.sh", "-o", bin).CombinedOutput(); err != nil {
		t.Fatalf("build-proxy.sh -o %s: %v\n%s", bin, err, out)
	}
	out, err := exec.Command(gobin, "tool", "nm", bin).Output()
	if err != nil {
		t.Fatalf("go tool nm %s: %v", bin, err)
	}
	var syms []string
	for line := range strings.Lines(string(out)) {
		if f := strings.Fields(line); len(f) >= 3 {
			syms = append(syms, f[len(f)-1])
		}
	}
	return syms
}

// generatedValidation reports whether sym is one of protoc-gen-validate's
// generated methods or error types in an Envoy or xDS package, or one of
// the package-level patterns and lookup tables of go-control-plane's
// validation files.
func generatedValidation(sym string) bool {
	if !strings.Contains(sym, "github.com/envoyproxy/") && !strings.Contains(sym, "github.com/cncf/xds/") {
		return false
	}
	for _, suffix := range []string{").validate", ").Validate", ").ValidateAll"} {
		if strings.HasSuffix(sym, suffix) {
			return true
		}
	}
	// cncf/xds's validation files have no build tag to leave them out, and
	// two of their patterns stay.
	if strings.Contains(sym, "github.com/envoyproxy/") &&
		(strings.HasSuffix(sym, "_Pattern") || strings.HasSuffix(sym, "_InLookup") || strings.HasSuffix(sym, "_NotInLookup")) {
		return true
	}
	return strings.Contains(sym, "ValidationError") || strings.Contains(sym, "MultiError")
}
