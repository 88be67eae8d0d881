package kube

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/lanemesh/lanemesh/internal/config"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
)

// TestRunWithoutAPIServer: an API server that cannot be reached is said to
// be unreachable; it was "install lanemesh first", which sent the user to
// reinstall a cluster that was only down.
func TestRunWithoutAPIServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there now
	s, err := New(Options{Config: &rest.Config{Host: host}})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Run(t.Context(), nil, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "cannot read the API server's resources at "+host) || strings.Contains(err.Error(), "install") {
		t.Errorf("Run: %v, want it to say the API server at %s cannot be read", err, host)
	}
}

// TestDiffOrder: changes are tried oldest first, whatever their names, so
// that of two conflicting objects the older gets in, as in Istio, and a
// restarted control plane builds what the one before it built; objects
// created in the same second go in kind order (what others refer to
// first), then by name.
func TestDiffOrder(t *testing.T) {
	at := func(s int) time.Time { return time.Date(2026, 12, 8, 3, 0, s, 0, time.UTC) }
	vs := func(name string) objKey { return objKey{"VirtualService", "p8", name} }
	dr := objKey{"DestinationRule", "p8", "svca"}
	gone := objKey{"VirtualService", "p8", "gone"}
	want := map[objKey]any{vs("svca"): 1, vs("aa-svca"): 2, dr: 3, vs("zz"): 4}
	created := map[objKey]time.Time{vs("svca"): at(1), vs("aa-svca"): at(2), dr: at(3), vs("zz"): at(3)}
	var got []string
	for _, c := range diff(map[objKey]any{gone: 0}, want, created) {
		got = append(got, c.key.kind+"/"+c.key.name)
	}
	if s := strings.Join(got, " "); s != "VirtualService/gone VirtualService/svca VirtualService/aa-svca DestinationRule/svca VirtualService/zz" {
		t.Errorf("order %s; want the deletion, then oldest first, then DestinationRule before VirtualService", s)
	}
}

// TestFindingsNameNoLine: an object read from the API server is re-encoded
// on one line, so its findings name the object and the field, not line 1.
func TestFindingsNameNoLine(t *testing.T) {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
		"metadata": map[string]any{"name": "svca", "namespace": "p8"},
		"spec": map[string]any{"hosts": []any{"svca"}, "http": []any{map[string]any{
			"match": []any{map[string]any{"uri": map[string]any{"regex": "("}}},
			"route": []any{map[string]any{"destination": map[string]any{"host": "svca"}}}}}},
	}}
	obj, diags := decodeIstio(u, config.Options{})
	c := &config.Config{}
	if obj != nil {
		c.Put(obj)
	}
	all := append(diags, config.Analyze(c)...)
	if !all.HasErrors() {
		t.Fatal("a bad regex drew no error")
	}
	for _, d := range all {
		if s := d.String(); strings.Contains(s, "svca:") || d.Line != 0 {
			t.Errorf("finding names a line: %s", s)
		}
	}
}
