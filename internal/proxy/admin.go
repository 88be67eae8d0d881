package proxy

import (
	"encoding/json"
	"net/http"
	"sort"
	"time"

	udpa "github.com/cncf/xds/go/udpa/annotations"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/lanemesh/lanemesh/internal/guard"
)

// adminHandler serves the admin listener:
//
//	/ready        200 once the first configuration is applied and listeners are up, else 503 (also while draining)
//	/metrics      Prometheus metrics
//	/config_dump  the resources in force, as protojson
//	/clusters     clusters, endpoints, health, outlier state and counters, as JSON
//
// Nothing here changes the proxy, but /config_dump and /clusters tell a
// lot: the routes, clusters and endpoints of all the mesh the proxy sees.
// They answer only a client on the proxy's own machine (its pod's
// loopback), as Istio keeps Envoy's admin on 127.0.0.1:15000 while the
// pod's IP serves health and metrics (kubelet probes and Prometheus
// scrapes); and a web page must not read them through a rebound DNS
// name: guard.Browser answers only a Host that is an IP address,
// localhost or the name the listener was bound to.
func (p *Proxy) adminHandler(gatherer prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ready", func(w http.ResponseWriter, _ *http.Request) {
		if !p.Ready() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	if gatherer != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	}
	mux.Handle("GET /config_dump", localOnly(http.HandlerFunc(p.serveConfigDump)))
	mux.Handle("GET /clusters", localOnly(http.HandlerFunc(p.serveClusters)))
	return guard.Browser(p.opts.AdminAddr, mux)
}

// localOnly answers 403 to a client that is not on the loopback.
func localOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !guard.IsLoopback(r.RemoteAddr) {
			http.Error(w, r.URL.Path+" answers only on the proxy's loopback, as Envoy's admin does in Istio: "+
				"use kubectl port-forward to this port, or lanemesh proxy-config", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// serveConfigDump writes {"listeners": [...], "routes": [...], "clusters":
// [...], "endpoints": [...]}, each resource as Envoy's JSON.
func (p *Proxy) serveConfigDump(w http.ResponseWriter, _ *http.Request) {
	res := p.state.Load().res
	out := map[string][]json.RawMessage{"listeners": {}, "routes": {}, "clusters": {}, "endpoints": {}}
	add := func(kind string, m proto.Message) error {
		b, err := protojson.Marshal(redact(m))
		out[kind] = append(out[kind], b)
		return err
	}
	var err error
	for _, l := range res.Listeners {
		err = errorsFirst(err, add("listeners", l))
	}
	for _, r := range res.Routes {
		err = errorsFirst(err, add("routes", r))
	}
	for _, c := range res.Clusters {
		err = errorsFirst(err, add("clusters", c))
	}
	for _, e := range res.Endpoints {
		err = errorsFirst(err, add("endpoints", e))
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeJSON(w, out)
}

// redacted is what a sensitive field shows, as in Envoy's config dump.
const redacted = "[redacted]"

// redact returns m, or a copy of it in which every field Envoy's API marks
// sensitive (udpa.annotations.sensitive: private keys, their passwords,
// session ticket keys), inside typed configs too, holds "[redacted]", as
// Envoy's own config dump does: /config_dump asks for no token, and a
// certificate from a Kubernetes Secret travels inline. A data source that
// names a file or an environment variable is left as it is: it holds no
// secret.
func redact(m proto.Message) proto.Message {
	c := proto.Clone(m)
	if redactMessage(c.ProtoReflect()) {
		return c
	}
	return m
}

// redactMessage redacts m in place and reports whether it changed it.
func redactMessage(m protoreflect.Message) bool {
	if a, ok := m.Interface().(*anypb.Any); ok {
		inner, err := a.UnmarshalNew()
		if err != nil || !redactMessage(inner.ProtoReflect()) {
			return false
		}
		return a.MarshalFrom(inner) == nil
	}
	changed := false
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if sensitive, _ := proto.GetExtension(fd.Options(), udpa.E_Sensitive).(bool); sensitive {
			changed = redactField(m, fd, v) || changed
			return true
		}
		switch {
		case fd.IsList() && fd.Message() != nil:
			for i := range v.List().Len() {
				changed = redactMessage(v.List().Get(i).Message()) || changed
			}
		case fd.IsMap() && fd.MapValue().Message() != nil:
			v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
				changed = redactMessage(mv.Message()) || changed
				return true
			})
		case !fd.IsList() && !fd.IsMap() && fd.Message() != nil:
			changed = redactMessage(v.Message()) || changed
		}
		return true
	})
	return changed
}

// redactField replaces one sensitive field's value.
func redactField(m protoreflect.Message, fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
	switch {
	case fd.IsList() || fd.IsMap():
		m.Clear(fd)
	case fd.Kind() == protoreflect.StringKind:
		m.Set(fd, protoreflect.ValueOfString(redacted))
	case fd.Kind() == protoreflect.BytesKind:
		m.Set(fd, protoreflect.ValueOfBytes([]byte(redacted)))
	case fd.Message() != nil:
		if ds, ok := v.Message().Interface().(*corev3.DataSource); ok {
			switch ds.Specifier.(type) {
			case *corev3.DataSource_InlineBytes, *corev3.DataSource_InlineString:
			default: // a file or an environment variable holds the secret, not the config
				return false
			}
			m.Set(fd, protoreflect.ValueOfMessage((&corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: redacted}}).ProtoReflect()))
			return true
		}
		m.Clear(fd)
	default:
		m.Clear(fd)
	}
	return true
}

