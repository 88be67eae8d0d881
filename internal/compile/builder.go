package compile

import (
	"sort"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"

	"github.com/lanemesh/lanemesh/api"
	"github.com/lanemesh/lanemesh/internal/config"
	"github.com/lanemesh/lanemesh/internal/meshxds"
	"github.com/lanemesh/lanemesh/internal/registry"
)

// builder holds one compilation: indexes over the configuration built once,
// and the clusters made so far.
type builder struct {
	cfg   *config.Config
	proxy meshxds.Proxy
	opts  Options
	// services are the hosts visible to the proxy, sorted by host.
	services []*config.Service
	hosts    map[string]*config.Service
	drs      *config.DestinationRules
	// vss are the VirtualServices with delegates merged into their roots.
	vss  []*api.VirtualService
	pods map[string]*podIndex // by namespace

	clusters  map[string]*clusterv3.Cluster
	endpoints map[string]*endpointv3.ClusterLoadAssignment
}

func newBuilder(c *config.Config, instances []registry.Instance, p meshxds.Proxy, opts Options) *builder {
	b := &builder{cfg: c, proxy: p, opts: opts, hosts: map[string]*config.Service{}, drs: config.NewDestinationRules(c), vss: config.ResolveDelegates(c.VirtualServices),
		pods: map[string]*podIndex{}, clusters: map[string]*clusterv3.Cluster{},
		endpoints: map[string]*endpointv3.ClusterLoadAssignment{}}
	for host, svc := range c.Hosts() {
		if visible(svc.Source, svc.ExportTo, p.Namespace) {
			b.hosts[host] = svc
			b.services = append(b.services, svc)
		}
	}
	sort.Slice(b.services, func(i, j int) bool { return b.services[i].Host < b.services[j].Host })
	for _, in := range instances {
		idx := b.pods[in.Namespace]
		if idx == nil {
			idx = &podIndex{byLabel: map[string][]int{}}
			b.pods[in.Namespace] = idx
		}
		idx.add(in)
	}
	return b
}

// visible applies Istio's exportTo: empty or "*" is every namespace, "." the
// object's own, anything else a namespace name.
func visible(meta *api.ObjectMeta, exportTo []string, ns string) bool {
	if len(exportTo) == 0 {
		return true
	}
	for _, e := range exportTo {
		if e == "*" || e == ns || (e == "." && meta.Namespace == ns) {
			return true
		}
	}
	return false
}

// destinationRule is the DestinationRule that applies to host for this
// proxy (see config.DestinationRules).
func (b *builder) destinationRule(host string) *api.DestinationRule {
	svcNS := ""
	if svc := b.hosts[host]; svc != nil {
		svcNS = svc.Namespace
	}
	return b.drs.For(host, b.proxy.Namespace, svcNS)
}

// podIndex finds a namespace's instances by label without scanning them all,
// so that compiling for 10,000 services stays linear.
type podIndex struct {
	all     []registry.Instance
	byLabel map[string][]int // "key=value" → indexes into all
}

func (x *podIndex) add(in registry.Instance) {
	i := len(x.all)
	x.all = append(x.all, in)
	for k, v := range in.Labels {
		x.byLabel[k+"="+v] = append(x.byLabel[k+"="+v], i)
	}
}

// selectPods returns the instances of namespace ns whose labels contain
// every label of sel and of subset, in registry order.
func (b *builder) selectPods(ns string, sel, subset map[string]string) []registry.Instance {
	x := b.pods[ns]
	if x == nil {
		return nil
	}
	want := map[string]string{}
	for k, v := range sel {
		want[k] = v
	}
	for k, v := range subset {
		if old, ok := want[k]; ok && old != v {
			return nil
		}
		want[k] = v
	}
	candidates := x.smallestPosting(want)
	var out []registry.Instance
	for _, i := range candidates {
		if config.SubsetOf(want, x.all[i].Labels) {
			out = append(out, x.all[i])
		}
	}
	return out
}

// smallestPosting returns the shortest list of candidates for a selector:
// the posting list of its rarest label, or every instance for an empty one.
func (x *podIndex) smallestPosting(want map[string]string) []int {
	if len(want) == 0 {
		all := make([]int, len(x.all))
		for i := range all {
			all[i] = i
		}
		return all
	}
	var best []int
	first := true
	for k, v := range want {
		p := x.byLabel[k+"="+v]
		if first || len(p) < len(best) {
			best, first = p, false
		}
	}
	return best
}
