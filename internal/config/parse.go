// Package config reads lanemesh's configuration — Istio's traffic kinds with
// ASM's fallback, and the Kubernetes kinds local mode runs — strictly, and
// analyzes it.
//
// Parse and Analyze are pure: they take bytes and objects and return objects
// and Diagnostics, with no I/O, clock or globals, so that `lanemesh analyze`,
// `lanemesh apply` and the control plane's reload all judge a configuration
// the same way. ReadPaths is the one place that touches the file system.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/lanemesh/lanemesh/api"
	"go.yaml.in/yaml/v3"
)

// Config is a set of objects, each kind sorted by namespace and name.
type Config struct {
	Gateways         []*api.Gateway
	VirtualServices  []*api.VirtualService
	DestinationRules []*api.DestinationRule
	ServiceEntries   []*api.ServiceEntry
	WorkloadEntries  []*api.WorkloadEntry
	Services         []*api.Service
	Deployments      []*api.Deployment
	// Lane groups and their lanes (cluster-scoped: Namespace is ""). They
	// take effect through the objects internal/lanes generates from them.
	SwimLaneGroups []*api.ASMSwimLaneGroup
	SwimLanes      []*api.ASMSwimLane
	// LaneEntryPolicies say who may enter a lane at a gateway (entry.go).
	LaneEntryPolicies []*api.LaneEntryPolicy
}

// kind says how to read one accepted kind.
type kind struct {
	versions []string // accepted apiVersions
	new      func() any
	// cluster marks a cluster-scoped kind: its objects have no namespace.
	cluster bool
}

var istioVersions = []string{"networking.istio.io/v1", "networking.istio.io/v1beta1", "networking.istio.io/v1alpha3"}

// kinds is the table of accepted kinds. It is read-only.
var kinds = map[string]kind{
	"Gateway":          {istioVersions, func() any { return new(api.Gateway) }, false},
	"VirtualService":   {istioVersions, func() any { return new(api.VirtualService) }, false},
	"DestinationRule":  {istioVersions, func() any { return new(api.DestinationRule) }, false},
	"ServiceEntry":     {istioVersions, func() any { return new(api.ServiceEntry) }, false},
	"WorkloadEntry":    {istioVersions, func() any { return new(api.WorkloadEntry) }, false},
	"Service":          {[]string{"v1"}, func() any { return new(api.Service) }, false},
	"Deployment":       {[]string{"apps/v1"}, func() any { return new(api.Deployment) }, false},
	"ASMSwimLaneGroup": {asmVersions, func() any { return new(api.ASMSwimLaneGroup) }, true},
	"ASMSwimLane":      {asmVersions, func() any { return new(api.ASMSwimLane) }, true},
	"LaneEntryPolicy":  {[]string{LanemeshVersion}, func() any { return new(api.LaneEntryPolicy) }, false},
}

var asmVersions = []string{"istio.alibabacloud.com/v1"}

// ClusterScoped reports whether objects of kind k have no namespace.
func ClusterScoped(k string) bool { return kinds[k].cluster }

// Kinds returns the accepted kinds, sorted.
func Kinds() []string {
	out := make([]string, 0, len(kinds))
	for k := range kinds {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// dns1123 is the shape of a Kubernetes object name (a DNS-1123
// subdomain: dot-separated labels, 253 characters at most) and
// dns1123Label that of a namespace (one label, 63 at most).
const lowerLabelFmt = `[a-z0-9](?:[-a-z0-9]*[a-z0-9])?`

var (
	dns1123      = regexp.MustCompile(`^` + lowerLabelFmt + `(?:\.` + lowerLabelFmt + `)*$`)
	dns1123Label = regexp.MustCompile(`^` + lowerLabelFmt + `$`)
)

// Parse reads every YAML or JSON document in data (named file in messages)
// and appends the objects it decodes to c. Objects with errors are left out;
// each error is a Diagnostic naming file, line, object and field. Kinds
// lanemesh does not enforce are refused; ParseWith can skip them instead.
func (c *Config) Parse(file string, data []byte) Diagnostics {
	return c.ParseWith(file, data, Options{})
}

// ParseWith is Parse with options.
func (c *Config) ParseWith(file string, data []byte, opt Options) Diagnostics {
	p := &parser{c: c, file: file, opt: opt, budget: maxNodes, shapes: map[reflect.Type]*shape{}}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return p.diags
		}
		if err != nil {
			line, msg := syntaxLine(err)
			return append(p.diags, Diagnostic{Level: Error, Code: CodeSyntax, File: file,
				Line: line, Message: "invalid YAML: " + msg,
				Hint: "fix the syntax; nothing from the rest of this file was read"})
		}
		if len(doc.Content) == 0 || doc.Content[0].Tag == "!!null" {
			continue // an empty document: a trailing "---", or only comments
		}
		// The budget bounds what aliases add, not what is written: each
		// document pays for its own nodes, so a large file of plain YAML
		// never runs out, while an alias bomb still does.
		p.budget += countNodes(doc.Content[0])
		p.document(doc.Content[0])
	}
}

