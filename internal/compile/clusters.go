package compile

import (
	"fmt"
	"math"
	"sort"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	aggregatev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/clusters/aggregate/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/lanemesh/lanemesh/api"
	"github.com/lanemesh/lanemesh/internal/config"
	"github.com/lanemesh/lanemesh/internal/meshxds"
	"github.com/lanemesh/lanemesh/internal/registry"
	"github.com/lanemesh/lanemesh/internal/workload"
)

// Defaults where the configuration says nothing; Istio's unless noted.
const (
	defaultConnectTimeout = 10 * time.Second
	// allOrNothing is the overprovisioning factor (in percent) that makes a
	// priority level count as fully healthy while any endpoint is healthy.
	allOrNothing        = 100_000_000
	httpProtocolOptions = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
)

// addServiceClusters adds, for every visible service port, the cluster of
// all its endpoints and one per subset of its DestinationRule.
func (b *builder) addServiceClusters() {
	for _, svc := range b.services {
		dr := b.destinationRule(svc.Host)
		for _, port := range svc.Ports {
			if dr == nil {
				b.addCluster(svc, port, "", nil, nil)
				continue
			}
			policy, _ := config.PortPolicy(dr.Spec.TrafficPolicy, port.Port)
			b.addCluster(svc, port, "", nil, policy)
			b.originateTLS(meshxds.ClusterName(port.Port, "", svc.Host), policy, svc.Host)
			for _, s := range dr.Spec.Subsets {
				sub, wholesale := config.PortPolicy(s.TrafficPolicy, port.Port)
				merged := config.MergePolicy(policy, sub, wholesale)
				b.addCluster(svc, port, s.Name, s.Labels, merged)
				b.originateTLS(meshxds.ClusterName(port.Port, s.Name, svc.Host), merged, svc.Host)
			}
		}
	}
}

func (b *builder) addCluster(svc *config.Service, port config.ServicePort, subset string, labels map[string]string, policy *api.TrafficPolicy) {
	name := meshxds.ClusterName(port.Port, subset, svc.Host)
	if _, dup := b.clusters[name]; dup {
		return // a DestinationRule naming one subset twice; the analyzer says so
	}
	b.clusters[name] = edsCluster(name, policy)
	b.endpoints[name] = &endpointv3.ClusterLoadAssignment{
		ClusterName: name,
		Endpoints:   []*endpointv3.LocalityLbEndpoints{{LbEndpoints: b.lbEndpoints(svc, port, labels)}},
		Policy:      &endpointv3.ClusterLoadAssignment_Policy{OverprovisioningFactor: wrapperspb.UInt32(allOrNothing)},
	}
}

// originateTLS gives the cluster name, if the snapshot has it, the
// transport socket that originates its policy's TLS.
func (b *builder) originateTLS(name string, policy *api.TrafficPolicy, host string) {
	c := b.clusters[name]
	if c == nil || policy == nil || c.TransportSocket != nil {
		return
	}
	ctx := b.upstreamTLS(policy.TLS, host)
	if ctx == nil {
		return
	}
	c.TransportSocket = &corev3.TransportSocket{Name: meshxds.TLSTransportSocket, ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(ctx)}}
	if ctx.Sni == "" { // a wildcard host names no server: each request's does
		t := policy.TLS
		editHTTPOptions(c, func(o *httpv3.HttpProtocolOptions) {
			o.UpstreamHttpProtocolOptions = &corev3.UpstreamHttpProtocolOptions{AutoSni: true,
				AutoSanValidation: len(t.SubjectAltNames) == 0 && (t.InsecureSkipVerify == nil || !*t.InsecureSkipVerify)}
		})
	}
}

// editHTTPOptions edits the cluster's HttpProtocolOptions, made (HTTP/1.1)
// if it has none.
func editHTTPOptions(c *clusterv3.Cluster, edit func(*httpv3.HttpProtocolOptions)) {
	o := &httpv3.HttpProtocolOptions{
		UpstreamProtocolOptions: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
			ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_HttpProtocolOptions{HttpProtocolOptions: &corev3.Http1ProtocolOptions{}}}}}
	if a := c.TypedExtensionProtocolOptions[httpProtocolOptions]; a != nil {
		if err := a.UnmarshalTo(o); err != nil {
			panic(err) // made by this package
		}
	}
	edit(o)
	c.TypedExtensionProtocolOptions = map[string]*anyMsg{httpProtocolOptions: mustAny(o)}
}

