package scenario

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRoundTrip: every rule scenario parses, and Format with its own want
// section gives the file back byte for byte, so -update rewrites nothing
// but the want section.
func TestRoundTrip(t *testing.T) {
	files, _ := filepath.Glob("../explain/testdata/rules/*.txt")
	if len(files) == 0 {
		t.Fatal("no rule scenarios")
	}
	for _, path := range files {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		f, err := Parse(string(raw))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if len(f.Calls) == 0 || f.Config == "" {
			t.Errorf("%s: %d requests, %d bytes of config", path, len(f.Calls), len(f.Config))
		}
		if got := f.Format(f.Want); got != string(raw) {
			t.Errorf("%s does not round-trip", path)
		}
	}
}

func TestParseRequest(t *testing.T) {
	f, err := Parse("-- requests --\nsidecar prod app=a,version=v2 GET http://x/ x-a: 1; x-b: 2\n")
	if err != nil {
		t.Fatal(err)
	}
	c := f.Calls[0]
	if c.Proxy.Role != "sidecar" || c.Proxy.Namespace != "prod" || c.Proxy.Labels["version"] != "v2" || c.Method != "GET" ||
		c.URL != "http://x/" || strings.Join(c.Headers, "|") != "x-a: 1|x-b: 2" {
		t.Fatalf("parsed %+v", c)
	}
	for _, bad := range []string{"sidecar prod GET http://x/", "sidecar prod app GET http://x/"} {
		if _, err := Parse("-- requests --\n" + bad + "\n"); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}
