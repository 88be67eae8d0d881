package proxy

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the proxy's request metrics. Labels are bounded: source
// labels are fixed per proxy, destinations are the clusters the
// configuration names (or "unknown"), codes are HTTP statuses, flags and
// fallback are small sets.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	updates  *prometheus.CounterVec
	// mirrors counts request copies: sent (a response came back, whatever
	// its status), failed, or dropped (too many in flight).
	mirrors *prometheus.CounterVec
	// entryDenied counts requests lane entry sent to the baseline.
	entryDenied *prometheus.CounterVec
	app, ver    string

	// series caches the children of the vectors by label values, so a
	// request costs one lock-free map lookup instead of WithLabelValues'
	// hashing, locking and slice allocation. The map is copied on write;
	// new label combinations stop appearing soon after start.
	series atomic.Pointer[map[seriesKey]series]
	mu     sync.Mutex // serialises writers of series
}

type seriesKey struct {
	service, subset string
	code            int
	flags           flags
	fallback        bool
}

type series struct {
	count    prometheus.Counter
	duration prometheus.Observer
}

var requestLabels = []string{"source_app", "source_version", "destination_service", "destination_subset", "response_code", "response_flags", "fallback"}

func newMetrics(reg prometheus.Registerer, src SourceInfo) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lanemesh_requests_total",
			Help: "Requests the proxy handled, by source, destination, response code, response flags and whether a fallback served them."}, requestLabels),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "lanemesh_request_duration_seconds",
			Help:    "Time from request headers to the end of the response, by the same labels as lanemesh_requests_total.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}}, requestLabels),
		updates: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lanemesh_config_updates_total",
			Help: "Configuration updates applied (accepted) or rejected (NACK)."}, []string{"result"}),
		mirrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lanemesh_mirror_requests_total",
			Help: "Copies of requests sent to mirror clusters: sent, failed, or dropped when too many were in flight."}, []string{"result"}),
		entryDenied: newEntryMetric(),
		app:         src.Labels["app"], ver: src.Labels["version"],
	}
	m.series.Store(&map[seriesKey]series{})
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.updates, m.mirrors, m.entryDenied} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// observe counts a finished request.
func (m *metrics) observe(k seriesKey, d time.Duration) {
	s, ok := (*m.series.Load())[k]
	if !ok {
		s = m.add(k)
	}
	s.count.Inc()
	s.duration.Observe(d.Seconds())
}

func (m *metrics) add(k seriesKey) series {
	m.mu.Lock()
	defer m.mu.Unlock()
	old := *m.series.Load()
	if s, ok := old[k]; ok {
		return s
	}
	labels := []string{m.app, m.ver, k.service, k.subset, strconv.Itoa(k.code), k.flags.String(), strconv.FormatBool(k.fallback)}
	s := series{count: m.requests.WithLabelValues(labels...), duration: m.duration.WithLabelValues(labels...)}
	next := make(map[seriesKey]series, len(old)+1)
	for key, v := range old {
		next[key] = v
	}
	next[k] = s
	m.series.Store(&next)
	return s
}

// observe records a finished exchange in metrics and the access log.
func (p *Proxy) observe(x *exchange) {
	d := time.Since(x.start)
	if x.fellBack && x.served != nil && x.served != x.cluster.targets[0] {
		x.flags |= flagFB
	}
	k := seriesKey{service: "unknown", subset: "", code: x.status, flags: x.flags, fallback: x.flags&flagFB != 0}
	switch {
	case x.served != nil:
		k.service, k.subset = x.served.service, x.served.subset
	case x.cluster != nil:
		k.service, k.subset = x.cluster.service, x.cluster.subset
	}
	p.metrics.observe(k, d)
	if p.access != nil && p.access.Enabled(context.Background(), slog.LevelInfo) {
		p.logAccess(x, d)
	}
}

// logAccess writes the request's access log line.
func (p *Proxy) logAccess(x *exchange, d time.Duration) {
	vs, index, routeName := "", -1, ""
	if x.rt != nil {
		vs, index, routeName = x.rt.VirtualService, x.rt.RouteIndex, x.rt.Name
	}
	upstream, address := "", ""
	if x.served != nil {
		upstream, address = x.served.name, x.endpoint.addr
	}
	p.access.LogAttrs(context.Background(), slog.LevelInfo, "request",
		slog.String("method", x.method),
		slog.String("authority", x.authority),
		slog.String("path", x.path),
		slog.Int("status", x.status),
		slog.Float64("duration_ms", float64(d.Microseconds())/1000),
		slog.String("response_flags", x.flags.String()),
		slog.String("virtual_service", vs),
		slog.Int("route_index", index),
		slog.String("route_name", routeName),
		slog.String("route_cluster", x.clusterName),
		slog.String("upstream_cluster", upstream),
		slog.String("upstream_address", address),
		slog.Bool("fallback", x.flags&flagFB != 0),
		slog.Int("attempts", x.attempts),
		slog.String("lane", x.lane),
		slog.String("request_id", x.requestID),
		slog.String("source_workload", p.opts.Source.workload()),
	)
}

// newAccessLogger is a JSON logger without the level and message keys,
// which say nothing in an access log.
func newAccessLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && (a.Key == slog.LevelKey || a.Key == slog.MessageKey) {
			return slog.Attr{}
		}
		return a
	}}))
}
