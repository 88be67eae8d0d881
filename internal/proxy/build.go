package proxy

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	corsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/proto"

	"github.com/lanemesh/lanemesh/internal/entry"
	"github.com/lanemesh/lanemesh/internal/h1"
	"github.com/lanemesh/lanemesh/internal/meshxds"
	"github.com/lanemesh/lanemesh/internal/policy"
	"github.com/lanemesh/lanemesh/internal/route"
)

// builder builds one snapshot from resources. It reads the store to attach
// the persistent counters, and creates store entries for new clusters and
// endpoints; it changes nothing the running snapshot uses, so a failed
// build leaves the proxy exactly as it was.
type builder struct {
	res      *meshxds.Resources
	opts     *Options
	store    *store
	dests    *destinations // nil: destination labels are not shared across snapshots
	st       *state
	warnings []string
}

func (b *builder) warn(format string, args ...any) {
	b.warnings = append(b.warnings, fmt.Sprintf(format, args...))
}

// build returns the checked snapshot of res, or every reason it is
// rejected. Clusters come first so that route plans can resolve them.
func (b *builder) build() (*state, error) {
	if b.res == nil {
		return nil, fmt.Errorf("%w: nil resources", route.ErrInvalid)
	}
	b.st = emptyState()
	b.st.res = b.res
	errs := []error{b.buildClusters()}
	for _, rc := range b.res.Routes {
		errs = append(errs, b.addRouteConfig(rc))
	}
	for _, l := range b.res.Listeners {
		if err := b.buildListener(l); err != nil {
			errs = append(errs, fmt.Errorf("listener %q: %w", l.GetName(), err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return b.st, nil
}

// addRouteConfig compiles a RouteConfiguration into a route table and the
// plans of its routes.
func (b *builder) addRouteConfig(rc *routev3.RouteConfiguration) error {
	if _, dup := b.st.tables[rc.GetName()]; dup {
		return fmt.Errorf("route configuration %q: %w: listed twice", rc.GetName(), route.ErrInvalid)
	}
	t, err := route.New(rc) // its errors already name the route configuration
	if err != nil {
		return err
	}
	if err := buildPlans(rc, b.st); err != nil {
		return fmt.Errorf("route configuration %q: %w", rc.GetName(), err)
	}
	b.st.tables[rc.GetName()] = t
	return nil
}

// buildListener reads one listener: one filter chain holding an HTTP
// connection manager, or, for TLS, several chains each with a TLS
// transport socket and at most a server_names match. Each manager's routes
// come by RDS (which must be among the resources) or inline, and its HTTP
// filters are at most the fault filter and the router.
func (b *builder) buildListener(l *listenerv3.Listener) error {
	sa := l.GetAddress().GetSocketAddress()
	switch {
	case sa == nil || sa.GetPortValue() == 0:
		return fmt.Errorf("%w: a listener needs a socket address with a port_value", route.ErrInvalid)
	case len(l.GetFilterChains()) == 0 || l.GetDefaultFilterChain() != nil:
		return fmt.Errorf("%w: a listener needs filter chains, and no default filter chain is supported", route.ErrUnsupported)
	case len(l.GetListenerFilters()) > 0 && !onlyTLSInspector(l.GetListenerFilters()):
		return fmt.Errorf("%w: listener filters other than %s are not supported", route.ErrUnsupported, tlsInspector)
	}
	lc := &listenerConfig{name: l.GetName(), port: sa.GetPortValue(), bind: b.bindAddress(l.GetName(), sa.GetAddress(), sa.GetPortValue())}
	if other := b.st.listeners[lc.bind]; other != nil {
		return fmt.Errorf("%w: binds %s, as listener %q does", route.ErrInvalid, lc.bind, other.name)
	}
	seen := map[string]bool{}
	for i, fc := range l.GetFilterChains() {
		chain, err := b.buildChain(fc)
		if err != nil && len(l.GetFilterChains()) > 1 {
			return fmt.Errorf("filter chain %d: %w", i, err)
		} else if err != nil {
			return err
		}
		key := strings.Join(chain.serverNames, ",")
		switch {
		case i > 0 && (chain.tls == nil) != !lc.tls:
			return fmt.Errorf("%w: filter chain %d: a listener's chains must all terminate TLS, or none", route.ErrUnsupported, i)
		case chain.tls == nil && len(l.GetFilterChains()) > 1:
			return fmt.Errorf("%w: filter chain %d: several plain-text chains need a match lanemesh does not support", route.ErrUnsupported, i)
		case seen[key]:
			return fmt.Errorf("%w: filter chain %d: its server_names %q are matched by an earlier chain", route.ErrInvalid, i, key)
		}
		seen[key] = true
		if chain.lanesConfig != nil {
			chain.lanes = b.laneFilterFor(*chain.lanesConfig, l.GetTrafficDirection() == corev3.TrafficDirection_INBOUND)
		}
		lc.tls = chain.tls != nil
		lc.chains = append(lc.chains, chain)
	}
	b.st.listeners[lc.bind] = lc
	return nil
}

// tlsInspector is the listener filter that reads the SNI; lanemesh's TLS
// listeners always read it, so the filter is accepted and changes nothing.
const tlsInspector = "envoy.filters.listener.tls_inspector"

func onlyTLSInspector(fs []*listenerv3.ListenerFilter) bool {
	for _, f := range fs {
		if f.GetName() != tlsInspector {
			return false
		}
	}
	return true
}

// buildChain reads one filter chain.
func (b *builder) buildChain(fc *listenerv3.FilterChain) (*filterChain, error) {
	chain := &filterChain{}
	if m := fc.GetFilterChainMatch(); m != nil {
		if !proto.Equal(m, &listenerv3.FilterChainMatch{ServerNames: m.GetServerNames()}) {
			return nil, fmt.Errorf("%w: a filter chain match may hold only server_names", route.ErrUnsupported)
		}
		chain.serverNames = slices.Sorted(slices.Values(m.GetServerNames()))
		for _, n := range chain.serverNames {
			if n == "" || strings.Contains(n[1:], "*") || strings.HasPrefix(n, "*") && !strings.HasPrefix(n, "*.") {
				return nil, fmt.Errorf("%w: server name %q: only a leading \"*.\" wildcard is allowed", route.ErrInvalid, n)
			}
		}
	}
	ctx, err := transportTLS[tlsv3.DownstreamTlsContext](fc.GetTransportSocket())
	if err != nil {
		return nil, err
	}
	if ctx != nil {
		if chain.tls, err = buildServerTLS(ctx); err != nil {
			return nil, err
		}
	} else if len(chain.serverNames) > 0 {
		return nil, fmt.Errorf("%w: server_names need a TLS transport socket", route.ErrInvalid)
	}
	if len(fc.GetFilters()) != 1 {
		return nil, fmt.Errorf("%w: the filter chain must hold only an HTTP connection manager", route.ErrUnsupported)
	}
	var hcm hcmv3.HttpConnectionManager
	if err := fc.GetFilters()[0].GetTypedConfig().UnmarshalTo(&hcm); err != nil {
		return nil, fmt.Errorf("%w: filter %q is not an HTTP connection manager: %w", route.ErrUnsupported, fc.GetFilters()[0].GetName(), err)
	}
	if chain.table, err = b.listenerRoutes(&hcm); err != nil {
		return nil, err
	}
	if err = b.httpFilters(&hcm, chain); err != nil {
		return nil, err
	}
	if chain.server, err = serverHeader(&hcm); err != nil {
		return nil, err
	}
	for _, u := range hcm.GetUpgradeConfigs() {
		chain.websocket = u.GetEnabled() == nil || u.GetEnabled().GetValue()
	}
	chain.http10 = hcm.GetHttpProtocolOptions().GetAcceptHttp_10()
	if chain.xfcc, err = buildXFCC(&hcm); err != nil {
		return nil, err
	}
	return chain, nil
}

// serverHeader is what the connection manager's server_name and
// server_header_transformation make of a response's Server header: the
// name to write ("envoy" when unset, Envoy's default), whether to
// overwrite the upstream's, or nothing at all (PASS_THROUGH).
func serverHeader(hcm *hcmv3.HttpConnectionManager) (serverHeaderOp, error) {
	name := hcm.GetServerName()
	if name == "" {
		name = "envoy"
	}
	if !h1.ValidValue(name) {
		return serverHeaderOp{}, fmt.Errorf("%w: server_name %q is not a valid header value", route.ErrInvalid, name)
	}
	switch hcm.GetServerHeaderTransformation() {
	case hcmv3.HttpConnectionManager_OVERWRITE:
		return serverHeaderOp{value: []string{name}, overwrite: true}, nil
	case hcmv3.HttpConnectionManager_APPEND_IF_ABSENT:
		return serverHeaderOp{value: []string{name}}, nil
	case hcmv3.HttpConnectionManager_PASS_THROUGH:
		return serverHeaderOp{}, nil
	}
	return serverHeaderOp{}, fmt.Errorf("%w: server_header_transformation %d is not defined", route.ErrInvalid, hcm.GetServerHeaderTransformation())
}

// bindAddress is where a listener binds: the sidecar's outbound listener
// at OutboundAddr, any other at PortMap[port], else its port on ListenHost
// or, without one, its own address.
func (b *builder) bindAddress(name, host string, port uint32) string {
	if b.opts.Role == meshxds.Sidecar && name == meshxds.SidecarListener {
		return b.opts.OutboundAddr
	}
	if b.opts.Role == meshxds.Sidecar && name == meshxds.InboundListener && b.opts.InboundAddr != "" {
		return b.opts.InboundAddr
	}
	if a, ok := b.opts.PortMap[port]; ok {
		return a
	}
	if b.opts.ListenHost != "" {
		host = b.opts.ListenHost
	}
	return net.JoinHostPort(host, strconv.FormatUint(uint64(port), 10))
}

func (b *builder) listenerRoutes(hcm *hcmv3.HttpConnectionManager) (*route.Table, error) {
	switch hcm.GetCodecType() {
	case hcmv3.HttpConnectionManager_AUTO, hcmv3.HttpConnectionManager_HTTP1:
	default:
		return nil, fmt.Errorf("%w: codec_type %v; lanemesh serves HTTP/1.1", route.ErrUnsupported, hcm.GetCodecType())
	}
	for i, u := range hcm.GetUpgradeConfigs() {
		if !strings.EqualFold(u.GetUpgradeType(), meshxds.WebSocketUpgrade) || len(u.GetFilters()) > 0 {
			return nil, fmt.Errorf("%w: upgrade_configs[%d]: only %q without filters is supported", route.ErrUnsupported, i, meshxds.WebSocketUpgrade)
		}
	}
	if rc := hcm.GetRouteConfig(); rc != nil {
		if err := b.addRouteConfig(rc); err != nil {
			return nil, err
		}
		return b.st.tables[rc.GetName()], nil
	}
	name := hcm.GetRds().GetRouteConfigName()
	if hcm.GetRds() == nil || name == "" {
		return nil, fmt.Errorf("%w: the HTTP connection manager must name its routes by RDS or inline; scoped routes are not supported", route.ErrUnsupported)
	}
	t := b.st.tables[name]
	if t == nil {
		return nil, fmt.Errorf("%w: RDS route configuration %q is not among the resources (or was rejected)", route.ErrInvalid, name)
	}
	return t, nil
}

// httpFilters accepts the lane-entry, fault and CORS filters and the router,
// which must be last; another filter is refused unless marked optional.
func (b *builder) httpFilters(hcm *hcmv3.HttpConnectionManager, lc *filterChain) error {
	filters := hcm.GetHttpFilters()
	for i, f := range filters {
		switch f.GetName() {
		case meshxds.FaultFilter:
			lc.fault = true
			if f.GetTypedConfig() == nil {
				continue
			}
			plan, err := policy.BuildFault(f.GetTypedConfig())
			if err != nil {
				return fmt.Errorf("http filter %q: %w", f.GetName(), err)
			}
			lc.defaultFault = plan
		case meshxds.CorsFilter:
			if f.GetTypedConfig() != nil && !f.GetTypedConfig().MessageIs(&corsv3.Cors{}) {
				return fmt.Errorf("%w: http filter %q config is not a Cors", route.ErrInvalid, f.GetName())
			}
			lc.cors = true
		case entry.FilterName:
			le, err := b.buildLaneEntry(f)
			if err != nil {
				return err
			}
			lc.entry = le
		case meshxds.LanePropagationFilter:
			lp, err := meshxds.ParseLanePropagation(f.GetTypedConfig())
			if err != nil {
				return fmt.Errorf("%w: http filter %q: %w", route.ErrInvalid, f.GetName(), err)
			}
			// The direction is the listener's; buildListener makes the
			// filter once it knows it.
			lc.lanesConfig = &lp
		case meshxds.RouterFilter:
			if i != len(filters)-1 {
				return fmt.Errorf("%w: the router must be the last HTTP filter", route.ErrInvalid)
			}
			if f.GetTypedConfig() != nil && !f.GetTypedConfig().MessageIs(&routerv3.Router{}) {
				return fmt.Errorf("%w: http filter %q config is not a Router", route.ErrInvalid, f.GetName())
			}
		default:
			if f.GetIsOptional() {
				// As in Envoy: a filter marked optional that this proxy
				// does not know is left out, not a reason to refuse.
				b.warn("http filter %q is optional and not supported; skipped", f.GetName())
				continue
			}
			return fmt.Errorf("%w: http filter %q; lanemesh runs only %s, %s, %s, %s and %s", route.ErrUnsupported, f.GetName(), entry.FilterName, meshxds.LanePropagationFilter, meshxds.FaultFilter, meshxds.CorsFilter, meshxds.RouterFilter)
		}
	}
	if len(filters) == 0 || filters[len(filters)-1].GetName() != meshxds.RouterFilter {
		return fmt.Errorf("%w: the HTTP filters must end with %s", route.ErrInvalid, meshxds.RouterFilter)
	}
	return nil
}
