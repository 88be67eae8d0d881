package conformance

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	networking "istio.io/api/networking/v1alpha3"
	istioconfig "istio.io/istio/pkg/config"
	"istio.io/istio/pkg/config/crd"
	"istio.io/istio/pkg/config/validation"
	"sigs.k8s.io/yaml"

	lmconfig "github.com/lanemesh/lanemesh/internal/config"
	"github.com/lanemesh/lanemesh/internal/scenario"
)

// A verdict is what one side says of one document.
type verdict struct {
	accept bool
	reason string
}

// istioKinds are the kinds both sides validate, with Istio's message type
// and validation function.
var istioKinds = map[string]struct {
	msg      func() proto.Message
	validate validation.ValidateFunc
}{
	"VirtualService":  {func() proto.Message { return &networking.VirtualService{} }, validation.ValidateVirtualService},
	"DestinationRule": {func() proto.Message { return &networking.DestinationRule{} }, validation.ValidateDestinationRule},
	"Gateway":         {func() proto.Message { return &networking.Gateway{} }, validation.ValidateGateway},
	"ServiceEntry":    {func() proto.Message { return &networking.ServiceEntry{} }, validation.ValidateServiceEntry},
	"WorkloadEntry":   {func() proto.Message { return &networking.WorkloadEntry{} }, validation.ValidateWorkloadEntry},
}

// TestValidationAgreement: for every Istio document of the corpus,
// lanemesh's analyzer accepts it exactly when Istio's validation does.
// lanemesh's ASM `fallback` is removed before Istio sees a document; a
// document lanemesh refuses only for a field it does not implement yet
// (LM0003) is counted apart. Every other disagreement must be listed, with
// its reason, in testdata/known-differences.txt, and every listed one must
// still disagree.
func TestValidationAgreement(t *testing.T) {
	docs := corpus(t)
	known := knownDifferences(t)
	var agree, unimplemented int
	bySource := map[string]int{}
	var unexplained []string
	stillKnown := map[string]bool{}
	for _, d := range docs {
		istio := istioVerdict(d.data)
		lane, onlyUnimplemented := lanemeshVerdict(d.data)
		bySource[d.source]++
		switch {
		case istio.accept == lane.accept:
			agree++
			continue
		case onlyUnimplemented && istio.accept:
			unimplemented++
			continue
		}
		if _, ok := known[d.id]; ok {
			stillKnown[d.id] = true
			continue
		}
		unexplained = append(unexplained, fmt.Sprintf("%s: Istio %s, lanemesh %s", d.id, describe(istio), describe(lane)))
	}
	t.Logf("corpus: %d Istio documents (%s); agree %d (%.1f%%), not implemented by lanemesh %d, known differences %d, unexplained %d",
		len(docs), sources(bySource), agree, 100*float64(agree)/float64(max(len(docs), 1)), unimplemented, len(stillKnown), len(unexplained))
	for _, u := range unexplained {
		t.Errorf("disagreement: %s", u)
	}
	for id := range known {
		if !stillKnown[id] {
			t.Errorf("testdata/known-differences.txt lists %s, which now agrees (or is gone): remove the line", id)
		}
	}
	if len(docs) < 100 {
		t.Errorf("corpus has %d Istio documents; want at least 100", len(docs))
	}
}

func describe(v verdict) string {
	if v.accept {
		return "accepts"
	}
	return "rejects (" + v.reason + ")"
}

func sources(n map[string]int) string {
	var parts []string
	for s, c := range n {
		parts = append(parts, fmt.Sprintf("%s %d", s, c))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// crds is Istio's CRD validation, as the kube-apiserver applies it with
// Istio's CRDs installed: the structural schema (types, oneOf, formats,
// unknown fields) and its CEL rules. TestMain builds it.
var crds *crd.Validator

func TestMain(m *testing.M) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "istio.io/istio").Output()
	if err != nil {
		fmt.Fprintln(os.Stderr, "locating istio.io/istio:", err)
		os.Exit(2)
	}
	istioSrc = strings.TrimSpace(string(out))
	if crds, err = crd.NewValidatorFromFiles(filepath.Join(istioSrc, "manifests/charts/base/files/crd-all.gen.yaml")); err != nil {
		fmt.Fprintln(os.Stderr, "Istio's CRDs:", err)
		os.Exit(2)
	}
	os.Exit(m.Run())
}

// istioSrc is the istio.io/istio module's directory.
var istioSrc string

// withoutFallback is doc with ASM's fallback removed, for Istio.
func withoutFallback(doc []byte) []byte {
	var obj map[string]any
	if yaml.Unmarshal(doc, &obj) != nil {
		return doc
	}
	if spec, ok := obj["spec"].(map[string]any); ok {
		stripFallback(spec)
	}
	out, err := yaml.Marshal(obj)
	if err != nil {
		return doc
	}
	return out
}

