package kube

import (
	"fmt"
	"testing"

	"github.com/lanemesh/lanemesh/internal/config"
	"github.com/lanemesh/lanemesh/internal/crd"
)

// TestStatusFitsTheCRD: every field the Reporter writes is named, with its
// type, in the CRDs' status schema, so the apiserver keeps all of it
// (Istio's own schema has no validationMessages[].description and would
// prune the one part that says what is wrong).
func TestStatusFitsTheCRD(t *testing.T) {
	st := statusFor(3, config.Diagnostics{
		{Level: config.Error, Code: config.CodeNotFound, Message: "subset v4 not found"},
		{Level: config.Warning, Code: config.CodeSubsetNoWorkload, Message: "no workload"},
	}, true)
	for _, problem := range fits(crd.StatusSchema(), st, "status") {
		t.Error(problem)
	}
}

// fits lists the fields of v that schema s does not name, or names with
// another type.
func fits(s *crd.Schema, v any, path string) []string {
	if s.IntOrString {
		switch v.(type) {
		case int, int32, int64, string:
			return nil
		}
		return []string{fmt.Sprintf("%s: %T is not an int or a string", path, v)}
	}
	switch x := v.(type) {
	case map[string]any:
		if s.Type != "object" {
			return []string{path + ": an object where the schema has " + s.Type}
		}
		var out []string
		for k, e := range x {
			p, ok := s.Properties[k]
			if !ok {
				out = append(out, path+"."+k+": not in the schema (would be pruned or refused)")
				continue
			}
			out = append(out, fits(p, e, path+"."+k)...)
		}
		return out
	case []any:
		if s.Type != "array" {
			return []string{path + ": a list where the schema has " + s.Type}
		}
		var out []string
		for i, e := range x {
			out = append(out, fits(s.Items, e, fmt.Sprintf("%s[%d]", path, i))...)
		}
		return out
	case string:
		if s.Type != "string" {
			return []string{path + ": a string where the schema has " + s.Type}
		}
	case int64, int:
		if s.Type != "integer" {
			return []string{path + ": an integer where the schema has " + s.Type}
		}
	default:
		return []string{fmt.Sprintf("%s: %T unexpected", path, v)}
	}
	return nil
}
