package compile

import (
	"strconv"
	"strings"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	corsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/lanemesh/lanemesh/api"
	"github.com/lanemesh/lanemesh/internal/config"
	"github.com/lanemesh/lanemesh/internal/meshxds"
)

// envoyMinRingSize is Envoy's default minimum ring size, which Istio
// writes out when a consistent hash names no algorithm.
const envoyMinRingSize = 1024

// applyConsistentHash is Istio's ApplyRingHashLoadBalancer: a consistent
// hash makes the cluster MAGLEV (with its table size) or RING_HASH (with
// its minimum ring size; Envoy's 1024, or the deprecated minimumRingSize,
// when no algorithm is named).
func applyConsistentHash(c *clusterv3.Cluster, ch *api.ConsistentHashLB) {
	switch {
	case ch == nil:
	case ch.Maglev != nil:
		c.LbPolicy = clusterv3.Cluster_MAGLEV
		if n := ch.Maglev.TableSize; n != 0 {
			c.LbConfig = &clusterv3.Cluster_MaglevLbConfig_{MaglevLbConfig: &clusterv3.Cluster_MaglevLbConfig{TableSize: wrapperspb.UInt64(n)}}
		}
	case ch.RingHash != nil:
		c.LbPolicy = clusterv3.Cluster_RING_HASH
		if n := ch.RingHash.MinimumRingSize; n != 0 {
			c.LbConfig = &clusterv3.Cluster_RingHashLbConfig_{RingHashLbConfig: &clusterv3.Cluster_RingHashLbConfig{MinimumRingSize: wrapperspb.UInt64(n)}}
		}
	default:
		n := uint64(envoyMinRingSize)
		if ch.MinimumRingSize != 0 {
			n = ch.MinimumRingSize
		}
		c.LbPolicy = clusterv3.Cluster_RING_HASH
		c.LbConfig = &clusterv3.Cluster_RingHashLbConfig_{RingHashLbConfig: &clusterv3.Cluster_RingHashLbConfig{MinimumRingSize: wrapperspb.UInt64(n)}}
	}
}

// hashPolicy is Istio's ConsistentHashToHashPolicy: the route-side half
// of a consistent hash, the key Envoy hashes; nil without one.
func hashPolicy(ch *api.ConsistentHashLB) *routev3.RouteAction_HashPolicy {
	switch {
	case ch == nil:
		return nil
	case ch.HTTPHeaderName != "":
		return &routev3.RouteAction_HashPolicy{PolicySpecifier: &routev3.RouteAction_HashPolicy_Header_{
			Header: &routev3.RouteAction_HashPolicy_Header{HeaderName: ch.HTTPHeaderName}}}
	case ch.HTTPCookie != nil:
		c := &routev3.RouteAction_HashPolicy_Cookie{Name: ch.HTTPCookie.Name, Path: ch.HTTPCookie.Path}
		if ch.HTTPCookie.TTL != nil {
			c.Ttl = durationpb.New(ch.HTTPCookie.TTL.Duration)
		}
		for _, a := range ch.HTTPCookie.Attributes {
			c.Attributes = append(c.Attributes, &routev3.RouteAction_HashPolicy_CookieAttribute{Name: a.Name, Value: a.Value})
		}
		return &routev3.RouteAction_HashPolicy{PolicySpecifier: &routev3.RouteAction_HashPolicy_Cookie_{Cookie: c}}
	case ch.UseSourceIP:
		return &routev3.RouteAction_HashPolicy{PolicySpecifier: &routev3.RouteAction_HashPolicy_ConnectionProperties_{
			ConnectionProperties: &routev3.RouteAction_HashPolicy_ConnectionProperties{SourceIp: true}}}
	case ch.HTTPQueryParameterName != "":
		return &routev3.RouteAction_HashPolicy{PolicySpecifier: &routev3.RouteAction_HashPolicy_QueryParameter_{
			QueryParameter: &routev3.RouteAction_HashPolicy_QueryParameter{Name: ch.HTTPQueryParameterName}}}
	}
	return nil
}

