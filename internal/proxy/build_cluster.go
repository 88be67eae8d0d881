package proxy

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"

	"github.com/lanemesh/lanemesh/internal/meshxds"
	"github.com/lanemesh/lanemesh/internal/policy"
	"github.com/lanemesh/lanemesh/internal/route"
	"github.com/lanemesh/lanemesh/internal/workload"
)

const httpProtocolOptionsKey = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"

// buildClusters builds every cluster of the snapshot, endpoints included,
// then resolves aggregate clusters to their members. Every problem is
// reported, each naming its cluster.
func (b *builder) buildClusters() error {
	assignments := map[string]*endpointv3.ClusterLoadAssignment{}
	var errs []error
	for _, a := range b.res.Endpoints {
		if _, dup := assignments[a.GetClusterName()]; dup {
			errs = append(errs, fmt.Errorf("cluster load assignment %q: %w: listed twice", a.GetClusterName(), route.ErrInvalid))
		}
		assignments[a.GetClusterName()] = a
	}
	var aggregates []*clusterv3.Cluster
	for _, c := range b.res.Clusters {
		name := c.GetName()
		if _, dup := b.st.clusters[name]; dup || name == "" {
			errs = append(errs, fmt.Errorf("cluster %q: %w: empty or duplicate name", name, route.ErrInvalid))
			continue
		}
		if c.GetClusterType() != nil {
			aggregates = append(aggregates, c)
			continue
		}
		cl, err := b.buildCluster(c, assignments)
		if err != nil {
			errs = append(errs, fmt.Errorf("cluster %q: %w", name, err))
			continue
		}
		b.st.clusters[name] = cl
		if cl.lane != "" {
			b.st.lanes[cl.lane] = struct{}{}
		}
	}
	aggNames := map[string]bool{}
	for _, c := range aggregates {
		aggNames[c.GetName()] = true
	}
	for _, c := range aggregates {
		if err := b.buildAggregate(c, aggNames); err != nil {
			errs = append(errs, fmt.Errorf("cluster %q: %w", c.GetName(), err))
		}
	}
	return errors.Join(errs...)
}

// buildCluster builds one cluster whose endpoints are listed: EDS (from its
// ClusterLoadAssignment), STATIC, STRICT_DNS or LOGICAL_DNS (from its
// load_assignment; names are resolved per connection by the dialer).
func (b *builder) buildCluster(c *clusterv3.Cluster, assignments map[string]*endpointv3.ClusterLoadAssignment) (*cluster, error) {
	if err := checkCluster(c); err != nil {
		return nil, err
	}
	cla := c.GetLoadAssignment()
	switch c.GetType() {
	case clusterv3.Cluster_EDS:
		key := c.GetEdsClusterConfig().GetServiceName()
		if key == "" {
			key = c.GetName()
		}
		if cla = assignments[key]; cla == nil {
			return nil, fmt.Errorf("%w: EDS cluster has no ClusterLoadAssignment %q among the resources", route.ErrInvalid, key)
		}
	case clusterv3.Cluster_ORIGINAL_DST:
		return b.buildOriginalDst(c)
	case clusterv3.Cluster_STATIC, clusterv3.Cluster_STRICT_DNS, clusterv3.Cluster_LOGICAL_DNS:
		if cla == nil {
			return nil, fmt.Errorf("%w: %v cluster has no load_assignment", route.ErrInvalid, c.GetType())
		}
	default:
		return nil, fmt.Errorf("%w: cluster type %v is not supported; use EDS, STATIC, STRICT_DNS, LOGICAL_DNS, ORIGINAL_DST or %s", route.ErrUnsupported, c.GetType(), meshxds.AggregateClusterType)
	}
	cl := &cluster{name: c.GetName(), stats: b.store.cluster(c.GetName()),
		connectTimeout: policy.DurationOr(c.GetConnectTimeout().AsDuration(), defaultConnectTimeout)}
	cl.targets = []*cluster{cl}
	cl.service, cl.lane = metricNames(cl.name)
	cl.dest = b.dests.intern(serviceDestination(cl.service))
	var err error
	if cl.lb, err = lbPolicyOf(c); err != nil {
		return nil, err
	}
	if cl.endpoints, err = b.buildEndpoints(cl.stats, cl.service, cla); err != nil {
		return nil, fmt.Errorf("load assignment: %w", err)
	}
	if cl.ring, err = buildRing(c, cl.lb, cl.endpoints, cl.stats); err != nil {
		return nil, err
	}
	if cl.outlier, err = policy.BuildOutlier(c.GetOutlierDetection()); err != nil {
		return nil, err
	}
	cl.limits = buildLimits(c.GetCircuitBreakers())
	settings, err := b.poolSettings(c, cl)
	if err != nil {
		return nil, err
	}
	up, key, err := buildUpstreamTLS(c.GetTransportSocket())
	if err != nil {
		return nil, err
	}
	settings.tlsKey = key
	cl.pool = b.store.poolFor(cl.stats, settings, up)
	for _, e := range cl.endpoints {
		e.conns = cl.pool.host(e.addr)
	}
	return cl, nil
}

