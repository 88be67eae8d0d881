package dashboard

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/lanemesh/lanemesh/internal/registry"
)

// Gatherers reads proxies that run in this process (`lanemesh up`): it
// returns each proxy's registry by its unique name.
type Gatherers func() map[string]Gathered

// Gathered is an in-process proxy's registry and the name its series go
// by when they do not name their source.
type Gathered struct {
	Name     string
	Gatherer prometheus.Gatherer
}

// Scrape implements Source.
func (g Gatherers) Scrape(context.Context) []Scrape {
	all := g()
	out := make([]Scrape, 0, len(all))
	for _, id := range slices.Sorted(maps.Keys(all)) {
		fams, err := all[id].Gatherer.Gather()
		if err != nil && len(fams) == 0 {
			continue
		}
		out = append(out, Scrape{ID: id, Name: all[id].Name, Families: fams})
	}
	return out
}

// AdminPortName is the container port an injected sidecar and the
// gateway Deployment name their admin listener by; its /metrics is what
// Pods reads.
const AdminPortName = "lanemesh-admin"

// maxScrape bounds one proxy's metrics page.
const maxScrape = 4 << 20

// Pods reads the proxies of a cluster's pods over HTTP, as Prometheus
// would: GET http://POD_IP:ADMIN_PORT/metrics of every ready pod whose
// containers name an AdminPortName port (Kubernetes mode).
type Pods struct {
	Instances func() []registry.Instance
	Client    *http.Client // nil: one with a 2s timeout
	once      sync.Once
}

// Scrape implements Source. Pods are read in parallel, at most 16 at a
// time.
func (p *Pods) Scrape(ctx context.Context) []Scrape {
	p.once.Do(func() {
		if p.Client == nil {
			p.Client = &http.Client{Timeout: 2 * time.Second}
		}
	})
	var targets []registry.Instance
	for _, in := range p.Instances() {
		if _, ok := in.Ports[AdminPortName]; ok && in.Healthy && !in.IsWorkloadEntry() {
			targets = append(targets, in)
		}
	}
	out := make([]Scrape, len(targets))
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for i, in := range targets {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			url := "http://" + net.JoinHostPort(in.Address, strconv.Itoa(int(in.Ports[AdminPortName]))) + "/metrics"
			fams, err := p.get(ctx, url)
			if err != nil {
				return
			}
			name := first(in.Labels["app"], in.Labels["istio"], in.Name)
			out[i] = Scrape{ID: in.Namespace + "/" + in.Name, Name: name, Families: fams}
		})
	}
	wg.Wait()
	return slices.DeleteFunc(out, func(s Scrape) bool { return s.ID == "" })
}

func (p *Pods) get(ctx context.Context, url string) ([]*dto.MetricFamily, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", string(expfmt.NewFormat(expfmt.TypeProtoDelim)))
	resp, err := p.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", url, resp.Status)
	}
	dec := expfmt.NewDecoder(io.LimitReader(resp.Body, maxScrape), expfmt.ResponseFormat(resp.Header))
	var fams []*dto.MetricFamily
	for {
		f := &dto.MetricFamily{}
		if err := dec.Decode(f); err != nil {
			if err == io.EOF {
				return fams, nil
			}
			return fams, err
		}
		fams = append(fams, f)
	}
}
