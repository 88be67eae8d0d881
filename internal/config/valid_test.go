package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestValidCorpus runs every file of testdata/valid: configurations Istio
// accepts, written as users write or kubectl prints them. Each must load
// with no Error and no Warning, and yield at least one object, so that a
// check that starts refusing valid input fails here.
func TestValidCorpus(t *testing.T) {
	files, err := filepath.Glob("testdata/valid/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no valid corpus: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".yaml"), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			c := &Config{}
			diags := append(c.Parse(file, data), Analyze(c)...)
			for _, d := range diags {
				if d.Level != Info {
					t.Errorf("%v", d)
				}
			}
			if len(c.Objects()) == 0 {
				t.Error("no object loaded")
			}
		})
	}
}

// TestSkipUnsupportedKinds: with the option, a kind lanemesh does not
// enforce is a Warning naming it, the object is left out, and the rest of
// the file loads; a misspelt kind stays an Error either way.
func TestSkipUnsupportedKinds(t *testing.T) {
	data, err := os.ReadFile("testdata/invalid/kind-peerauthentication.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c := &Config{}
	diags := c.ParseWith("f.yaml", data, Options{SkipUnsupportedKinds: true})
	if len(diags) != 1 || diags[0].Level != Warning || !strings.Contains(diags[0].Message, "PeerAuthentication") ||
		!strings.Contains(diags[0].Message, "security policy") || diags[0].Line != 6 {
		t.Fatalf("got %v, want one Warning naming PeerAuthentication as a security policy at line 6", diags)
	}
	if len(c.VirtualServices) != 1 {
		t.Fatalf("%d VirtualServices loaded, want 1", len(c.VirtualServices))
	}
	refused := (&Config{}).Parse("f.yaml", data)
	if !refused.HasErrors() || !strings.Contains(refused[0].Hint, SkipUnsupportedKindsFlag) {
		t.Fatalf("without the option got %v, want an Error whose hint names %s", refused, SkipUnsupportedKindsFlag)
	}
	typo := []byte("apiVersion: networking.istio.io/v1\nkind: VirtualSevice\nmetadata: {name: a}\n")
	if d := (&Config{}).ParseWith("f.yaml", typo, Options{SkipUnsupportedKinds: true}); !d.HasErrors() || !strings.Contains(d[0].Hint, `"VirtualService"`) {
		t.Fatalf("misspelt kind: got %v, want an Error suggesting VirtualService", d)
	}
}

// TestListItemLines: each item of a kind: List is its own object, and its
// findings name the item's own line.
func TestListItemLines(t *testing.T) {
	data := "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Service\n  metadata: {name: a}\n  spec: {ports: [{port: 80}]}\n" +
		"- apiVersion: v1\n  kind: Service\n  metadata: {name: b}\n  spec: {ports: [{port: 80, bogus: 1}]}\n"
	c := &Config{}
	diags := c.Parse("f.yaml", []byte(data))
	if len(c.Services) != 1 || len(diags) != 1 || diags[0].Line != 11 || diags[0].Name != "b" {
		t.Fatalf("got %d services and %v, want service a and one finding about b at line 11", len(c.Services), diags)
	}
}
