package dashboard

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkUpdate is one reading of the tutorial's mesh as `up` runs it:
// the matrix, ten in-process proxies with three request series each, the
// rates, the events and the JSON a page receives. The collector does one
// per second.
func BenchmarkUpdate(b *testing.B) {
	f := &fakeMesh{cfg: load(b, "../../examples/traffic-lanes", "../../examples/traffic-lanes-fallback"), instances: pods(mocks, versions, nil, nil)}
	proxies := map[string]Gathered{}
	for i := range 10 {
		p := newProxyMetrics(1)
		p.serve(10, 0.001, toB2...)
		p.serve(10, 0.001, toB1...)
		p.serve(10, 0.001, failed...)
		proxies[fmt.Sprint("sidecar~default/p", i)] = Gathered{Name: "mocka", Gatherer: p.reg}
	}
	c := f.collector()
	c.Metrics = Gatherers(func() map[string]Gathered { return proxies })
	c.init()
	now := time.Unix(1000, 0)
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Second)
		c.update(b.Context(), now)
	}
	js, _ := c.Latest()
	b.ReportMetric(float64(len(js)), "state-bytes")
}
