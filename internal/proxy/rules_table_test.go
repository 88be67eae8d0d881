package proxy

import (
	"math"
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	corsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/lanemesh/lanemesh/internal/meshxds"
	"github.com/lanemesh/lanemesh/internal/route"
)

// cloneResources is a deep copy of res.
func cloneResources(res *meshxds.Resources) *meshxds.Resources {
	out := &meshxds.Resources{}
	for _, c := range res.Clusters {
		out.Clusters = append(out.Clusters, proto.Clone(c).(*clusterv3.Cluster))
	}
	for _, e := range res.Endpoints {
		out.Endpoints = append(out.Endpoints, proto.Clone(e).(*endpointv3.ClusterLoadAssignment))
	}
	for _, l := range res.Listeners {
		out.Listeners = append(out.Listeners, proto.Clone(l).(*listenerv3.Listener))
	}
	for _, r := range res.Routes {
		out.Routes = append(out.Routes, proto.Clone(r).(*routev3.RouteConfiguration))
	}
	return out
}

// The edits of the table find what they change in the feature base
// (featureResources).

func aCluster(res *meshxds.Resources) *clusterv3.Cluster {
	for _, c := range res.Clusters {
		if c.GetType() == clusterv3.Cluster_STATIC || c.GetType() == clusterv3.Cluster_EDS {
			return c
		}
	}
	panic("no cluster")
}

func anEndpoint(res *meshxds.Resources) *endpointv3.LbEndpoint {
	for _, c := range res.Clusters {
		if eps := c.GetLoadAssignment().GetEndpoints(); len(eps) > 0 && len(eps[0].GetLbEndpoints()) > 0 {
			return eps[0].GetLbEndpoints()[0]
		}
	}
	for _, a := range res.Endpoints {
		if eps := a.GetEndpoints(); len(eps) > 0 && len(eps[0].GetLbEndpoints()) > 0 {
			return eps[0].GetLbEndpoints()[0]
		}
	}
	panic("no endpoint")
}

func aVirtualHost(res *meshxds.Resources) *routev3.VirtualHost {
	for _, rc := range res.Routes {
		for _, vh := range rc.GetVirtualHosts() {
			if len(vh.GetRoutes()) > 0 {
				return vh
			}
		}
	}
	panic("no virtual host")
}

// aRoute returns the first route whose action is of type T.
func aRoute[T any](res *meshxds.Resources, match func(*routev3.Route) bool) *routev3.Route {
	for _, rc := range res.Routes {
		for _, vh := range rc.GetVirtualHosts() {
			for _, r := range vh.GetRoutes() {
				if _, ok := r.GetAction().(T); ok && (match == nil || match(r)) {
					return r
				}
			}
		}
	}
	panic("no such route")
}

func anAction(res *meshxds.Resources) *routev3.RouteAction {
	return aRoute[*routev3.Route_Route](res, nil).GetRoute()
}

func aWeighted(res *meshxds.Resources) *routev3.WeightedCluster_ClusterWeight {
	return aRoute[*routev3.Route_Route](res, func(r *routev3.Route) bool {
		return r.GetRoute().GetWeightedClusters() != nil
	}).GetRoute().GetWeightedClusters().GetClusters()[0]
}

func aListener(res *meshxds.Resources) *listenerv3.Listener { return res.Listeners[0] }

// editCORS changes the CORS policy of the route that has one.
func editCORS(res *meshxds.Resources, edit func(*corsv3.CorsPolicy)) {
	r := aRoute[*routev3.Route_Route](res, func(r *routev3.Route) bool {
		return r.GetTypedPerFilterConfig()[route.CorsFilterName] != nil
	})
	var p corsv3.CorsPolicy
	if err := r.GetTypedPerFilterConfig()[route.CorsFilterName].UnmarshalTo(&p); err != nil {
		panic(err)
	}
	edit(&p)
	a, err := anypb.New(&p)
	if err != nil {
		panic(err)
	}
	r.TypedPerFilterConfig[route.CorsFilterName] = a
}

func headerOption(key, value string) *corev3.HeaderValueOption {
	return &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: key, Value: value}}
}

