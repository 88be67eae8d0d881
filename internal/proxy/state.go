package proxy

import (
	"net/http"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"github.com/lanemesh/lanemesh/internal/hashring"
	"github.com/lanemesh/lanemesh/internal/meshxds"
	"github.com/lanemesh/lanemesh/internal/policy"
	"github.com/lanemesh/lanemesh/internal/route"
)

// state is one immutable configuration snapshot. Apply builds it completely,
// checks it, and publishes it with one atomic store; nothing mutates it
// afterwards, so the hot path reads it without locks. Mutable run-time
// counters hang off it by pointer (clusterStats, hostStats) and live in the
// store, which outlives snapshots.
type state struct {
	res       *meshxds.Resources
	listeners map[string]*listenerConfig    // by bind address
	tables    map[string]*route.Table       // by RouteConfiguration name
	plans     map[*routev3.Route]*routePlan // by the route as delivered (route.Route.Envoy)
	clusters  map[string]*cluster
	// lanes are the lanes its clusters name (their subsets): a request in
	// one of them always has series of its own (metrics.add).
	lanes map[string]struct{}
}

// emptyState serves before the first Apply: no listeners, so nothing routes.
func emptyState() *state {
	return &state{res: &meshxds.Resources{}, listeners: map[string]*listenerConfig{},
		tables: map[string]*route.Table{}, plans: map[*routev3.Route]*routePlan{}, clusters: map[string]*cluster{},
		lanes: map[string]struct{}{}}
}

// listenerConfig is one HTTP listener: where it binds and its filter
// chains. A plain listener has one chain; one that terminates TLS has a
// chain per server, chosen by the client's SNI (see chainFor).
type listenerConfig struct {
	name   string
	port   uint32
	bind   string
	tls    bool
	chains []*filterChain
}

// filterChain is one filter chain of a listener: the SNI names it serves
// (none: any), its TLS, and its HTTP connection manager's route table and
// fault filter.
type filterChain struct {
	serverNames []string
	tls         *serverTLS
	table       *route.Table
	// fault is true when the listener's filter chain has the fault filter;
	// per-route faults apply only then, as in Envoy. defaultFault is the
	// filter's own configuration, used by routes without one.
	fault        bool
	defaultFault *policy.Fault
	// cors is true when the filter chain has the CORS filter; routes' CORS
	// policies apply only then, as in Envoy.
	cors bool
	// entry guards lane entry (entry.go); nil when no policy selects
	// this gateway.
	entry *laneEntry
	// lanes is the chain's lane propagation filter, nil without one;
	// lanesConfig its settings, kept while the listener is read.
	lanes       *laneFilter
	lanesConfig *meshxds.LanePropagation
	// server is what the chain does to a response's Server header,
	// websocket whether it allows WebSocket upgrades (upgrade_configs),
	// http10 whether it serves HTTP/1.0 (accept_http_10).
	server    serverHeaderOp
	websocket bool
	http10    bool
	// xfcc is what the chain tells the upstream of a client certificate
	// (forward_client_cert_details SANITIZE_SET); nil: nothing.
	xfcc *xfccFields
}

// serverHeaderOp sets a response's Server header to value: always
// (overwrite), or only when it has none; value nil: leave it.
type serverHeaderOp struct {
	value     []string
	overwrite bool
}

func (o serverHeaderOp) apply(h http.Header) {
	if o.value == nil {
		return
	}
	if _, ok := h["Server"]; o.overwrite || !ok {
		h["Server"] = o.value
	}
}

// lbPolicy is a cluster's load-balancing algorithm.
type lbPolicy uint8

const (
	lbLeastRequest lbPolicy = iota // power of two choices, Istio's default
	lbRoundRobin
	lbRandom
	lbRingHash // consistent hashing; the cluster's ring is its table
	lbMaglev
)

func (l lbPolicy) String() string {
	switch l {
	case lbRoundRobin:
		return "ROUND_ROBIN"
	case lbRandom:
		return "RANDOM"
	case lbRingHash:
		return "RING_HASH"
	case lbMaglev:
		return "MAGLEV"
	}
	return "LEAST_REQUEST"
}

// cluster is one upstream cluster of a snapshot. An aggregate cluster has no
// endpoints of its own; targets lists its members in priority order. Any
// other cluster is its own single target, so the forwarding code treats both
// alike.
type cluster struct {
	name      string
	aggregate bool
	targets   []*cluster
	endpoints []*endpoint
	lb        lbPolicy
	limits    limits
	outlier   *policy.Outlier // nil: no ejection
	// ring is the consistent-hash table over endpoints (RING_HASH and
	// MAGLEV); nil for other policies.
	ring  *hashring.Table
	pool  *pool
	stats *clusterStats
	// service is the destination_service of traffic this cluster serves,
	// parsed from the Istio cluster name.
	service string
	// lane is the lane label of a request routed here without a route
	// header: the subset of the Istio cluster name (for an aggregate, its
	// primary's), "" for none. See telemetry.go.
	lane string
	// dest is the metric labels of a request sent here that reached no
	// endpoint (for an aggregate, its primary's).
	dest           *destination
	connectTimeout time.Duration
	// origDst is set on an ORIGINAL_DST cluster (inbound.go): it has no
	// endpoints of its own, and each request goes to a cluster of one
	// endpoint, its connection's original destination.
	origDst *origDstCluster
}

// endpoint is one upstream address of a cluster in a snapshot.
type endpoint struct {
	addr string // host:port, dialled as is
	pod  string // lanemesh endpoint metadata, for /clusters
	// dest is the metric labels of a request this endpoint served: its
	// cluster's service and the workload its Istio metadata names.
	dest   *destination
	status corev3.HealthStatus
	// eligible is the EDS verdict (route.EDSEligible). Outlier ejection is
	// checked separately because it changes without a new snapshot.
	eligible bool
	host     *hostStats
	conns    *hostConns // in the cluster's pool
}

// usable reports whether the endpoint may take a request at monotonic time
// now (nanoseconds since the proxy's epoch).
func (e *endpoint) usable(now int64) bool {
	return route.Usable(e.eligible, e.host.ejected(now))
}

// limits are a cluster's circuit breakers (default priority) and retry
// budget. Zero fields take Envoy's defaults at build time, so every field
// here is a real limit.
type limits struct {
	maxConnections, maxPending, maxRequests uint32
	// maxRetries bounds the retries in flight, as Envoy's max_retries
	// threshold does (3 when unset), unless budget is set.
	maxRetries uint32
	// budget is true when the threshold has a retry_budget: then it alone
	// bounds retries in flight, to budgetPercent of the active requests
	// but never under minRetryConcurrency, and max_retries is ignored.
	budget              bool
	budgetPercent       float64
	minRetryConcurrency uint32
}

// Envoy's circuit-breaker and retry-budget defaults.
const (
	defaultMaxConnections      = 1024
	defaultMaxPending          = 1024
	defaultMaxRequests         = 1024
	defaultMaxRetries          = 3
	defaultBudgetPercent       = 20
	defaultMinRetryConcurrency = 3
)
