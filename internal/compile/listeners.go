package compile

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	corsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	faultv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/lanemesh/lanemesh/api"
	"github.com/lanemesh/lanemesh/internal/config"
	"github.com/lanemesh/lanemesh/internal/meshxds"
)

// hcmFilter is the network filter of every HTTP listener lanemesh emits.
const hcmFilter = "envoy.filters.network.http_connection_manager"

type anyMsg = anypb.Any

// mustAny packs m. Packing a non-nil generated message cannot fail.
func mustAny(m proto.Message) *anypb.Any {
	a, err := anypb.New(m)
	if err != nil {
		panic(err)
	}
	return a
}

func adsSource() *corev3.ConfigSource {
	return &corev3.ConfigSource{
		ResourceApiVersion:    corev3.ApiVersion_V3,
		ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
	}
}

// listener is an HTTP listener on 0.0.0.0:port whose routes come over ADS;
// first are HTTP filters that run before the standard ones.
func (b *builder) listener(name string, port uint32, routeName, serverName string, first ...*hcmv3.HttpFilter) *listenerv3.Listener {
	return &listenerv3.Listener{
		Name:         name,
		Address:      socketAddress("0.0.0.0", port),
		FilterChains: []*listenerv3.FilterChain{b.httpChain(name, routeName, serverName, first...)},
	}
}

// Server header values, by listener, as Istio's GetProxyHeaders sets them:
// its own name on gateways and a sidecar's inbound side, Envoy's default
// ("envoy", left unset) on a sidecar's outbound side.
const (
	istioServerName = "istio-envoy"
	envoyServerName = ""
)

// httpChain is a filter chain holding an HTTP connection manager whose
// routes come over ADS, with the HTTP filters first (the lane-entry
// filter: it must run before routing) and then the standard ones. As
// Istio's, it overwrites the Server header with serverName, allows
// WebSocket upgrades, and accepts HTTP/1.0 only if Options.HTTP10 says so
// (Envoy answers it 426 otherwise).
func (b *builder) httpChain(statPrefix, routeName, serverName string, first ...*hcmv3.HttpFilter) *listenerv3.FilterChain {
	var h1opts *corev3.Http1ProtocolOptions
	if b.opts.HTTP10 {
		h1opts = &corev3.Http1ProtocolOptions{AcceptHttp_10: true}
	}
	hcm := &hcmv3.HttpConnectionManager{
		HttpProtocolOptions:        h1opts,
		StatPrefix:                 statPrefix,
		ServerName:                 serverName,
		ServerHeaderTransformation: hcmv3.HttpConnectionManager_OVERWRITE,
		UpgradeConfigs:             []*hcmv3.HttpConnectionManager_UpgradeConfig{{UpgradeType: meshxds.WebSocketUpgrade}},
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{
			ConfigSource: adsSource(), RouteConfigName: routeName}},
		HttpFilters: slices.Concat(first, []*hcmv3.HttpFilter{
			{Name: meshxds.FaultFilter, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(&faultv3.HTTPFault{})}},
			{Name: meshxds.CorsFilter, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(&corsv3.Cors{})}},
			{Name: meshxds.RouterFilter, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(&routerv3.Router{})}},
		}),
	}
	if b.proxy.Role == meshxds.Gateway {
		// Istio's gateways: a client certificate (MUTUAL servers) is
		// described to the upstream in x-forwarded-client-cert, any the
		// client sent replaced.
		hcm.ForwardClientCertDetails = hcmv3.HttpConnectionManager_SANITIZE_SET
		hcm.SetCurrentClientCertDetails = &hcmv3.HttpConnectionManager_SetCurrentClientCertDetails{
			Subject: wrapperspb.Bool(true), Cert: true, Dns: true, Uri: true}
	}
	return &listenerv3.FilterChain{Filters: []*listenerv3.Filter{{
		Name: hcmFilter, ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(hcm)}}}}
}

// gatewayServer is one Gateway server that selects this proxy.
type gatewayServer struct {
	gateway string // "ns/name"
	// hosts are the server's hosts as Istio writes them, "namespace/host"
	// or a bare host; "./host" is already the Gateway's own namespace.
	hosts     []string
	server    *api.Server
	namespace string // the Gateway's
}

// gatewayPort is the servers of one port: plain HTTP, or HTTPS servers
// that terminate TLS. Istio serves one kind per port; servers of the
// other kind on a port are left out, as Istio leaves them out.
type gatewayPort struct {
	tls     bool
	servers []gatewayServer
}

// duplicateHosts reports whether a server with TLS settings on port names
// a host an earlier one on the port named; if not, its hosts are noted.
// Istio leaves such a server out whole, since Envoy refuses two filter
// chains that match the same SNI.
func duplicateHosts(known map[uint32]map[string]bool, port uint32, hosts []string) bool {
	if known[port] == nil {
		known[port] = map[string]bool{}
	}
	if slices.ContainsFunc(hosts, func(h string) bool { return known[port][h] }) {
		return true
	}
	for _, h := range hosts {
		known[port][h] = true
	}
	return false
}

