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
// which carries a trace through the chain; but no app may forge what only
// lanemesh sets.
type downstream struct {
	gateway bool
	trusted bool // only for a gateway: a sidecar's app is always believed this far
	tls     bool // the connection is TLS: X-Forwarded-Proto https
}

// sanitize rewrites the request headers h of a client at address client,
// for authority host, before routing, as Envoy's connection manager does:
//
//   - x-lanemesh-* (lanemesh's own) and x-forwarded-client-cert are
//     removed everywhere. Envoy's default forward_client_cert_details is
//     SANITIZE, and lanemesh terminates no client certificates to vouch
//     for.
//   - At an untrusted gateway, x-envoy-* (Envoy's internal headers: retry
//     and timeout overrides, x-envoy-internal...), x-request-id (which
//     prepare then generates afresh), Forwarded and X-Real-IP are removed,
//     and X-Forwarded-Proto and -Host are replaced. Envoy has no rule for
//     Forwarded or X-Real-IP (it neither reads nor writes them), but apps
//     and frameworks take the client's address from them, and lanemesh
//     sets neither: at the edge they can only be a client's forgery.
//   - A gateway appends the client's address to X-Forwarded-For, as Envoy
//     does with use_remote_address: the last entry is the one the gateway
//     vouches for. A trusted gateway keeps the downstream's
//     X-Forwarded-Proto and -Host, and sets them only where missing.
//
// vals backs the values it sets, so that they cost no allocation of their
// own; an X-Forwarded-For the client sent costs one, for the joined value.
func (d downstream) sanitize(h http.Header, client, host string, vals *[3]string) {
	external := d.gateway && !d.trusted
	for k := range h {
		if strings.HasPrefix(k, "X-Lanemesh-") || k == "X-Forwarded-Client-Cert" ||
			external && (strings.HasPrefix(k, "X-Envoy-") || untrustedOnly(k)) {
			delete(h, k)
		}
	}
	if !d.gateway {
		return
	}
	vals[0], vals[1], vals[2] = client, "http", host
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
	if external || h["X-Forwarded-Host"] == nil {
		h["X-Forwarded-Host"] = vals[2:3:3]
	}
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