// istioVerdict runs a document through what Istio does on kubectl apply:
// the CRD's strict decoding into the API message, then the kind's
// validation function. Warnings do not reject.
func istioVerdict(doc []byte) verdict {
	var obj struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"metadata"`
		Spec map[string]any `json:"spec"`
	}
	if err := yaml.Unmarshal(doc, &obj); err != nil {
		return verdict{false, "not YAML: " + err.Error()}
	}
	if _, err := yaml.YAMLToJSONStrict(doc); err != nil {
		return verdict{false, "kubectl: " + err.Error()} // duplicate keys: kubectl's strict decoding
	}
	if err := objectMetaError(doc); err != nil {
		return verdict{false, err.Error()}
	}
	if err := crds.ValidateCustomResourceYAML(string(withoutFallback(doc)), nil); err != nil {
		return verdict{false, "CRD schema: " + strings.ReplaceAll(err.Error(), "\n", " ")}
	}
	k := istioKinds[obj.Kind]
	stripFallback(obj.Spec)
	specJSON, err := json.Marshal(obj.Spec)
	if err != nil {
		return verdict{false, err.Error()}
	}
	msg := k.msg()
	if err := istioconfig.ApplyJSONStrict(msg, string(specJSON)); err != nil {
		return verdict{false, "schema: " + err.Error()}
	}
	ns := obj.Metadata.Namespace
	if ns == "" {
		ns = "default"
	}
	_, err = k.validate(istioconfig.Config{Meta: istioconfig.Meta{Name: obj.Metadata.Name, Namespace: ns}, Spec: msg})
	if err != nil {
		return verdict{false, strings.ReplaceAll(err.Error(), "\n", " ")}
	}
	return verdict{true, ""}
}

// stripFallback removes ASM's fallback from spec.http[].route[], the one
// field lanemesh adds to Istio's.
func stripFallback(spec map[string]any) {
	routes, _ := spec["http"].([]any)
	for _, r := range routes {
		rm, _ := r.(map[string]any)
		dests, _ := rm["route"].([]any)
		for _, d := range dests {
			if dm, ok := d.(map[string]any); ok {
				delete(dm, "fallback")
			}
		}
	}
}

// validationCodes are the analyzer's codes for a document that is wrong in
// itself, which is what Istio's validation judges: not references to other
// objects (IST0101), conflicts between them (IST0109), gateways that do not
// serve a host (IST0132), or lanemesh's fallback checks (LM0005).
var validationCodes = map[string]bool{lmconfig.CodeSyntax: true, lmconfig.CodeUnknownKind: true, lmconfig.CodeSchema: true, lmconfig.CodeUnsupported: true}

// lanemeshVerdict parses the document alone and analyzes it; it rejects on
// any error with a validation code. onlyUnimplemented reports that every
// such error is LM0003 (a valid field lanemesh does not implement).
func lanemeshVerdict(doc []byte) (v verdict, onlyUnimplemented bool) {
	c := &lmconfig.Config{}
	diags := c.Parse("doc.yaml", doc)
	if !diags.HasErrors() {
		diags = append(diags, lmconfig.Analyze(c)...)
	}
	onlyUnimplemented = true
	var reasons []string
	for _, d := range diags.Errors() {
		if !validationCodes[d.Code] || strings.Contains(d.Field, ".fallback") {
			continue // fallback is lanemesh's (ASM's) alone: Istio cannot judge it
		}
		if d.Code != lmconfig.CodeUnsupported {
			onlyUnimplemented = false
		}
		reasons = append(reasons, d.Code+" "+d.Field+": "+d.Message)
	}
	if len(reasons) == 0 {
		return verdict{true, ""}, false
	}
	return verdict{false, strings.Join(reasons, "; ")}, onlyUnimplemented
}

// document is one Istio object of the corpus; id names it for
// known-differences.txt: "source:path#Kind/name".
type document struct {
	id, source string
	data       []byte
}

// corpus gathers the Istio documents: lanemesh's examples and test
// configurations, Istio's own test configurations (tests/testdata/config
// of the istio.io/istio module), and testdata/variants.yaml.
func corpus(t *testing.T) []document {
	t.Helper()
	var docs []document
	add := func(source, root string, patterns ...string) {
		for _, p := range patterns {
			files, err := filepath.Glob(filepath.Join(root, p))
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range files {
				data, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				if strings.HasSuffix(f, ".txt") {
					sc, err := scenario.Parse(string(data))
					if err != nil {
						t.Fatalf("%s: %v", f, err)
					}
					data = []byte(sc.Config)
				}
				rel, _ := filepath.Rel(root, f)
				for _, d := range splitDocuments(data) {
					docs = append(docs, document{id: fmt.Sprintf("%s:%s#%s", source, filepath.ToSlash(rel), d.name), source: source, data: d.data})
				}
			}
		}
	}
	add("lanemesh", "..", "examples/*/*.yaml", "internal/config/testdata/invalid/*.yaml", "internal/config/testdata/valid/*.yaml", "internal/explain/testdata/rules/*.txt")
	add("istio", istioSrc, "tests/testdata/config/*.yaml")
	add("variants", "testdata", "variants.yaml")
	return docs
}

// splitDocuments cuts a YAML stream into its documents of Istio's
// networking kinds, each named "Kind/name"; others (Services,
// Deployments, other Istio kinds) are not this test's business.
func splitDocuments(data []byte) []struct {
	name string
	data []byte
} {
	var out []struct {
		name string
		data []byte
	}
	for _, raw := range bytes.Split(data, []byte("\n---")) {
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal(raw, &head); err != nil {
			continue // not YAML: the syntax corpus, judged by the parser tests
		}
		if _, ok := istioKinds[head.Kind]; ok && strings.HasPrefix(head.APIVersion, "networking.istio.io/") {
			out = append(out, struct {
				name string
				data []byte
			}{head.Kind + "/" + head.Metadata.Name, bytes.TrimLeft(raw, "-\n")})
		}
	}
	return out
}

// knownDifferences reads testdata/known-differences.txt: "ID  reason"
// lines, # comments.
func knownDifferences(t *testing.T) map[string]string {
	return readKnown(t, "testdata/known-differences.txt")
}

// readKnown reads a known-differences file: "ID reason" lines, #
// comments; a missing file lists nothing.
func readKnown(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(io.Reader(f))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, reason, _ := strings.Cut(line, " ")
		if strings.TrimSpace(reason) == "" {
			t.Fatalf("%s: %q has no reason", path, line)
		}
		out[id] = strings.TrimSpace(reason)
	}
	return out
}
