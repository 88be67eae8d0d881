package conformance

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"istio.io/istio/pkg/config/crd"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	lmconfig "github.com/lanemesh/lanemesh/internal/config"
)

// TestCRDAgreesWithLoader holds lanemesh's own CRDs (deploy/01-crds.yaml,
// generated from the api types) to the loader: every Istio document of the
// corpus goes through the CRD as the kube-apiserver applies it (the
// structural schema, unknown fields as `kubectl apply`'s strict field
// validation reports them, CEL rules; the CRDs themselves are first checked
// as the apiserver checks a CRD) and through lanemesh's loader, alone.
//
// The CRD can only check shape, so each disagreement falls in one class:
//   - the CRD refuses what the loader accepts: always a defect, unless
//     listed by document in testdata/crd-known-differences.txt;
//   - the loader's decoder refuses what the CRD accepts (a wrong type or an
//     unknown field the schema let through): the same, listed by document;
//   - the loader refuses a field it does not implement (LM0003): by design,
//     the CRD keeps such fields so the refusal reaches the object's status
//     instead of the field being pruned (see internal/crd);
//   - the loader's analysis refuses a value (a bad host, a regex, a subset
//     no rule defines): a value rule, listed by its code ("code:IST0106")
//     with what the rule checks.
//
// A listed line that no longer disagrees fails the test too.
func TestCRDAgreesWithLoader(t *testing.T) {
	v, err := crd.NewValidatorFromFiles("../deploy/01-crds.yaml")
	if err != nil {
		t.Fatalf("deploy/01-crds.yaml is not a CRD the apiserver would accept: %v", err)
	}
	known := readKnown(t, "testdata/crd-known-differences.txt")
	used := map[string]bool{}
	var agree, unsupported int
	valueRules := map[string]int{}
	var unexplained []string
	docs := corpus(t)
	for _, d := range docs {
		crdErr := crdVerdict(v, d.data)
		lane := loaderVerdict(d.data)
		switch {
		case (crdErr == nil) == lane.accept:
			agree++
			continue
		case crdErr == nil && lane.class == classUnsupported:
			unsupported++
			continue
		case crdErr == nil && lane.class == classValue:
			allKnown := true
			for _, c := range lane.codes {
				valueRules[c]++
				if _, ok := known["code:"+c]; ok {
					used["code:"+c] = true
				} else {
					allKnown = false
				}
			}
			if allKnown {
				continue
			}
		}
		if _, ok := known[d.id]; ok {
			used[d.id] = true
			continue
		}
		crdSays := "accepts"
		if crdErr != nil {
			crdSays = "rejects (" + strings.ReplaceAll(crdErr.Error(), "\n", " ") + ")"
		}
		loaderSays := "accepts"
		if !lane.accept {
			loaderSays = "rejects (" + lane.reason + ")"
		}
		unexplained = append(unexplained, fmt.Sprintf("%s: CRD %s, loader %s", d.id, crdSays, loaderSays))
	}
	var rules []string
	for c, n := range valueRules {
		rules = append(rules, fmt.Sprintf("%s %d", c, n))
	}
	sort.Strings(rules)
	t.Logf("corpus: %d Istio documents; CRD and loader agree on %d; loader refuses an unimplemented field the CRD keeps: %d; loader's value rules: %s; listed documents: %d; unexplained: %d",
		len(docs), agree, unsupported, strings.Join(rules, ", "), countDocs(used), len(unexplained))
	for _, u := range unexplained {
		t.Errorf("disagreement: %s", u)
	}
	for id := range known {
		if !used[id] {
			t.Errorf("testdata/crd-known-differences.txt lists %s, which no longer disagrees (or is gone): remove the line", id)
		}
	}
}

func countDocs(used map[string]bool) int {
	n := 0
	for id := range used {
		if !strings.HasPrefix(id, "code:") {
			n++
		}
	}
	return n
}

// The classes of a loader refusal; see TestCRDAgreesWithLoader.
const (
	classShape       = "shape"
	classUnsupported = "unsupported"
	classValue       = "value"
)

type loaderResult struct {
	accept bool
	class  string
	codes  []string // the codes of a value refusal
	reason string
}

// loaderVerdict loads the document alone, as lanemesh's Kubernetes mode
// judges one object: Parse (the strict decoder) then Analyze. A Parse
// error is a shape refusal and an Analyze error a value refusal, unless
// every error is LM0003 (a field or mode lanemesh does not implement, which
// either phase may find). LM0003 is never a value rule the CRD misses, so
// it is left out of a value refusal's codes.
func loaderVerdict(doc []byte) loaderResult {
	c := &lmconfig.Config{}
	diags := c.Parse("doc.yaml", doc)
	class := classShape
	if !diags.HasErrors() {
		diags = lmconfig.Analyze(c)
		class = classValue
	}
	errs := diags.Errors()
	if len(errs) == 0 {
		return loaderResult{accept: true}
	}
	var reasons []string
	codes := map[string]bool{}
	allUnsupported := true
	for _, d := range errs {
		reasons = append(reasons, d.Code+" "+d.Field+": "+d.Message)
		if d.Code != lmconfig.CodeUnsupported {
			codes[d.Code] = true
			allUnsupported = false
		}
	}
	if allUnsupported {
		class = classUnsupported
	}
	r := loaderResult{class: class, reason: strings.Join(reasons, "; ")}
	for c := range codes {
		r.codes = append(r.codes, c)
	}
	sort.Strings(r.codes)
	return r
}