// destinationHash is Istio's HashForHTTPDestination: the consistent hash
// of the DestinationRule for a route destination, the most specific of the
// subset's port-level entry, the subset's, the top-level port-level entry
// and the top-level one. Port-level entries count only when the
// destination names its port, as in Istio.
func (b *builder) destinationHash(vs *api.VirtualService, d api.Destination) *api.ConsistentHashLB {
	dr := b.destinationRule(config.FQDN(d.Host, vs.Metadata.Namespace))
	if dr == nil {
		return nil
	}
	tp := dr.Spec.TrafficPolicy
	hash := lbHash(lbOf(tp))
	var plsHash, subsetHash, subsetPLSHash *api.ConsistentHashLB
	if tp != nil {
		plsHash = portLevelHash(d.Port, tp.PortLevelSettings)
	}
	for _, s := range dr.Spec.Subsets {
		if s.Name == d.Subset {
			subsetHash = lbHash(lbOf(s.TrafficPolicy))
			if s.TrafficPolicy != nil {
				subsetPLSHash = portLevelHash(d.Port, s.TrafficPolicy.PortLevelSettings)
			}
			break
		}
	}
	switch {
	case subsetPLSHash != nil:
		return subsetPLSHash
	case subsetHash != nil:
		return subsetHash
	case plsHash != nil:
		return plsHash
	}
	return hash
}

// serviceHash is Istio's hashForService, for the default route of a
// service without a VirtualService: the top-level consistent hash, or
// that of the port's entry when it sets one.
func (b *builder) serviceHash(host string, port uint32) *api.ConsistentHashLB {
	dr := b.destinationRule(host)
	if dr == nil || dr.Spec.TrafficPolicy == nil {
		return nil
	}
	tp := dr.Spec.TrafficPolicy
	hash := lbHash(tp.LoadBalancer)
	for _, pl := range tp.PortLevelSettings {
		if pl.Port != nil && pl.Port.Number == port {
			if h := lbHash(pl.LoadBalancer); h != nil {
				hash = h
			}
			break
		}
	}
	return hash
}

func lbOf(tp *api.TrafficPolicy) *api.LoadBalancer {
	if tp == nil {
		return nil
	}
	return tp.LoadBalancer
}

func lbHash(lb *api.LoadBalancer) *api.ConsistentHashLB {
	if lb == nil {
		return nil
	}
	return lb.ConsistentHash
}

// portLevelHash is Istio's portLevelSettingsConsistentHash.
func portLevelHash(sel *api.PortSelector, pls []api.PortTrafficPolicy) *api.ConsistentHashLB {
	if sel == nil {
		return nil
	}
	for _, pl := range pls {
		if pl.Port != nil && pl.Port.Number == sel.Number {
			return lbHash(pl.LoadBalancer)
		}
	}
	return nil
}

// routeHashPolicies lists the hash policies of a rule's destinations, as
// Istio's processDestination and processWeightedDestination append them:
// one per destination that has a consistent hash, skipping zero weights
// when there are several destinations.
func (b *builder) routeHashPolicies(vs *api.VirtualService, hr *api.HTTPRoute) []*routev3.RouteAction_HashPolicy {
	var out []*routev3.RouteAction_HashPolicy
	for _, d := range hr.Route {
		if len(hr.Route) > 1 && d.Weight == 0 {
			continue
		}
		if hp := hashPolicy(b.destinationHash(vs, d.Destination)); hp != nil {
			out = append(out, hp)
		}
	}
	return out
}

