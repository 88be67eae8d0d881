// Package explain answers "where would this request go, and why?" for one
// proxy: it compiles the proxy's resources, runs the data plane's own route
// decision (route.Table.Decide) on the request, and resolves the chosen
// cluster to its fallback and endpoints with the data plane's own fallback
// choice (route.FirstUsable) over the endpoints' EDS health. Because it
// uses the same compiler, the same Decide and the same fallback rule as the
// proxy, the two cannot disagree; only outlier ejections, which live in
// each proxy, are beyond its view.
//
// Explain is pure: it reads only the resources it is given.
package explain

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"

	"github.com/lanemesh/lanemesh/internal/meshxds"
	"github.com/lanemesh/lanemesh/internal/pathnorm"
	"github.com/lanemesh/lanemesh/internal/route"
)

// Destination is a service host, subset and port.
type Destination struct {
	Host   string `json:"host"`
	Subset string `json:"subset"`
	Port   uint32 `json:"port,omitempty"`
}

// Endpoint is one endpoint of the cluster that would serve the request.
type Endpoint struct {
	Address string `json:"address"`
	Healthy bool   `json:"healthy"`
	Pod     string `json:"pod,omitempty"`
}

// Result is the answer for one request.
type Result struct {
	RouteConfig    string       `json:"routeConfig"`
	VirtualHost    string       `json:"virtualHost,omitempty"`
	VirtualService string       `json:"virtualService,omitempty"` // "ns/name"; empty for a default route
	RouteIndex     int          `json:"routeIndex"`
	RouteName      string       `json:"routeName,omitempty"`
	Destination    *Destination `json:"destination"`
	Fallback       *Destination `json:"fallback"`
	// Cluster is the cluster the route names (an aggregate when it has a
	// fallback); ServedBy is the member that would take the request now.
	Cluster  string `json:"cluster,omitempty"`
	ServedBy string `json:"servedBy,omitempty"`
	// FellBack is true when the fallback serves because the destination
	// has no healthy endpoint (the access log's FB flag).
	FellBack  bool       `json:"fellBack"`
	Endpoints []Endpoint `json:"endpoints"`
	// SetHeaders are the request headers the route, and the weighted
	// destination it chose, set on the forwarded request (a permissive
	// lane group's gateway route sets the lane's route header).
	SetHeaders map[string]string `json:"setHeaders,omitempty"`
	// UpstreamTLS says how the proxy originates TLS to ServedBy (its
	// DestinationRule's tls); empty for plain text.
	UpstreamTLS string `json:"upstreamTLS,omitempty"`
	// Status and Flag are what the proxy would answer when it cannot
	// forward (404 NR, 503 NC, 503 UH) or when the route answers itself
	// (a redirect, with Location; a direct response, without a flag);
	// zero and empty when it forwards.
	Status   int    `json:"status,omitempty"`
	Location string `json:"location,omitempty"`
	Flag     string `json:"flag,omitempty"`
	Reason   string `json:"reason"`
	// Balancing is how the serving cluster picks an endpoint; Mirrors
	// the copies the request would make; CORS what the CORS filter does.
	Balancing *Balancing   `json:"loadBalancing,omitempty"`
	Mirrors   []MirrorCopy `json:"mirrors,omitempty"`
	CORS      string       `json:"cors,omitempty"`
	// Split lists each weighted destination of the route, with its share
	// of the requests and where that share goes now; empty when the route
	// has one destination. The fields above follow the one this request
	// drew: the first, unless the route hashes on a key the request has.
	Split []Share `json:"split,omitempty"`
}

// Share is one weighted destination of a route and where its requests go.
type Share struct {
	Percent     float64      `json:"percent"`
	Destination *Destination `json:"destination"`
	Fallback    *Destination `json:"fallback"`
	ServedBy    string       `json:"servedBy,omitempty"`
	FellBack    bool         `json:"fellBack"`
	// Status and Flag are set when the share's requests cannot be
	// forwarded (503 NC, 503 UH).
	Status int    `json:"status,omitempty"`
	Flag   string `json:"flag,omitempty"`
}

