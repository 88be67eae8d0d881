package proxy

import (
	"errors"
	"fmt"
	"net"
	"strconv"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	corsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"

	"github.com/lanemesh/lanemesh/internal/compile"
	"github.com/lanemesh/lanemesh/internal/route"
)

// builder builds one snapshot from resources. It reads the store to attach
// the persistent counters, and creates store entries for new clusters and
// endpoints; it changes nothing the running snapshot uses, so a failed
// build leaves the proxy exactly as it was.
type builder struct {
	res      *compile.Resources
	opts     *Options
	store    *store
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

// buildListener reads one listener: a single filter chain holding an HTTP
// connection manager whose routes come by RDS (which must be among the
// resources) or inline, and whose HTTP filters are at most the fault filter
// and the router.
func (b *builder) buildListener(l *listenerv3.Listener) error {
	sa := l.GetAddress().GetSocketAddress()
	switch {
	case sa == nil || sa.GetPortValue() == 0:
		return fmt.Errorf("%w: a listener needs a socket address with a port_value", route.ErrInvalid)
	case len(l.GetFilterChains()) != 1 || l.GetDefaultFilterChain() != nil || len(l.GetListenerFilters()) > 0:
		return fmt.Errorf("%w: exactly one filter chain and no listener filters are supported", route.ErrUnsupported)
	}
	fc := l.GetFilterChains()[0]
	if fc.GetFilterChainMatch() != nil || fc.GetTransportSocket() != nil || len(fc.GetFilters()) != 1 {
		return fmt.Errorf("%w: the filter chain must hold only an HTTP connection manager, without match or TLS", route.ErrUnsupported)
	}
	var hcm hcmv3.HttpConnectionManager
	if err := fc.GetFilters()[0].GetTypedConfig().UnmarshalTo(&hcm); err != nil {
		return fmt.Errorf("%w: filter %q is not an HTTP connection manager: %w", route.ErrUnsupported, fc.GetFilters()[0].GetName(), err)
	}
	lc := &listenerConfig{name: l.GetName(), port: sa.GetPortValue(), bind: b.bindAddress(l.GetName(), sa.GetAddress(), sa.GetPortValue())}
	if other := b.st.listeners[lc.bind]; other != nil {
		return fmt.Errorf("%w: binds %s, as listener %q does", route.ErrInvalid, lc.bind, other.name)
	}
	var err error
	if lc.table, err = b.listenerRoutes(&hcm); err != nil {
		return err
	}
	if err = b.httpFilters(&hcm, lc); err != nil {
		return err
	}
	b.st.listeners[lc.bind] = lc
	return nil
}

// bindAddress is where a listener binds: the sidecar's outbound listener
// at OutboundAddr, any other at PortMap[port], else its port on ListenHost
// or, without one, its own address.
func (b *builder) bindAddress(name, host string, port uint32) string {
	if b.opts.Role == compile.Sidecar && name == compile.SidecarListener {
		return b.opts.OutboundAddr
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
	if len(hcm.GetUpgradeConfigs()) > 0 {
		return nil, fmt.Errorf("%w: upgrade_configs are not supported", route.ErrUnsupported)
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

// httpFilters accepts the fault filter and the router, which must be last.
func (b *builder) httpFilters(hcm *hcmv3.HttpConnectionManager, lc *listenerConfig) error {
	filters := hcm.GetHttpFilters()
	for i, f := range filters {
		switch f.GetName() {
		case compile.FaultFilter:
			lc.fault = true
			if f.GetTypedConfig() == nil {
				continue
			}
			plan, err := buildFault(f.GetTypedConfig())
			if err != nil {
				return fmt.Errorf("http filter %q: %w", f.GetName(), err)
			}
			lc.defaultFault = plan
		case compile.CorsFilter:
			if f.GetTypedConfig() != nil && !f.GetTypedConfig().MessageIs(&corsv3.Cors{}) {
				return fmt.Errorf("%w: http filter %q config is not a Cors", route.ErrInvalid, f.GetName())
			}
			lc.cors = true
		case compile.RouterFilter:
			if i != len(filters)-1 {
				return fmt.Errorf("%w: the router must be the last HTTP filter", route.ErrInvalid)
			}
			if f.GetTypedConfig() != nil && !f.GetTypedConfig().MessageIs(&routerv3.Router{}) {
				return fmt.Errorf("%w: http filter %q config is not a Router", route.ErrInvalid, f.GetName())
			}
		default:
			return fmt.Errorf("%w: http filter %q; lanemesh runs only %s, %s and %s", route.ErrUnsupported, f.GetName(), compile.FaultFilter, compile.CorsFilter, compile.RouterFilter)
		}
	}
	if len(filters) == 0 || filters[len(filters)-1].GetName() != compile.RouterFilter {
		return fmt.Errorf("%w: the HTTP filters must end with %s", route.ErrInvalid, compile.RouterFilter)
	}
	return nil
}
