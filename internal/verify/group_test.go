package verify

import (
	"strings"
	"testing"

	"github.com/lanemesh/lanemesh/internal/config"
)

// TestForGroup: a lane group's lanes are judged by their own versions and
// baselines, not their names: lanes s1-s3 on pods v1-v3 (ASM's docs), a
// lane holding only mockb whose other hops are the baseline's by design,
// and serviceLevelFallbackTarget sending mockb's fallback to lane s2.
func TestForGroup(t *testing.T) {
	yaml := `apiVersion: istio.alibabacloud.com/v1
kind: ASMSwimLaneGroup
metadata: {name: g}
spec:
  ingress: {gateway: {name: ingressgateway, namespace: istio-system}}
  services: [{name: mocka, namespace: default}, {name: mockb, namespace: default}, {name: mockc, namespace: default}]
  isPermissive: true
  permissiveModeConfiguration:
    routeHeader: x-lane
    traceHeader: x-request-id
    fallbackTarget: s1
    serviceLevelFallbackTarget: {default/mockb: s2}
` + lane("s1", "v1", "") + lane("s2", "v2", "") + lane("s3", "v3", "[{name: mockb}]")
	var c config.Config
	if diags := c.Parse("g.yaml", []byte(yaml)); diags.HasErrors() {
		t.Fatal(diags.Err())
	}
	lanes, header, expect, err := ForGroup(&c, "g")
	if err != nil || strings.Join(lanes, ",") != "s1,s2,s3" || header != "x-lane" {
		t.Fatalf("ForGroup: %v %q %v", lanes, header, err)
	}
	chain := func(vs ...string) Outcome {
		var b strings.Builder
		for i, v := range vs {
			b.WriteString("-> " + []string{"mocka", "mockb", "mockc"}[i] + "(version: " + v + ", ip: 1.2.3.4)")
		}
		return Outcome{200, b.String()}
	}
	for _, tc := range []struct {
		lane  string
		chain Outcome
		kind  string
	}{
		{"s2", chain("v2", "v2", "v2"), "in-lane"},
		{"s3", chain("v1", "v3", "v1"), "in-lane"},   // the baseline's hops are the lane's, by design
		{"s3", chain("v1", "v2", "v1"), "fell-back"}, // mockb v3 gone: serviceLevelFallbackTarget s2
		{"s3", chain("v1", "v1", "v1"), "leaked"},    // mockb's fallback is s2, not s1
		{"s2", chain("v2", "v2", "v1"), "fell-back"}, // mockc v2 gone: the group's fallbackTarget s1
		{"s1", chain("v1", "v1", "v1"), "in-lane"},
		{"s1", chain("v2", "v1", "v1"), "leaked"}, // v2 is another lane's
	} {
		if kind, _, _ := classify(expect[tc.lane], tc.chain); kind != tc.kind {
			t.Errorf("lane %s, %s: %s, want %s", tc.lane, Versions(Parse(tc.chain.Body)), kind, tc.kind)
		}
	}
	if _, _, _, err := ForGroup(&c, "nope"); err == nil || !strings.Contains(err.Error(), "groups: g") {
		t.Errorf("unknown group: %v", err)
	}
}

func lane(name, version, services string) string {
	s := "---\napiVersion: istio.alibabacloud.com/v1\nkind: ASMSwimLane\nmetadata: {name: " + name + ", labels: {swimlane-group: g}}\nspec:\n  labelSelector: {version: " + version + "}\n"
	if services != "" {
		s += "  services: " + services + "\n"
	}
	return s
}