// Request builds a route.Request from a URL and headers ("Name: value"),
// its path normalized as the proxies normalize it by default (Istio's
// BASE), so that explain routes /a/../b as /b, as they do.
func Request(method, rawURL string, headers []string) (*route.Request, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("invalid URL %q: write it as http://host[:port]/path", rawURL)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("invalid URL %q: the scheme is http, or https for a request over TLS", rawURL)
	}
	target, err := pathnorm.NormalizeTarget(u.RequestURI(), pathnorm.Base)
	if err != nil {
		return nil, fmt.Errorf("invalid URL %q: %w (a proxy answers 400)", rawURL, err)
	}
	r := &route.Request{Method: method, Authority: u.Host, Path: target, Header: map[string][]string{}, TLS: u.Scheme == "https"}
	for _, h := range headers {
		name, value, ok := strings.Cut(h, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return nil, fmt.Errorf("invalid header %q: write it as 'Name: value'", h)
		}
		key := http.CanonicalHeaderKey(name)
		r.Header[key] = append(r.Header[key], strings.TrimSpace(value))
	}
	return r, nil
}

// Explain decides req against res's route configuration routeName (see
// RouteConfigFor) and follows the decision to endpoints.
func Explain(res *meshxds.Resources, routeName string, req *route.Request) (*Result, error) {
	out := &Result{RouteConfig: routeName, RouteIndex: -1, Endpoints: []Endpoint{}}
	rc := findRoutes(res, routeName)
	if routeName == NoFilterChain {
		out.Reason = "no filter chain of the gateway's TLS listener takes this host as SNI (no server lists it): the gateway ends the TLS handshake, and no request is made"
		out.Status, out.Flag = 0, "TLS handshake refused"
		return out, nil
	}
	if rc == nil {
		out.Status, out.Flag = 404, "NR"
		out.Reason = fmt.Sprintf("the proxy has no route configuration %q: no listener serves this port", routeName)
		return out, nil
	}
	table, err := route.New(rc)
	if err != nil {
		return nil, fmt.Errorf("route configuration %q: %w", routeName, err)
	}
	d := table.Decide(req, 0)
	out.VirtualHost = d.VirtualHost
	if d.Route == nil {
		out.Status, out.Flag = 404, "NR"
		out.Reason = noRouteReason(d.VirtualHost, req)
		return out, nil
	}
	out.VirtualService, out.RouteIndex, out.RouteName = d.Route.VirtualService, d.Route.RouteIndex, d.Route.Name
	if d.Route.SSLRedirect {
		out.Status, out.Location = route.RedirectStatus(d.Route.Redirect.GetResponseCode()), "https://"+req.Authority+req.Path
		out.Reason = fmt.Sprintf("virtual host %s requires TLS (the Gateway server's httpsRedirect): a plain request is redirected to %s", d.VirtualHost, out.Location)
		return out, nil
	}
	if rt := d.Route; rt.Redirect != nil {
		m := rt.Envoy.GetMatch()
		scheme := "http"
		if req.TLS {
			scheme = "https"
		}
		out.Status = route.RedirectStatus(rt.Redirect.GetResponseCode())
		out.Location = route.RedirectURL(rt.Redirect, scheme, req.Authority, req.Path, m.GetPrefix()+m.GetPathSeparatedPrefix())
		out.Reason = fmt.Sprintf("%s redirects to %s", ruleName(out), out.Location)
		return out, nil
	}
	if rt := d.Route; rt.DirectResponse != nil {
		out.Status = int(rt.DirectResponse.GetStatus())
		out.Reason = fmt.Sprintf("%s answers directly", ruleName(out))
		return out, nil
	}
	out.Cluster = d.Cluster
	out.SetHeaders = setHeaders(d)
	follow(res, out)
	policies(res, d.Route, req, out)
	if split := d.Route.Split(); len(split) > 1 {
		out.Split = shares(res, split)
	}
	return out, nil
}

