package proxy

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"testing"

	corsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/lanemesh/lanemesh/internal/meshxds"
)

// FuzzRulesAgree changes fields the proxy reads in a valid base, as the
// fuzzer's bytes choose, and holds xdsrules and the builders to Validate
// (see agree).
func FuzzRulesAgree(f *testing.F) {
	for _, seed := range []string{"\x00\x00\x00", "\x01\x02\x03\x04\x05\x06\x07", "\x05\x09\x01\x01\x01\x01\x02\x03\x01", "\x04\xff\x10\x03\x02\x07\x01\x00\x06\x02"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		mutationAgrees(t, b)
	})
}

// TestRulesAgreeOnMutations is FuzzRulesAgree over a fixed series of
// random inputs, so that plain go test covers many changes.
func TestRulesAgreeOnMutations(t *testing.T) {
	n := 3000
	if testing.Short() {
		n = 300
	}
	rng := rand.New(rand.NewPCG(14, 2026))
	for i := range n {
		b := make([]byte, 4+rng.IntN(40))
		for j := range b {
			b[j] = byte(rng.UintN(256))
		}
		if !t.Run(fmt.Sprintf("%x", b), func(t *testing.T) { mutationAgrees(t, b) }) {
			t.Fatalf("mutation %d of %d disagrees (rerun it with go test -run 'TestRulesAgreeOnMutations/%x')", i, n, b)
		}
	}
}

var (
	fuzzBasesOnce sync.Once
	fuzzBases     []*meshxds.Resources
)

// mutationAgrees changes a copy of the base b[0] chooses as the rest of b
// chooses, and checks agree on it.
func mutationAgrees(t *testing.T, b []byte) {
	fuzzBasesOnce.Do(func() { fuzzBases = bases(t) })
	if len(b) == 0 {
		return
	}
	c := &chooser{b: b}
	res := cloneResources(fuzzBases[c.intn(len(fuzzBases))])
	var what []string
	for range 1 + c.intn(3) {
		// A kind first, then a position in its resources: clusters have
		// many positions, and the route configuration's matter as much.
		kinds := [][]proto.Message{each(res.Clusters), each(res.Endpoints), each(res.Listeners), each(res.Routes)}
		var ps []position
		for _, m := range kinds[c.intn(len(kinds))] {
			ps = positions(m.ProtoReflect(), ps)
		}
		if len(ps) == 0 {
			continue
		}
		what = append(what, ps[c.intn(len(ps))].mutate(c))
	}
	agree(t, res, strings.Join(what, "; "))
}

// position is a place in a resource that mutationAgrees may change: a
// field the proxy reads (index -1, no key), one element of it (index), or
// one entry (key).
type position struct {
	m     protoreflect.Message
	fd    protoreflect.FieldDescriptor
	index int
	key   protoreflect.MapKey
}

// positions appends to out every position of m and of the messages below
// it along fields the proxy reads, so that a change is as likely to hit a
// route's match as a cluster's name.
func positions(m protoreflect.Message, out []position) []position {
	for _, fd := range readFieldsOf(m) {
		out = append(out, position{m: m, fd: fd, index: -1})
		switch {
		case fd.IsList():
			l := m.Get(fd).List()
			for i := range l.Len() {
				out = append(out, position{m: m, fd: fd, index: i})
				if fd.Message() != nil {
					out = positions(l.Get(i).Message(), out)
				}
			}
		case fd.IsMap():
			m.Get(fd).Map().Range(func(k protoreflect.MapKey, v protoreflect.Value) bool {
				out = append(out, position{m: m, fd: fd, index: -1, key: k})
				if fd.MapValue().Message() != nil {
					out = positions(v.Message(), out)
				}
				return true
			})
		case fd.Message() != nil && m.Has(fd):
			out = positions(m.Get(fd).Message(), out)
		}
	}
	return out
}

// mutate changes the value at p.
func (p position) mutate(c *chooser) string {
	name := string(p.m.Descriptor().Name()) + "." + string(p.fd.Name())
	switch {
	case p.index >= 0:
		l := p.m.Mutable(p.fd).List()
		if p.fd.Message() != nil {
			return fmt.Sprintf("%s[%d]: %s", name, p.index, mutateLeafOrMessage(l.Get(p.index).Message(), c, 0))
		}
		v := interesting(p.fd, c)
		l.Set(p.index, v)
		return fmt.Sprintf("%s[%d] = %v", name, p.index, v)
	case p.key.IsValid():
		mp := p.m.Mutable(p.fd).Map()
		if c.intn(3) == 0 || p.fd.MapValue().Message() == nil {
			mp.Clear(p.key)
			return fmt.Sprintf("%s[%v] deleted", name, p.key)
		}
		return fmt.Sprintf("%s[%v]: %s", name, p.key, mutateLeafOrMessage(mp.Mutable(p.key).Message(), c, 0))
	}
	return mutateField(p.m, p.fd, c, 0)
}

