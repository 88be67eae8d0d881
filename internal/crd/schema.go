package crd

import (
	"encoding"
	"fmt"
	"math"
	"reflect"
	"strings"
)

// Schema is the part of OpenAPI v3 that a structural CRD schema uses.
// Field order is the order the generated YAML is written in.
type Schema struct {
	Description          string             `yaml:"description,omitempty"`
	Type                 string             `yaml:"type,omitempty"`
	Format               string             `yaml:"format,omitempty"`
	Minimum              *float64           `yaml:"minimum,omitempty"`
	Maximum              *float64           `yaml:"maximum,omitempty"`
	Pattern              string             `yaml:"pattern,omitempty"`
	Enum                 []string           `yaml:"enum,omitempty"`
	Properties           map[string]*Schema `yaml:"properties,omitempty"`
	AdditionalProperties *Schema            `yaml:"additionalProperties,omitempty"`
	Items                *Schema            `yaml:"items,omitempty"`
	Required             []string           `yaml:"required,omitempty"`
	AnyOf                []*Schema          `yaml:"anyOf,omitempty"`
	IntOrString          bool               `yaml:"x-kubernetes-int-or-string,omitempty"`
	PreserveUnknown      bool               `yaml:"x-kubernetes-preserve-unknown-fields,omitempty"`
}

// textUnmarshaler is how api marks types written as one scalar
// (Duration, IntOrString) whatever their Go shape.
var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

// SchemaOf derives the structural schema of an api type by reflection over
// its json tags, following the same field rules as internal/config's strict
// decoder, so that the CRD and the loader read one definition:
//
//   - a field named by its json tag; "-" and unexported fields are not
//     fields; an embedded struct tagged ",inline" contributes its fields;
//   - a blank field tagged `lanemesh:"ignored=NAME"` is a field Istio or
//     Kubernetes define and lanemesh skips. The schema accepts it with any
//     value and keeps it (x-kubernetes-preserve-unknown-fields on that one
//     field): the object is valid Istio, lanemesh loads it, and what the
//     user wrote stays visible in `kubectl get -o yaml` as it would with
//     Istio. The api type does not say the field's shape, so none is
//     checked.
//   - a blank field tagged `lanemesh:"unsupported=NAME"` is an Istio field
//     lanemesh does not implement. The schema accepts and keeps it too, and
//     the loader refuses the object (LM code, status.validationMessages and
//     an Event). Leaving it out of the schema would not refuse it: the
//     apiserver rejects unknown fields only for clients that ask for
//     strict field validation (kubectl does; client-go, Helm and operators
//     mostly do not) and otherwise prunes them silently, so a `mirror` or
//     a `tls` block would vanish and lanemesh would route as if it were
//     never written, the silent no-op that "unsupported" exists to
//     prevent.
//
// Types that unmarshal from text (api.Duration, api.IntOrString) are a
// string or an int-or-string. Integers carry their Go type's range, as
// Istio's own CRDs do, because the loader refuses values outside it.
func SchemaOf(t reflect.Type) (*Schema, error) {
	return schemaOf(t, map[reflect.Type]bool{})
}

func schemaOf(t reflect.Type, visiting map[reflect.Type]bool) (*Schema, error) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(textUnmarshaler) {
		return textSchema(t)
	}
	switch t.Kind() {
	case reflect.String:
		return &Schema{Type: "string"}, nil
	case reflect.Bool:
		return &Schema{Type: "boolean"}, nil
	case reflect.Int32:
		return &Schema{Type: "integer", Format: "int32", Minimum: ptr(math.MinInt32), Maximum: ptr(math.MaxInt32)}, nil
	case reflect.Int64, reflect.Int:
		return &Schema{Type: "integer", Format: "int64"}, nil
	case reflect.Uint32:
		return &Schema{Type: "integer", Minimum: ptr(0), Maximum: ptr(math.MaxUint32)}, nil
	case reflect.Float64:
		return &Schema{Type: "number", Format: "double"}, nil
	case reflect.Slice:
		items, err := schemaOf(t.Elem(), visiting)
		if err != nil {
			return nil, err
		}
		return &Schema{Type: "array", Items: items}, nil
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return nil, fmt.Errorf("%s: map keys must be strings to be written as YAML", t)
		}
		vals, err := schemaOf(t.Elem(), visiting)
		if err != nil {
			return nil, err
		}
		return &Schema{Type: "object", AdditionalProperties: vals}, nil
	case reflect.Struct:
		return structSchema(t, visiting)
	}
	return nil, fmt.Errorf("%s: no OpenAPI type for Go kind %s; teach internal/crd about it", t, t.Kind())
}

// textSchema covers the api types that decode from one scalar. Each is
// named, because the Go shape of such a type says nothing about its text.
func textSchema(t reflect.Type) (*Schema, error) {
	switch t.Name() {
	case "Duration":
		return &Schema{Type: "string", Pattern: durationPattern}, nil
	case "IntOrString":
		return &Schema{IntOrString: true, AnyOf: []*Schema{{Type: "integer"}, {Type: "string"}}}, nil
	}
	return nil, fmt.Errorf("%s unmarshals from text but internal/crd does not know its OpenAPI type; add it to textSchema", t)
}

func structSchema(t reflect.Type, visiting map[reflect.Type]bool) (*Schema, error) {
	if visiting[t] {
		// A recursive type has no finite structural schema.
		return nil, fmt.Errorf("%s refers to itself; a structural schema cannot describe it", t)
	}
	visiting[t] = true
	defer delete(visiting, t)
	s := &Schema{Type: "object", Properties: map[string]*Schema{}}
	if err := addFields(s, t, visiting); err != nil {
		return nil, err
	}
	return s, nil
}

func addFields(s *Schema, t reflect.Type, visiting map[reflect.Type]bool) error {
	for i := range t.NumField() {
		f := t.Field(i)
		if tag, ok := f.Tag.Lookup("lanemesh"); ok {
			how, name, _ := strings.Cut(tag, "=")
			if how != "ignored" && how != "unsupported" || name == "" {
				return fmt.Errorf("%s: lanemesh tag %q: want ignored=NAME or unsupported=NAME", t, tag)
			}
			// See SchemaOf for why both are accepted with any value.
			s.Properties[name] = &Schema{PreserveUnknown: true}
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case name == "-" || !f.IsExported():
		case f.Anonymous && opts == "inline":
			if err := addFields(s, f.Type, visiting); err != nil {
				return err
			}
		case name == "":
			return fmt.Errorf("%s.%s has no json name", t, f.Name)
		default:
			fs, err := schemaOf(f.Type, visiting)
			if err != nil {
				return fmt.Errorf("%s.%s: %w", t, f.Name, err)
			}
			s.Properties[name] = fs
		}
	}
	return nil
}

// durationPattern is the syntax api.Duration accepts: Go's
// time.ParseDuration without a negative sign ("100ms", "1.5s", "1h30m",
// "0"). Checking it in the schema turns a mistyped timeout into a refusal
// at `kubectl apply`, where Istio's CRDs do the same with CEL's duration().
const durationPattern = `^(\+?((\d+(\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h))+|[-+]?0)$`

func ptr(f float64) *float64 { return &f }