// parser holds what one file's documents share.
type parser struct {
	c      *Config
	file   string
	opt    Options
	budget int // YAML nodes left to decode, shared by the file's objects
	shapes map[reflect.Type]*shape
	diags  Diagnostics
}

// document reads one document: an object, or a list of them, as kubectl
// reads it: a `kind: List` (as `kubectl get -o yaml` prints it) or a
// kind's own list (`VirtualServiceList`, as the API returns it), whose
// items are objects or lists again, each with its own line.
func (p *parser) document(root *yaml.Node) {
	kind := scalarField(root, "kind")
	if root.Kind == yaml.MappingNode && kind == "List" && scalarField(root, "apiVersion") == "" {
		p.diags = append(p.diags, Diagnostic{Level: Error, Code: CodeUnknownKind, File: p.file, Line: root.Line, Kind: "List",
			Field: "apiVersion", Message: "apiVersion is missing", Hint: "a List is apiVersion: v1"})
		return
	}
	if root.Kind == yaml.MappingNode && (kind == "List" && strings.HasPrefix(scalarField(root, "apiVersion"), "v1") ||
		len(kind) > len("List") && strings.HasSuffix(kind, "List") && valueOf(root, "items") != nil) {
		items := valueOf(root, "items")
		if items != nil && items.Kind != yaml.SequenceNode {
			p.diags = append(p.diags, Diagnostic{Level: Error, Code: CodeSchema, File: p.file, Line: items.Line, Kind: "List",
				Field: "items", Message: "expected a list of objects, got " + describe(items), Hint: "write items as a list (lines starting with \"- \")"})
			return
		}
		if items != nil {
			for _, item := range items.Content {
				p.document(item)
			}
		}
		return
	}
	p.diags = append(p.diags, p.object(root)...)
}

// countNodes counts the nodes written in a tree, not following aliases.
func countNodes(n *yaml.Node) int {
	count := 1 + scalarCost(n)
	for _, c := range n.Content {
		count += countNodes(c)
	}
	return count
}

// object decodes one object into p.c.
func (p *parser) object(root *yaml.Node) Diagnostics {
	c, file, opt := p.c, p.file, p.opt
	head := Diagnostic{Level: Error, File: file, Line: root.Line}
	if root.Kind != yaml.MappingNode {
		head.Code, head.Message = CodeSchema, "expected an object with apiVersion, kind, metadata and spec, got "+describe(root)
		return Diagnostics{head}
	}
	apiVersion, k := scalarField(root, "apiVersion"), scalarField(root, "kind")
	if meta := mappingField(root, "metadata"); meta != nil {
		head.Name, head.Namespace = scalarField(meta, "name"), scalarField(meta, "namespace")
	}
	info, ok := kinds[k]
	if head.Namespace == "" && !info.cluster {
		head.Namespace = "default"
	}
	head.Kind = k
	switch {
	case ok && slices.Contains(info.versions, apiVersion):
	case isUnsupportedKind(apiVersion, k):
		return Diagnostics{unsupportedKind(head, apiVersion, k, opt)}
	case k == "":
		head.Code, head.Field = CodeUnknownKind, "kind"
		head.Message = "kind is missing"
		head.Hint = "name the object's kind, e.g. kind: VirtualService; lanemesh accepts " + strings.Join(Kinds(), ", ")
		return Diagnostics{head}
	case !ok:
		head.Code, head.Field = CodeUnknownKind, "kind"
		head.Message = fmt.Sprintf("unknown kind %q", k)
		head.Hint = "lanemesh accepts " + strings.Join(Kinds(), ", ")
		if near := nearKind(k); near != "" {
			head.Hint = fmt.Sprintf("did you mean %q? ", near) + head.Hint
		}
		return Diagnostics{head}
	default:
		head.Code, head.Field = CodeUnknownKind, "apiVersion"
		head.Message = fmt.Sprintf("apiVersion %q is not accepted for %s", apiVersion, k)
		head.Hint = "use " + strings.Join(info.versions, " or ")
		return Diagnostics{head}
	}
	obj := info.new()
	d := newDecoder(&p.budget, p.shapes)
	d.decode(root, reflect.ValueOf(obj).Elem(), "")
	var diags Diagnostics
	for _, e := range d.errs {
		diag := head
		diag.Code, diag.Line, diag.Field, diag.Message, diag.Hint = e.code, e.line, e.path, e.msg, e.hint
		diags = append(diags, diag)
	}
	meta := metaOf(obj)
	switch {
	case info.cluster:
		// kubectl and the API server drop the namespace of a
		// cluster-scoped object the same way.
		meta.Namespace, head.Namespace = "", ""
	case meta.Namespace == "":
		meta.Namespace = "default"
	}
	meta.Source = api.Source{File: file, Line: root.Line, Fields: d.lines}
	if !d.exhausted { // else the fields past the budget were not read: no name is no mistake
		diags = append(diags, checkMeta(head, meta)...)
	}
	if diags.HasErrors() {
		for i := range diags {
			diags[i].rejected = obj // for AnalyzeLoaded
		}
		return diags
	}
	if dup := c.add(obj); dup != nil {
		head.Code, head.Message = CodeDuplicate, fmt.Sprintf("%s %s is defined twice", k, meta.Key())
		head.Hint = fmt.Sprintf("the first is at %s:%d; keep one", dup.Source.File, dup.Source.Line)
		return append(diags, head)
	}
	return diags
}

