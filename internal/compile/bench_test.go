package compile_test

import (
	"fmt"
	"testing"

	"github.com/lanemesh/lanemesh/api"
	"github.com/lanemesh/lanemesh/internal/compile"
	"github.com/lanemesh/lanemesh/internal/config"
	"github.com/lanemesh/lanemesh/internal/local"
	"github.com/lanemesh/lanemesh/internal/meshxds"
	"github.com/lanemesh/lanemesh/internal/registry"
	"github.com/lanemesh/lanemesh/internal/route"
)

// lanes builds a mesh of n services, each in three versions with one pod
// each, a DestinationRule with subsets v1–v3 and a sourceLabels
// VirtualService with fallback to v1: the tutorial, n times over.
func lanes(n int) (*config.Config, []registry.Instance) {
	c := &config.Config{}
	var in []registry.Instance
	versions := []string{"v1", "v2", "v3"}
	for i := range n {
		name := fmt.Sprintf("svc%05d", i)
		host := name + ".default.svc.cluster.local"
		meta := api.ObjectMeta{Name: name, Namespace: "default"}
		c.Services = append(c.Services, &api.Service{Metadata: meta, Spec: api.ServiceSpec{
			Selector: map[string]string{"app": name}, Ports: []api.ServicePort{{Name: "http", Port: 8000}}}})
		dr := &api.DestinationRule{Metadata: meta, Spec: api.DestinationRuleSpec{Host: host}}
		vs := &api.VirtualService{Metadata: meta, Spec: api.VirtualServiceSpec{Hosts: []string{host}}}
		for j, v := range versions {
			dr.Spec.Subsets = append(dr.Spec.Subsets, api.Subset{Name: v, Labels: map[string]string{"version": v}})
			rd := api.HTTPRouteDestination{Destination: api.Destination{Host: host, Subset: v}}
			if v != "v1" {
				rd.Fallback = &api.Fallback{Target: api.Destination{Host: host, Subset: "v1"}}
			}
			vs.Spec.HTTP = append(vs.Spec.HTTP, api.HTTPRoute{
				Match: []api.HTTPMatchRequest{{SourceLabels: map[string]string{"version": v}}},
				Route: []api.HTTPRouteDestination{rd}})
			in = append(in, registry.Instance{Name: fmt.Sprintf("%s-%s-0", name, v), Namespace: "default",
				Labels: map[string]string{"app": name, "version": v}, Address: local.LoopbackAddress(3*i + j + 1),
				Ports: map[string]uint32{"8000": 8000}, Healthy: true})
		}
		c.DestinationRules = append(c.DestinationRules, dr)
		c.VirtualServices = append(c.VirtualServices, vs)
	}
	return c, in
}

var sizes = []int{100, 1000, 10000}

// BenchmarkCompile reports the time to compile one sidecar's snapshot and
// the snapshot's size on the wire.
func BenchmarkCompile(b *testing.B) {
	for _, n := range sizes {
		b.Run(fmt.Sprintf("services=%d", n), func(b *testing.B) {
			c, in := lanes(n)
			p := sidecar("svc00000", "v2")
			var res *meshxds.Resources
			b.ReportAllocs()
			for b.Loop() {
				res = compile.Compile(c, in, p)
			}
			b.ReportMetric(float64(compile.Size(res)), "snapshot-bytes")
			b.ReportMetric(float64(len(res.Clusters)), "clusters")
		})
	}
}

// BenchmarkDecideCompiled decides a request on a compiled sidecar table:
// the per-request cost must stay flat as services grow.
func BenchmarkDecideCompiled(b *testing.B) {
	for _, n := range sizes {
		b.Run(fmt.Sprintf("services=%d", n), func(b *testing.B) {
			c, in := lanes(n)
			res := compile.Compile(c, in, sidecar("svc00000", "v2"))
			table, err := route.New(res.Routes[0])
			if err != nil {
				b.Fatal(err)
			}
			req := &route.Request{Method: "GET", Authority: fmt.Sprintf("svc%05d:8000", n/2), Path: "/", Header: map[string][]string{}}
			if d := table.Decide(req, 0); d.Route == nil {
				b.Fatalf("no route for %s", req.Authority)
			}
			b.ReportAllocs()
			for b.Loop() {
				table.Decide(req, 0)
			}
		})
	}
}
