package entry_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/lanemesh/lanemesh/api"
	"github.com/lanemesh/lanemesh/internal/entry"
)

// TestWireMatchesAPI holds the filter's wire types to the api's: every
// JSON field of api.LaneEntryPolicySpec, at every depth, but the selector,
// which the control plane applies, is carried with the same name and shape,
// so that a field added to the api reaches the proxy or fails here.
func TestWireMatchesAPI(t *testing.T) {
	compare(t, "spec", reflect.TypeFor[api.LaneEntryPolicySpec](), reflect.TypeFor[entry.Spec](), "selector")
}

func compare(t *testing.T, path string, a, w reflect.Type, skip ...string) {
	t.Helper()
	for a.Kind() == reflect.Pointer || a.Kind() == reflect.Slice {
		if w.Kind() != a.Kind() {
			t.Errorf("%s: api %s, wire %s", path, a, w)
			return
		}
		a, w = a.Elem(), w.Elem()
	}
	if a.Kind() != reflect.Struct || a == reflect.TypeFor[api.Duration]() {
		if a == reflect.TypeFor[api.Duration]() && w != reflect.TypeFor[entry.Duration]() || a != reflect.TypeFor[api.Duration]() && a.Kind() != w.Kind() {
			t.Errorf("%s: api %s, wire %s", path, a, w)
		}
		return
	}
	fields := func(s reflect.Type) map[string]reflect.StructField {
		out := map[string]reflect.StructField{}
		for i := range s.NumField() {
			f := s.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if f.IsExported() && name != "" && !slices.Contains(skip, name) {
				out[name] = f
			}
		}
		return out
	}
	af, wf := fields(a), fields(w)
	for name, f := range af {
		g, ok := wf[name]
		if !ok {
			t.Errorf("%s.%s is not carried to the proxy", path, name)
			continue
		}
		compare(t, path+"."+name, f.Type, g.Type)
	}
	for name := range wf {
		if _, ok := af[name]; !ok {
			t.Errorf("%s.%s is carried but is no field of the api", path, name)
		}
	}
}