// TestRulesAgreeWithValidate: for an invalid value of each field the
// proxy reads that Envoy has a rule on, Validate rejects the resources on
// that field, the proxy rejects them (want: its error says so), and
// xdsrules rejects nothing Validate accepts.
func TestRulesAgreeWithValidate(t *testing.T) {
	base := featureResources(t)
	d := func(s int64, n int32) *durationpb.Duration { return &durationpb.Duration{Seconds: s, Nanos: n} }
	long := strings.Repeat("h", 16385)
	for _, tc := range []struct {
		name string
		edit func(*meshxds.Resources)
		want string // in the proxy's error
	}{
		// Clusters.
		{"cluster name", func(r *meshxds.Resources) { aCluster(r).Name = "" }, "Cluster.Name: value length must be at least 1 runes"},
		{"connect timeout zero", func(r *meshxds.Resources) { aCluster(r).ConnectTimeout = d(0, 0) }, "Cluster.ConnectTimeout: value must be greater than 0s"},
		{"connect timeout negative", func(r *meshxds.Resources) { aCluster(r).ConnectTimeout = d(-1, 0) }, "Cluster.ConnectTimeout: value must be greater than 0s"},
		{"connect timeout invalid", func(r *meshxds.Resources) { aCluster(r).ConnectTimeout = d(1, -1) }, "Cluster.ConnectTimeout: value is not a valid duration"},
		{"lb policy", func(r *meshxds.Resources) { aCluster(r).LbPolicy = 77 }, "Cluster.LbPolicy: value must be one of the defined enum values"},
		{"discovery type", func(r *meshxds.Resources) {
			aCluster(r).ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: 77}
		}, "Cluster.Type: value must be one of the defined enum values"},
		{"custom cluster type name", func(r *meshxds.Resources) {
			aCluster(r).ClusterDiscoveryType = &clusterv3.Cluster_ClusterType{ClusterType: &clusterv3.Cluster_CustomClusterType{}}
		}, "Cluster.ClusterType.Name: value length must be at least 1 runes"},
		{"nine health checks", func(r *meshxds.Resources) {
			aCluster(r).HealthChecks = make([]*corev3.HealthCheck, 9)
		}, "Cluster.HealthChecks: value must contain no more than 8 item(s)"},
		{"transport socket name", func(r *meshxds.Resources) {
			aCluster(r).TransportSocket = &corev3.TransportSocket{}
		}, "Cluster.TransportSocket.Name: value length must be at least 1 runes"},
		{"circuit breaker priority", func(r *meshxds.Resources) {
			aCluster(r).CircuitBreakers = &clusterv3.CircuitBreakers{Thresholds: []*clusterv3.CircuitBreakers_Thresholds{{Priority: 9}}}
		}, "Cluster.CircuitBreakers.Thresholds[0].Priority: value must be one of the defined enum values"},
		{"retry budget percent", func(r *meshxds.Resources) {
			aCluster(r).CircuitBreakers = &clusterv3.CircuitBreakers{Thresholds: []*clusterv3.CircuitBreakers_Thresholds{{
				RetryBudget: &clusterv3.CircuitBreakers_Thresholds_RetryBudget{BudgetPercent: &typev3.Percent{Value: 100.5}}}}}
		}, "RetryBudget.BudgetPercent.Value: value must be inside range [0, 100]"},
		{"outlier interval", func(r *meshxds.Resources) {
			aCluster(r).OutlierDetection = &clusterv3.OutlierDetection{Interval: d(0, 0)}
		}, "Cluster.OutlierDetection.Interval: value must be greater than 0s"},
		{"outlier base ejection time", func(r *meshxds.Resources) {
			aCluster(r).OutlierDetection = &clusterv3.OutlierDetection{BaseEjectionTime: d(-1, 0)}
		}, "OutlierDetection.BaseEjectionTime: value must be greater than 0s"},
		{"outlier max ejection time", func(r *meshxds.Resources) {
			aCluster(r).OutlierDetection = &clusterv3.OutlierDetection{MaxEjectionTime: d(0, 0)}
		}, "OutlierDetection.MaxEjectionTime: value must be greater than 0s"},
		{"outlier max ejection percent", func(r *meshxds.Resources) {
			aCluster(r).OutlierDetection = &clusterv3.OutlierDetection{MaxEjectionPercent: wrapperspb.UInt32(101)}
		}, "OutlierDetection.MaxEjectionPercent: value must be less than or equal to 100"},
		{"outlier enforcing 5xx", func(r *meshxds.Resources) {
			aCluster(r).OutlierDetection = &clusterv3.OutlierDetection{EnforcingConsecutive_5Xx: wrapperspb.UInt32(101)}
		}, "OutlierDetection.EnforcingConsecutive_5Xx: value must be less than or equal to 100"},
		{"outlier enforcing gateway", func(r *meshxds.Resources) {
			aCluster(r).OutlierDetection = &clusterv3.OutlierDetection{EnforcingConsecutiveGatewayFailure: wrapperspb.UInt32(101)}
		}, "EnforcingConsecutiveGatewayFailure"},
		{"outlier enforcing local origin", func(r *meshxds.Resources) {
			aCluster(r).OutlierDetection = &clusterv3.OutlierDetection{EnforcingConsecutiveLocalOriginFailure: wrapperspb.UInt32(101)}
		}, "EnforcingConsecutiveLocalOriginFailure"},
		{"outlier enforcing failure percentage", func(r *meshxds.Resources) {
			aCluster(r).OutlierDetection = &clusterv3.OutlierDetection{EnforcingFailurePercentage: wrapperspb.UInt32(101)}
		}, "EnforcingFailurePercentage"},
		{"outlier enforcing failure percentage local", func(r *meshxds.Resources) {
			aCluster(r).OutlierDetection = &clusterv3.OutlierDetection{EnforcingFailurePercentageLocalOrigin: wrapperspb.UInt32(101)}
		}, "EnforcingFailurePercentageLocalOrigin"},
		{"hash balance factor", func(r *meshxds.Resources) {
			aCluster(r).CommonLbConfig = &clusterv3.Cluster_CommonLbConfig{ConsistentHashingLbConfig: &clusterv3.Cluster_CommonLbConfig_ConsistentHashingLbConfig{
				HashBalanceFactor: wrapperspb.UInt32(99)}}
		}, "ConsistentHashingLbConfig.HashBalanceFactor: value must be greater than or equal to 100"},
		{"ring size", func(r *meshxds.Resources) {
			c := aCluster(r)
			c.LbPolicy, c.LbConfig = clusterv3.Cluster_RING_HASH, &clusterv3.Cluster_RingHashLbConfig_{RingHashLbConfig: &clusterv3.Cluster_RingHashLbConfig{
				MaximumRingSize: wrapperspb.UInt64(8388609)}}
		}, "RingHashLbConfig.MaximumRingSize: value must be less than or equal to 8388608"},
		{"minimum ring size", func(r *meshxds.Resources) {
			c := aCluster(r)
			c.LbPolicy, c.LbConfig = clusterv3.Cluster_RING_HASH, &clusterv3.Cluster_RingHashLbConfig_{RingHashLbConfig: &clusterv3.Cluster_RingHashLbConfig{
				MinimumRingSize: wrapperspb.UInt64(8388609)}}
		}, "RingHashLbConfig.MinimumRingSize"},
		{"ring hash function", func(r *meshxds.Resources) {
			c := aCluster(r)
			c.LbPolicy, c.LbConfig = clusterv3.Cluster_RING_HASH, &clusterv3.Cluster_RingHashLbConfig_{RingHashLbConfig: &clusterv3.Cluster_RingHashLbConfig{HashFunction: 5}}
		}, "RingHashLbConfig.HashFunction: value must be one of the defined enum values"},
		{"maglev table size", func(r *meshxds.Resources) {
			c := aCluster(r)
			c.LbPolicy, c.LbConfig = clusterv3.Cluster_MAGLEV, &clusterv3.Cluster_MaglevLbConfig_{MaglevLbConfig: &clusterv3.Cluster_MaglevLbConfig{
				TableSize: wrapperspb.UInt64(5000012)}}
		}, "MaglevLbConfig.TableSize: value must be less than or equal to 5000011"},
		// Endpoints.
		{"load assignment cluster name", func(r *meshxds.Resources) {
			for _, c := range r.Clusters {
				if c.GetLoadAssignment() != nil {
					c.LoadAssignment.ClusterName = ""
					return
				}
			}
			r.Endpoints[0].ClusterName = ""
		}, "ClusterName: value length must be at least 1 runes"},
		{"locality priority", func(r *meshxds.Resources) {
			for _, c := range r.Clusters {
				if c.GetLoadAssignment() != nil {
					c.LoadAssignment.Endpoints[0].Priority = 129
					return
				}
			}
			r.Endpoints[0].Endpoints[0].Priority = 129
		}, "Endpoints[0].Priority: value must be less than or equal to 128"},
		{"endpoint address kind", func(r *meshxds.Resources) {
			anEndpoint(r).GetEndpoint().Address = &corev3.Address{}
		}, "Endpoint.Address.Address: value is required"},
		{"endpoint address", func(r *meshxds.Resources) {
			anEndpoint(r).GetEndpoint().GetAddress().GetSocketAddress().Address = ""
		}, "SocketAddress.Address: value length must be at least 1 runes"},
		{"endpoint port", func(r *meshxds.Resources) {
			anEndpoint(r).GetEndpoint().GetAddress().GetSocketAddress().PortSpecifier = &corev3.SocketAddress_PortValue{PortValue: 65536}
		}, "SocketAddress.PortValue: value must be less than or equal to 65535"},
		{"endpoint no port", func(r *meshxds.Resources) {
			anEndpoint(r).GetEndpoint().GetAddress().GetSocketAddress().PortSpecifier = nil
		}, "SocketAddress.PortSpecifier: value is required"},
		{"endpoint protocol", func(r *meshxds.Resources) {
			anEndpoint(r).GetEndpoint().GetAddress().GetSocketAddress().Protocol = 7
		}, "SocketAddress.Protocol: value must be one of the defined enum values"},
		{"endpoint weight", func(r *meshxds.Resources) {
			anEndpoint(r).LoadBalancingWeight = wrapperspb.UInt32(0)
		}, "LoadBalancingWeight: value must be greater than or equal to 1"},
		{"endpoint metadata key", func(r *meshxds.Resources) {
			anEndpoint(r).Metadata = &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{"": {}}}
		}, "Metadata.FilterMetadata[]: value length must be at least 1 runes"},
		// Listeners.
		{"listener port", func(r *meshxds.Resources) {
			aListener(r).GetAddress().GetSocketAddress().PortSpecifier = &corev3.SocketAddress_PortValue{PortValue: 70000}
		}, "Listener.Address.SocketAddress.PortValue"},
		{"listener address", func(r *meshxds.Resources) {
			aListener(r).GetAddress().GetSocketAddress().Address = ""
		}, "Listener.Address.SocketAddress.Address"},
		{"filter name", func(r *meshxds.Resources) {
			aListener(r).FilterChains[0].Filters[0].Name = ""
		}, "Listener.FilterChains[0].Filters[0].Name: value length must be at least 1 runes"},
		{"filter chain transport socket name", func(r *meshxds.Resources) {
			aListener(r).FilterChains[0].TransportSocket = &corev3.TransportSocket{}
		}, "FilterChains[0].TransportSocket.Name"},
		{"listener filter name", func(r *meshxds.Resources) {
			aListener(r).ListenerFilters = []*listenerv3.ListenerFilter{{}}
		}, "listener filters other than"},
		// Virtual hosts.
		{"virtual host name", func(r *meshxds.Resources) { aVirtualHost(r).Name = "" }, "VirtualHosts[0].Name: value length must be at least 1 runes"},
		{"no domains", func(r *meshxds.Resources) { aVirtualHost(r).Domains = nil }, "Domains: value must contain at least 1 item(s)"},
		{"domain newline", func(r *meshxds.Resources) { aVirtualHost(r).Domains = []string{"a\nb"} }, `Domains[0]: value does not match regex pattern "^[^\x00\n\r]*$"`},
		{"require tls", func(r *meshxds.Resources) { aVirtualHost(r).RequireTls = 5 }, "RequireTls: value must be one of the defined enum values"},
		{"virtual host header op", func(r *meshxds.Resources) {
			aVirtualHost(r).RequestHeadersToRemove = []string{"a\nb"}
		}, "header operations on virtual hosts are not supported"},
		{"route configuration header op", func(r *meshxds.Resources) {
			r.Routes[0].ResponseHeadersToRemove = []string{"\x00"}
		}, "header operations on the route configuration are not supported"},
		{"vhost header", func(r *meshxds.Resources) { r.Routes[0].VhostHeader = "a\rb" }, "vhost_header"},
		// Routes and matches.
		{"no match", func(r *meshxds.Resources) { aVirtualHost(r).Routes[0].Match = nil }, "Routes[0].Match: value is required"},
		{"no path specifier", func(r *meshxds.Resources) { aVirtualHost(r).Routes[0].Match.PathSpecifier = nil }, "Match.PathSpecifier: value is required"},
		{"path separated prefix", func(r *meshxds.Resources) {
			aVirtualHost(r).Routes[0].Match.PathSpecifier = &routev3.RouteMatch_PathSeparatedPrefix{PathSeparatedPrefix: "/a/"}
		}, `Match.PathSeparatedPrefix: value does not match regex pattern "^[^?#]+[^?#/]$"`},
		{"path separated prefix query", func(r *meshxds.Resources) {
			aVirtualHost(r).Routes[0].Match.PathSpecifier = &routev3.RouteMatch_PathSeparatedPrefix{PathSeparatedPrefix: "/a?b"}
		}, "PathSeparatedPrefix"},
		{"path separated prefix one rune", func(r *meshxds.Resources) {
			aVirtualHost(r).Routes[0].Match.PathSpecifier = &routev3.RouteMatch_PathSeparatedPrefix{PathSeparatedPrefix: "é"}
		}, "PathSeparatedPrefix"},
		{"empty path regex", func(r *meshxds.Resources) {
			aVirtualHost(r).Routes[0].Match.PathSpecifier = &routev3.RouteMatch_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{}}
		}, "Match.SafeRegex.Regex: value length must be at least 1 runes"},
		{"path regex that does not compile", func(r *meshxds.Resources) {
			aVirtualHost(r).Routes[0].Match.PathSpecifier = &routev3.RouteMatch_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: "("}}
		}, "bad regex"},
		{"header matcher name", func(r *meshxds.Resources) {
			m := aVirtualHost(r).Routes[0].Match
			m.Headers = append(m.Headers, &routev3.HeaderMatcher{})
		}, "Name: value length must be at least 1 runes"},
		{"header matcher name newline", func(r *meshxds.Resources) {
			m := aVirtualHost(r).Routes[0].Match
			m.Headers = append(m.Headers, &routev3.HeaderMatcher{Name: "x\n"})
		}, `.Name: value does not match regex pattern`},
		{"header prefix match", func(r *meshxds.Resources) {
			m := aVirtualHost(r).Routes[0].Match
			m.Headers = append(m.Headers, &routev3.HeaderMatcher{Name: "x", HeaderMatchSpecifier: &routev3.HeaderMatcher_PrefixMatch{}})
		}, "PrefixMatch: value length must be at least 1 runes"},
		{"header suffix match", func(r *meshxds.Resources) {
			m := aVirtualHost(r).Routes[0].Match
			m.Headers = append(m.Headers, &routev3.HeaderMatcher{Name: "x", HeaderMatchSpecifier: &routev3.HeaderMatcher_SuffixMatch{}})
		}, "SuffixMatch"},
		{"header contains match", func(r *meshxds.Resources) {
			m := aVirtualHost(r).Routes[0].Match
			m.Headers = append(m.Headers, &routev3.HeaderMatcher{Name: "x", HeaderMatchSpecifier: &routev3.HeaderMatcher_ContainsMatch{}})
		}, "ContainsMatch"},
		{"header regex match", func(r *meshxds.Resources) {
			m := aVirtualHost(r).Routes[0].Match
			m.Headers = append(m.Headers, &routev3.HeaderMatcher{Name: "x", HeaderMatchSpecifier: &routev3.HeaderMatcher_SafeRegexMatch{SafeRegexMatch: &matcherv3.RegexMatcher{}}})
		}, "SafeRegexMatch.Regex"},
		{"header string match prefix", func(r *meshxds.Resources) {
			m := aVirtualHost(r).Routes[0].Match
			m.Headers = append(m.Headers, &routev3.HeaderMatcher{Name: "x", HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{
				StringMatch: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{}}}})
		}, "StringMatch.Prefix: value length must be at least 1 runes"},
		{"header string match without pattern", func(r *meshxds.Resources) {
			m := aVirtualHost(r).Routes[0].Match
			m.Headers = append(m.Headers, &routev3.HeaderMatcher{Name: "x", HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{
				StringMatch: &matcherv3.StringMatcher{}}})
		}, "string matcher has no pattern"},
		{"query parameter name", func(r *meshxds.Resources) {
			m := aVirtualHost(r).Routes[0].Match
			m.QueryParameters = append(m.QueryParameters, &routev3.QueryParameterMatcher{})
		}, "query parameter name is empty"},
		{"query parameter name too long", func(r *meshxds.Resources) {
			m := aVirtualHost(r).Routes[0].Match
			m.QueryParameters = append(m.QueryParameters, &routev3.QueryParameterMatcher{Name: strings.Repeat("q", 1025)})
		}, "Name: value length must be at most 1024 bytes"},
		{"query string match suffix", func(r *meshxds.Resources) {
			m := aVirtualHost(r).Routes[0].Match
			m.QueryParameters = append(m.QueryParameters, &routev3.QueryParameterMatcher{Name: "q", QueryParameterMatchSpecifier: &routev3.QueryParameterMatcher_StringMatch{
				StringMatch: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Suffix{}}}})
		}, "StringMatch.Suffix"},
		{"no action", func(r *meshxds.Resources) { aVirtualHost(r).Routes[0].Action = nil }, "Action: value is required"},
		{"route metadata key", func(r *meshxds.Resources) {
			aVirtualHost(r).Routes[0].Metadata = &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{"": {}}}
		}, "Metadata.FilterMetadata[]"},
		{"route header to add without header", func(r *meshxds.Resources) {
			rt := aRoute[*routev3.Route_Route](r, nil)
			rt.RequestHeadersToAdd = append(rt.RequestHeadersToAdd, &corev3.HeaderValueOption{})
		}, "].Header: value is required"},
		{"route header key", func(r *meshxds.Resources) {
			rt := aRoute[*routev3.Route_Route](r, nil)
			rt.RequestHeadersToAdd = append(rt.RequestHeadersToAdd, headerOption("", "v"))
		}, "Header.Key: value length must be at least 1 runes"},
		{"route header key newline", func(r *meshxds.Resources) {
			rt := aRoute[*routev3.Route_Route](r, nil)
			rt.ResponseHeadersToAdd = append(rt.ResponseHeadersToAdd, headerOption("a\nb", "v"))
		}, "Header.Key: value does not match regex pattern"},
		{"route header key too long", func(r *meshxds.Resources) {
			rt := aRoute[*routev3.Route_Route](r, nil)
			rt.ResponseHeadersToAdd = append(rt.ResponseHeadersToAdd, headerOption(long, "v"))
		}, "Header.Key: value length must be at most 16384 bytes"},
		{"route header value", func(r *meshxds.Resources) {
			rt := aRoute[*routev3.Route_Route](r, nil)
			rt.RequestHeadersToAdd = append(rt.RequestHeadersToAdd, headerOption("k", "\r"))
		}, "Header.Value: value does not match regex pattern"},
		{"route header value too long", func(r *meshxds.Resources) {
			rt := aRoute[*routev3.Route_Route](r, nil)
			rt.RequestHeadersToAdd = append(rt.RequestHeadersToAdd, headerOption("k", long))
		}, "Header.Value: value length must be at most 16384 bytes"},
		{"route header raw value too long", func(r *meshxds.Resources) {
			rt := aRoute[*routev3.Route_Route](r, nil)
			rt.RequestHeadersToAdd = append(rt.RequestHeadersToAdd, &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: "k", RawValue: []byte(long)}})
		}, "Header.RawValue: value length must be between 0 and 16384 bytes, inclusive"},
		{"route header append action", func(r *meshxds.Resources) {
			rt := aRoute[*routev3.Route_Route](r, nil)
			rt.RequestHeadersToAdd = append(rt.RequestHeadersToAdd, &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: "k"}, AppendAction: 9})
		}, "AppendAction: value must be one of the defined enum values"},
		{"1001 headers to add", func(r *meshxds.Resources) {
			rt := aRoute[*routev3.Route_Route](r, nil)
			for i := 0; i < 1001; i++ {
				rt.ResponseHeadersToAdd = append(rt.ResponseHeadersToAdd, headerOption("k", "v"))
			}
		}, "ResponseHeadersToAdd: value must contain no more than 1000 item(s)"},
		{"route header to remove empty", func(r *meshxds.Resources) {
			aRoute[*routev3.Route_Route](r, nil).RequestHeadersToRemove = []string{""}
		}, "RequestHeadersToRemove[0]: value length must be at least 1 runes"},
		{"route header to remove NUL", func(r *meshxds.Resources) {
			aRoute[*routev3.Route_Route](r, nil).ResponseHeadersToRemove = []string{"a\x00"}
		}, "ResponseHeadersToRemove[0]: value does not match regex pattern"},
		// Route actions.
		{"empty cluster", func(r *meshxds.Resources) {
			anAction(r).ClusterSpecifier = &routev3.RouteAction_Cluster{}
		}, "cluster name is empty"},
		{"no cluster", func(r *meshxds.Resources) { anAction(r).ClusterSpecifier = nil }, "route action names no cluster"},
		{"no weighted clusters", func(r *meshxds.Resources) {
			anAction(r).ClusterSpecifier = &routev3.RouteAction_WeightedClusters{WeightedClusters: &routev3.WeightedCluster{}}
		}, "weights sum to 0"},
		{"cluster not found code", func(r *meshxds.Resources) { anAction(r).ClusterNotFoundResponseCode = 4 }, "ClusterNotFoundResponseCode"},
		{"prefix rewrite", func(r *meshxds.Resources) { anAction(r).PrefixRewrite = "/\n" }, "Route.PrefixRewrite: value does not match regex pattern"},
		{"regex rewrite substitution", func(r *meshxds.Resources) {
			anAction(r).RegexRewrite = &matcherv3.RegexMatchAndSubstitute{Pattern: &matcherv3.RegexMatcher{Regex: "^/"}, Substitution: "/\r\n"}
		}, "RegexRewrite.Substitution: value does not match regex pattern"},
		{"regex rewrite pattern", func(r *meshxds.Resources) {
			anAction(r).RegexRewrite = &matcherv3.RegexMatchAndSubstitute{Pattern: &matcherv3.RegexMatcher{}, Substitution: "/"}
		}, "RegexRewrite.Pattern"},
		{"host rewrite literal", func(r *meshxds.Resources) {
			anAction(r).HostRewriteSpecifier = &routev3.RouteAction_HostRewriteLiteral{HostRewriteLiteral: "a\x00"}
		}, "Route.HostRewriteLiteral: value does not match regex pattern"},
		{"host rewrite header", func(r *meshxds.Resources) {
			anAction(r).HostRewriteSpecifier = &routev3.RouteAction_HostRewriteHeader{HostRewriteHeader: "a\n"}
		}, "only host_rewrite_literal is supported"},
		{"weighted cluster host rewrite", func(r *meshxds.Resources) {
			aWeighted(r).HostRewriteSpecifier = &routev3.WeightedCluster_ClusterWeight_HostRewriteLiteral{HostRewriteLiteral: "\n"}
		}, "Clusters[0].HostRewriteLiteral"},
		{"weighted cluster header key", func(r *meshxds.Resources) {
			w := aWeighted(r)
			w.RequestHeadersToAdd = append(w.RequestHeadersToAdd, headerOption("", "v"))
		}, "Clusters[0].RequestHeadersToAdd[1].Header.Key"},
		{"weighted cluster header to remove", func(r *meshxds.Resources) {
			aWeighted(r).ResponseHeadersToRemove = []string{"\r"}
		}, "Clusters[0].ResponseHeadersToRemove[0]"},
		{"weighted cluster header", func(r *meshxds.Resources) { aWeighted(r).ClusterHeader = "\n" }, "cluster_header is not supported"},
		{"retry back-off without base", func(r *meshxds.Resources) {
			a := aRoute[*routev3.Route_Route](r, func(r *routev3.Route) bool { return r.GetRoute().GetRetryPolicy() != nil }).GetRoute()
			a.RetryPolicy.RetryBackOff = &routev3.RetryPolicy_RetryBackOff{}
		}, "RetryBackOff.BaseInterval: value is required"},
		{"retry back-off base", func(r *meshxds.Resources) {
			a := aRoute[*routev3.Route_Route](r, func(r *routev3.Route) bool { return r.GetRoute().GetRetryPolicy() != nil }).GetRoute()
			a.RetryPolicy.RetryBackOff = &routev3.RetryPolicy_RetryBackOff{BaseInterval: d(0, 0)}
		}, "RetryBackOff.BaseInterval: value must be greater than 0s"},
		{"retry back-off max", func(r *meshxds.Resources) {
			a := aRoute[*routev3.Route_Route](r, func(r *routev3.Route) bool { return r.GetRoute().GetRetryPolicy() != nil }).GetRoute()
			a.RetryPolicy.RetryBackOff = &routev3.RetryPolicy_RetryBackOff{BaseInterval: d(1, 0), MaxInterval: d(0, -5)}
		}, "RetryBackOff.MaxInterval"},
		{"retry host predicate", func(r *meshxds.Resources) {
			a := aRoute[*routev3.Route_Route](r, func(r *routev3.Route) bool { return r.GetRoute().GetRetryPolicy() != nil }).GetRoute()
			a.RetryPolicy.RetryHostPredicate = []*routev3.RetryPolicy_RetryHostPredicate{{}}
		}, "retry host predicate"},
		{"retriable header", func(r *meshxds.Resources) {
			a := aRoute[*routev3.Route_Route](r, func(r *routev3.Route) bool { return r.GetRoute().GetRetryPolicy() != nil }).GetRoute()
			a.RetryPolicy.RetriableHeaders = []*routev3.HeaderMatcher{{}}
		}, "retriable_headers"},
		{"mirror without default", func(r *meshxds.Resources) {
			a := aRoute[*routev3.Route_Route](r, func(r *routev3.Route) bool { return len(r.GetRoute().GetRequestMirrorPolicies()) > 0 }).GetRoute()
			a.RequestMirrorPolicies[0].RuntimeFraction = &corev3.RuntimeFractionalPercent{}
		}, "RequestMirrorPolicies[0].RuntimeFraction.DefaultValue: value is required"},
		{"mirror denominator", func(r *meshxds.Resources) {
			a := aRoute[*routev3.Route_Route](r, func(r *routev3.Route) bool { return len(r.GetRoute().GetRequestMirrorPolicies()) > 0 }).GetRoute()
			a.RequestMirrorPolicies[0].RuntimeFraction = &corev3.RuntimeFractionalPercent{DefaultValue: &typev3.FractionalPercent{Denominator: 7}}
		}, "DefaultValue.Denominator: value must be one of the defined enum values"},
		{"mirror cluster header", func(r *meshxds.Resources) {
			a := aRoute[*routev3.Route_Route](r, func(r *routev3.Route) bool { return len(r.GetRoute().GetRequestMirrorPolicies()) > 0 }).GetRoute()
			a.RequestMirrorPolicies[0].ClusterHeader = "\n"
		}, "cluster_header is not supported"},
		{"hash header name", func(r *meshxds.Resources) {
			anAction(r).HashPolicy = []*routev3.RouteAction_HashPolicy{{PolicySpecifier: &routev3.RouteAction_HashPolicy_Header_{
				Header: &routev3.RouteAction_HashPolicy_Header{HeaderName: "x\n"}}}}
		}, "HashPolicy[0].Header.HeaderName: value does not match regex pattern"},
		{"hash header empty", func(r *meshxds.Resources) {
			anAction(r).HashPolicy = []*routev3.RouteAction_HashPolicy{{PolicySpecifier: &routev3.RouteAction_HashPolicy_Header_{
				Header: &routev3.RouteAction_HashPolicy_Header{}}}}
		}, "header_name is empty"},
		{"hash cookie name", func(r *meshxds.Resources) {
			anAction(r).HashPolicy = []*routev3.RouteAction_HashPolicy{{PolicySpecifier: &routev3.RouteAction_HashPolicy_Cookie_{
				Cookie: &routev3.RouteAction_HashPolicy_Cookie{}}}}
		}, "cookie name is empty"},
		{"hash cookie attribute", func(r *meshxds.Resources) {
			anAction(r).HashPolicy = []*routev3.RouteAction_HashPolicy{{PolicySpecifier: &routev3.RouteAction_HashPolicy_Cookie_{
				Cookie: &routev3.RouteAction_HashPolicy_Cookie{Name: "c", Attributes: []*routev3.RouteAction_HashPolicy_CookieAttribute{{Name: "a", Value: "\r"}}}}}}
		}, "Cookie.Attributes[0].Value: value does not match regex pattern"},
		{"hash cookie attribute name", func(r *meshxds.Resources) {
			anAction(r).HashPolicy = []*routev3.RouteAction_HashPolicy{{PolicySpecifier: &routev3.RouteAction_HashPolicy_Cookie_{
				Cookie: &routev3.RouteAction_HashPolicy_Cookie{Name: "c", Attributes: []*routev3.RouteAction_HashPolicy_CookieAttribute{{}}}}}}
		}, "Cookie.Attributes[0].Name: value length must be at least 1 runes"},
		{"hash query parameter", func(r *meshxds.Resources) {
			anAction(r).HashPolicy = []*routev3.RouteAction_HashPolicy{{PolicySpecifier: &routev3.RouteAction_HashPolicy_QueryParameter_{
				QueryParameter: &routev3.RouteAction_HashPolicy_QueryParameter{}}}}
		}, "query parameter name is empty"},
		{"hash policy without key", func(r *meshxds.Resources) {
			anAction(r).HashPolicy = []*routev3.RouteAction_HashPolicy{{}}
		}, "hash policy 0"},
		// Redirects and direct responses.
		{"redirect host", func(r *meshxds.Resources) {
			aRoute[*routev3.Route_Redirect](r, nil).GetRedirect().HostRedirect = "a\nb"
		}, "Redirect.HostRedirect: value does not match regex pattern"},
		{"redirect path", func(r *meshxds.Resources) {
			aRoute[*routev3.Route_Redirect](r, nil).GetRedirect().PathRewriteSpecifier = &routev3.RedirectAction_PathRedirect{PathRedirect: "\x00"}
		}, "Redirect.PathRedirect"},
		{"redirect prefix", func(r *meshxds.Resources) {
			aRoute[*routev3.Route_Redirect](r, nil).GetRedirect().PathRewriteSpecifier = &routev3.RedirectAction_PrefixRewrite{PrefixRewrite: "\r"}
		}, "Redirect.PrefixRewrite"},
		{"redirect code", func(r *meshxds.Resources) {
			aRoute[*routev3.Route_Redirect](r, nil).GetRedirect().ResponseCode = 9
		}, "redirect response code"},
		{"direct response status", func(r *meshxds.Resources) {
			aRoute[*routev3.Route_DirectResponse](r, nil).GetDirectResponse().Status = 600
		}, "direct_response status 600"},
		{"direct response body file", func(r *meshxds.Resources) {
			aRoute[*routev3.Route_DirectResponse](r, nil).GetDirectResponse().Body = &corev3.DataSource{Specifier: &corev3.DataSource_Filename{}}
		}, "direct_response body must be inline_string or inline_bytes"},
		{"direct response empty body", func(r *meshxds.Resources) {
			aRoute[*routev3.Route_DirectResponse](r, nil).GetDirectResponse().Body = &corev3.DataSource{}
		}, "direct_response body must be inline_string or inline_bytes"},
		// CORS.
		{"cors origin prefix", func(r *meshxds.Resources) {
			editCORS(r, func(p *corsv3.CorsPolicy) {
				p.AllowOriginStringMatch = append(p.AllowOriginStringMatch, &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{}})
			})
		}, "CorsPolicy.AllowOriginStringMatch[2].Prefix: value length must be at least 1 runes"},
		{"cors origin regex", func(r *meshxds.Resources) {
			editCORS(r, func(p *corsv3.CorsPolicy) {
				p.AllowOriginStringMatch[1] = &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{}}}
			})
		}, "CorsPolicy.AllowOriginStringMatch[1].SafeRegex.Regex"},
		{"cors origin contains", func(r *meshxds.Resources) {
			editCORS(r, func(p *corsv3.CorsPolicy) {
				p.AllowOriginStringMatch[0] = &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Contains{}}
			})
		}, "AllowOriginStringMatch[0].Contains"},
		{"cors filter enabled", func(r *meshxds.Resources) {
			editCORS(r, func(p *corsv3.CorsPolicy) { p.FilterEnabled = &corev3.RuntimeFractionalPercent{} })
		}, "CorsPolicy.FilterEnabled.DefaultValue: value is required"},
		{"cors filter enabled denominator", func(r *meshxds.Resources) {
			editCORS(r, func(p *corsv3.CorsPolicy) {
				p.FilterEnabled = &corev3.RuntimeFractionalPercent{DefaultValue: &typev3.FractionalPercent{Denominator: math.MaxInt32}}
			})
		}, "FilterEnabled.DefaultValue.Denominator"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := cloneResources(base)
			tc.edit(res)
			var read []brokenRule
			for _, b := range validateAll(res) {
				if b.read {
					read = append(read, b)
				}
			}
			if len(read) == 0 && !strings.Contains(tc.name, "regex that does not compile") {
				t.Errorf("Validate finds no broken rule on a field the proxy reads (%v); the case tests nothing", validateAll(res))
			}
			err := rulesReject(res)
			if err == nil {
				err = builderRejects(res)
			}
			switch {
			case err == nil:
				t.Fatalf("the proxy accepts it; Validate: %v", read)
			case !strings.Contains(err.Error(), tc.want):
				t.Errorf("the proxy's error\n%v\ndoes not say %q", err, tc.want)
			}
			agree(t, res, tc.name)
		})
	}
}