// chooser makes the mutator's choices from bytes, a byte each; once they
// run out every choice is the first.
type chooser struct{ b []byte }

func (c *chooser) intn(n int) int {
	if n <= 1 || len(c.b) == 0 {
		return 0
	}
	v := int(c.b[0])
	c.b = c.b[1:]
	return v % n
}

// readFieldsByType are the fields of testdata/read-fields.txt by message
// type ("go-control-plane/envoy/config/route/v3.Route"), in a normal form
// that a field's proto name has too: lower case, no underscores.
var readFieldsByType = sync.OnceValue(func() map[string]map[string]bool {
	out := map[string]map[string]bool{}
	for f := range readFieldSet() {
		i := strings.LastIndexByte(f, '.')
		typ, field := f[:i], f[i+1:]
		if out[typ] == nil {
			out[typ] = map[string]bool{}
		}
		out[typ][normalName(field)] = true
	}
	return out
})

func normalName(s string) string { return strings.ToLower(strings.ReplaceAll(s, "_", "")) }

// readFieldsOf returns the fields of m the proxy reads.
func readFieldsOf(m protoreflect.Message) []protoreflect.FieldDescriptor {
	t := reflect.TypeOf(m.Interface())
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	read := readFieldsByType()[shortPackage(t.PkgPath())+"."+t.Name()]
	var out []protoreflect.FieldDescriptor
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		if fd := fields.Get(i); read[normalName(string(fd.Name()))] {
			out = append(out, fd)
		}
	}
	return out
}

// mutateMessage changes one field the proxy reads in m, or in a message
// below it, and says which.
func mutateMessage(m protoreflect.Message, c *chooser, depth int) string {
	fields := readFieldsOf(m)
	if len(fields) == 0 || depth > 10 {
		return string(m.Descriptor().Name()) + " (unchanged)"
	}
	return mutateField(m, fields[c.intn(len(fields))], c, depth)
}

// mutateField changes field fd of m as a whole: clears it, sets it, or
// adds an element or entry.
func mutateField(m protoreflect.Message, fd protoreflect.FieldDescriptor, c *chooser, depth int) string {
	name := string(m.Descriptor().Name()) + "." + string(fd.Name())
	switch {
	case fd.IsList():
		l := m.Mutable(fd).List()
		switch k := c.intn(4); {
		case k == 0:
			m.Clear(fd)
			return name + " cleared"
		case k == 1 || l.Len() == 0:
			if fd.Message() != nil {
				v := l.NewElement()
				l.Append(v)
				return name + " appended: " + mutateLeafOrMessage(v.Message(), c, depth)
			}
			v := interesting(fd, c)
			l.Append(v)
			return fmt.Sprintf("%s appended %v", name, v)
		default:
			i := c.intn(l.Len())
			if fd.Message() != nil {
				return fmt.Sprintf("%s[%d]: %s", name, i, mutateLeafOrMessage(l.Get(i).Message(), c, depth))
			}
			v := interesting(fd, c)
			l.Set(i, v)
			return fmt.Sprintf("%s[%d] = %v", name, i, v)
		}
	case fd.IsMap():
		mp := m.Mutable(fd).Map()
		key := []string{"", "k", "envoy.filters.http.cors", "lanemesh"}[c.intn(4)]
		mk := protoreflect.ValueOfString(key).MapKey()
		if c.intn(4) == 0 {
			m.Clear(fd)
			return name + " cleared"
		}
		if fd.MapValue().Message() == nil {
			mp.Set(mk, interesting(fd.MapValue(), c))
			return fmt.Sprintf("%s[%q] set", name, key)
		}
		if !mp.Has(mk) {
			mp.Set(mk, mp.NewValue())
		}
		return fmt.Sprintf("%s[%q]: %s", name, key, mutateLeafOrMessage(mp.Get(mk).Message(), c, depth))
	case fd.Message() != nil:
		if c.intn(5) == 0 {
			m.Clear(fd)
			return name + " cleared"
		}
		if leaf, ok := leafValue(fd.Message().FullName(), c); ok {
			m.Set(fd, leaf)
			return fmt.Sprintf("%s = %v", name, leaf)
		}
		return name + ": " + mutateLeafOrMessage(m.Mutable(fd).Message(), c, depth)
	default:
		if c.intn(5) == 0 {
			m.Clear(fd)
			return name + " cleared"
		}
		v := interesting(fd, c)
		m.Set(fd, v)
		return fmt.Sprintf("%s = %v", name, v)
	}
}

