package proxy

import (
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lanemesh/lanemesh/internal/workload"
)

// The request metrics are Istio's standard metrics, with Istio's names,
// labels and buckets, so that dashboards and tools written for Istio read
// lanemesh's proxies unchanged; lanemesh adds two labels, lane and
// fallback. A sidecar or gateway reports the requests it sends upstream
// (reporter="source"); a sidecar that serves its pod's inbound traffic (a
// permissive lane group's) reports those as Istio's server-side proxy
// does (reporter="destination", its own workload the destination), so
// that a sum over reporter="source" counts each hop once. Labels are
// bounded: the source half is fixed per proxy (unknown for inbound
// requests: there is no peer metadata exchange), destinations are the
// workloads and services the configuration names, codes are HTTP
// statuses, flags a small set, and lanes are capped (maxLanes).
const (
	metricRequests      = "istio_requests_total"
	metricDuration      = "istio_request_duration_milliseconds"
	metricRequestBytes  = "istio_request_bytes"
	metricResponseBytes = "istio_response_bytes"
)

// requestLabels are Istio's standard labels, in Istio's order, then
// lanemesh's.
var requestLabels = []string{
	"reporter",
	"source_workload", "source_canonical_service", "source_canonical_revision", "source_workload_namespace",
	"source_principal", "source_app", "source_version", "source_cluster",
	"destination_workload", "destination_workload_namespace", "destination_principal", "destination_app",
	"destination_version", "destination_service", "destination_canonical_service", "destination_canonical_revision",
	"destination_service_name", "destination_service_namespace", "destination_cluster",
	"request_protocol", "response_code", "grpc_response_status", "response_flags", "connection_security_policy",
	"lane", "fallback",
}

// istioBuckets are Envoy's default histogram buckets, which Istio's
// duration (milliseconds) and size (bytes) histograms use.
var istioBuckets = []float64{0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000,
	300000, 600000, 1800000, 3600000}

// unknown is Istio's value for a label it cannot know.
const unknown = "unknown"

// Lanes: a request's lane label is its route header's value. A request
// without one (a sidecar's whose app did not pass the header on, as in
// strict lanes, which route by the caller's labels; a gateway's sent into
// a lane by weight) is in the lane its route chose: the subset of the
// route's destination, which ASM's lane groups name after the lane and
// the tutorial names after the lane's version; for a fallback route, the
// primary's, so a fallback hop stays in its lane.
//
// A client can send any header value. A lane the proxy's clusters name
// (state.lanes) always has series of its own; other values share
// maxLanes, first come. Past that, and for a value that is not a
// Kubernetes label value (too long, or with a byte no lane name can hold:
// invalid UTF-8, a control or bidi character, markup), the lane label is
// laneOverflow, which no lane name can be. So a client can neither grow a
// proxy's series without bound, nor crowd out a lane applied later, nor
// put in a label what Prometheus refuses or a terminal obeys.
const (
	maxLanes     = 64
	laneOverflow = "~other"
)

// laneValue reports whether v may be a lane label: a Kubernetes label
// value, up to 63 bytes of [A-Za-z0-9._-] that begin and end with a
// letter or digit.
func laneValue(v string) bool {
	if len(v) == 0 || len(v) > 63 || !alnum(v[0]) || !alnum(v[len(v)-1]) {
		return false
	}
	for i := 1; i < len(v)-1; i++ {
		if c := v[i]; !alnum(c) && c != '-' && c != '_' && c != '.' {
			return false
		}
	}
	return true
}