// mirrorPolicies is Istio's translation of mirror (with mirrorPercentage,
// or the deprecated mirrorPercent) and mirrors: a request mirror policy
// per destination whose percentage is not zero, on that destination's
// cluster.
func (b *builder) mirrorPolicies(vs *api.VirtualService, hr *api.HTTPRoute, sc scope) []*routev3.RouteAction_RequestMirrorPolicy {
	var out []*routev3.RouteAction_RequestMirrorPolicy
	if hr.Mirror != nil {
		pct := 100.0
		switch {
		case hr.MirrorPercentage != nil:
			pct = hr.MirrorPercentage.Value
		case hr.MirrorPercent != nil:
			pct = float64(*hr.MirrorPercent)
		}
		if pct > 0 {
			out = append(out, b.mirrorPolicy(vs, *hr.Mirror, pct, sc))
		}
	}
	for _, m := range hr.Mirrors {
		pct := 100.0
		if m.Percentage != nil {
			pct = m.Percentage.Value
		}
		if m.Destination != nil && pct > 0 {
			out = append(out, b.mirrorPolicy(vs, *m.Destination, pct, sc))
		}
	}
	return out
}

// mirrorPolicy is Istio's TranslateRequestMirrorPolicy. The percentage
// becomes a fraction per million, as Istio's
// translatePercentToFractionalPercent does.
func (b *builder) mirrorPolicy(vs *api.VirtualService, d api.Destination, pct float64, sc scope) *routev3.RouteAction_RequestMirrorPolicy {
	host := config.FQDN(d.Host, vs.Metadata.Namespace)
	cluster := meshxds.ClusterName(b.mirrorPort(host, d.Port, sc), d.Subset, host)
	return &routev3.RouteAction_RequestMirrorPolicy{
		Cluster: cluster,
		RuntimeFraction: &corev3.RuntimeFractionalPercent{DefaultValue: &typev3.FractionalPercent{
			Numerator: uint32(min(max(pct, 0), 100) * 10_000), Denominator: typev3.FractionalPercent_MILLION}},
		TraceSampled: wrapperspb.Bool(false),
	}
}

// mirrorPort is the port of a mirror destination as Istio's
// GetDestinationCluster finds it: the one named; else, at a gateway, the
// service's only port; else the port being routed. A sidecar sees each
// service through the port being routed only (Istio's servicesByName for
// a port's routes), so there a mirror without a port always uses the
// port being routed, even if its service listens elsewhere.
func (b *builder) mirrorPort(host string, sel *api.PortSelector, sc scope) uint32 {
	if sel != nil {
		return sel.Number
	}
	if svc := b.hosts[host]; sc.gateway != mesh && svc != nil && len(svc.Ports) == 1 {
		return svc.Ports[0].Port
	}
	return sc.port
}

// corsPolicy is Istio's TranslateCORSPolicy: the per-route configuration
// of Envoy's CORS filter, enabled for every request.
func corsPolicy(in *api.CorsPolicy) *corsv3.CorsPolicy {
	if in == nil {
		return nil
	}
	out := &corsv3.CorsPolicy{
		ForwardNotMatchingPreflights: wrapperspb.Bool(in.UnmatchedPreflights != "IGNORE"),
		FilterEnabled: &corev3.RuntimeFractionalPercent{DefaultValue: &typev3.FractionalPercent{
			Numerator: 100, Denominator: typev3.FractionalPercent_HUNDRED}},
		AllowHeaders:  strings.Join(in.AllowHeaders, ","),
		AllowMethods:  strings.Join(in.AllowMethods, ","),
		ExposeHeaders: strings.Join(in.ExposeHeaders, ","),
	}
	if in.AllowOrigins != nil {
		for _, sm := range in.AllowOrigins {
			if m := stringMatcher(sm); m != nil {
				out.AllowOriginStringMatch = append(out.AllowOriginStringMatch, m)
			}
		}
	} else {
		for _, o := range in.AllowOrigin {
			out.AllowOriginStringMatch = append(out.AllowOriginStringMatch,
				&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: o}})
		}
	}
	if in.AllowCredentials != nil {
		out.AllowCredentials = wrapperspb.Bool(*in.AllowCredentials)
	}
	if in.MaxAge != nil {
		out.MaxAge = strconv.FormatInt(int64(in.MaxAge.Seconds()), 10)
	}
	return out
}
