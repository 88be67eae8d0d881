package proxy

import (
	"net/http"
	"strings"

	"github.com/lanemesh/lanemesh/internal/pathnorm"
)

// downstream is what a proxy knows of the hop its requests come from,
// which decides how far their headers are believed.
//
// A gateway is the edge: its clients are outside the mesh, and unless they
// are declared trusted (Options.TrustDownstream: say, a load balancer that
// sanitizes requests itself), whatever they claim about the mesh or about
// earlier hops is dropped, as Envoy does for external requests (Istio's
// gateways run with use_remote_address). A sidecar's client is its own
// app, an in-mesh hop: what it sends is kept, x-request-id above all,
// which carries a trace through the chain, but for the overrides Envoy
// takes only from internal requests, and no app may forge what only
// lanemesh sets.
type downstream struct {
	gateway bool
	trusted bool // only for a gateway: a sidecar ignores it
	tls     bool // the connection is TLS: X-Forwarded-Proto https
}

// sanitize rewrites the request headers h of a client at address client
// before routing, as Envoy's connection manager does:
//
//   - x-lanemesh-* (lanemesh's own) and x-forwarded-client-cert are
//     removed everywhere: no client may vouch for a certificate. A gateway
//     whose connection manager says SANITIZE_SET (Istio's) then sets the
//     latter for a client certificate it verified itself (xfcc.go).
//   - Every request but a trusted gateway's is external to Envoy: since
//     Envoy 1.33 no address is internal unless internal_address_config
//     names it, and Istio names none by default (MeshNetworks). So x-envoy-
//     internal and Envoy's internal-only overrides (retry, timeout, hedging,
//     x-envoy-force-trace...: envoyInternalOnly) are removed at a sidecar
//     too; its app cannot stretch a route's timeout or retries, which the
//     sidecar would not honour anyway.
//   - At an untrusted gateway, every x-envoy-*, x-request-id (which prepare
//     then generates afresh), Forwarded and X-Real-IP are removed,
//     X-Forwarded-Proto is replaced and x-envoy-external-address set to
//     the client. Envoy has no rule for Forwarded or X-Real-IP (it neither
//     reads nor writes them), but apps and frameworks take the client's
//     address from them, and lanemesh sets neither: at the edge they can
//     only be a client's forgery. X-Forwarded-Host is left as the client
//     sent it, as Envoy does: Istio sets no append_x_forwarded_host.
//   - A gateway appends the client's address to X-Forwarded-For, as Envoy
//     does with use_remote_address: the last entry is the one the gateway
//     vouches for. A trusted gateway's requests are internal: x-envoy-
//     internal is set, and the downstream's X-Forwarded-Proto kept where
//     present.
//
// vals backs the values it sets, so that they cost no allocation of their
// own; an X-Forwarded-For the client sent costs one, for the joined value.
func (d downstream) sanitize(h http.Header, client string, vals *[3]string) {
	external, internal := d.gateway && !d.trusted, d.gateway && d.trusted
	for k := range h {
		if strings.HasPrefix(k, "X-Lanemesh-") || k == "X-Forwarded-Client-Cert" ||
			strings.HasPrefix(k, "X-Envoy-") && (external || !internal && envoyInternalOnly(k)) ||
			external && untrustedOnly(k) {
			delete(h, k)
		}
	}
	if !d.gateway {
		return
	}
	vals[0], vals[1], vals[2] = client, "http", client
	if d.tls {
		vals[1] = "https"
	}
	if xff := h["X-Forwarded-For"]; len(xff) > 0 {
		vals[0] = strings.Join(xff, ", ") + ", " + client
	}
	h["X-Forwarded-For"] = vals[0:1:1]
	if external || h["X-Forwarded-Proto"] == nil {
		h["X-Forwarded-Proto"] = vals[1:2:2]
	}
	if external {
		h["X-Envoy-External-Address"] = vals[2:3:3]
	} else {
		h["X-Envoy-Internal"] = internalTrue
	}
}

var internalTrue = []string{"true"}

// envoyInternalOnly reports whether k (canonical) is a header Envoy drops
// from every request it does not count as internal (x-envoy-internal
// itself, which only Envoy may set, and the list of
// ConnectionManagerUtility::cleanInternalHeaders).
func envoyInternalOnly(k string) bool {
	switch k {
	case "X-Envoy-Internal", "X-Envoy-Retriable-Status-Codes", "X-Envoy-Retriable-Header-Names",
		"X-Envoy-Retry-On", "X-Envoy-Retry-Grpc-On", "X-Envoy-Max-Retries",
		"X-Envoy-Upstream-Alt-Stat-Name", "X-Envoy-Upstream-Rq-Timeout-Ms",
		"X-Envoy-Upstream-Rq-Per-Try-Timeout-Ms", "X-Envoy-Upstream-Rq-Timeout-Alt-Response",
		"X-Envoy-Expected-Rq-Timeout-Ms", "X-Envoy-Force-Trace", "X-Envoy-Ip-Tags",
		"X-Envoy-Original-Url", "X-Envoy-Hedge-On-Per-Try-Timeout":
		return true
	}
	return false
}

// untrustedOnly names the headers an untrusted gateway drops besides
// x-envoy-*.
func untrustedOnly(k string) bool {
	switch k {
	case "X-Request-Id", "Forwarded", "X-Real-Ip":
		return true
	}
	return false
}

// normalizePath normalizes the path the request is routed on, and the one
// it is forwarded with, by the proxy's pathNormalization mode. It reports
// false for a path that cannot be normalized (a NUL, a broken escape): a
// bad request. A path left as it is costs nothing.
func (x *exchange) normalizePath() bool {
	norm, err := pathnorm.NormalizeTarget(x.path, x.p.opts.PathNormalization)
	if err != nil {
		return false
	}
	if norm == x.path {
		return true
	}
	x.path = norm
	path, _, _ := strings.Cut(norm, "?")
	setEscapedPath(x.r.URL, path)
	return true
}