func alnum(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' }

// destination is the destination half of a request's labels. Values are
// interned (destinations.intern), so that a request's series are found by
// pointer and equal destinations in successive snapshots share series.
type destination struct {
	workload, namespace, app, version, canonicalService, canonicalRevision, cluster string
	service, serviceName, serviceNamespace                                          string
	// inbound: the proxy's own workload, for the requests it serves its
	// pod (reporter="destination").
	inbound bool
}

// inboundDestination is the proxy's own workload src, as the destination
// of the inbound requests it reports. The service they were addressed to
// is not known to an original-destination passthrough.
func inboundDestination(src SourceInfo) destination {
	d := serviceDestination("")
	d.inbound = true
	w := src.metricWorkload()
	d.workload, d.namespace, d.canonicalService, d.canonicalRevision = w.name, w.namespace, w.canonicalService, w.canonicalRevision
	d.app, d.version, d.cluster = w.canonicalService, w.canonicalRevision, w.cluster // as endpointDestination's
	return d
}

// serviceDestination is a request sent to a service but to no known
// workload (no endpoint was reached, or it carries no identity).
func serviceDestination(service string) destination {
	d := destination{workload: unknown, namespace: unknown, app: unknown, version: unknown,
		canonicalService: unknown, canonicalRevision: unknown, cluster: unknown,
		service: service, serviceName: service, serviceNamespace: unknown}
	if service == "" {
		d.service, d.serviceName = unknown, unknown
		return d
	}
	if name, ns := workload.ServiceParts(service); ns != "" {
		d.serviceName, d.serviceNamespace = name, ns
	}
	return d
}

// endpointDestination is a request that reached an endpoint of service
// whose Istio workload metadata is identity ("" when it has none). As in
// Istio, the destination's app and version are its canonical service and
// revision: for the fallback, the version that served the request.
func endpointDestination(service, identity string) destination {
	d := serviceDestination(service)
	id, ok := workload.Parse(identity)
	if !ok {
		return d
	}
	d.workload, d.namespace, d.cluster = orUnknown(id.Name), orUnknown(id.Namespace), orUnknown(id.Cluster)
	d.canonicalService, d.canonicalRevision = orUnknown(id.CanonicalService), orUnknown(id.CanonicalRevision)
	d.app, d.version = d.canonicalService, d.canonicalRevision
	return d
}

func orUnknown(s string) string {
	if s == "" {
		return unknown
	}
	return s
}

// destinations interns destination label sets. It is used while a
// snapshot is built, never by requests; it grows with the distinct
// workloads and services the configuration has named.
type destinations struct {
	mu sync.Mutex
	m  map[destination]*destination
}

func (ds *destinations) intern(d destination) *destination {
	if ds == nil {
		return &d
	}
	ds.mu.Lock()
	defer ds.mu.Unlock()
	if p, ok := ds.m[d]; ok {
		return p
	}
	if ds.m == nil {
		ds.m = map[destination]*destination{}
	}
	p := &d
	ds.m[d] = p
	return p
}

// metrics are the proxy's metrics: Istio's request metrics, and
// lanemesh's own for configuration updates and mirroring.
type metrics struct {
	requests                      *prometheus.CounterVec
	duration, reqBytes, respBytes *prometheus.HistogramVec
	updates                       *prometheus.CounterVec
	// mirrors counts request copies: sent (a response came back, whatever
	// its status), failed, or dropped (too many in flight).
	mirrors *prometheus.CounterVec
	// entryDenied counts requests lane entry sent to the baseline.
	entryDenied *prometheus.CounterVec
	source      []string // reporter and the source labels, fixed per proxy
	inbound     []string // the same for inbound requests: destination, and unknown sources

	// series caches the children of the vectors by label values, so a
	// request costs one lock-free map lookup instead of WithLabelValues'
	// hashing, locking and slice allocation. The map is copied on write;
	// new label combinations stop appearing soon after start.
	series atomic.Pointer[map[seriesKey]series]
	mu     sync.Mutex          // serialises writers of series and lanes
	lanes  map[string]struct{} // lane values with series, at most maxLanes
}

type seriesKey struct {
	dest     *destination
	code     int
	flags    flags
	fallback bool
	lane     string
}

type series struct {
	count                         prometheus.Counter
	duration, reqBytes, respBytes prometheus.Observer
}

func newMetrics(reg prometheus.Registerer, src SourceInfo) (*metrics, error) {
	histogram := func(name, help string) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: istioBuckets}, requestLabels)
	}
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: metricRequests,
			Help: "Requests the proxy handled, with Istio's standard labels, the request's lane and whether a fallback served it."}, requestLabels),
		duration:  histogram(metricDuration, "Time from request headers to the end of the response, in milliseconds."),
		reqBytes:  histogram(metricRequestBytes, "Request body sizes, in bytes."),
		respBytes: histogram(metricResponseBytes, "Response body sizes, in bytes."),
		updates: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lanemesh_config_updates_total",
			Help: "Configuration updates applied (accepted) or rejected (NACK)."}, []string{"result"}),
		mirrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lanemesh_mirror_requests_total",
			Help: "Copies of requests sent to mirror clusters: sent, failed, or dropped when too many were in flight."}, []string{"result"}),
		entryDenied: newEntryMetric(),
		source:      src.labels(),
		inbound:     []string{"destination", unknown, unknown, unknown, unknown, unknown, unknown, unknown, unknown},
		lanes:       map[string]struct{}{},
	}
	m.series.Store(&map[seriesKey]series{})
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.reqBytes, m.respBytes, m.updates, m.mirrors, m.entryDenied} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// workloadLabels are a workload's metric labels, unknown where not known.
type workloadLabels struct {
	name, namespace, canonicalService, canonicalRevision, app, version, cluster string
}

