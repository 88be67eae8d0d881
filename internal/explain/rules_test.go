package explain

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"

	"github.com/lanemesh/lanemesh/internal/compile"
	"github.com/lanemesh/lanemesh/internal/config"
	"github.com/lanemesh/lanemesh/internal/registry"
)

// TestRuleScenarios runs testdata/rules/*.txt: one of Istio's resolution
// rules each, as a configuration, the requests of some callers, and what
// each must reach. A file is sections headed by "-- name --" lines:
//
//	-- config --    YAML, as a user writes it
//	-- requests --  one per line: CALLER METHOD URL [HEADER: VALUE; ...],
//	                CALLER being "sidecar NS k=v,k=v" or "gateway NS k=v"
//	-- want --      one line per request: the cluster, the endpoints that
//	                would serve it and the cluster's load-balancing policy,
//	                or the status the proxy would answer
//
// Text before the first section says which rule the file holds and where
// Istio defines it. -update rewrites the want sections; commit a change
// only when you understand it.
func TestRuleScenarios(t *testing.T) {
	files, _ := filepath.Glob("testdata/rules/*.txt")
	if len(files) == 0 {
		t.Fatal("no rule scenarios in testdata/rules")
	}
	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txt"), func(t *testing.T) {
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			head, sections := splitSections(string(raw))
			c := &config.Config{}
			if diags := c.Parse(path, []byte(sections["config"])); diags.HasErrors() {
				t.Fatalf("config: %v", diags.Err())
			}
			if diags := config.Analyze(c); diags.HasErrors() {
				t.Fatalf("the scenario's config does not analyze clean: %v", diags.Err())
			}
			got := runRequests(t, c, sections["requests"])
			if *update {
				out := head + "-- config --\n" + sections["config"] + "-- requests --\n" + sections["requests"] + "-- want --\n" + got
				if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if got != sections["want"] {
				t.Errorf("%s (go test ./internal/explain -run RuleScenarios -update rewrites it):\n--- got\n%s--- want\n%s", path, got, sections["want"])
			}
		})
	}
}

// splitSections cuts a scenario file at its "-- name --" lines.
func splitSections(s string) (head string, sections map[string]string) {
	sections = map[string]string{}
	name := ""
	var b strings.Builder
	flush := func() {
		if name == "" {
			head = b.String()
		} else {
			sections[name] = b.String()
		}
		b.Reset()
	}
	for _, line := range strings.SplitAfter(s, "\n") {
		if t := strings.TrimSpace(line); strings.HasPrefix(t, "-- ") && strings.HasSuffix(t, " --") {
			flush()
			name = strings.TrimSuffix(strings.TrimPrefix(t, "-- "), " --")
			continue
		}
		b.WriteString(line)
	}
	flush()
	return head, sections
}

func runRequests(t *testing.T, c *config.Config, requests string) string {
	t.Helper()
	instances := registry.FromConfig(c)
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimSpace(requests), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			t.Fatalf("request %q: want CALLER NS LABELS METHOD URL [HEADER: VALUE]...", line)
		}
		p := compile.Proxy{Role: compile.Role(f[0]), Namespace: f[1], Labels: map[string]string{}}
		for _, kv := range strings.Split(f[2], ",") {
			k, v, _ := strings.Cut(kv, "=")
			p.Labels[k] = v
		}
		var headers []string
		for h := range strings.SplitSeq(strings.Join(f[5:], " "), ";") {
			if h = strings.TrimSpace(h); h != "" {
				headers = append(headers, h)
			}
		}
		req, err := Request(f[3], f[4], headers)
		if err != nil {
			t.Fatalf("request %q: %v", line, err)
		}
		res := compile.Compile(c, instances, p)
		r, err := Explain(res, RouteConfigFor(res, p.Role, req.Authority), req)
		if err != nil {
			t.Fatalf("request %q: %v", line, err)
		}
		fmt.Fprintf(&b, "%s -> %s\n", line, describe(res, r))
	}
	return b.String()
}

// describe says where a request goes: the cluster that would serve it,
// its endpoints and load balancing policy, or the proxy's own answer.
func describe(res *compile.Resources, r *Result) string {
	switch {
	case r.Location != "":
		return fmt.Sprintf("%d Location: %s", r.Status, r.Location)
	case r.Status != 0 && r.Flag == "":
		return fmt.Sprintf("%d (direct response)", r.Status)
	case r.Status != 0:
		return fmt.Sprintf("%d %s", r.Status, r.Flag)
	}
	var eps []string
	for _, e := range r.Endpoints {
		eps = append(eps, e.Address)
	}
	lb := ""
	for _, cl := range res.Clusters {
		if cl.Name == r.ServedBy {
			lb = clusterv3.Cluster_LbPolicy_name[int32(cl.LbPolicy)]
		}
	}
	return fmt.Sprintf("%s [%s] %s", r.ServedBy, strings.Join(eps, " "), lb)
}