// gatewayListeners returns a listener and route configurations for every
// HTTP and HTTPS port of the Gateways that select this proxy.
func (b *builder) gatewayListeners() ([]*listenerv3.Listener, []*routev3.RouteConfiguration) {
	ports := map[uint32]*gatewayPort{}
	tlsHosts := map[uint32]map[string]bool{} // by port: the hosts of servers with TLS settings
	for _, gw := range b.cfg.Gateways {
		if !config.SubsetOf(gw.Spec.Selector, b.proxy.Labels) {
			continue
		}
		for i := range gw.Spec.Servers {
			s := &gw.Spec.Servers[i]
			tls := terminatesTLS(s)
			if !tls && !config.IsHTTPProtocol(s.Port.Protocol) {
				continue
			}
			if s.TLS != nil && duplicateHosts(tlsHosts, s.Port.Number, s.Hosts) {
				continue // Istio's CheckDuplicates: the later server is left out whole
			}
			gp := ports[s.Port.Number]
			if gp == nil {
				gp = &gatewayPort{tls: tls}
				ports[s.Port.Number] = gp
			}
			if gp.tls == tls {
				gp.servers = append(gp.servers, gatewayServer{gateway: gw.Metadata.Key(), hosts: serverHosts(*s, gw.Metadata.Namespace), server: s, namespace: gw.Metadata.Namespace})
			}
		}
	}
	nums := make([]uint32, 0, len(ports))
	for p := range ports {
		nums = append(nums, p)
	}
	sort.Slice(nums, func(i, j int) bool { return nums[i] < nums[j] })
	var ls []*listenerv3.Listener
	var rs []*routev3.RouteConfiguration
	for _, p := range nums {
		gp := ports[p]
		if !gp.tls {
			ls = append(ls, b.listener(fmt.Sprintf("0.0.0.0_%d", p), p, meshxds.GatewayRouteName(p), istioServerName, b.laneEntryFilters()...))
			rs = append(rs, b.gatewayRoutes(meshxds.GatewayRouteName(p), p, gp.servers))
			continue
		}
		l, routes := b.tlsListener(p, gp.servers)
		ls = append(ls, l)
		rs = append(rs, routes...)
	}
	// Sorted by name like every other kind, so xDS clients, which order
	// resources by name, rebuild the same lists.
	sort.Slice(ls, func(i, j int) bool { return ls[i].Name < ls[j].Name })
	sort.Slice(rs, func(i, j int) bool { return rs[i].Name < rs[j].Name })
	return ls, rs
}

// terminatesTLS reports whether a server is HTTPS with a mode in which the
// gateway terminates TLS. The analyzer refuses the other modes.
func terminatesTLS(s *api.Server) bool {
	if !strings.EqualFold(s.Port.Protocol, "HTTPS") || s.TLS == nil {
		return false
	}
	switch config.ServerTLSMode(s.TLS) {
	case "SIMPLE", "MUTUAL", "OPTIONAL_MUTUAL":
		return true
	}
	return false
}

// tlsListener is a listener that terminates TLS on port: a filter chain
// per server, chosen by the client's SNI among the server's hosts (any SNI
// for a server of "*"), each with the server's certificate and its own
// route configuration. A second server claiming the same SNI names is left
// out: Envoy refuses two chains with one match.
func (b *builder) tlsListener(port uint32, servers []gatewayServer) (*listenerv3.Listener, []*routev3.RouteConfiguration) {
	name := fmt.Sprintf("0.0.0.0_%d", port)
	l := &listenerv3.Listener{Name: name, Address: socketAddress("0.0.0.0", port)}
	var rs []*routev3.RouteConfiguration
	claimed := map[string]bool{}
	for _, srv := range servers {
		names := sniNames(srv.hosts)
		key := strings.Join(names, ",")
		if claimed[key] {
			continue
		}
		claimed[key] = true
		gwName := strings.TrimPrefix(srv.gateway, srv.namespace+"/")
		routeName := meshxds.GatewayTLSRouteName(port, srv.server.Port.Name, gwName, srv.namespace)
		fc := b.httpChain(name, routeName, istioServerName, b.laneEntryFilters()...)
		if len(names) > 0 {
			fc.FilterChainMatch = &listenerv3.FilterChainMatch{ServerNames: names}
		}
		ctx := b.downstreamTLS(srv.server.TLS)
		fc.TransportSocket = &corev3.TransportSocket{Name: meshxds.TLSTransportSocket, ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: mustAny(ctx)}}
		l.FilterChains = append(l.FilterChains, fc)
		rs = append(rs, b.gatewayRoutes(routeName, port, []gatewayServer{srv}))
	}
	return l, rs
}

// sniNames are the SNI names of a server's hosts, without their namespace,
// sorted; none when a host is "*", which matches any SNI (Istio's
// getSNIHostsForServer).
func sniNames(hosts []string) []string {
	var out []string
	for _, h := range hosts {
		if _, rest, ok := strings.Cut(h, "/"); ok {
			h = rest
		}
		if h == "*" {
			return nil
		}
		out = append(out, h)
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// serverHosts lower-cases a server's hosts and gives "./host" the
// Gateway's namespace, as Istio does when it merges gateways.
func serverHosts(s api.Server, gatewayNS string) []string {
	out := make([]string, len(s.Hosts))
	for i, h := range s.Hosts {
		h = strings.ToLower(h)
		if rest, ok := strings.CutPrefix(h, "./"); ok {
			h = gatewayNS + "/" + rest
		}
		out[i] = h
	}
	return out
}
