// Package route is the data plane's compiled route table and its pure Decide.
//
// New compiles one Envoy v3 RouteConfiguration, as RDS delivers it, into a Table of matchers
// prepared ahead of time; Table.Decide picks the virtual host, route and cluster for one request.
// The HTTP proxy calls Decide on every request and `lanemesh explain` calls the very same
// function, so what explain prints is what the proxy does.
//
// The contract:
//
//   - Decide is pure. It does no I/O and reads no clock, environment or package state; the only
//     randomness, the weighted-cluster pick, comes in as the rnd argument, so any decision can
//     be replayed.
//   - A Table never changes after New returns and is safe for concurrent use without locks. The
//     proxy swaps whole tables behind an atomic pointer when a new configuration arrives.
//   - New rejects whatever it cannot honour exactly as Envoy would (matcher kinds it does not
//     implement, actions other than routing, redirecting or answering directly, bad regexes,
//     weights summing to zero,
//     invalid protos). The error names the virtual host and route, wraps ErrInvalid or
//     ErrUnsupported, and is what the proxy sends back as the NACK; the last good table stays
//     in force. Ignoring a matcher instead would route requests where Envoy would not.
//   - Decide does not allocate for path, header and query matchers of any kind, and neither
//     do HashPolicy.Compute (unless it makes a cookie up), CORS.Check and Mirror.Fires, which
//     the proxy calls on the route Decide returns. It allocates
//     only to lower-case an authority that has upper-case letters, to join a header that
//     appears several times, and to decode a percent-encoded query parameter.
//
// FirstUsable is the other decision the proxy and explain share: which member of a fallback
// (aggregate) cluster takes a request, given a health view of its members (fallback.go).
//
// The semantics are Envoy's (config/route/v3): virtual host by domain (exact, then the longest
// suffix wildcard, then the longest prefix wildcard, then "*"); routes in order, first match wins;
// header matchers with Envoy's rules for missing and inverted headers; weighted clusters picked
// by rnd modulo the total weight over cumulative weights (by the request's hash instead when the
// route hashes; see weightedValue).
package route

import (
	"errors"
	"net/http"
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
)

// Errors returned by New wrap one of these, so callers can tell a configuration that is wrong
// from one that is valid Envoy but beyond what this data plane implements yet.
var (
	// ErrInvalid marks a configuration that Envoy would reject too (bad regex, zero total weight,
	// duplicate domain, failed proto validation).
	ErrInvalid = errors.New("invalid")
	// ErrUnsupported marks a valid Envoy configuration that uses a feature this table does not
	// implement (cluster_header, runtime fractions, regex redirects, ...).
	ErrUnsupported = errors.New("unsupported")
)

// Request is what Decide looks at. The proxy fills it from an *http.Request without copying
// headers; the explain CLI builds one from its flags.
type Request struct {
	Method    string      // "GET"; matched by ":method" header matchers
	Authority string      // Host header / absolute-URL host, may include ":port"
	Path      string      // request-target path including the raw query, e.g. "/mock?a=b"
	Header    http.Header // request headers with canonical keys, as net/http stores them; may be nil
	// RemoteAddr and LocalAddr are the downstream connection's addresses
	// ("ip:port"), read only by hash policies: a source IP hash, and the
	// cookie Envoy makes up when a cookie hash policy has a ttl.
	RemoteAddr, LocalAddr string
	// TLS is true when the request came over TLS; a virtual host that
	// requires TLS redirects the others to https.
	TLS bool
}

// Decision is the outcome of Decide. The zero value means no virtual host matched.
type Decision struct {
	Route       *Route // nil when nothing matched (Envoy flag NR, 404)
	Cluster     string // chosen cluster ("" when Route is nil)
	VirtualHost string // name of the matched virtual host ("" if no virtual host matched)
	// Weighted is the position of the chosen entry in the route's
	// weighted_clusters, whose own header operations apply; -1 when the
	// route names one cluster. Two entries may name the same cluster
	// with different headers (a lane entry per lane to one service), so
	// the cluster alone does not say which entry was drawn. Read it only
	// when Route is set.
	Weighted int
}

