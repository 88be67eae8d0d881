package config

import (
	"encoding"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// maxNodes bounds how many YAML nodes one file may expand to, so that an
// alias bomb ("billion laughs"), or many of them, is rejected instead of
// eating the machine.
const maxNodes = 200_000

// bytesPerNode is what a scalar's length weighs against maxNodes: a long
// string repeated by aliases costs as much as the nodes its bytes would
// fill, so that a few kilobytes of aliases cannot expand to gigabytes.
const bytesPerNode = 64

// scalarCost is what a node weighs beyond the one every node costs.
func scalarCost(n *yaml.Node) int {
	if n.Kind != yaml.ScalarNode {
		return 0
	}
	return len(n.Value) / bytesPerNode
}

// decoder turns a YAML node tree into an api type, strictly: an unknown
// field, a value of the wrong type or a duplicate key is an error naming the
// line and the field path. It records the line of every field it sees, so
// that later checks can point at lines too.
type decoder struct {
	lines     map[string]int
	errs      []fieldError
	budget    *int // nodes left for the whole file, shared by its objects
	exhausted bool // the budget ran out while decoding this object
	shapes    map[reflect.Type]*shape
}

// fieldError is a decoding error at one field.
type fieldError struct {
	line int
	path string
	msg  string
	hint string
	code string
}

// newDecoder returns a decoder for one object; shapes caches the struct
// shapes across the objects of a file.
func newDecoder(budget *int, shapes map[reflect.Type]*shape) *decoder {
	return &decoder{lines: map[string]int{}, budget: budget, shapes: shapes}
}

func (d *decoder) fail(n *yaml.Node, path, code, hint, format string, args ...any) {
	d.errs = append(d.errs, fieldError{line: n.Line, path: path, code: code, hint: hint, msg: fmt.Sprintf(format, args...)})
}

// decode fills v (addressable) from n. path is the field path of n.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if *d.budget--; *d.budget < 0 {
		if !d.exhausted {
			d.exhausted = true
			d.fail(n, path, CodeSchema, "split the file or remove YAML aliases", "file is too large (over %d YAML nodes once aliases are expanded)", maxNodes)
		}
		return
	}
	if path != "" {
		d.lines[path] = n.Line
	}
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if *d.budget -= scalarCost(n); *d.budget < 0 { // a long string repeated by aliases
		if !d.exhausted {
			d.exhausted = true
			d.fail(n, path, CodeSchema, "split the file or remove YAML aliases", "file is too large (over %d YAML nodes once aliases are expanded, a string counting one per %d bytes)", maxNodes, bytesPerNode)
		}
		return
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		v.Set(reflect.Zero(v.Type()))
		return
	}
	if u, ok := v.Addr().Interface().(encoding.TextUnmarshaler); ok {
		d.decodeText(n, u, path)
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		*d.budget++ // the pointee is the same node, counted once
		d.decode(n, v.Elem(), path)
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.Map:
		d.decodeMap(n, v, path)
	case reflect.Slice:
		d.decodeSlice(n, v, path)
	default:
		d.decodeScalar(n, v, path)
	}
}

func (d *decoder) decodeText(n *yaml.Node, u encoding.TextUnmarshaler, path string) {
	if n.Kind != yaml.ScalarNode {
		d.fail(n, path, CodeSchema, "", "expected a single value, got %s", describe(n))
		return
	}
	if err := u.UnmarshalText([]byte(n.Value)); err != nil {
		d.fail(n, path, CodeSchema, "", "%v", err)
	}
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, CodeSchema, "", "expected a mapping (key: value lines), got %s", describe(n))
		return
	}
	sh := d.shape(v.Type())
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		key := k.Value
		fp := joinPath(path, key)
		if seen[key] {
			d.fail(k, fp, CodeSchema, "remove one of them", "field %q is set twice", key)
			continue
		}
		seen[key] = true
		f, ok := sh.fields[key]
		switch {
		case k.Tag == "!!merge":
			d.fail(k, path, CodeSchema, "write the fields out in full", "YAML merge keys (<<) are not supported")
		case k.Kind != yaml.ScalarNode:
			d.fail(k, path, CodeSchema, "", "field names must be plain strings, got %s", describe(k))
		case !ok:
			d.fail(k, fp, CodeSchema, suggest(key, sh.names), "unknown field %q", key)
		case f.ignored:
			d.lines[fp] = k.Line
		case f.unsupported:
			d.fail(k, fp, CodeUnsupported, "remove it; lanemesh would otherwise ignore it silently", "field %q is valid Istio/Kubernetes but lanemesh does not implement it yet", key)
		default:
			d.decode(val, v.FieldByIndex(f.index), fp)
		}
	}
}