// lbEndpoints lists the endpoints of a service port restricted to a
// subset's labels, with their health.
func (b *builder) lbEndpoints(svc *config.Service, port config.ServicePort, subset map[string]string) []*endpointv3.LbEndpoint {
	var out []*endpointv3.LbEndpoint
	if svc.Selector != nil {
		for _, in := range b.selectPods(svc.Namespace, svc.Selector, subset) {
			if p, ok := targetPort(port, in); ok {
				out = append(out, lbEndpoint(in.Address, p, in.Healthy, in.Name, instanceIdentity(in)))
			}
		}
	}
	for _, e := range svc.Endpoints {
		if !config.SubsetOf(subset, e.Labels) {
			continue
		}
		p := uint32(port.TargetPort.Int)
		if n, ok := e.Ports[port.Name]; ok {
			p = n
		}
		out = append(out, lbEndpoint(e.Address, p, true, "", ""))
	}
	// Sorted by address, so that the registry's order never changes the
	// snapshot's bytes or version.
	sort.SliceStable(out, func(i, j int) bool {
		return endpointKey(out[i]) < endpointKey(out[j])
	})
	return out
}

func endpointKey(ep *endpointv3.LbEndpoint) string {
	sa := ep.GetEndpoint().GetAddress().GetSocketAddress()
	return fmt.Sprintf("%s:%05d", sa.GetAddress(), sa.GetPortValue())
}

// targetPort is the port of instance in that serves a service port. A
// WorkloadEntry's port map is keyed by service port name (Istio: traffic to
// the service port goes to the endpoint port its name maps to); without an
// entry for it, or for a pod, the service port's targetPort applies: a
// number, or the name of one of the pod's container ports.
func targetPort(port config.ServicePort, in registry.Instance) (uint32, bool) {
	if in.IsWorkloadEntry() {
		if p, ok := in.Ports[port.Name]; ok && port.Name != "" {
			return p, true
		}
	}
	if port.TargetPort.Str == "" {
		return uint32(port.TargetPort.Int), true
	}
	p, ok := in.Ports[port.TargetPort.Str]
	return p, ok
}

// lbEndpoint is one endpoint with its health. pod, when set, is lanemesh's
// own metadata (for /clusters); identity, when set, is the workload's
// Istio metadata (workload.Identity.Encode), which proxies read to label
// their metrics with the workload that served a request.
func lbEndpoint(addr string, port uint32, healthy bool, pod, identity string) *endpointv3.LbEndpoint {
	status := corev3.HealthStatus_HEALTHY
	if !healthy {
		status = corev3.HealthStatus_UNHEALTHY
	}
	ep := &endpointv3.LbEndpoint{
		HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: socketAddress(addr, port)}},
		HealthStatus:   status,
	}
	md := map[string]*structpb.Struct{}
	if pod != "" {
		md[meshxds.MetadataKey] = &structpb.Struct{Fields: map[string]*structpb.Value{"pod": structpb.NewStringValue(pod)}}
	}
	if identity != "" {
		md[workload.MetadataNamespace] = &structpb.Struct{Fields: map[string]*structpb.Value{workload.MetadataKey: structpb.NewStringValue(identity)}}
	}
	if len(md) > 0 {
		ep.Metadata = &corev3.Metadata{FilterMetadata: md}
	}
	return ep
}

// instanceIdentity is the Istio workload metadata of a registry instance.
func instanceIdentity(in registry.Instance) string {
	name := workload.NameFromOwner(in.Owner, in.Name)
	svc, rev := workload.Canonical(in.Labels, name)
	return workload.Identity{Name: name, Namespace: in.Namespace, CanonicalService: svc, CanonicalRevision: rev,
		Cluster: workload.DefaultCluster}.Encode()
}

func socketAddress(addr string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: addr, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port}}}}
}

// edsCluster is a cluster whose endpoints come over ADS, with the traffic
// policy of its DestinationRule (and subset).
func edsCluster(name string, policy *api.TrafficPolicy) *clusterv3.Cluster {
	c := &clusterv3.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
		EdsClusterConfig:     &clusterv3.Cluster_EdsClusterConfig{EdsConfig: adsSource(), ServiceName: name},
		ConnectTimeout:       durationpb.New(defaultConnectTimeout),
		LbPolicy:             clusterv3.Cluster_LEAST_REQUEST, // Istio's default
		CircuitBreakers:      &clusterv3.CircuitBreakers{Thresholds: []*clusterv3.CircuitBreakers_Thresholds{istioThresholds()}},
	}
	if policy == nil {
		return c
	}
	if lb := policy.LoadBalancer; lb != nil {
		switch lb.Simple {
		case "ROUND_ROBIN":
			c.LbPolicy = clusterv3.Cluster_ROUND_ROBIN
		case "RANDOM":
			c.LbPolicy = clusterv3.Cluster_RANDOM
		}
		applyConsistentHash(c, lb.ConsistentHash)
	}
	applyConnectionPool(c, policy.ConnectionPool)
	c.OutlierDetection = outlierDetection(policy.OutlierDetection)
	return c
}

