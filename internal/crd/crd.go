// Package crd generates the CustomResourceDefinitions of the
// networking.istio.io kinds lanemesh reads, and of ASM's lane kinds
// (istio.alibabacloud.com), from the api types the loader
// decodes into, so that what the apiserver admits and what lanemesh loads
// come from one definition. Stock Istio CRDs drop ASM's
// spec.http[].route[].fallback; these keep it.
//
// The CRDs check shape only: field names, types, integer ranges. Rules on
// values (a subset that must exist, a fallback that must differ from its
// destination, hosts that must be well formed) stay in internal/config,
// which reports a refused object on its status; see
// conformance/testdata/crd-known-differences.txt for the list.
//
// Generate is pure: the same api types always give the same bytes, which
// deploy/01-crds.yaml holds (kept equal by this package's golden test).
package crd

import (
	"bytes"
	"fmt"
	"reflect"

	"go.yaml.in/yaml/v3"

	"github.com/lanemesh/lanemesh/api"
)

// Group is the API group of Istio's kinds here.
const Group = "networking.istio.io"

// ASMGroup is the API group of Alibaba Cloud Service Mesh's lane kinds.
const ASMGroup = "istio.alibabacloud.com"

// Versions are the served versions, the stored one first. All have the same
// schema, as Istio's do, so the apiserver converts between them by
// rewriting apiVersion alone and no conversion webhook is needed.
var Versions = []string{"v1", "v1alpha3", "v1beta1"}

// Kind is one CRD: its names, its api type and its kubectl columns.
type Kind struct {
	// Group is the API group, Group when empty; APIVersions are its
	// served versions, the stored one first, Versions when empty.
	Group       string
	APIVersions []string
	// Cluster marks a cluster-scoped kind.
	Cluster                bool
	Kind, Plural, Singular string
	ShortNames             []string
	// Type is the api type; its Spec field gives the spec schema.
	Type reflect.Type
	// Columns are the extra `kubectl get` columns, Istio's for the kind.
	Columns []Column
}

// Column is an additionalPrinterColumn.
type Column struct {
	Name        string `yaml:"name"`
	Type        string `yaml:"type"`
	Description string `yaml:"description,omitempty"`
	JSONPath    string `yaml:"jsonPath"`
}

var age = Column{Name: "Age", Type: "date", JSONPath: ".metadata.creationTimestamp",
	Description: "CreationTimestamp is the server time when this object was created."}

// Kinds are the CRDs lanemesh installs, in the order written.
var Kinds = []Kind{
	{Kind: "DestinationRule", Plural: "destinationrules", Singular: "destinationrule", ShortNames: []string{"dr"},
		Type: reflect.TypeFor[api.DestinationRule](),
		Columns: []Column{
			{Name: "Host", Type: "string", JSONPath: ".spec.host", Description: "The name of a service from the service registry"},
			age,
		}},
	{Kind: "Gateway", Plural: "gateways", Singular: "gateway", ShortNames: []string{"gw"},
		Type: reflect.TypeFor[api.Gateway]()},
	{Kind: "ServiceEntry", Plural: "serviceentries", Singular: "serviceentry", ShortNames: []string{"se"},
		Type: reflect.TypeFor[api.ServiceEntry](),
		Columns: []Column{
			{Name: "Hosts", Type: "string", JSONPath: ".spec.hosts", Description: "The hosts associated with the ServiceEntry"},
			{Name: "Location", Type: "string", JSONPath: ".spec.location", Description: "Whether the service is external to the mesh or part of the mesh (MESH_EXTERNAL or MESH_INTERNAL)"},
			{Name: "Resolution", Type: "string", JSONPath: ".spec.resolution", Description: "Service resolution mode for the hosts (NONE, STATIC, or DNS)"},
			age,
		}},
	{Kind: "VirtualService", Plural: "virtualservices", Singular: "virtualservice", ShortNames: []string{"vs"},
		Type: reflect.TypeFor[api.VirtualService](),
		Columns: []Column{
			{Name: "Gateways", Type: "string", JSONPath: ".spec.gateways", Description: "The names of gateways and sidecars that should apply these routes"},
			{Name: "Hosts", Type: "string", JSONPath: ".spec.hosts", Description: "The destination hosts to which traffic is being sent"},
			age,
		}},
	{Kind: "WorkloadEntry", Plural: "workloadentries", Singular: "workloadentry", ShortNames: []string{"we"},
		Type: reflect.TypeFor[api.WorkloadEntry](),
		Columns: []Column{
			age,
			{Name: "Address", Type: "string", JSONPath: ".spec.address", Description: "Address associated with the network endpoint."},
		}},
}

// Lane kinds are ASM's: cluster-scoped, one version.
var laneKinds = []Kind{
	{Group: ASMGroup, APIVersions: []string{"v1"}, Cluster: true,
		Kind: "ASMSwimLaneGroup", Plural: "asmswimlanegroups", Singular: "asmswimlanegroup",
		Type: reflect.TypeFor[api.ASMSwimLaneGroup](), Columns: []Column{age}},
	{Group: ASMGroup, APIVersions: []string{"v1"}, Cluster: true,
		Kind: "ASMSwimLane", Plural: "asmswimlanes", Singular: "asmswimlane",
		Type: reflect.TypeFor[api.ASMSwimLane](),
		Columns: []Column{
			{Name: "Group", Type: "string", JSONPath: ".metadata.labels.swimlane-group", Description: "The lane group the lane belongs to"},
			age,
		}},
}

