package inject

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// update rewrites testdata/*.golden.json from Patch's output. Only commit a
// changed golden file if you understand the change: it is what every
// injected pod gets.
var update = flag.Bool("update", false, "rewrite testdata/*.golden.json")

// goldenCase is one testdata/*.yaml file.
type goldenCase struct {
	NamespaceLabels map[string]string `json:"namespaceLabels"`
	Config          struct {
		Image      string  `json:"image"`
		XDSAddress string  `json:"xdsAddress"`
		Capture    Capture `json:"capture"`
		BindPodIP  bool    `json:"bindPodIP"`
	} `json:"config"`
	Pod corev1.Pod `json:"pod"`
}

// TestGolden: each case's patch equals its golden file, applies cleanly
// to the pod, gives a pod with the sidecar, and a second Patch of the
// result is empty (idempotent).
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no cases: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".yaml"), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var c goldenCase
			if err := yaml.UnmarshalStrict(raw, &c); err != nil {
				t.Fatal(err)
			}
			cfg := Config{Image: c.Config.Image, XDSAddress: c.Config.XDSAddress, Capture: c.Config.Capture, BindPodIP: c.Config.BindPodIP}
			ops, err := Patch(&c.Pod, c.NamespaceLabels, cfg)
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.MarshalIndent(ops, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := strings.TrimSuffix(f, ".yaml") + ".golden.json"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (create it with -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("patch differs from %s (regenerate with -update if intended):\n%s", golden, got)
			}
			patched := applyPatch(t, &c.Pod, got)
			if n := count(patched.Spec.Containers, ProxyContainer); n != 1 {
				t.Errorf("%d %s containers after the patch", n, ProxyContainer)
			}
			again, err := Patch(patched, c.NamespaceLabels, cfg)
			if err != nil || again != nil {
				t.Errorf("second Patch: %v, %v; want nothing (idempotent)", again, err)
			}
		})
	}
}

func applyPatch(t *testing.T, pod *corev1.Pod, patch []byte) *corev1.Pod {
	t.Helper()
	doc, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	p, err := jsonpatch.DecodePatch(patch)
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.Apply(doc)
	if err != nil {
		t.Fatalf("the patch does not apply: %v", err)
	}
	var res corev1.Pod
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatal(err)
	}
	return &res
}

func count(cs []corev1.Container, name string) int {
	n := 0
	for _, c := range cs {
		if c.Name == name {
			n++
		}
	}
	return n
}
