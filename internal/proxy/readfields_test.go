package proxy

import (
	"encoding/json"
	"flag"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var updateReadFields = flag.Bool("update-read-fields", false, "rewrite testdata/read-fields.txt from the packages the slim proxy links")

// readFieldsFile lists the fields of Envoy's messages the slim proxy reads,
// one "package.Message.Field" a line in Go names, as protoc-gen-validate's
// errors name them: the fields whose rules internal/xdsrules must check
// (TestRulesAgreeWithValidate).
const readFieldsFile = "testdata/read-fields.txt"

// TestReadFieldsListed: testdata/read-fields.txt lists every field of an
// Envoy or xDS message that a lanemesh package the slim proxy links reads
// (a getter call, a field or a oneof case), so that a new read cannot
// escape the differential test of its rules. Regenerate it with
// -update-read-fields, and check the rules on what it adds.
func TestReadFieldsListed(t *testing.T) {
	if testing.Short() {
		t.Skip("type-checks every lanemesh package the proxy links")
	}
	got := readFields(t)
	if *updateReadFields {
		if err := os.WriteFile(readFieldsFile, []byte(strings.Join(got, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want := listedReadFields(t)
	for _, f := range got {
		if !want[f] {
			t.Errorf("the proxy reads %s, which %s does not list: check xdsrules against its rules and regenerate with -update-read-fields", f, readFieldsFile)
		}
	}
	for f := range want {
		if !slices.Contains(got, f) {
			t.Errorf("%s lists %s, which the proxy no longer reads: regenerate with -update-read-fields", readFieldsFile, f)
		}
	}
}

// listedReadFields reads testdata/read-fields.txt.
func listedReadFields(t testing.TB) map[string]bool {
	t.Helper()
	if _, err := os.Stat(readFieldsFile); err != nil {
		t.Fatal(err)
	}
	return readFieldSet()
}

// listedPackage is what readFields needs of go list's output.
type listedPackage struct {
	ImportPath, Dir, Export string
	GoFiles                 []string
}

// readFields type-checks the lanemesh packages the slim proxy links, from
// their sources and their dependencies' export data, and returns, sorted,
// the message fields of Envoy's and xDS's packages they read.
func readFields(t testing.TB) []string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("this test runs go list: %v", err)
	}
	// The flags are build-proxy.sh's.
	cmd := exec.Command(gobin, "list", "-tags", "grpcnotrace,disable_pgv,nethttpomithttp2", "-trimpath", "-deps", "-export", "-json", "../../cmd/lanemesh-proxy")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -export: %v", err)
	}
	exports := map[string]string{}
	var mine []listedPackage
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p listedPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		exports[p.ImportPath] = p.Export
		if strings.HasPrefix(p.ImportPath, "github.com/lanemesh/") {
			mine = append(mine, p)
		}
	}
	fset := token.NewFileSet()
	imp := importer.ForCompiler(fset, "gc", func(path string) (io.ReadCloser, error) { return os.Open(exports[path]) })
	fields := map[string]bool{}
	for _, p := range mine {
		var files []*ast.File
		for _, name := range p.GoFiles {
			f, err := parser.ParseFile(fset, filepath.Join(p.Dir, name), nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, f)
		}
		info := &types.Info{Selections: map[*ast.SelectorExpr]*types.Selection{}, Uses: map[*ast.Ident]types.Object{}}
		if _, err := (&types.Config{Importer: imp}).Check(p.ImportPath, fset, files, info); err != nil {
			t.Fatalf("type-checking %s: %v", p.ImportPath, err)
		}
		for _, s := range info.Selections {
			if f, ok := messageField(s.Recv(), s.Obj()); ok {
				fields[f] = true
			}
		}
		// A oneof case (case *routev3.Route_Redirect:) reads that field even
		// where its value is not used.
		for _, obj := range info.Uses {
			if tn, ok := obj.(*types.TypeName); ok {
				if f, ok := oneofWrapperField(tn.Type()); ok {
					fields[f] = true
				}
			}
		}
	}
	return slices.Sorted(func(yield func(string) bool) {
		for f := range fields {
			if !yield(f) {
				return
			}
		}
	})
}

// messageField returns the field of an Envoy or xDS message that the
// selection of obj on recv reads: a getter (GetName reads Name), a field,
// or a oneof wrapper's field (Route_Redirect.Redirect reads Route's
// Redirect).
func messageField(recv types.Type, obj types.Object) (string, bool) {
	if p, ok := recv.(*types.Pointer); ok {
		recv = p.Elem()
	}
	named, ok := recv.(*types.Named)
	if !ok || named.Obj().Pkg() == nil || !envoyPackage(named.Obj().Pkg().Path()) {
		return "", false
	}
	if f, ok := oneofWrapperField(named); ok {
		return f, true
	}
	if !isMessage(named) {
		return "", false
	}
	name := obj.Name()
	switch obj.(type) {
	case *types.Func:
		if !strings.HasPrefix(name, "Get") {
			return "", false // ProtoReflect, String, Reset
		}
		name = strings.TrimPrefix(name, "Get")
	case *types.Var:
		if !obj.Exported() {
			return "", false
		}
	}
	return qualified(named) + "." + name, true
}

// oneofWrapperField returns, for a oneof wrapper type (Route_Redirect, a
// struct of one field tagged oneof), the field of the message it belongs
// to.
func oneofWrapperField(typ types.Type) (string, bool) {
	named, ok := typ.(*types.Named)
	if !ok || named.Obj().Pkg() == nil || !envoyPackage(named.Obj().Pkg().Path()) {
		return "", false
	}
	st, ok := named.Underlying().(*types.Struct)
	if !ok || st.NumFields() != 1 || !strings.Contains(st.Tag(0), ",oneof") {
		return "", false
	}
	field := st.Field(0).Name()
	parent := strings.TrimSuffix(strings.TrimSuffix(named.Obj().Name(), "_"), "_"+field)
	return shortPackage(named.Obj().Pkg().Path()) + "." + parent + "." + field, true
}

// isMessage reports whether named is a generated message struct.
func isMessage(named *types.Named) bool {
	st, ok := named.Underlying().(*types.Struct)
	if !ok {
		return false
	}
	for i := range st.NumFields() {
		if st.Field(i).Name() == "state" {
			return true
		}
	}
	return false
}

func qualified(named *types.Named) string {
	return shortPackage(named.Obj().Pkg().Path()) + "." + named.Obj().Name()
}

func envoyPackage(path string) bool {
	return strings.HasPrefix(path, "github.com/envoyproxy/go-control-plane/") || strings.HasPrefix(path, "github.com/cncf/xds/go/")
}

// shortPackage is a package path without the module's host and owner:
// "go-control-plane/envoy/config/route/v3".
func shortPackage(path string) string {
	path = strings.TrimPrefix(path, "github.com/envoyproxy/")
	return strings.TrimPrefix(path, "github.com/cncf/")
}