func init() { Kinds = append(Kinds, laneKinds...) }

// GroupName is k's API group.
func (k Kind) GroupName() string {
	if k.Group == "" {
		return Group
	}
	return k.Group
}

// Served is k's served versions, the stored one first.
func (k Kind) Served() []string {
	if len(k.APIVersions) == 0 {
		return Versions
	}
	return k.APIVersions
}

// Categories group the kinds for `kubectl get istio-io`, as Istio's do.
var Categories = []string{"istio-io", "networking-istio-io"}

// The document types below are the fields of apiextensions.k8s.io/v1 this
// generator writes; the apiextensions module itself stays out of lanemesh's
// dependencies.

type document struct {
	APIVersion string   `yaml:"apiVersion"`
	Kind       string   `yaml:"kind"`
	Metadata   metadata `yaml:"metadata"`
	Spec       crdSpec  `yaml:"spec"`
}

type metadata struct {
	Name   string            `yaml:"name"`
	Labels map[string]string `yaml:"labels,omitempty"`
}

type crdSpec struct {
	Group    string    `yaml:"group"`
	Names    names     `yaml:"names"`
	Scope    string    `yaml:"scope"`
	Versions []version `yaml:"versions"`
}

type names struct {
	Kind       string   `yaml:"kind"`
	ListKind   string   `yaml:"listKind"`
	Plural     string   `yaml:"plural"`
	Singular   string   `yaml:"singular"`
	ShortNames []string `yaml:"shortNames,omitempty"`
	Categories []string `yaml:"categories,omitempty"`
}

type version struct {
	Name         string         `yaml:"name"`
	Served       bool           `yaml:"served"`
	Storage      bool           `yaml:"storage"`
	Columns      []Column       `yaml:"additionalPrinterColumns,omitempty"`
	Subresources map[string]any `yaml:"subresources"`
	Schema       versionSchema  `yaml:"schema"`
}

type versionSchema struct {
	OpenAPIV3Schema *Schema `yaml:"openAPIV3Schema"`
}

// ObjectSchema is the whole openAPIV3Schema of k: apiVersion, kind,
// metadata (the apiserver's own), spec from the api type, and status.
func ObjectSchema(k Kind) (*Schema, error) {
	f, ok := k.Type.FieldByName("Spec")
	if !ok {
		return nil, fmt.Errorf("%s has no Spec field", k.Type)
	}
	spec, err := SchemaOf(f.Type)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", k.Kind, err)
	}
	spec.Description = "The body of the " + k.Kind + ", as Istio's " + k.Kind + " reference defines it."
	if k.Kind == "VirtualService" {
		spec.Description += " Routes may also carry ASM's fallback: {target: {host, subset}}."
	}
	return &Schema{
		Type: "object",
		Properties: map[string]*Schema{
			"apiVersion": {Type: "string"},
			"kind":       {Type: "string"},
			"metadata":   {Type: "object"},
			"spec":       spec,
			"status":     StatusSchema(),
		},
	}, nil
}

// CRD returns the CustomResourceDefinition of k as a YAML-ready value.
func CRD(k Kind) (any, error) {
	s, err := ObjectSchema(k)
	if err != nil {
		return nil, err
	}
	d := document{
		APIVersion: "apiextensions.k8s.io/v1",
		Kind:       "CustomResourceDefinition",
		Metadata: metadata{Name: k.Plural + "." + k.GroupName(),
			Labels: map[string]string{"app.kubernetes.io/part-of": "lanemesh"}},
		Spec: crdSpec{
			Group: k.GroupName(),
			Names: names{Kind: k.Kind, ListKind: k.Kind + "List", Plural: k.Plural, Singular: k.Singular,
				ShortNames: k.ShortNames},
			Scope: "Namespaced",
		},
	}
	if k.GroupName() == Group {
		d.Spec.Names.Categories = Categories
	}
	if k.Cluster {
		d.Spec.Scope = "Cluster"
	}
	for i, v := range k.Served() {
		d.Spec.Versions = append(d.Spec.Versions, version{
			Name: v, Served: true, Storage: i == 0,
			Columns: k.Columns,
			// The status subresource lets the control plane write
			// status.validationMessages without touching spec, and
			// keeps users' spec writes from overwriting status.
			Subresources: map[string]any{"status": map[string]any{}},
			Schema:       versionSchema{OpenAPIV3Schema: s},
		})
	}
	return d, nil
}

// Generate returns every CRD as one multi-document YAML stream.
func Generate() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString("# Generated by internal/crd from the api types; do not edit.\n" +
		"# Regenerate with: go test ./internal/crd -update\n")
	for _, k := range Kinds {
		d, err := CRD(k)
		if err != nil {
			return nil, err
		}
		buf.WriteString("---\n")
		enc := yaml.NewEncoder(&buf)
		enc.SetIndent(2)
		if err := enc.Encode(d); err != nil {
			return nil, fmt.Errorf("%s: %w", k.Kind, err)
		}
		if err := enc.Close(); err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), nil
}