// mutateLeafOrMessage changes m: a well-known value as a whole, the CORS
// policy in an Any, or a field below it.
func mutateLeafOrMessage(m protoreflect.Message, c *chooser, depth int) string {
	switch m.Descriptor().FullName() {
	case "google.protobuf.Any":
		a := m.Interface().(*anypb.Any)
		var p corsv3.CorsPolicy
		if a.UnmarshalTo(&p) != nil {
			if c.intn(2) == 0 {
				return "Any left alone"
			}
			p = corsv3.CorsPolicy{}
		}
		what := mutateMessage(p.ProtoReflect(), c, depth+1)
		n, err := anypb.New(&p)
		if err != nil {
			panic(err)
		}
		a.TypeUrl, a.Value = n.TypeUrl, n.Value
		return "CorsPolicy " + what
	case "google.protobuf.Duration", "google.protobuf.UInt32Value", "google.protobuf.UInt64Value",
		"google.protobuf.BoolValue", "google.protobuf.DoubleValue", "google.protobuf.Struct":
		return string(m.Descriptor().Name()) + " left alone"
	}
	return mutateMessage(m, c, depth+1)
}

// leafValue returns a changed value of a well-known message type.
func leafValue(name protoreflect.FullName, c *chooser) (protoreflect.Value, bool) {
	switch name {
	case "google.protobuf.Duration":
		d := []*durationpb.Duration{{Seconds: -1}, {}, {Nanos: 1}, {Seconds: 1}, {Seconds: 1, Nanos: -1}, {Seconds: 1e12}}[c.intn(6)]
		return protoreflect.ValueOfMessage(d.ProtoReflect()), true
	case "google.protobuf.UInt32Value", "google.protobuf.UInt64Value", "google.protobuf.BoolValue", "google.protobuf.DoubleValue":
		mt, err := protoregistryFind(name)
		if err != nil {
			return protoreflect.Value{}, false
		}
		w := mt.New()
		fd := w.Descriptor().Fields().ByName("value")
		w.Set(fd, interesting(fd, c))
		return protoreflect.ValueOfMessage(w), true
	}
	return protoreflect.Value{}, false
}

var numbers = []uint64{0, 1, 2, 99, 100, 101, 128, 129, 200, 599, 600, 1024, 1025, 65535, 65536, 5000011, 5000012, 8388608, 8388609, math.MaxUint32}

var strs = []string{"", "x", "a\nb", "\x00", "x\r", "/p/", "/p", "?", "#a", "/", "é", "*", "envoy.filters.http.cors",
	"envoy.retry_host_predicates.previous_hosts", strings.Repeat("h", 16385), strings.Repeat("q", 1025)}

// interesting returns a value for fd near the bounds of Envoy's rules.
func interesting(fd protoreflect.FieldDescriptor, c *chooser) protoreflect.Value {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(strs[c.intn(len(strs))])
	case protoreflect.BytesKind:
		return protoreflect.ValueOfBytes([]byte(strs[c.intn(len(strs))]))
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(c.intn(2) == 1)
	case protoreflect.EnumKind:
		return protoreflect.ValueOfEnum(protoreflect.EnumNumber([]int32{0, 1, 2, 3, 4, 5, 6, -1, 99}[c.intn(9)]))
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32([]int32{0, 1, -1, 100, 65536, math.MaxInt32, math.MinInt32}[c.intn(7)])
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64([]int64{0, 1, -1, 100, 1 << 40, math.MinInt64}[c.intn(6)])
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32(uint32(numbers[c.intn(len(numbers))]))
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return protoreflect.ValueOfUint64(numbers[c.intn(len(numbers))])
	case protoreflect.FloatKind:
		return protoreflect.ValueOfFloat32([]float32{-1, 0, 50, 100, 100.5, float32(math.NaN())}[c.intn(6)])
	case protoreflect.DoubleKind:
		return protoreflect.ValueOfFloat64([]float64{-1, 0, 50, 100, 100.5, math.NaN(), math.Inf(1)}[c.intn(7)])
	}
	panic(fmt.Sprintf("no interesting values of %v", fd.Kind()))
}

func protoregistryFind(name protoreflect.FullName) (protoreflect.MessageType, error) {
	return protoregistry.GlobalTypes.FindMessageByName(name)
}

func each[T proto.Message](items []T) []proto.Message {
	out := make([]proto.Message, len(items))
	for i, m := range items {
		out[i] = m
	}
	return out
}
