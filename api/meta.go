// Package api holds the YAML types lanemesh reads: Istio's traffic kinds
// (Gateway, VirtualService, DestinationRule, ServiceEntry, WorkloadEntry) with
// Alibaba Cloud Service Mesh's `fallback` field, the Kubernetes kinds local
// mode runs (Service, Deployment), and lanemesh's own kinds (LaneEntryPolicy,
// lanemesh.io/v1alpha1).
//
// The types are plain data with `json` tags naming the YAML fields, exactly as
// Istio and Kubernetes spell them, so users' existing YAML decodes unchanged.
// They carry no behaviour; internal/config decodes them strictly and
// validates them.
//
// Blank fields tagged `lanemesh:"ignored=NAME"` or `lanemesh:"unsupported=NAME"`
// steer the strict decoder:
//   - "ignored" marks a field NAME that Kubernetes or Istio accept and
//     that has no effect in lanemesh (for example a container's resources);
//     it is accepted and skipped.
//   - "unsupported" marks an Istio field NAME that lanemesh does not
//     implement yet; setting it is an error that says so, rather than a
//     silent no-op.
//
// Being blank (`_ struct{}`), such fields cost nothing
// and never show up in the Go API.
package api

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// TypeMeta is the apiVersion and kind every object starts with.
type TypeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
}

// ObjectMeta is the subset of Kubernetes object metadata lanemesh reads.
// An empty Namespace means "default", as with kubectl.
type ObjectMeta struct {
	Name        string            `json:"name"`
	Namespace   string            `json:"namespace,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`

	_ struct{} `lanemesh:"ignored=uid"`
	_ struct{} `lanemesh:"ignored=resourceVersion"`
	_ struct{} `lanemesh:"ignored=generation"`
	_ struct{} `lanemesh:"ignored=creationTimestamp"`
	_ struct{} `lanemesh:"ignored=managedFields"`
	_ struct{} `lanemesh:"ignored=ownerReferences"`
	_ struct{} `lanemesh:"ignored=finalizers"`
	_ struct{} `lanemesh:"ignored=generateName"`
	_ struct{} `lanemesh:"ignored=selfLink"`
	_ struct{} `lanemesh:"ignored=deletionTimestamp"`
	_ struct{} `lanemesh:"ignored=deletionGracePeriodSeconds"`

	// Source says where the object was read from; it is filled by the
	// loader, never by YAML.
	Source Source `json:"-"`
}

// Source locates an object and its fields in the user's files, so that every
// message can name file and line.
type Source struct {
	File string
	Line int
	// Fields maps a field path ("spec.http[0].route[1].destination.subset")
	// to the line it was written on.
	Fields map[string]int
}

// LineOf returns the line of the field at path, or of the closest enclosing
// field that has one, or of the object itself.
func (s Source) LineOf(path string) int {
	for p := path; p != ""; p = parentPath(p) {
		if l, ok := s.Fields[p]; ok {
			return l
		}
	}
	return s.Line
}

func parentPath(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i < 0 {
		return ""
	}
	return p[:i]
}

// Key returns "namespace/name".
func (m ObjectMeta) Key() string { return m.Namespace + "/" + m.Name }

// Duration is a length of time written as Go or protobuf durations are
// ("100ms", "1.5s", "3m").
type Duration struct{ time.Duration }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("invalid duration %q: write it like \"100ms\", \"2s\" or \"1m\"", b)
	}
	if v < 0 {
		return fmt.Errorf("invalid duration %q: must not be negative", b)
	}
	d.Duration = v
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.Duration.String()), nil }

// IntOrString is a Kubernetes port reference: a number or a port name.
type IntOrString struct {
	Int int32
	Str string
}

// IsZero reports whether neither a number nor a name is set.
func (v IntOrString) IsZero() bool { return v.Int == 0 && v.Str == "" }

// UnmarshalText implements encoding.TextUnmarshaler.
func (v *IntOrString) UnmarshalText(b []byte) error {
	if n, err := strconv.ParseInt(string(b), 10, 32); err == nil {
		*v = IntOrString{Int: int32(n)}
		return nil
	}
	*v = IntOrString{Str: string(b)}
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (v IntOrString) MarshalText() ([]byte, error) {
	if v.Str != "" {
		return []byte(v.Str), nil
	}
	return []byte(strconv.Itoa(int(v.Int))), nil
}

// MarshalJSON writes a number as a JSON number and a name as a string, as
// Kubernetes does: written as "8000", a port would read as a port named
// 8000 to kubectl, and `lanemesh get -o yaml` output must mean the same
// to both.
func (v IntOrString) MarshalJSON() ([]byte, error) {
	if v.Str != "" {
		return json.Marshal(v.Str)
	}
	return []byte(strconv.Itoa(int(v.Int))), nil
}

// UnmarshalJSON reads what MarshalJSON writes: a number, or a string read
// as UnmarshalText reads it.
func (v *IntOrString) UnmarshalJSON(b []byte) error {
	var n int32
	if err := json.Unmarshal(b, &n); err == nil {
		*v = IntOrString{Int: n}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a number or a string, got %s", b)
	}
	return v.UnmarshalText([]byte(s))
}

// Percent is Istio's percentage wrapper, {value: 0..100}.
type Percent struct {
	Value float64 `json:"value"`
}
