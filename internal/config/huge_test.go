package config

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// hugeInput builds about size bytes of configuration: many services, each
// with a Deployment, a DestinationRule and a VirtualService, like a large
// mesh exported in one file. Every 97th VirtualService routes to port
// 80000; a handful of other problems appear once each. It returns the
// data, the number of bad ports, and the marks of the single problems.
func hugeInput(size int) ([]byte, int) {
	var b strings.Builder
	badPorts := 0
	for i := 0; b.Len() < size; i++ {
		port := 8000
		if i%97 == 96 {
			port, badPorts = 80000, badPorts+1
		}
		fmt.Fprintf(&b, `apiVersion: v1
kind: Service
metadata: {name: svc%[1]d}
spec:
  selector: {app: svc%[1]d}
  ports: [{name: http, port: 8000}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: svc%[1]d-v1}
spec:
  selector: {matchLabels: {app: svc%[1]d, version: v1}}
  template:
    metadata: {labels: {app: svc%[1]d, version: v1}}
    spec:
      containers: [{name: app, image: lanemesh/mock}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: svc%[1]d}
spec:
  host: svc%[1]d.default.svc.cluster.local
  subsets:
    - {name: v1, labels: {version: v1}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: svc%[1]d}
spec:
  hosts: [svc%[1]d.default.svc.cluster.local]
  http:
    - match:
        - headers: {x-lane: {exact: v1}}
      route:
        - destination: {host: svc%[1]d.default.svc.cluster.local, subset: v1, port: {number: %[2]d}}
    - route:
        - destination: {host: svc%[1]d.default.svc.cluster.local, subset: v1}
---
`, i, port)
		if i == 10 {
			b.WriteString(hugeSingles)
		}
	}
	// A syntax error last: nothing of its document may be reported but it.
	b.WriteString("apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: broken\nspec: {hosts: [x], bogus: 1}\n")
	return []byte(b.String()), badPorts
}

// hugeSingles are problems that appear once in the huge input.
const hugeSingles = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: typo}
spec:
  hosts: [typo.example.com]
  http:
    - timeot: 1s
---
apiVersion: networking.k8s.io/v1
kind: Ingres
metadata: {name: nope}
spec: {rules: [{host: x, bogus: 1}]}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-all}
spec: {}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: labels}
spec:
  host: svc1.default.svc.cluster.local
  subsets:
    - {name: v1, labels: {version!: v1}}
---
`

// TestHugeInputStaysReadable: a 10 MB file with thousands of one problem
// and a few others renders in few lines, each distinct problem still
// shown, the repeated one summarised with its count; the node budget for
// aliases does not misfire on plain YAML; and nothing is reported from the
// remains of a document with a syntax error.
func TestHugeInputStaysReadable(t *testing.T) {
	if testing.Short() {
		t.Skip("10 MB input")
	}
	size := 10 << 20
	if raceEnabled {
		size = 1 << 20
	}
	data, badPorts := hugeInput(size)
	start := time.Now()
	c := &Config{}
	diags := c.Parse("huge.yaml", data)
	diags = append(diags, Analyze(c)...)
	elapsed := time.Since(start)
	lines := diags.Render(PerGroup)
	out := strings.Join(lines, "\n")
	t.Logf("%d bytes, %d objects, %d findings, %d lines (%d bytes) of output, parse+analyze %v",
		len(data), len(c.Objects()), len(diags), len(lines), len(out), elapsed)
	if len(lines) > 60 || len(out) > 30_000 {
		t.Errorf("%d lines, %d bytes of output, want at most 60 lines and 30 kB:\n%s", len(lines), len(out), out)
	}
	for _, want := range []string{
		"spec.http[0].route[0].destination.port.number: port number 80000",
		fmt.Sprintf("... and %d more like this (Error [IST0106] VirtualService spec.http[*].route[*].destination.port.number", badPorts-PerGroup),
		`unknown field "timeot"`,
		`unknown kind "Ingres"`,
		"AuthorizationPolicy (security.istio.io/v1) is not enforced",
		`spec.subsets[0].labels["version!"]`,
		"invalid YAML",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	for _, never := range []string{"file is too large", `"bogus"`, "port.number: Referenced"} {
		if strings.Contains(out, never) {
			t.Errorf("output has %q, a consequence of an earlier problem:\n%s", never, out)
		}
	}
}

// TestRenderGroups: findings of one level, code, kind and field shape are
// shown up to the cap, then counted in one line; other groups are whole.
func TestRenderGroups(t *testing.T) {
	var ds Diagnostics
	for i := range 25 {
		ds = append(ds, Diagnostic{Level: Error, Code: CodeSchema, Kind: "VirtualService", Name: fmt.Sprint("vs", i),
			Field: fmt.Sprintf(`spec.http[%d].match[0].headers["x-%d"].exact`, i, i), Message: "bad"})
	}
	ds = append(ds, Diagnostic{Level: Warning, Code: CodeHostNotFound, Kind: "VirtualService", Field: "spec.http[0].route[0].destination.host", Message: "other"})
	lines := ds.Render(10)
	if len(lines) != 12 {
		t.Fatalf("%d lines, want 10 shown + 1 other + 1 summary:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	want := `... and 15 more like this (Error [IST0106] VirtualService spec.http[*].match[*].headers[*].exact: bad)`
	if lines[11] != want {
		t.Fatalf("summary %q, want %q", lines[11], want)
	}
	if got := len(ds.Render(0)); got != 26 {
		t.Fatalf("Render(0) gave %d lines, want all 26", got)
	}
	if got := fieldShape(`a["x]y"].b[12]`); got != "a[*].b[*]" {
		t.Fatalf("fieldShape = %q", got)
	}
}
