package up

import (
	"fmt"
	"net"
	"net/http"
	"sort"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"

	"github.com/lanemesh/lanemesh/internal/guard"
)

// scrape is the mesh's one Prometheus endpoint: every proxy of the mesh
// (the gateway and each pod's sidecar) has a registry of its own, and a
// scrape gathers them all, each series labelled with its proxy's
// namespace and pod, as Prometheus's Kubernetes discovery labels a scrape
// of each pod in a cluster. Metrics of the process itself (go_*,
// process_*) appear once, without those labels.
type scrape struct {
	process *prometheus.Registry

	mu      sync.Mutex
	proxies map[proxyKey]*prometheus.Registry
}

type proxyKey struct{ namespace, pod string }

func newScrape() *scrape {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return &scrape{process: r, proxies: map[proxyKey]*prometheus.Registry{}}
}

// add returns a new registry for the proxy of pod namespace/name, served
// from now on in place of any earlier one of that pod (a restarted
// sidecar starts its counters again, as a restarted Envoy does), and a
// function that stops serving it.
func (s *scrape) add(namespace, pod string) (*prometheus.Registry, func()) {
	r := prometheus.NewRegistry()
	k := proxyKey{namespace, pod}
	s.mu.Lock()
	s.proxies[k] = r
	s.mu.Unlock()
	return r, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.proxies[k] == r {
			delete(s.proxies, k)
		}
	}
}

// Gather merges the process's metrics and every proxy's, labelled.
func (s *scrape) Gather() ([]*dto.MetricFamily, error) {
	s.mu.Lock()
	gs := prometheus.Gatherers{s.process}
	for k, r := range s.proxies {
		gs = append(gs, labelled{r, []*dto.LabelPair{label("namespace", k.namespace), label("pod", k.pod)}})
	}
	s.mu.Unlock()
	return gs.Gather()
}

func label(name, value string) *dto.LabelPair { return &dto.LabelPair{Name: &name, Value: &value} }

// labelled adds labels to every series a gatherer returns.
type labelled struct {
	g      prometheus.Gatherer
	labels []*dto.LabelPair
}

func (l labelled) Gather() ([]*dto.MetricFamily, error) {
	mfs, err := l.g.Gather()
	for _, mf := range mfs {
		for _, m := range mf.Metric {
			m.Label = append(m.Label, l.labels...)
			sort.Slice(m.Label, func(i, j int) bool { return m.Label[i].GetName() < m.Label[j].GetName() })
		}
	}
	return mfs, err
}

// serve serves s on addr at /metrics until the returned server is
// closed. The listener is bound before it returns, so its address is
// known at once.
func (s *scrape) serve(addr string) (*http.Server, net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("metrics listener: %w", err)
	}
	mux := http.NewServeMux()
	// A proxy whose metrics cannot be gathered must not hide every other
	// proxy's: the scrape serves what it has.
	mux.Handle("GET /metrics", promhttp.HandlerFor(s, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	srv := guard.Server(guard.Browser(addr, mux), 0)
	go func() { _ = srv.Serve(guard.Listener(ln)) }()
	return srv, ln.Addr(), nil
}
