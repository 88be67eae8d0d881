package crd

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/lanemesh/lanemesh/api"
)

// update rewrites deploy/crds.yaml from the api types. Only commit the
// change if you understand it: it is what every cluster will admit.
var update = flag.Bool("update", false, "rewrite deploy/01-crds.yaml from the api types")

const golden = "../../deploy/01-crds.yaml"

func TestGolden(t *testing.T) {
	got, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (create it with: go test ./internal/crd -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is stale: the api types changed; regenerate with: go test ./internal/crd -update", filepath.Clean(golden))
	}
}

// walk returns the schema at a dotted path, where "[]" steps into items
// and "{}" into additionalProperties.
func walk(t *testing.T, s *Schema, path string) *Schema {
	t.Helper()
	for _, p := range strings.Split(path, ".") {
		switch p {
		case "[]":
			s = s.Items
		case "{}":
			s = s.AdditionalProperties
		default:
			s = s.Properties[p]
		}
		if s == nil {
			t.Fatalf("no schema at %s (stopped at %q)", path, p)
		}
	}
	return s
}

func TestSchemaShapes(t *testing.T) {
	vs, err := ObjectSchema(Kinds[3])
	if err != nil {
		t.Fatal(err)
	}
	if Kinds[3].Kind != "VirtualService" {
		t.Fatalf("Kinds[3] is %s", Kinds[3].Kind)
	}
	for _, c := range []struct {
		path, typ string
	}{
		{"spec.http.[].route.[].fallback.target.host", "string"},
		{"spec.http.[].route.[].fallback.target.subset", "string"},
		{"spec.http.[].route.[].destination.port.number", "integer"},
		{"spec.http.[].match.[].headers.{}.exact", "string"},
		{"spec.http.[].timeout", "string"},
		{"spec.http.[].fault.abort.percentage.value", "number"},
		{"spec.http.[].match.[].ignoreUriCase", "boolean"},
		{"spec.http.[].route.[].weight", "integer"},
		{"status.validationMessages.[].description", "string"},
	} {
		if got := walk(t, vs, c.path).Type; got != c.typ {
			t.Errorf("%s: type %q, want %q", c.path, got, c.typ)
		}
	}
	// Blank-field tags: accepted with any value, never typed.
	for _, p := range []string{"spec.http.[].retries.retryRemoteLocalities", "spec.tcp", "spec.http.[].match.[].statPrefix"} {
		if s := walk(t, vs, p); !s.PreserveUnknown || s.Type != "" {
			t.Errorf("%s: %+v, want an untyped x-kubernetes-preserve-unknown-fields", p, s)
		}
	}
	// Unknown fields are refused: only the status root keeps unknowns.
	var check func(path string, s *Schema)
	check = func(path string, s *Schema) {
		if s.PreserveUnknown && s.Type != "" && path != "status" {
			t.Errorf("%s keeps unknown fields", path)
		}
		for n, p := range s.Properties {
			check(path+"."+n, p)
		}
		if s.Items != nil {
			check(path+".[]", s.Items)
		}
		if s.AdditionalProperties != nil {
			check(path+".{}", s.AdditionalProperties)
		}
	}
	for n, p := range vs.Properties {
		check(n, p)
	}
	if u := walk(t, vs, "spec.http.[].route.[].destination.port.number"); *u.Minimum != 0 || *u.Maximum != 4294967295 {
		t.Errorf("uint32 range: %v..%v", *u.Minimum, *u.Maximum)
	}
}

func TestSchemaRefusesWhatItCannotDescribe(t *testing.T) {
	type loop struct {
		Next *loop `json:"next"`
	}
	type noName struct {
		X string
	}
	type badTag struct {
		_ struct{} `lanemesh:"skip=x"`
	}
	for name, typ := range map[string]reflect.Type{
		"recursive": reflect.TypeFor[loop](),
		"no json":   reflect.TypeFor[noName](),
		"bad tag":   reflect.TypeFor[badTag](),
		"chan": reflect.TypeFor[struct {
			C chan int `json:"c"`
		}](),
	} {
		if _, err := SchemaOf(typ); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestCRDNames(t *testing.T) {
	out, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(out))
	seen := 0
	for {
		var d struct {
			Metadata struct{ Name string }
			Spec     struct {
				Names struct {
					Kind       string
					ShortNames []string `yaml:"shortNames"`
				}
				Versions []struct {
					Name    string
					Storage bool
				}
			}
		}
		if err := dec.Decode(&d); err != nil {
			break
		}
		seen++
		stored := 0
		for _, v := range d.Spec.Versions {
			if v.Storage {
				stored++
				if want := Kinds[seen-1].Served()[0]; v.Name != want {
					t.Errorf("%s stores %s, want %s", d.Metadata.Name, v.Name, want)
				}
			}
		}
		// Istio's kinds serve three versions and have one short name;
		// ASM's lane kinds serve v1 and have none, as ASM's CRDs;
		// lanemesh's serve v1alpha1 and have one.
		versions, shortNames := 3, 1
		if strings.HasSuffix(d.Metadata.Name, "."+ASMGroup) {
			versions, shortNames = 1, 0
		}
		if strings.HasSuffix(d.Metadata.Name, "."+LanemeshGroup) {
			versions = 1
		}
		if stored != 1 || len(d.Spec.Versions) != versions {
			t.Errorf("%s: %d versions, %d stored", d.Metadata.Name, len(d.Spec.Versions), stored)
		}
		if len(d.Spec.Names.ShortNames) != shortNames {
			t.Errorf("%s: short names %v", d.Metadata.Name, d.Spec.Names.ShortNames)
		}
	}
	if seen != len(Kinds) {
		t.Errorf("%d documents, want %d", seen, len(Kinds))
	}
}

// TestDurationPattern holds the schema's duration syntax to api.Duration's
// own parser, the loader's.
func TestDurationPattern(t *testing.T) {
	re := regexp.MustCompile(durationPattern)
	for _, s := range []string{"100ms", "1.5s", "1h30m", "0", "+0", "-0", "2us", "2µs", ".5s", "1.s", "3m", "10h",
		"-1s", "5", "5 parsecs", "s", ".s", "", "1d", "1.5.5s", " 1s", "1s "} {
		var d api.Duration
		loader := d.UnmarshalText([]byte(s)) == nil
		if re.MatchString(s) != loader {
			t.Errorf("%q: schema pattern %v, api.Duration %v", s, re.MatchString(s), loader)
		}
	}
}