// metricWorkload is this proxy's workload, as the metrics name it.
func (s SourceInfo) metricWorkload() workloadLabels {
	name := s.Workload
	if name == "" {
		name = s.Name
	}
	svc, rev := unknown, unknown
	if name != "" || len(s.Labels) > 0 {
		svc, rev = workload.Canonical(s.Labels, name)
	}
	cluster := s.Cluster
	if cluster == "" {
		cluster = workload.DefaultCluster
	}
	return workloadLabels{name: orUnknown(name), namespace: orUnknown(s.Namespace), canonicalService: orUnknown(svc),
		canonicalRevision: orUnknown(rev), app: orUnknown(s.Labels["app"]), version: orUnknown(s.Labels["version"]), cluster: cluster}
}

// labels are the reporter and source labels of what this proxy reports.
func (s SourceInfo) labels() []string {
	w := s.metricWorkload()
	return []string{"source", w.name, w.canonicalService, w.canonicalRevision, w.namespace,
		unknown, w.app, w.version, w.cluster}
}

// observe counts a finished request; known are the lanes of the state
// that served it.
func (m *metrics) observe(k seriesKey, known map[string]struct{}, d time.Duration, reqBytes, respBytes int64) {
	s, ok := (*m.series.Load())[k]
	if !ok {
		s = m.add(k, known)
	}
	s.count.Inc()
	s.duration.Observe(float64(d) / float64(time.Millisecond))
	s.reqBytes.Observe(float64(reqBytes))
	s.respBytes.Observe(float64(respBytes))
}

// add makes the series of k and caches them. A lane that is neither
// known nor within the cap gets the overflow lane's series, which are not
// cached under k, so that made-up lanes cannot grow the cache either.
func (m *metrics) add(k seriesKey, known map[string]struct{}) series {
	m.mu.Lock()
	defer m.mu.Unlock()
	old := *m.series.Load()
	if s, ok := old[k]; ok {
		return s
	}
	// The lane is kept for the life of the series. It comes from a
	// request header, a substring of that request's whole head (see
	// h1.parsePlainRequest), so the series keeps a copy of its own.
	k.lane = strings.Clone(k.lane)
	_, isKnown := known[k.lane]
	if _, seen := m.lanes[k.lane]; !seen && !isKnown && k.lane != "" {
		if !laneValue(k.lane) || len(m.lanes) >= maxLanes {
			k.lane = laneOverflow
			if s, ok := old[k]; ok {
				return s
			}
		} else {
			m.lanes[k.lane] = struct{}{}
		}
	}
	d := k.dest
	code := k.code
	if code == statusClientClosed {
		code = 0 // Envoy's response_code when no response was sent
	}
	reporter := m.source
	if d.inbound {
		reporter = m.inbound
	}
	labels := append(append(make([]string, 0, len(requestLabels)), reporter...),
		d.workload, d.namespace, unknown, d.app,
		d.version, d.service, d.canonicalService, d.canonicalRevision,
		d.serviceName, d.serviceNamespace, d.cluster,
		"http", strconv.Itoa(code), "", k.flags.String(), unknown,
		k.lane, strconv.FormatBool(k.fallback))
	s := series{count: m.requests.WithLabelValues(labels...), duration: m.duration.WithLabelValues(labels...),
		reqBytes: m.reqBytes.WithLabelValues(labels...), respBytes: m.respBytes.WithLabelValues(labels...)}
	next := make(map[seriesKey]series, len(old)+1)
	for key, v := range old {
		next[key] = v
	}
	next[k] = s
	m.series.Store(&next)
	return s
}
