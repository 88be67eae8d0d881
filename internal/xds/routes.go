package xds

import (
	"fmt"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/lanemesh/lanemesh/internal/xdsrules"
)

// A changed route configuration is decoded one virtual host, and one
// route, at a time, and a virtual host or route whose bytes the type's
// previous response had is taken from there.
//
// A sidecar's route configuration has a virtual host per service it
// reaches, all in one resource, so a state-of-the-world RDS response
// repeats all of them, and all their routes, whenever one route changes.
// Decoding and checking the route configuration was most of a client's
// CPU per change, though most of it was as it had been.
//
// Equivalence with proto.Unmarshal and xdsrules.RouteConfiguration:
// virtual_hosts and routes are repeated message fields, so each
// occurrence on the wire becomes one element, in order, decoded on its
// own; the other fields are decoded from the remaining bytes, in their
// order. The rules apply to each element on its own and to the other
// fields apart from them; a reused element passed those same checks.
// TestUnpackRouteAgrees holds this.

// vhost is a virtual host as decoded and checked from the wire.
type vhost struct {
	raw    string // the bytes it was decoded from
	vh     *routev3.VirtualHost
	routes []route
}

// route is a route as decoded and checked from the wire.
type route struct {
	raw string // the bytes it was decoded from
	r   *routev3.Route
}

// routeParts are the virtual hosts and routes of the route configurations
// of one response, by their bytes.
type routeParts struct {
	vhosts map[string]*vhost
	routes map[string]route
}

var (
	// virtualHostsField is RouteConfiguration's virtual_hosts.
	virtualHostsField = (&routev3.RouteConfiguration{}).ProtoReflect().Descriptor().Fields().ByName("virtual_hosts").Number()
	// routesField is VirtualHost's routes.
	routesField = (&routev3.VirtualHost{}).ProtoReflect().Descriptor().Fields().ByName("routes").Number()
)

// unpackRoute decodes and checks a route configuration from its wire
// bytes b, as proto.Unmarshal and xdsrules.RouteConfiguration would, reusing the virtual hosts
// and routes of prev. It returns the configuration's virtual hosts too.
//
// A virtual host or route decoded afresh is keyed by a copy of its bytes,
// not by a substring of the route configuration's: a substring would keep
// the whole configuration it came from in memory for as long as the part
// is reused, and after changes to different parts every part could hold
// on to a different old configuration.
func (prev *routeParts) unpackRoute(b []byte) (*routev3.RouteConfiguration, []*vhost, error) {
	spans, rest, err := splitRepeated(b, virtualHostsField)
	if err != nil {
		return nil, nil, err
	}
	rc := &routev3.RouteConfiguration{}
	if err := proto.Unmarshal(rest, rc); err != nil {
		return nil, nil, err
	}
	if err := xdsrules.RouteConfiguration(rc); err != nil { // all but the virtual hosts
		return nil, nil, fmt.Errorf("%q: %w", rc.GetName(), err)
	}
	vhs := make([]*vhost, len(spans))
	rc.VirtualHosts = make([]*routev3.VirtualHost, len(spans))
	for i, sp := range spans {
		v, ok := prev.vhost(b[sp.from:sp.to])
		if !ok {
			if v, err = prev.unpackVirtualHost(b[sp.from:sp.to]); err != nil {
				return nil, nil, fmt.Errorf("%q: %w", rc.GetName(), xdsrules.At(err, "RouteConfiguration", "VirtualHosts", i))
			}
		}
		vhs[i], rc.VirtualHosts[i] = v, v.vh
	}
	return rc, vhs, nil
}

// unpackVirtualHost decodes and checks a virtual host from b, reusing
// the routes of prev.
func (prev *routeParts) unpackVirtualHost(b []byte) (*vhost, error) {
	spans, rest, err := splitRepeated(b, routesField)
	if err != nil {
		return nil, err
	}
	v := &vhost{raw: string(b), vh: &routev3.VirtualHost{}, routes: make([]route, len(spans))}
	if err := proto.Unmarshal(rest, v.vh); err != nil {
		return nil, err
	}
	if err := xdsrules.VirtualHostOwn(v.vh); err != nil { // all but the routes
		return nil, err
	}
	v.vh.Routes = make([]*routev3.Route, len(spans))
	for i, sp := range spans {
		r, ok := prev.route(b[sp.from:sp.to])
		if !ok {
			r = route{raw: string(b[sp.from:sp.to]), r: &routev3.Route{}}
			if err := proto.Unmarshal(b[sp.from:sp.to], r.r); err != nil {
				return nil, err
			}
			if err := xdsrules.Route(r.r); err != nil {
				return nil, xdsrules.At(err, "VirtualHost", "Routes", i)
			}
		}
		v.routes[i], v.vh.Routes[i] = r, r.r
	}
	return v, nil
}

// vhost returns the virtual host decoded from raw, if p has it.
func (p *routeParts) vhost(raw []byte) (*vhost, bool) {
	if p == nil {
		return nil, false
	}
	v, ok := p.vhosts[string(raw)]
	return v, ok
}

// route returns the route decoded from raw, if p has it.
func (p *routeParts) route(raw []byte) (route, bool) {
	if p == nil {
		return route{}, false
	}
	r, ok := p.routes[string(raw)]
	return r, ok
}

// span is where an element of a repeated field lies in a message's bytes.
type span struct{ from, to int }

// splitRepeated separates the occurrences of a repeated message field from
// the rest of a message's wire bytes b: elems are where their contents lie
// in b. An occurrence of another wire type, an unknown field to
// proto.Unmarshal, stays in rest.
func splitRepeated(b []byte, field protowire.Number) (elems []span, rest []byte, err error) {
	rest = make([]byte, 0, 64)
	for i := 0; i < len(b); {
		num, typ, n := protowire.ConsumeTag(b[i:])
		if n < 0 {
			return nil, nil, protowire.ParseError(n)
		}
		m := protowire.ConsumeFieldValue(num, typ, b[i+n:])
		if m < 0 {
			return nil, nil, protowire.ParseError(m)
		}
		if num == field && typ == protowire.BytesType {
			v, _ := protowire.ConsumeBytes(b[i+n:])
			end := i + n + m
			elems = append(elems, span{end - len(v), end})
		} else {
			rest = append(rest, b[i:i+n+m]...)
		}
		i += n + m
	}
	return elems, rest, nil
}

// routePartsOf returns the virtual hosts and routes of the decoded route
// configurations by their bytes.
func routePartsOf(all []*decoded) *routeParts {
	out := &routeParts{vhosts: map[string]*vhost{}, routes: map[string]route{}}
	for _, d := range all {
		for _, v := range d.vhosts {
			out.vhosts[v.raw] = v
			for _, r := range v.routes {
				out.routes[r.raw] = r
			}
		}
	}
	return out
}