// crdVerdict is what `kubectl apply` of doc meets with deploy/01-crds.yaml
// installed: kubectl's strict YAML decoding (duplicate keys), then the
// apiserver's dropping of nulls and its schema validation.
func crdVerdict(v *crd.Validator, doc []byte) error {
	if _, err := yaml.YAMLToJSONStrict(doc); err != nil {
		return fmt.Errorf("kubectl: %w", err)
	}
	if err := objectMetaError(doc); err != nil {
		return err
	}
	return v.ValidateCustomResourceYAML(string(withoutNulls(doc)), nil)
}

// objectMetaError is what the kube-apiserver checks of every object's
// metadata before its kind's schema: a name that is a DNS-1123 subdomain,
// in a namespace whose name is a DNS-1123 label (a Namespace object's
// rule). Neither the CRD's schema nor Istio's validation checks them.
func objectMetaError(doc []byte) error {
	var obj struct {
		Metadata struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"metadata"`
	}
	if yaml.Unmarshal(doc, &obj) != nil {
		return nil
	}
	if n := obj.Metadata.Name; n != "" {
		if errs := validation.IsDNS1123Subdomain(n); len(errs) > 0 {
			return fmt.Errorf("apiserver: metadata.name: %s", strings.Join(errs, "; "))
		}
	}
	if ns := obj.Metadata.Namespace; ns != "" {
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			return fmt.Errorf("apiserver: metadata.namespace: %s", strings.Join(errs, "; "))
		}
	}
	return nil
}

// withoutNulls drops null values, as the apiserver does for fields whose
// schema is not nullable before it validates a custom resource (and the
// loader reads a null as an absent field). Istio's test validator does not.
func withoutNulls(doc []byte) []byte {
	var obj any
	if yaml.Unmarshal(doc, &obj) != nil {
		return doc
	}
	out, err := yaml.Marshal(dropNulls(obj))
	if err != nil {
		return doc
	}
	return out
}

func dropNulls(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if e == nil {
				delete(x, k)
				continue
			}
			x[k] = dropNulls(e)
		}
	case []any:
		for i, e := range x {
			x[i] = dropNulls(e)
		}
	}
	return v
}

// TestCRDShapes pins what the CRD must do whatever the corpus holds: keep
// ASM's fallback, refuse a misspelt or unknown field, keep a field lanemesh
// does not implement (for the loader to refuse on status), refuse a wrong
// type and a malformed duration, and serve every version with one schema.
func TestCRDShapes(t *testing.T) {
	v, err := crd.NewValidatorFromFiles("../deploy/01-crds.yaml")
	if err != nil {
		t.Fatal(err)
	}
	vs := func(version, route string) string {
		return "apiVersion: networking.istio.io/" + version + "\nkind: VirtualService\nmetadata: {name: x, namespace: default}\n" +
			"spec:\n  hosts: [mockb]\n  http:\n  - " + route + "\n"
	}
	for _, c := range []struct {
		name, doc string
		accept    bool
	}{
		{"fallback", vs("v1", "route: [{destination: {host: mockb, subset: v2}, fallback: {target: {host: mockb, subset: v1}}}]"), true},
		{"fallback v1beta1", vs("v1beta1", "route: [{destination: {host: mockb, subset: v2}, fallback: {target: {host: mockb, subset: v1}}}]"), true},
		{"fallback v1alpha3", vs("v1alpha3", "route: [{destination: {host: mockb, subset: v2}, fallback: {target: {host: mockb, subset: v1}}}]"), true},
		{"fallback misspelt", vs("v1", "route: [{destination: {host: mockb}, fallback: {target: {hots: mockb}}}]"), false},
		{"unknown route field", vs("v1", "route: [{destination: {host: mockb}}]\n    colour: blue"), false},
		{"unimplemented mirror kept", vs("v1", "route: [{destination: {host: mockb}}]\n    mirror: {host: mockc}"), true},
		{"ignored statPrefix kept", vs("v1", "match: [{statPrefix: x}]\n    route: [{destination: {host: mockb}}]"), true},
		{"weight as string", vs("v1", "route: [{destination: {host: mockb}, weight: \"100\"}]"), false},
		{"bad duration", vs("v1", "timeout: 5 parsecs\n    route: [{destination: {host: mockb}}]"), false},
		{"good duration", vs("v1", "timeout: 1.5s\n    route: [{destination: {host: mockb}}]"), true},
		{"weight past int32", vs("v1", "route: [{destination: {host: mockb}, weight: 3000000000}]"), false},
		{"negative port", vs("v1", "route: [{destination: {host: mockb, port: {number: -1}}}]"), false},
	} {
		err := crdVerdict(v, []byte(c.doc))
		if (err == nil) != c.accept {
			t.Errorf("%s: CRD error %v, want accept=%v", c.name, err, c.accept)
		}
	}
}