// defaultConnectTimeout is Envoy's.
const defaultConnectTimeout = 5 * time.Second

// checkCluster refuses cluster features whose absence would change where
// or how traffic goes.
func checkCluster(c *clusterv3.Cluster) error {
	switch {
	case len(c.GetTransportSocketMatches()) > 0:
		return fmt.Errorf("%w: transport_socket_matches are not supported; give the cluster one transport_socket", route.ErrUnsupported)
	case len(c.GetHealthChecks()) > 0:
		return fmt.Errorf("%w: active health_checks are not supported; endpoint health comes from EDS", route.ErrUnsupported)
	case c.GetHttp2ProtocolOptions() != nil:
		return fmt.Errorf("%w: HTTP/2 upstreams are not supported", route.ErrUnsupported)
	case c.GetLoadBalancingPolicy() != nil || c.GetLbSubsetConfig() != nil:
		return fmt.Errorf("%w: load_balancing_policy and lb_subset_config are not supported; use lb_policy", route.ErrUnsupported)
	}
	return nil
}

func lbPolicyOf(c *clusterv3.Cluster) (lbPolicy, error) {
	switch c.GetLbPolicy() {
	case clusterv3.Cluster_ROUND_ROBIN:
		return lbRoundRobin, nil
	case clusterv3.Cluster_LEAST_REQUEST:
		return lbLeastRequest, nil
	case clusterv3.Cluster_RANDOM:
		return lbRandom, nil
	case clusterv3.Cluster_RING_HASH:
		return lbRingHash, nil
	case clusterv3.Cluster_MAGLEV:
		return lbMaglev, nil
	}
	return 0, fmt.Errorf("%w: lb_policy %v is not supported; use ROUND_ROBIN, LEAST_REQUEST, RANDOM, RING_HASH or MAGLEV", route.ErrUnsupported, c.GetLbPolicy())
}

// metricNames are the destination_service label of a cluster and its
// lane: the host and subset of Istio's cluster name, or the name itself
// and no lane.
func metricNames(name string) (service, lane string) {
	if _, subset, host, ok := meshxds.ParseClusterName(name); ok {
		return host, subset
	}
	return name, ""
}

// buildEndpoints reads a load assignment. Only priority 0 and socket
// addresses with a port number are supported: a second priority would make
// the cluster an implicit fallback, which lanemesh expresses with aggregate
// clusters instead.
func (b *builder) buildEndpoints(cs *clusterStats, service string, cla *endpointv3.ClusterLoadAssignment) ([]*endpoint, error) {
	if len(cla.GetPolicy().GetDropOverloads()) > 0 {
		return nil, fmt.Errorf("%w: drop_overloads is not supported", route.ErrUnsupported)
	}
	var out []*endpoint
	weight := uint32(0)
	for _, loc := range cla.GetEndpoints() {
		if loc.GetPriority() != 0 {
			return nil, fmt.Errorf("%w: priority %d: endpoint priorities are not supported; use an aggregate cluster for fallback", route.ErrUnsupported, loc.GetPriority())
		}
		for _, lb := range loc.GetLbEndpoints() {
			e, err := b.buildEndpoint(cs, service, lb)
			if err != nil {
				return nil, err
			}
			if w := lb.GetLoadBalancingWeight().GetValue(); w > 0 {
				if weight != 0 && w != weight {
					return nil, fmt.Errorf("%w: endpoint %s: unequal load_balancing_weight is not supported", route.ErrUnsupported, e.addr)
				}
				weight = w
			}
			out = append(out, e)
		}
	}
	return out, nil
}

func (b *builder) buildEndpoint(cs *clusterStats, service string, lb *endpointv3.LbEndpoint) (*endpoint, error) {
	sa := lb.GetEndpoint().GetAddress().GetSocketAddress()
	switch {
	case sa == nil:
		return nil, fmt.Errorf("%w: endpoint without a socket address (named endpoints, pipes and internal addresses are not supported)", route.ErrUnsupported)
	case sa.GetNamedPort() != "" || sa.GetProtocol() != corev3.SocketAddress_TCP:
		return nil, fmt.Errorf("%w: endpoint %s: only TCP addresses with a port_value are supported", route.ErrUnsupported, sa.GetAddress())
	case sa.GetAddress() == "" || sa.GetPortValue() == 0 || sa.GetPortValue() > 65535:
		return nil, fmt.Errorf("%w: endpoint %q port %d: address and port are required", route.ErrInvalid, sa.GetAddress(), sa.GetPortValue())
	}
	addr := net.JoinHostPort(sa.GetAddress(), strconv.FormatUint(uint64(sa.GetPortValue()), 10))
	status := lb.GetHealthStatus()
	e := &endpoint{addr: addr, status: status, host: b.store.host(cs, addr),
		eligible: route.EDSEligible(status)}
	if md := lb.GetMetadata().GetFilterMetadata()[meshxds.MetadataKey]; md != nil {
		e.pod = md.GetFields()["pod"].GetStringValue()
	}
	identity := lb.GetMetadata().GetFilterMetadata()[workload.MetadataNamespace].GetFields()[workload.MetadataKey].GetStringValue()
	e.dest = b.dests.intern(endpointDestination(service, identity))
	return e, nil
}