func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, CodeSchema, "", "expected a mapping (key: value lines), got %s", describe(n))
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMapWithSize(v.Type(), len(n.Content)/2))
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.fail(k, path, CodeSchema, "", "map keys must be plain strings, got %s", describe(k))
			continue
		}
		key := reflect.ValueOf(k.Value)
		fp := path + "[" + strconv.Quote(k.Value) + "]"
		if v.MapIndex(key).IsValid() {
			d.fail(k, fp, CodeSchema, "remove one of them", "key %q is set twice", k.Value)
			continue
		}
		elem := reflect.New(v.Type().Elem()).Elem()
		d.decode(val, elem, fp)
		v.SetMapIndex(key, elem)
	}
}

func (d *decoder) decodeSlice(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.SequenceNode {
		d.fail(n, path, CodeSchema, "write it as a list (lines starting with \"- \")", "expected a list, got %s", describe(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		d.decode(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
	}
	v.Set(s)
}

func (d *decoder) decodeScalar(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode {
		d.fail(n, path, CodeSchema, "", "expected a single value, got %s", describe(n))
		return
	}
	switch v.Kind() {
	case reflect.String:
		if n.Tag != "!!str" {
			d.fail(n, path, CodeSchema, fmt.Sprintf("quote it: \"%s\"", n.Value), "expected a string, got %s", describe(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		b, err := strconv.ParseBool(n.Value)
		if n.Tag != "!!bool" || err != nil {
			d.fail(n, path, CodeSchema, "write true or false", "expected a boolean, got %s", describe(n))
			return
		}
		v.SetBool(b)
	case reflect.Int32, reflect.Int64, reflect.Int:
		i, err := strconv.ParseInt(n.Value, 0, v.Type().Bits())
		if n.Tag != "!!int" || err != nil {
			d.fail(n, path, CodeSchema, "", "expected a whole number, got %s", describe(n))
			return
		}
		v.SetInt(i)
	case reflect.Uint32, reflect.Uint64, reflect.Uint:
		u, err := strconv.ParseUint(n.Value, 0, v.Type().Bits())
		if n.Tag != "!!int" || err != nil {
			d.fail(n, path, CodeSchema, "", "expected a whole number from 0 to %d, got %s", uint64(math.MaxUint32), describe(n))
			return
		}
		v.SetUint(u)
	case reflect.Float64:
		f, err := strconv.ParseFloat(n.Value, 64)
		if (n.Tag != "!!int" && n.Tag != "!!float") || err != nil {
			d.fail(n, path, CodeSchema, "", "expected a number, got %s", describe(n))
			return
		}
		v.SetFloat(f)
	default:
		// Only reached if api gains a field type this decoder does not know.
		d.fail(n, path, CodeSchema, "report this as a lanemesh bug", "cannot decode into %s", v.Type())
	}
}

// describe names what a node is, for messages ("the number 5", "a list").
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!int", "!!float":
			return "the number " + n.Value
		case "!!bool":
			return "the boolean " + n.Value
		case "!!null":
			return "null"
		default:
			return strconv.Quote(n.Value)
		}
	}
	return "an alias"
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// shape is what the decoder knows of a struct type: its YAML field names.
type shape struct {
	fields map[string]field
	names  []string // accepted names, for "did you mean"
}

type field struct {
	index       []int
	ignored     bool
	unsupported bool
}

func (d *decoder) shape(t reflect.Type) *shape {
	if sh, ok := d.shapes[t]; ok {
		return sh
	}
	sh := &shape{fields: map[string]field{}}
	d.addFields(sh, t, nil)
	sort.Strings(sh.names)
	d.shapes[t] = sh
	return sh
}

func (d *decoder) addFields(sh *shape, t reflect.Type, index []int) {
	for i := range t.NumField() {
		f := t.Field(i)
		idx := append(append([]int(nil), index...), i)
		if tag, ok := f.Tag.Lookup("lanemesh"); ok {
			how, name, _ := strings.Cut(tag, "=")
			sh.fields[name] = field{ignored: how == "ignored", unsupported: how == "unsupported"}
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case name == "-" || !f.IsExported():
		case f.Anonymous && opts == "inline":
			d.addFields(sh, f.Type, idx)
		default:
			sh.fields[name] = field{index: idx}
			sh.names = append(sh.names, name)
		}
	}
}

// suggest proposes the accepted name closest to a misspelt one.
func suggest(key string, names []string) string {
	best, bestDist := "", 3
	for _, n := range names {
		if dist := editDistance(strings.ToLower(key), strings.ToLower(n)); dist < bestDist {
			best, bestDist = n, dist
		}
	}
	if best != "" {
		return fmt.Sprintf("did you mean %q?", best)
	}
	if len(names) == 0 {
		return "remove it"
	}
	return "remove it; accepted fields here: " + strings.Join(names, ", ")
}

// editDistance is the Levenshtein distance of two short strings.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
