package compile

import (
	"fmt"
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

	"github.com/lanemesh/lanemesh/api"
	"github.com/lanemesh/lanemesh/internal/config"
)

// Envoy filter names.
const (
	FaultFilter  = "envoy.filters.http.fault"
	RouterFilter = "envoy.filters.http.router"
	hcmFilter    = "envoy.filters.network.http_connection_manager"
)

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

// GatewayRouteName is the route configuration of a gateway port.
func GatewayRouteName(port uint32) string { return fmt.Sprintf("http.%d", port) }

// listener is an HTTP listener on 0.0.0.0:port whose routes come over ADS.
func listener(name string, port uint32, routeName string) *listenerv3.Listener {
	hcm := &hcmv3.HttpConnectionManager{
		StatPrefix: name,
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{
			ConfigSource: adsSource(), RouteConfigName: routeName}},
		HttpFilters: []*hcmv3.HttpFilter{
			{Name: FaultFilter, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(&faultv3.HTTPFault{})}},
			{Name: CorsFilter, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(&corsv3.Cors{})}},
			{Name: RouterFilter, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(&routerv3.Router{})}},
		},
	}
	return &listenerv3.Listener{
		Name:    name,
		Address: socketAddress("0.0.0.0", port),
		FilterChains: []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{{
			Name: hcmFilter, ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(hcm)}}}}},
	}
}

// gatewayServer is one Gateway server that selects this proxy.
type gatewayServer struct {
	gateway string // "ns/name"
	// hosts are the server's hosts as Istio writes them, "namespace/host"
	// or a bare host; "./host" is already the Gateway's own namespace.
	hosts []string
}

// gatewayListeners returns a listener and a route configuration for every
// HTTP port of the Gateways that select this proxy.
func (b *builder) gatewayListeners() ([]*listenerv3.Listener, []*routev3.RouteConfiguration) {
	ports := map[uint32][]gatewayServer{}
	for _, gw := range b.cfg.Gateways {
		if !config.SubsetOf(gw.Spec.Selector, b.proxy.Labels) {
			continue
		}
		for _, s := range gw.Spec.Servers {
			if !isHTTP(s.Port.Protocol) {
				continue
			}
			ports[s.Port.Number] = append(ports[s.Port.Number], gatewayServer{gateway: gw.Metadata.Key(), hosts: serverHosts(s, gw.Metadata.Namespace)})
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
		ls = append(ls, listener(fmt.Sprintf("0.0.0.0_%d", p), p, GatewayRouteName(p)))
		rs = append(rs, b.gatewayRoutes(p, ports[p]))
	}
	// Sorted by name like every other kind, so xDS clients, which order
	// resources by name, rebuild the same lists.
	sort.Slice(ls, func(i, j int) bool { return ls[i].Name < ls[j].Name })
	sort.Slice(rs, func(i, j int) bool { return rs[i].Name < rs[j].Name })
	return ls, rs
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

func isHTTP(protocol string) bool {
	switch protocol {
	case "", "HTTP", "http", "HTTP2", "http2":
		return true
	}
	return false
}