func applyConnectionPool(c *clusterv3.Cluster, cp *api.ConnectionPool) {
	if cp == nil {
		return
	}
	th := c.CircuitBreakers.Thresholds[0]
	if t := cp.TCP; t != nil {
		if t.ConnectTimeout != nil {
			c.ConnectTimeout = durationpb.New(t.ConnectTimeout.Duration)
		}
		setUint32(&th.MaxConnections, t.MaxConnections)
	}
	if h := cp.HTTP; h != nil {
		setUint32(&th.MaxPendingRequests, h.HTTP1MaxPendingRequests)
		setUint32(&th.MaxRequests, h.HTTP2MaxRequests)
		setUint32(&th.MaxRetries, h.MaxRetries)
		opts := &corev3.HttpProtocolOptions{MaxRequestsPerConnection: optUint32(h.MaxRequestsPerConnection)}
		if h.IdleTimeout != nil {
			opts.IdleTimeout = durationpb.New(h.IdleTimeout.Duration)
		}
		editHTTPOptions(c, func(o *httpv3.HttpProtocolOptions) { o.CommonHttpProtocolOptions = opts })
	}
}

// istioThresholds are the circuit breakers Istio puts on every cluster:
// effectively unlimited, since Envoy's own defaults (1024 connections,
// pending and active requests, 3 retries) would fail a busy service with
// 503 UO that no DestinationRule asked for. A connectionPool setting
// replaces its own threshold only.
func istioThresholds() *clusterv3.CircuitBreakers_Thresholds {
	unlimited := func() *wrapperspb.UInt32Value { return wrapperspb.UInt32(math.MaxUint32) }
	return &clusterv3.CircuitBreakers_Thresholds{MaxConnections: unlimited(), MaxPendingRequests: unlimited(),
		MaxRequests: unlimited(), MaxRetries: unlimited(), TrackRemaining: true}
}

// setUint32 sets *dst to v when v is set (positive).
func setUint32(dst **wrapperspb.UInt32Value, v int32) {
	if w := optUint32(v); w != nil {
		*dst = w
	}
}

func outlierDetection(od *api.OutlierDetection) *clusterv3.OutlierDetection {
	if od == nil {
		return nil
	}
	out := &clusterv3.OutlierDetection{
		Consecutive_5Xx:                optUint32p(od.Consecutive5xxErrors),
		ConsecutiveGatewayFailure:      optUint32p(od.ConsecutiveGatewayErrors),
		ConsecutiveLocalOriginFailure:  optUint32p(od.ConsecutiveLocalOriginFailures),
		SplitExternalLocalOriginErrors: od.SplitExternalLocalOriginErrors,
		MaxEjectionPercent:             optUint32(od.MaxEjectionPercent),
	}
	if od.ConsecutiveGatewayErrors != nil {
		out.EnforcingConsecutiveGatewayFailure = wrapperspb.UInt32(100) // Envoy's default is 0: off
	}
	if od.Interval != nil {
		out.Interval = durationpb.New(od.Interval.Duration)
	}
	if od.BaseEjectionTime != nil {
		out.BaseEjectionTime = durationpb.New(od.BaseEjectionTime.Duration)
	}
	return out
}

// fallbackCluster returns the aggregate cluster that tries primary, then
// fallback, adding it to the snapshot. Both members must exist; otherwise
// it returns primary, which then fails as its own route would.
func (b *builder) fallbackCluster(primary, fallback string) string {
	if b.clusters[primary] == nil || b.clusters[fallback] == nil || primary == fallback {
		return primary
	}
	name := meshxds.FallbackClusterName(primary, fallback)
	if b.clusters[name] == nil {
		b.clusters[name] = &clusterv3.Cluster{
			Name: name,
			ClusterDiscoveryType: &clusterv3.Cluster_ClusterType{ClusterType: &clusterv3.Cluster_CustomClusterType{
				Name:        meshxds.AggregateClusterType,
				TypedConfig: mustAny(&aggregatev3.ClusterConfig{Clusters: []string{primary, fallback}}),
			}},
			ConnectTimeout: durationpb.New(defaultConnectTimeout),
			LbPolicy:       clusterv3.Cluster_CLUSTER_PROVIDED,
		}
	}
	return name
}

func optUint32(v int32) *wrapperspb.UInt32Value {
	if v <= 0 {
		return nil
	}
	return wrapperspb.UInt32(uint32(v))
}

func optUint32p(v *uint32) *wrapperspb.UInt32Value {
	if v == nil {
		return nil
	}
	return wrapperspb.UInt32(*v)
}
