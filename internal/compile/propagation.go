package compile

import (
	"github.com/lanemesh/lanemesh/internal/meshxds"
	"strings"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/lanemesh/lanemesh/internal/config"
)

// propagation returns the lane propagation of this sidecar's workload, or
// nil: the first permissive group (by name) one of whose services selects
// the workload (a Service of the group in the workload's namespace whose
// selector is a subset of its labels) and whose apps do not carry the
// route header themselves (traceHeader equal to routeHeader needs no
// help).
func (b *builder) propagation() *meshxds.LanePropagation { return Propagation(b.cfg, b.proxy) }

// Propagation returns the lane propagation settings of sidecar p's
// workload under configuration c, nil when it needs none; see
// builder.propagation. A runner asks it when a pod starts, to decide
// whether the pod's inbound traffic must pass its sidecar.
func Propagation(c *config.Config, p meshxds.Proxy) *meshxds.LanePropagation {
	if p.Role != meshxds.Sidecar {
		return nil
	}
	for _, g := range c.SwimLaneGroups {
		pm := g.Spec.PermissiveModeConfiguration
		if !g.Spec.IsPermissive || pm == nil || pm.TraceHeader == "" || strings.EqualFold(pm.TraceHeader, pm.RouteHeader) {
			continue
		}
		if !meshxds.ValidHeaderName(pm.RouteHeader) || !meshxds.ValidHeaderName(pm.TraceHeader) {
			continue // the analyzer reports it; a proxy would reject the listener
		}
		for _, ref := range g.Spec.Services {
			ns := ref.Namespace
			if ns == "" {
				ns = "default"
			}
			if ns == p.Namespace && serviceSelects(c, p, ns, ref.Name) {
				return &meshxds.LanePropagation{RouteHeader: strings.ToLower(pm.RouteHeader), TraceHeader: strings.ToLower(pm.TraceHeader),
					TableCapacity: meshxds.DefaultTraceTableCapacity, TableTTL: meshxds.DefaultTraceTableTTL}
			}
		}
	}
	return nil
}

// serviceSelects reports whether Service ns/name selects p's workload.
func serviceSelects(c *config.Config, p meshxds.Proxy, ns, name string) bool {
	for _, s := range c.Services {
		if s.Metadata.Namespace == ns && s.Metadata.Name == name {
			return len(s.Spec.Selector) > 0 && config.SubsetOf(s.Spec.Selector, p.Labels)
		}
	}
	return false
}

// propagationFilters is the HTTP filter list lp adds, none for nil.
func propagationFilters(lp *meshxds.LanePropagation) []*hcmv3.HttpFilter {
	if lp == nil {
		return nil
	}
	return []*hcmv3.HttpFilter{{Name: meshxds.LanePropagationFilter, IsOptional: true,
		ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: lp.Any()}}}
}

// inbound returns the virtualInbound listener, its routes and the
// passthrough cluster, for a sidecar whose inbound traffic is intercepted.
func (b *builder) inbound(lp *meshxds.LanePropagation) (*listenerv3.Listener, *routev3.RouteConfiguration) {
	l := &listenerv3.Listener{
		Name:             meshxds.InboundListener,
		Address:          socketAddress("0.0.0.0", meshxds.InboundListenerPort),
		TrafficDirection: corev3.TrafficDirection_INBOUND,
		FilterChains:     []*listenerv3.FilterChain{b.httpChain(meshxds.InboundListener, meshxds.InboundRoutes, istioServerName, propagationFilters(lp)...)},
	}
	// As Istio's inbound routes: no timeout (the caller's sidecar has the
	// route's), and every request to the app it was sent to.
	rc := &routev3.RouteConfiguration{Name: meshxds.InboundRoutes, VirtualHosts: []*routev3.VirtualHost{{
		Name: "inbound|http|0", Domains: []string{"*"},
		Routes: []*routev3.Route{{
			Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
			Action: &routev3.Route_Route{Route: &routev3.RouteAction{
				ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: meshxds.InboundPassthroughCluster},
				Timeout:          durationpb.New(0)}},
		}},
	}}}
	b.clusters[meshxds.InboundPassthroughCluster] = &clusterv3.Cluster{
		Name:                 meshxds.InboundPassthroughCluster,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_ORIGINAL_DST},
		LbPolicy:             clusterv3.Cluster_CLUSTER_PROVIDED,
		ConnectTimeout:       durationpb.New(10 * time.Second),
	}
	return l, rc
}
