package compile_test

import (
	"net/http"
	"sort"
	"testing"

	"github.com/lanemesh/lanemesh/internal/compile"
	"github.com/lanemesh/lanemesh/internal/meshxds"
	"github.com/lanemesh/lanemesh/internal/route"
)

// proxyTable is one proxy's compiled route table and the clusters its
// snapshot holds.
type proxyTable struct {
	table    *route.Table
	clusters map[string]bool
}

// FuzzCompiledDecide sends arbitrary requests to every proxy of the
// tutorial (with fallback): Decide must never panic, never return a
// cluster the proxy's snapshot lacks, and never a version the
// configuration does not name.
func FuzzCompiledDecide(f *testing.F) {
	c, in := load(f, base, fallback)
	var tables []proxyTable
	ids := identities()
	names := make([]string, 0, len(ids))
	for n := range ids {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		res := compile.Compile(c, in, ids[n])
		pt := proxyTable{clusters: map[string]bool{}}
		for _, cl := range res.Clusters {
			pt.clusters[cl.Name] = true
		}
		t, err := route.New(res.Routes[0])
		if err != nil {
			f.Fatal(err)
		}
		pt.table = t
		tables = append(tables, pt)
	}
	f.Add(uint8(0), "gateway", "/mock", "v2", "GET")
	f.Add(uint8(3), "mockb:8000", "/", "", "GET")
	f.Add(uint8(5), "mockc.default.svc.cluster.local:8000", "/x?y=z", "v3", "POST")
	f.Add(uint8(7), "MOCKB.default:8000", "//", "v1", "")
	versions := map[string]bool{"": true, "v1": true, "v2": true, "v3": true}
	f.Fuzz(func(t *testing.T, which uint8, authority, path, lane, method string) {
		pt := tables[int(which)%len(tables)]
		req := &route.Request{Method: method, Authority: authority, Path: path,
			Header: http.Header{"X-Asm-Prefer-Tag": {lane}}}
		d := pt.table.Decide(req, uint32(which))
		if d.Route == nil {
			if d.Cluster != "" {
				t.Fatalf("no route but cluster %q", d.Cluster)
			}
			return
		}
		if !pt.clusters[d.Cluster] {
			t.Fatalf("cluster %q is not in the snapshot", d.Cluster)
		}
		primary, fb, isAggregate := meshxds.SplitFallbackName(d.Cluster)
		for _, name := range []string{primary, fb} {
			if !isAggregate && name == fb {
				continue
			}
			if _, subset, _, ok := meshxds.ParseClusterName(name); !ok || !versions[subset] {
				t.Fatalf("cluster %q names a version the configuration does not", name)
			}
		}
	})
}