// shares follows each weighted destination as follow follows the chosen
// one, so a split whose second destination has lost its endpoints shows
// that share's fallback too.
func shares(res *meshxds.Resources, split []route.Share) []Share {
	var total uint64
	for _, s := range split {
		total += s.Weight
	}
	out := make([]Share, len(split))
	for i, s := range split {
		r := &Result{Cluster: s.Cluster}
		follow(res, r)
		out[i] = Share{
			Percent: 100 * float64(s.Weight) / float64(total), Destination: r.Destination, Fallback: r.Fallback,
			ServedBy: r.ServedBy, FellBack: r.FellBack, Status: r.Status, Flag: r.Flag,
		}
	}
	return out
}

func noRouteReason(vhost string, req *route.Request) string {
	if vhost == "" {
		return fmt.Sprintf("no virtual host matches authority %q; the proxy answers 404 NR", req.Authority)
	}
	return fmt.Sprintf("virtual host %s matched, but none of its routes matches %s %s with these headers; the proxy answers 404 NR", vhost, req.Method, req.Path)
}

// follow resolves out.Cluster to destination, fallback, the member that
// would serve, and that member's endpoints. A fallback route's cluster is
// an aggregate, whose members are read from its config, as the proxy reads
// them; the member that serves is route.FirstUsable's choice over the
// members' EDS health, the rule the proxy applies to its live health.
func follow(res *meshxds.Resources, out *Result) {
	members := []string{out.Cluster}
	if agg := meshxds.AggregateMembers(findCluster(res, out.Cluster)); len(agg) > 0 {
		members = agg
	}
	primary := members[0]
	out.Destination = destination(primary)
	if len(members) > 1 {
		fb := destination(members[1])
		fb.Port = 0
		out.Fallback = fb
	}
	if !hasCluster(res, primary) {
		out.Status, out.Flag = 503, "NC"
		out.Reason = fmt.Sprintf("cluster %s does not exist (is subset %q defined by a DestinationRule?); the proxy answers 503 NC", primary, out.Destination.Subset)
		return
	}
	view := make(edsMembers, len(members))
	for m, name := range members {
		view[m] = endpoints(res, name)
	}
	out.ServedBy, out.Endpoints = primary, view[0]
	switch m := route.FirstUsable(view, 0); {
	case m == 0:
		out.Reason = fmt.Sprintf("routed by %s; %d healthy endpoint(s)", ruleName(out), healthy(view[0]))
	case m > 0:
		out.ServedBy, out.FellBack, out.Endpoints = members[m], true, view[m]
		out.Reason = fmt.Sprintf("routed by %s; %s has no healthy endpoint, so the fallback %s serves (FB)", ruleName(out), primary, members[m])
	default:
		out.Status, out.Flag = 503, "UH"
		out.Reason = fmt.Sprintf("routed by %s, but no healthy endpoint is left; the proxy answers 503 UH", ruleName(out))
	}
	out.UpstreamTLS = upstreamTLS(res, out.ServedBy)
}

// edsMembers is explain's health view of a cluster's members, their
// endpoints in order: EDS health alone, since outlier ejections live only
// in each proxy.
type edsMembers [][]Endpoint

func (v edsMembers) Len() int             { return len(v) }
func (v edsMembers) Endpoints(m int) int  { return len(v[m]) }
func (v edsMembers) Usable(m, i int) bool { return route.Usable(v[m][i].Healthy, false) }

// upstreamTLS describes the TLS a cluster originates, or "".
func upstreamTLS(res *meshxds.Resources, cluster string) string {
	for _, c := range res.Clusters {
		if c.GetName() != cluster || c.GetTransportSocket() == nil {
			continue
		}
		var ctx tlsv3.UpstreamTlsContext
		if err := c.GetTransportSocket().GetTypedConfig().UnmarshalTo(&ctx); err != nil {
			return "TLS (unreadable context: " + err.Error() + ")"
		}
		common := ctx.GetCommonTlsContext()
		var parts []string
		auto := autoSNI(c)
		switch {
		case ctx.GetSni() != "":
			parts = append(parts, "SNI "+ctx.GetSni())
		case auto != nil && auto.GetAutoSni():
			parts = append(parts, "SNI the request's host")
		}
		if len(common.GetTlsCertificates()) > 0 {
			parts = append(parts, "client certificate presented")
		}
		switch vc := common.GetValidationContext(); {
		case vc == nil:
			parts = append(parts, "server not verified (insecureSkipVerify)")
		default:
			var sans []string
			for _, m := range vc.GetMatchTypedSubjectAltNames() {
				if !slices.Contains(sans, m.GetMatcher().GetExact()) {
					sans = append(sans, m.GetMatcher().GetExact())
				}
			}
			ca := vc.GetTrustedCa().GetFilename()
			if ca == "" {
				ca = "an inline CA"
			}
			if auto.GetAutoSanValidation() {
				sans = append(sans, "the request's host")
			}
			parts = append(parts, fmt.Sprintf("server verified against %s, SAN one of %s", ca, strings.Join(sans, ", ")))
		}
		return "originated: " + strings.Join(parts, "; ")
	}
	return ""
}