// buildLimits reads the default-priority circuit-breaker thresholds, with
// Envoy's defaults for what is unset. High-priority thresholds are ignored:
// every route here runs at default priority. As in Envoy, a retry_budget,
// when set, replaces max_retries (its unset fields take 20% and 3).
func buildLimits(cb *clusterv3.CircuitBreakers) limits {
	l := limits{maxConnections: defaultMaxConnections, maxPending: defaultMaxPending, maxRequests: defaultMaxRequests,
		maxRetries: defaultMaxRetries, budgetPercent: defaultBudgetPercent, minRetryConcurrency: defaultMinRetryConcurrency}
	for _, th := range cb.GetThresholds() {
		if th.GetPriority() != corev3.RoutingPriority_DEFAULT {
			continue
		}
		l.maxConnections = policy.UInt32Or(th.GetMaxConnections(), l.maxConnections)
		l.maxPending = policy.UInt32Or(th.GetMaxPendingRequests(), l.maxPending)
		l.maxRequests = policy.UInt32Or(th.GetMaxRequests(), l.maxRequests)
		l.maxRetries = policy.UInt32Or(th.GetMaxRetries(), l.maxRetries)
		if rb := th.GetRetryBudget(); rb != nil {
			l.budget = true
			if rb.GetBudgetPercent() != nil {
				l.budgetPercent = rb.GetBudgetPercent().GetValue()
			}
			l.minRetryConcurrency = policy.UInt32Or(rb.GetMinRetryConcurrency(), l.minRetryConcurrency)
		}
	}
	return l
}

// poolSettings reads the connection settings of a cluster: its connect
// timeout, max connections and the HTTP protocol options lanemesh's
// compiler emits (idle timeout; max_requests_per_connection: 1 turns
// keep-alive off, more closes a connection once it carried that many).
func (b *builder) poolSettings(c *clusterv3.Cluster, cl *cluster) (poolSettings, error) {
	s := poolSettings{connectTimeout: cl.connectTimeout, keepAlive: true, streamIdle: max(b.opts.StreamIdleTimeout, 0)}
	if cl.limits.maxConnections < defaultMaxConnections {
		s.maxConnsPerHost = int(cl.limits.maxConnections)
	}
	for key, a := range c.GetTypedExtensionProtocolOptions() {
		if key != httpProtocolOptionsKey {
			return s, fmt.Errorf("%w: typed_extension_protocol_options %q is not supported", route.ErrUnsupported, key)
		}
		var opts httpv3.HttpProtocolOptions
		if err := a.UnmarshalTo(&opts); err != nil {
			return s, fmt.Errorf("%w: %s: %w", route.ErrInvalid, key, err)
		}
		if e := opts.GetExplicitHttpConfig(); e != nil && e.GetHttpProtocolOptions() == nil {
			return s, fmt.Errorf("%w: only HTTP/1.1 upstreams are supported", route.ErrUnsupported)
		}
		if u := opts.GetUpstreamHttpProtocolOptions(); u != nil {
			if u.GetOverrideAutoSniHeader() != "" {
				return s, fmt.Errorf("%w: override_auto_sni_header is not supported", route.ErrUnsupported)
			}
			s.autoSNI, s.autoSAN = u.GetAutoSni(), u.GetAutoSanValidation()
		}
		common := opts.GetCommonHttpProtocolOptions()
		s.idleTimeout = common.GetIdleTimeout().AsDuration()
		switch n := common.GetMaxRequestsPerConnection(); {
		case n == nil:
		case n.GetValue() == 1:
			s.keepAlive = false
		default:
			s.maxExchanges = int(n.GetValue())
		}
	}
	return s, nil
}

// buildAggregate resolves an aggregate cluster's members, which must exist
// and must not be aggregates themselves (fallback is one level deep).
func (b *builder) buildAggregate(c *clusterv3.Cluster, aggregates map[string]bool) error {
	if c.GetClusterType().GetName() != meshxds.AggregateClusterType {
		return fmt.Errorf("%w: custom cluster type %q is not supported", route.ErrUnsupported, c.GetClusterType().GetName())
	}
	members := meshxds.AggregateMembers(c)
	if len(members) == 0 {
		return fmt.Errorf("%w: aggregate cluster names no members (or its config is not an aggregate ClusterConfig)", route.ErrInvalid)
	}
	agg := &cluster{name: c.GetName(), aggregate: true, stats: b.store.cluster(c.GetName())}
	for _, m := range members {
		cl := b.st.clusters[m]
		switch {
		case aggregates[m]:
			return fmt.Errorf("%w: aggregate member %q is itself an aggregate; fallback is one level deep", route.ErrUnsupported, m)
		case cl == nil:
			return fmt.Errorf("%w: aggregate member %q is not among the clusters", route.ErrInvalid, m)
		}
		agg.targets = append(agg.targets, cl)
	}
	agg.service, agg.lane, agg.dest = agg.targets[0].service, agg.targets[0].lane, agg.targets[0].dest
	b.st.clusters[agg.name] = agg
	return nil
}
