package route

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

// FuzzDecide fuzzes the request against a fixed table that uses every matcher kind and every
// domain form. Decide must never panic, must only return clusters the table names, and must
// agree with the reference implementation. Header values containing '\n' become several values
// of the same header, to exercise the comma join.
func FuzzDecide(f *testing.F) {
	rc := matchersConfig()
	rc.VirtualHosts = append(rc.VirtualHosts, smallConfig().VirtualHosts[:2]...)
	tbl := mustNew(f, rc)
	clusters := tbl.Clusters()

	f.Add("GET", "mocka:8000", "/mock?lane=v3&debug=0", "v3", "eu-prod-2", "5", uint32(3))
	f.Add("GET", "mocka", "/api/v1/items", "v1", "", "", uint32(0))
	f.Add("POST", "MOCKA", "/API/x?debug=1", "v2", "", "", uint32(0))
	f.Add("GET", "x.mocka.svc", "/static/a.css", "", "", "99", uint32(7))
	f.Add("GET", "mocka.internal:1", "/", "v1\nv2", "", " -1", uint32(1))
	f.Add("GET", "mockb:8000", "/?a=%41%4", "v2", "prod\nPROD", "1", uint32(9))
	f.Add("", "", "", "", "", "", uint32(0))

	f.Fuzz(func(t *testing.T, method, authority, target, tag, env, n string, rnd uint32) {
		r := &Request{Method: method, Authority: authority, Path: target, Header: http.Header{}}
		for name, v := range map[string]string{"X-Tag": tag, "X-Asm-Prefer-Tag": tag, "X-Env": env, "X-N": n} {
			if v != "" {
				r.Header[name] = strings.Split(v, "\n")
			}
		}
		d := tbl.Decide(r, rnd)
		if (d.Route == nil) != (d.Cluster == "") {
			t.Fatalf("Decide = %+v: route and cluster disagree", d)
		}
		if d.Route != nil && !slices.Contains(clusters, d.Cluster) {
			t.Fatalf("Decide chose cluster %q, which is not in Clusters() %v", d.Cluster, clusters)
		}
		if want := refDecide(rc, r, rnd); !want.agrees(d) {
			t.Fatalf("Decide(%+v, %d) = vhost %q cluster %q; reference says vhost %q route %q cluster %q",
				*r, rnd, d.VirtualHost, d.Cluster, want.vhost, want.route.GetName(), want.cluster)
		}
	})
}