func errorsFirst(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// clusterView and endpointView are /clusters' JSON.
type clusterView struct {
	Name           string         `json:"name"`
	Members        []string       `json:"members,omitempty"` // aggregate clusters, in fallback order
	LbPolicy       string         `json:"lb_policy,omitempty"`
	ActiveRequests int64          `json:"active_requests"`
	ActiveRetries  int64          `json:"active_retries"`
	Connections    int64          `json:"connections"`
	Ejections      uint64         `json:"ejections_total"`
	Endpoints      []endpointView `json:"endpoints,omitempty"`
}

type endpointView struct {
	Address        string `json:"address"`
	Pod            string `json:"pod,omitempty"`
	EDSHealth      string `json:"eds_health"`
	Healthy        bool   `json:"healthy"` // EDS-eligible and not ejected
	Ejected        bool   `json:"ejected"`
	EjectedForMS   int64  `json:"ejected_for_ms,omitempty"`
	Ejections      uint64 `json:"ejections_total"`
	Consecutive5xx uint32 `json:"consecutive_5xx"`
	ConsecutiveGW  uint32 `json:"consecutive_gateway_failures"`
	ConsecutiveLO  uint32 `json:"consecutive_local_origin_failures"`
	ActiveRequests int64  `json:"active_requests"`
}

func (p *Proxy) serveClusters(w http.ResponseWriter, _ *http.Request) {
	st := p.state.Load()
	now := int64(time.Since(p.epoch))
	views := make([]clusterView, 0, len(st.clusters))
	for _, cl := range st.clusters {
		v := clusterView{Name: cl.name, ActiveRequests: cl.stats.active.Load(), ActiveRetries: cl.stats.retries.Load(),
			Connections: cl.stats.conns.Load(), Ejections: cl.stats.ejections.Load()}
		if cl.aggregate {
			for _, m := range cl.targets {
				v.Members = append(v.Members, m.name)
			}
		} else {
			v.LbPolicy = cl.lb.String()
		}
		for _, e := range cl.endpoints {
			v.Endpoints = append(v.Endpoints, endpointViewOf(e, now))
		}
		views = append(views, v)
	}
	sort.Slice(views, func(i, j int) bool { return views[i].Name < views[j].Name })
	writeJSON(w, map[string]any{"clusters": views})
}

func endpointViewOf(e *endpoint, now int64) endpointView {
	h := e.host
	v := endpointView{Address: e.addr, Pod: e.pod, EDSHealth: e.status.String(), Healthy: e.usable(now), Ejected: h.ejected(now),
		Ejections: h.ejections.Load(), Consecutive5xx: h.counters.Consec5xx.Load(), ConsecutiveGW: h.counters.ConsecGateway.Load(),
		ConsecutiveLO: h.counters.ConsecLocal.Load(), ActiveRequests: h.active.Load()}
	if v.Ejected {
		v.EjectedForMS = (h.ejectedUntil.Load() - now) / int64(time.Millisecond)
	}
	return v
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// upstreamCollector exports per-cluster gauges read at scrape time from
// the snapshot in force, so the hot path does no metric work for them.
type upstreamCollector struct {
	p                                         *Proxy
	conns, active, endpoints, ejected, ejects *prometheus.Desc
}

func newUpstreamCollector(p *Proxy) *upstreamCollector {
	l := []string{"cluster"}
	return &upstreamCollector{p: p,
		conns:     prometheus.NewDesc("lanemesh_upstream_connections", "Open connections to the cluster's endpoints.", l, nil),
		active:    prometheus.NewDesc("lanemesh_upstream_active_requests", "Requests in flight to the cluster.", l, nil),
		endpoints: prometheus.NewDesc("lanemesh_upstream_healthy_endpoints", "Endpoints that may take requests (EDS-healthy and not ejected).", l, nil),
		ejected:   prometheus.NewDesc("lanemesh_upstream_ejected_endpoints", "Endpoints ejected by outlier detection.", l, nil),
		ejects:    prometheus.NewDesc("lanemesh_upstream_ejections_total", "Outlier ejections in the cluster.", l, nil),
	}
}

func (c *upstreamCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.conns, c.active, c.endpoints, c.ejected, c.ejects} {
		ch <- d
	}
}

func (c *upstreamCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.p.state.Load()
	now := int64(time.Since(c.p.epoch))
	for _, cl := range st.clusters {
		if cl.aggregate {
			continue
		}
		healthy, ejected := 0, 0
		for _, e := range cl.endpoints {
			if e.usable(now) {
				healthy++
			}
			if e.host.ejected(now) {
				ejected++
			}
		}
		s := cl.stats
		ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(s.conns.Load()), cl.name)
		ch <- prometheus.MustNewConstMetric(c.active, prometheus.GaugeValue, float64(s.active.Load()), cl.name)
		ch <- prometheus.MustNewConstMetric(c.endpoints, prometheus.GaugeValue, float64(healthy), cl.name)
		ch <- prometheus.MustNewConstMetric(c.ejected, prometheus.GaugeValue, float64(ejected), cl.name)
		ch <- prometheus.MustNewConstMetric(c.ejects, prometheus.CounterValue, float64(s.ejections.Load()), cl.name)
	}
}