// autoSNI is a cluster's auto_sni settings, nil for none.
func autoSNI(c *clusterv3.Cluster) *corev3.UpstreamHttpProtocolOptions {
	var o httpv3.HttpProtocolOptions
	if a := c.GetTypedExtensionProtocolOptions()["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]; a == nil || a.UnmarshalTo(&o) != nil {
		return nil
	}
	return o.GetUpstreamHttpProtocolOptions()
}

func ruleName(out *Result) string {
	if out.VirtualService == "" {
		return "the default route of " + out.VirtualHost
	}
	return fmt.Sprintf("VirtualService %s rule %d", out.VirtualService, out.RouteIndex)
}

func destination(cluster string) *Destination {
	port, subset, host, ok := meshxds.ParseClusterName(cluster)
	if !ok {
		return &Destination{Host: cluster}
	}
	return &Destination{Host: host, Subset: subset, Port: port}
}

func findRoutes(res *meshxds.Resources, name string) *routev3.RouteConfiguration {
	for _, rc := range res.Routes {
		if rc.Name == name {
			return rc
		}
	}
	return nil
}

func hasCluster(res *meshxds.Resources, name string) bool { return findCluster(res, name) != nil }

func findCluster(res *meshxds.Resources, name string) *clusterv3.Cluster {
	for _, c := range res.Clusters {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func endpoints(res *meshxds.Resources, cluster string) []Endpoint {
	out := []Endpoint{}
	for _, cla := range res.Endpoints {
		if cla.ClusterName != cluster {
			continue
		}
		for _, loc := range cla.Endpoints {
			for _, ep := range loc.LbEndpoints {
				out = append(out, endpoint(ep))
			}
		}
	}
	return out
}

func endpoint(ep *endpointv3.LbEndpoint) Endpoint {
	sa := ep.GetEndpoint().GetAddress().GetSocketAddress()
	e := Endpoint{
		Address: fmt.Sprintf("%s:%d", sa.GetAddress(), sa.GetPortValue()),
		Healthy: route.EDSEligible(ep.HealthStatus),
	}
	if md := ep.GetMetadata().GetFilterMetadata()[meshxds.MetadataKey]; md != nil {
		e.Pod = md.Fields["pod"].GetStringValue()
	}
	return e
}

func healthy(eps []Endpoint) int {
	n := 0
	for _, e := range eps {
		if e.Healthy {
			n++
		}
	}
	return n
}

// RouteConfigFor picks the route configuration a request to authority
// reaches: the sidecar's one, or the gateway port's (the URL's port, or the
// gateway's only port when the URL's is not one of them, as when `lanemesh
// up` maps port 80 to 8080).
func RouteConfigFor(res *meshxds.Resources, role meshxds.Role, authority string) string {
	return RouteConfigForRequest(res, role, &route.Request{Authority: authority})
}

// RouteConfigForRequest is RouteConfigFor for a request that may come over
// TLS (default port 443): on a gateway port that terminates TLS, the
// route configuration is that of the filter chain the request's host, as
// its SNI, selects.
func RouteConfigForRequest(res *meshxds.Resources, role meshxds.Role, req *route.Request) string {
	if role != meshxds.Gateway {
		return meshxds.SidecarRoutes
	}
	host, p, hasPort := strings.Cut(req.Authority, ":")
	port := uint32(80)
	if req.TLS {
		port = 443
	}
	if hasPort {
		fmt.Sscanf(p, "%d", &port)
	}
	if req.TLS {
		// The URL's port, or the only port that terminates TLS (lanemesh
		// up maps 443 to 8443).
		if name, ok := tlsRouteConfig(res, port, host); ok {
			return name
		}
		if only := tlsPorts(res); len(only) == 1 {
			name, _ := tlsRouteConfig(res, only[0], host)
			return name
		}
		return meshxds.GatewayRouteName(port)
	}
	name := meshxds.GatewayRouteName(port)
	if findRoutes(res, name) != nil {
		return name
	}
	var plain []string
	for _, rc := range res.Routes {
		if strings.HasPrefix(rc.Name, "http.") {
			plain = append(plain, rc.Name)
		}
	}
	if len(plain) == 1 {
		return plain[0]
	}
	return name
}

// tlsPorts are the gateway ports whose listeners terminate TLS.
func tlsPorts(res *meshxds.Resources) []uint32 {
	var out []uint32
	for _, l := range res.Listeners {
		if len(l.GetFilterChains()) > 0 && l.GetFilterChains()[0].GetTransportSocket() != nil {
			out = append(out, l.GetAddress().GetSocketAddress().GetPortValue())
		}
	}
	return out
}

// tlsRouteConfig is the route configuration of the filter chain of the
// gateway listener on port that a client sending SNI sni reaches, matched
// as Envoy matches server_names (exact, then the longest "*." wildcard,
// then a chain without names). ok is false when no listener on port
// terminates TLS; name is NoFilterChain when one does but no chain takes
// the SNI.
func tlsRouteConfig(res *meshxds.Resources, port uint32, sni string) (name string, ok bool) {
	sni = strings.ToLower(sni)
	for _, l := range res.Listeners {
		if l.GetAddress().GetSocketAddress().GetPortValue() != port || len(l.GetFilterChains()) == 0 || l.GetFilterChains()[0].GetTransportSocket() == nil {
			continue
		}
		var best, catchAll *listenerv3.FilterChain
		bestLen := 0
		for _, fc := range l.GetFilterChains() {
			names := fc.GetFilterChainMatch().GetServerNames()
			if len(names) == 0 && catchAll == nil {
				catchAll = fc
			}
			for _, n := range names {
				switch {
				case n == sni:
					return rdsName(fc), true
				case strings.HasPrefix(n, "*.") && strings.HasSuffix(sni, n[1:]) && len(sni) > len(n)-1 && len(n) > bestLen:
					best, bestLen = fc, len(n)
				}
			}
		}
		if best == nil {
			best = catchAll
		}
		if best == nil {
			return NoFilterChain, true
		}
		return rdsName(best), true
	}
	return "", false
}

// NoFilterChain is the route configuration name RouteConfigForRequest
// gives a TLS request whose SNI no filter chain of its port takes: the
// gateway ends such a handshake, and Explain says so.
const NoFilterChain = "(no filter chain for this SNI)"

// rdsName is the route configuration a filter chain's HTTP connection
// manager names.
func rdsName(fc *listenerv3.FilterChain) string {
	if fc == nil || len(fc.GetFilters()) == 0 {
		return ""
	}
	var hcm hcmv3.HttpConnectionManager
	if err := fc.GetFilters()[0].GetTypedConfig().UnmarshalTo(&hcm); err != nil {
		return ""
	}
	return hcm.GetRds().GetRouteConfigName()
}

// setHeaders lists the request headers route decision d sets: the
// route's, then those of the weighted cluster it chose.
func setHeaders(d route.Decision) map[string]string {
	ops := d.Route.Envoy.GetRequestHeadersToAdd()
	if wcs := d.Route.Envoy.GetRoute().GetWeightedClusters().GetClusters(); d.Weighted >= 0 && d.Weighted < len(wcs) {
		ops = append(slices.Clip(ops), wcs[d.Weighted].GetRequestHeadersToAdd()...)
	}
	if len(ops) == 0 {
		return nil
	}
	out := map[string]string{}
	for _, o := range ops {
		out[http.CanonicalHeaderKey(o.GetHeader().GetKey())] = o.GetHeader().GetValue()
	}
	return out
}