// Route is one compiled envoy Route. It is read-only: the proxy reads Action for timeouts,
// retries and rewrites, and must not modify it or Envoy.
type Route struct {
	VirtualService string               // from lanemesh route metadata, "ns/name" ("" if absent)
	RouteIndex     int                  // index of the http route inside the VirtualService (-1 if absent)
	Name           string               // envoy route name
	Action         *routev3.RouteAction // the original action; nil for a redirect or direct response
	// Redirect and DirectResponse are set when the route answers the
	// request itself instead of forwarding it; Decide then returns no
	// cluster.
	Redirect       *routev3.RedirectAction
	DirectResponse *routev3.DirectResponseAction
	Envoy          *routev3.Route // the original route; nil for SSLRedirect
	// Hash is the route's hash_policy, for clusters that load balance by
	// consistent hashing (RING_HASH, MAGLEV); nil when it has none.
	Hash *HashPolicy
	// CORS is the envoy.filters.http.cors policy of the route, merged with
	// its virtual host's; nil when neither has one.
	CORS *CORS
	// Mirrors are the route's request_mirror_policies, in order.
	Mirrors []Mirror
	// SSLRedirect is true for the answer of a virtual host that requires
	// TLS to a plain request: 301 to the same URL with scheme https, host
	// and path as the client sent them (Envoy's SslRedirector).
	SSLRedirect bool

	path    pathMatcher
	headers []headerMatcher
	queries []queryMatcher
	pick    picker
}

// matches reports whether the request satisfies every matcher of the route (they are ANDed).
func (rt *Route) matches(r *Request, path, query string) bool {
	if !rt.path.match(path) {
		return false
	}
	for i := range rt.headers {
		if !rt.headers[i].match(r) {
			return false
		}
	}
	for i := range rt.queries {
		if !rt.queries[i].match(query) {
			return false
		}
	}
	return true
}

// picker chooses the cluster for a matched route: either the single RouteAction.cluster, or one
// of the weighted clusters. Zero-weight clusters are dropped at New since they are never chosen.
type picker struct {
	cluster  string   // single cluster; used when weighted is empty
	weighted []string // weighted cluster names, weight > 0
	position []int    // weighted[i]'s position in the route's weighted_clusters
	ends     []uint64 // cumulative weights: weighted[i] owns [ends[i-1], ends[i])
}

// choose mirrors Envoy's WeightedClusterEntry selection: rnd modulo the total weight, then the
// first cluster whose cumulative range holds it. It returns the cluster and its position in
// weighted_clusters (-1 for a single cluster).
func (p *picker) choose(rnd uint32) (string, int) {
	if len(p.weighted) == 0 {
		return p.cluster, -1
	}
	v := uint64(rnd) % p.ends[len(p.ends)-1]
	i := len(p.ends) - 1 // unreachable as a default: v < total
	for j, end := range p.ends {
		if v < end {
			i = j
			break
		}
	}
	return p.weighted[i], p.position[i]
}

// Share is one weighted destination of a route: its cluster and weight.
type Share struct {
	Cluster string
	Weight  uint64
}

// Split returns the route's weighted destinations in order, with their
// weights; zero-weight ones are left out, as Decide never picks them. It
// is nil when the route names a single cluster.
func (rt *Route) Split() []Share {
	p := &rt.pick
	if len(p.weighted) == 0 {
		return nil
	}
	out := make([]Share, len(p.weighted))
	var prev uint64
	for i, c := range p.weighted {
		out[i] = Share{Cluster: c, Weight: p.ends[i] - prev}
		prev = p.ends[i]
	}
	return out
}

// virtualHost is a compiled envoy VirtualHost.
type virtualHost struct {
	name   string
	routes []*Route
	// requireTLS is the virtual host's require_tls: plain requests (all,
	// or only external ones) are redirected to https.
	requireTLS routev3.VirtualHost_TlsRequirementType
}

// sslRedirect is the route Decide returns for a plain request to a virtual
// host that requires TLS.
var sslRedirect = &Route{Name: "ssl_redirect", RouteIndex: -1, SSLRedirect: true,
	Redirect: &routev3.RedirectAction{
		SchemeRewriteSpecifier: &routev3.RedirectAction_HttpsRedirect{HttpsRedirect: true},
		ResponseCode:           routev3.RedirectAction_MOVED_PERMANENTLY,
	}}