func checkMeta(head Diagnostic, meta *api.ObjectMeta) Diagnostics {
	var diags Diagnostics
	for _, f := range []struct {
		path, value string
		ok          bool
		hint        string
	}{
		{"metadata.name", meta.Name, dns1123.MatchString(meta.Name) && len(meta.Name) <= 253,
			"use lower-case letters, digits, '-' and '.', each dot-separated part starting and ending with a letter or digit, 253 characters at most"},
		{"metadata.namespace", meta.Namespace, dns1123Label.MatchString(meta.Namespace) && len(meta.Namespace) <= 63 || ClusterScoped(head.Kind),
			"use lower-case letters, digits and '-', starting and ending with a letter or digit, 63 characters at most (no dots)"},
	} {
		if f.ok {
			continue
		}
		d := head
		d.Code, d.Field, d.Line = CodeSchema, f.path, meta.Source.LineOf(f.path)
		d.Message = fmt.Sprintf("%q is not a valid %s", f.value, strings.TrimPrefix(f.path, "metadata."))
		d.Hint = f.hint
		diags = append(diags, d)
	}
	return diags
}

// ForgetLines drops the lines obj was read from, for an object whose
// source has no lines a user could look up (an API server's object,
// re-encoded): its findings then name the object and field alone.
func ForgetLines(obj any) {
	src := &metaOf(obj).Source
	src.Line, src.Fields = 0, nil
}

// metaOf returns the metadata of an api object.
func metaOf(obj any) *api.ObjectMeta {
	return reflect.ValueOf(obj).Elem().FieldByName("Metadata").Addr().Interface().(*api.ObjectMeta)
}

// add inserts obj into its kind's sorted list, or returns the metadata of
// the object of the same kind, namespace and name that is already there.
func (c *Config) add(obj any) *api.ObjectMeta {
	list := c.listOf(obj)
	i, found := find(list, metaOf(obj).Key())
	if found {
		return metaOf(list.Index(i).Interface())
	}
	list.Set(reflect.Append(list, reflect.Zero(list.Type().Elem())))
	reflect.Copy(list.Slice(i+1, list.Len()), list.Slice(i, list.Len()-1))
	list.Index(i).Set(reflect.ValueOf(obj))
	return nil
}

// find returns where key is, or would be inserted, in a list sorted by
// namespace/name.
func find(list reflect.Value, key string) (int, bool) {
	i := sort.Search(list.Len(), func(i int) bool { return metaOf(list.Index(i).Interface()).Key() >= key })
	return i, i < list.Len() && metaOf(list.Index(i).Interface()).Key() == key
}

// listOf returns the slice field of c that holds objects like obj.
func (c *Config) listOf(obj any) reflect.Value {
	cv := reflect.ValueOf(c).Elem()
	for i := range cv.NumField() {
		if cv.Field(i).Type().Elem() == reflect.TypeOf(obj) {
			return cv.Field(i)
		}
	}
	panic(fmt.Sprintf("config: no list for %T", obj)) // kinds and Config disagree: a programming error
}

// reflectDelete returns a new list without element i; the old list's
// backing array is left untouched, since clones may share it.
func reflectDelete(list reflect.Value, i int) reflect.Value {
	out := reflect.MakeSlice(list.Type(), 0, list.Len()-1)
	out = reflect.AppendSlice(out, list.Slice(0, i))
	return reflect.AppendSlice(out, list.Slice(i+1, list.Len()))
}

// Objects returns every object in c, in a stable order (kind, then
// namespace/name).
func (c *Config) Objects() []any {
	var out []any
	cv := reflect.ValueOf(c).Elem()
	for i := range cv.NumField() {
		for j := range cv.Field(i).Len() {
			out = append(out, cv.Field(i).Index(j).Interface())
		}
	}
	return out
}

func scalarField(m *yaml.Node, key string) string {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key && m.Content[i+1].Kind == yaml.ScalarNode {
			return m.Content[i+1].Value
		}
	}
	return ""
}

// valueOf returns the value of key in mapping m, or nil.
func valueOf(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func mappingField(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key && m.Content[i+1].Kind == yaml.MappingNode {
			return m.Content[i+1]
		}
	}
	return nil
}

// syntaxLine splits a yaml.v3 syntax error ("yaml: line 7: mapping values
// are not allowed in this context") into its line and its message.
func syntaxLine(err error) (int, string) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	var line int
	if _, scanErr := fmt.Sscanf(msg, "line %d:", &line); scanErr != nil {
		return 0, msg
	}
	_, rest, _ := strings.Cut(msg, ": ")
	return line, rest
}