// redirectsToTLS reports whether r must be redirected to https: Envoy's
// rule, where EXTERNAL_ONLY spares requests marked x-envoy-internal.
func (vh *virtualHost) redirectsToTLS(r *Request) bool {
	switch {
	case r.TLS || vh.requireTLS == routev3.VirtualHost_NONE:
		return false
	case vh.requireTLS == routev3.VirtualHost_EXTERNAL_ONLY:
		return r.Header.Get("X-Envoy-Internal") != "true"
	}
	return true
}

// wildcardGroup holds every wildcard domain of one length, keyed by the domain without its
// '*'. Groups are sorted longest first, so the first hit is the longest wildcard, and each group
// costs one map lookup however many virtual hosts there are.
type wildcardGroup struct {
	length int
	hosts  map[string]*virtualHost
}

// Table is an immutable compiled route table; see the package comment for its contract.
// Build it with New; the zero value matches nothing.
type Table struct {
	name       string
	ignorePort bool
	exact      map[string]*virtualHost
	suffixes   []wildcardGroup // "*.example.com" → ".example.com", longest first
	prefixes   []wildcardGroup // "foo.*" → "foo.", longest first
	catchAll   *virtualHost    // domain "*"
	clusters   []string        // sorted, deduplicated
}

// Name returns the RouteConfiguration's name.
func (t *Table) Name() string { return t.name }

// Clusters returns, sorted and without duplicates, every cluster name a decision can carry.
// Weighted clusters with weight 0 are left out because Decide never returns them. The result is
// a fresh copy the caller may keep.
func (t *Table) Clusters() []string {
	return append([]string(nil), t.clusters...)
}

// Decide returns the route and cluster for r. rnd selects among weighted clusters and is
// ignored otherwise; pass a uniformly random value. r must not be nil.
func (t *Table) Decide(r *Request, rnd uint32) Decision {
	vh := t.virtualHost(r.Authority)
	if vh == nil {
		return Decision{}
	}
	if vh.requireTLS != routev3.VirtualHost_NONE && vh.redirectsToTLS(r) {
		return Decision{Route: sslRedirect, VirtualHost: vh.name, Weighted: -1}
	}
	path, query := splitTarget(r.Path)
	for _, rt := range vh.routes {
		if rt.matches(r, path, query) {
			cluster, weighted := rt.pick.choose(rt.weightedValue(r, rnd))
			return Decision{Route: rt, Cluster: cluster, Weighted: weighted, VirtualHost: vh.name}
		}
	}
	return Decision{VirtualHost: vh.name}
}

// weightedValue is the value that picks among the route's weighted
// clusters: rnd, or — lanemesh's one departure from Envoy, which picks at
// random — the request's hash when the route hashes (Istio's consistentHash
// on the destinations) and the request has the key. So a user keyed by a
// header or cookie stays on one weighted destination across requests, as
// on one endpoint: a weighted lane entry keeps each user in one lane.
func (rt *Route) weightedValue(r *Request, rnd uint32) uint32 {
	if rt.Hash == nil || len(rt.pick.weighted) < 2 {
		return rnd
	}
	if h := rt.Hash.Compute(r); h.OK {
		return uint32(h.Value>>32) ^ uint32(h.Value)
	}
	return rnd
}

// virtualHost implements Envoy's RouteMatcher::findVirtualHost.
func (t *Table) virtualHost(authority string) *virtualHost {
	host := authority
	if t.ignorePort {
		host = stripPort(host)
	}
	host = asciiLower(host)
	if vh, ok := t.exact[host]; ok {
		return vh
	}
	for _, g := range t.suffixes {
		// A wildcard must cover at least one character: "*.foo.com" does not match ".foo.com".
		if g.length < len(host) {
			if vh, ok := g.hosts[host[len(host)-g.length:]]; ok {
				return vh
			}
		}
	}
	for _, g := range t.prefixes {
		if g.length < len(host) {
			if vh, ok := g.hosts[host[:g.length]]; ok {
				return vh
			}
		}
	}
	return t.catchAll
}

// stripPort removes a trailing ":port" like Envoy's HeaderUtility::getPortStart: everything from
// the last ':' unless that colon is inside an IPv6 literal ("[::1]" keeps its colons).
func stripPort(host string) string {
	i := strings.LastIndexByte(host, ':')
	if i < 0 {
		return host
	}
	if j := strings.LastIndexByte(host, ']'); j > i {
		return host
	}
	return host[:i]
}
