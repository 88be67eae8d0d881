package proxy

import (
	"context"
	"net/http"
	"time"

	"github.com/lanemesh/lanemesh/internal/arena"
	"github.com/lanemesh/lanemesh/internal/h1"
	"github.com/lanemesh/lanemesh/internal/meshxds"
	"github.com/lanemesh/lanemesh/internal/policy"
	"github.com/lanemesh/lanemesh/internal/wait"

	"go.opentelemetry.io/otel/trace"

	"github.com/lanemesh/lanemesh/internal/route"
)

// handler serves one bound listener. It looks its configuration up in the
// current snapshot on every request, by bind address, so a listener that
// keeps its socket across an update serves the new routes at once.
type handler struct {
	p    *Proxy
	bind string
}

// exchange is one request's journey through the proxy. Nothing keeps it
// after Serve returns, so the HTTP/1.1 server (package h1) reuses one per
// connection.
type exchange struct {
	p     *Proxy
	st    *state
	w     http.ResponseWriter
	r     *http.Request
	start time.Time
	now   int64 // monotonic ns since the proxy's epoch, for health checks

	// What the access log and metrics report.
	method, authority, path string
	lane, requestID         string
	status                  int
	flags                   flags
	rt                      *route.Route
	plan                    *routePlan
	clusterName             string   // the route's choice (an aggregate for fallback routes)
	weighted                int      // the chosen weighted_clusters entry's position; -1 for none
	cluster                 *cluster // nil when it does not exist
	served                  *cluster // the target of the last attempt
	endpoint                *endpoint
	attempts                int
	// tries decides where attempts go (policy.Attempts), reading health,
	// the live view of cluster's members; it knows the retries and whether
	// a fallback member took (or was sent) the request.
	tries  policy.Attempts
	health liveMembers
	abort  bool // the response broke off; reset the downstream connection
	// websocket: the request asks to upgrade to WebSocket, which Istio
	// allows on every HTTP listener; forward tunnels it (see tunnel).
	websocket bool
	server    serverHeaderOp // the listener's Server header rule
	bind      string         // the listener's address, the local half of a made-up hash cookie
	// hash is the route's hash policy's result, computed (hashed) when a
	// consistent-hash cluster first needs it.
	hash   route.Hash
	hashed bool
	// cors and origin are set for a request whose Origin the route's CORS
	// policy allows: its response gets the CORS headers.
	cors         *route.CORS
	origin       string
	bodyTimedOut bool // the request body fell behind BodyTimeout or MinBodyRate
	// transportFailure is why the last attempt's upstream TLS failed
	// (Envoy's UPSTREAM_TRANSPORT_FAILURE_REASON), "" for none.
	transportFailure string
	lanes            *laneFilter // the chain's lane propagation filter, nil without one

	// received and sent count body bytes for istio_request_bytes and
	// istio_response_bytes: received what was buffered (a streamed body's
	// pacer counts the rest), sent what was written to the client.
	received, sent int64

	// values back the header values the exchange sets (0-2 sanitize's,
	// 3 the request id, 4 the upstream service time), and ids their text,
	// so that they cost no allocation of their own. ids is the
	// connection's, kept from one request to the next.
	values [5]string
	ids    arena.Strings

	// The request body, when it is small enough to replay; pacer holds a
	// streamed one to BodyTimeout and MinBodyRate.
	body       []byte
	replayable bool
	pacer      *h1.PacedBody

	// The response being relayed and its body, kept here so that a plain
	// response allocates neither.
	resp h1.Response

	// Counters held by the attempt in flight, released by release.
	admitted  *cluster
	retryHeld *cluster
	tryCtx    context.Context // the attempt's context: route and per-try timeouts
	cancelTry context.CancelFunc

	span trace.Span // the request's span (trace.go), nil when tracing is off
}

// Serve serves one request with x, which it resets first. It reports
// whether the response was cut short after its header went out, or the
// client is gone: then closing the connection is all that is left.
func (h *handler) Serve(x *exchange, w http.ResponseWriter, r *http.Request) (abort bool) {
	*x = exchange{p: h.p, st: h.p.state.Load(), w: w, r: r, start: time.Now(), ids: x.ids}
	x.now = int64(x.start.Sub(h.p.epoch))
	x.serve(h.bind)
	x.pacer.Stop()
	x.release()
	x.p.observe(x)
	if x.p.tracer != nil {
		x.finishSpan()
	}
	return x.abort
}

// serve routes the request and forwards it, or answers it itself.
func (x *exchange) serve(bind string) {
	if x.decide(bind) {
		x.prepare()
		x.learnLane()
		if x.websocket {
			x.tunnel()
			return
		}
		x.forward()
	}
}

// decide checks and routes the request: the listener's route table, the
// route's plan and cluster, and the fault filter. It reports whether the
// request is to be forwarded; otherwise it has been answered. It does not
// allocate for a request that is forwarded.
func (x *exchange) decide(bind string) bool {
	r := x.r
	x.method, x.authority, x.path, x.bind = r.Method, r.Host, requestTarget(r), bind
	switch upgrade(r) {
	case upgradeRefused:
		x.generate(http.StatusBadRequest, flagDPE)
		return false
	case upgradeUnknown:
		x.generate(http.StatusForbidden, flagDPE)
		return false
	case upgradeWebSocket:
		x.websocket = true
	}
	// Hop-by-hop headers go before routing, as in Envoy: a header a client
	// names in Connection is not the request's, and cannot steer it.
	removeHopByHop(r.Header)
	// Then, as in Envoy, what the downstream may not claim is dropped and
	// the path normalized: routes match what the upstream will get.
	received := r.Header["X-Forwarded-For"] // before the gateway appends its peer
	from := downstream{gateway: x.p.opts.Role == meshxds.Gateway, trusted: x.p.opts.TrustDownstream, tls: r.TLS != nil}
	from.sanitize(r.Header, clientIP(r.RemoteAddr), (*[3]string)(x.values[:3]))
	if !x.normalizePath() {
		x.generate(http.StatusBadRequest, flagDPE)
		return false
	}
	lc := x.chain(bind)
	if lc == nil { // the listener was removed and is draining, or its chain
		x.generate(http.StatusNotFound, flagNR)
		return false
	}
	x.server = lc.server
	if x.websocket && !lc.websocket { // Envoy: an upgrade its upgrade_configs do not allow
		x.generate(http.StatusForbidden, flagDPE)
		return false
	}
	if r.ProtoMajor == 1 && r.ProtoMinor == 0 && !lc.http10 { // Envoy's codec without accept_http_10
		x.generate(http.StatusUpgradeRequired, flagDPE)
		return false
	}
	if lc.xfcc != nil { // a MUTUAL gateway server's client certificate, for the upstream
		if v := lc.xfcc.value(r.TLS); v != "" {
			r.Header["X-Forwarded-Client-Cert"] = []string{v}
		}
	}
	// Lane entry runs before routing: a request not allowed into its lane
	// loses its lane headers and is routed as the baseline.
	if lc.entry != nil {
		lc.entry.admit(x, received)
	}
	if v := r.Header[laneHeader]; len(v) > 0 {
		x.lane = v[0]
	}
	x.reattachLane(lc)
	// As in Envoy, a virtual host that requires TLS trusts the
	// X-Forwarded-Proto the edge left: the connection's own scheme, or at
	// a trusted gateway what the load balancer in front of it says.
	secure := r.TLS != nil || from.gateway && len(r.Header["X-Forwarded-Proto"]) > 0 && r.Header["X-Forwarded-Proto"][0] == "https"
	rq := route.Request{Method: r.Method, Authority: routeAuthority(r), Path: x.path, Header: r.Header, TLS: secure,
		RemoteAddr: r.RemoteAddr, LocalAddr: bind}
	d := lc.table.Decide(&rq, x.p.rand())
	if d.Route == nil {
		x.generate(http.StatusNotFound, flagNR)
		return false
	}
	if d.Route.SSLRedirect {
		x.rt = d.Route
		x.answerLocally(d.Route)
		return false
	}
	x.rt, x.plan, x.clusterName, x.weighted = d.Route, x.st.plans[d.Route.Envoy], d.Cluster, d.Weighted
	if rt := d.Route; rt.Redirect != nil || rt.DirectResponse != nil {
		if !lc.fault || !x.injectFault(lc) { // the fault filter runs before the router, as in Envoy
			x.answerLocally(rt)
		}
		return false
	}
	if x.cluster = x.plan.single; x.cluster == nil {
		x.cluster = x.st.clusters[d.Cluster]
	}
	if x.cluster == nil {
		x.generate(x.plan.notFound, flagNC)
		return false
	}
	if x.cluster.origDst != nil && !x.toOriginalDst() {
		return false
	}
	if lc.fault && x.injectFault(lc) {
		return false
	}
	// The CORS filter runs after the fault filter, as Istio orders them.
	return !lc.cors || d.Route.CORS == nil || !x.corsDecode(d.Route.CORS)
}

// chain is the filter chain that serves the request on the listener bound
// at bind, in the current snapshot: the one its connection's SNI selects
// (a plain listener has one), or nil.
func (x *exchange) chain(bind string) *filterChain {
	lc := x.st.listeners[bind]
	switch {
	case lc == nil:
		return nil
	case !lc.tls:
		if x.r.TLS != nil {
			return nil // the listener stopped terminating TLS since the connection began
		}
		return lc.chains[0]
	case x.r.TLS == nil:
		return nil
	}
	return lc.chainFor(x.r.TLS.ServerName)
}

// injectFault applies the route's fault (or the listener's default): a
// delay, then perhaps an abort. It reports whether the request is done.
func (x *exchange) injectFault(lc *filterChain) bool {
	f := x.plan.fault
	if f == nil {
		f = lc.defaultFault
	}
	if f == nil {
		return false
	}
	if delay, ok := f.Delay(x.p.rand()); ok {
		x.flags |= flagDI
		if !wait.Sleep(x.r.Context(), delay) {
			x.clientGone()
			return true
		}
	}
	if status, ok := f.Abort(x.p.rand()); ok {
		x.generate(status, flagFI)
		return true
	}
	return false
}

// prepare turns the inbound request into the upstream one: the request
// id, the route's header operations and rewrites. The inbound request is
// modified in place (see the package comment).
func (x *exchange) prepare() {
	r, h := x.r, x.r.Header
	vals := &x.values // 0-2 back the X-Forwarded-* headers decide set
	if id := h["X-Request-Id"]; len(id) > 0 && id[0] != "" {
		x.requestID = id[0]
	} else {
		vals[3] = x.p.newRequestID(&x.ids)
		x.requestID, h["X-Request-Id"] = vals[3], vals[3:4:4]
	}
	if ops, ok := x.plan.weightedOps(x.weighted); ok {
		applyOps(h, ops.reqRemove, ops.reqAdd)
	}
	applyOps(h, x.plan.ops.reqRemove, x.plan.ops.reqAdd)
	if v := h[laneHeader]; len(v) > 0 {
		// A permissive group's gateway route sets the lane it entered:
		// that, not what the client sent, is the request's lane.
		x.lane = v[0]
	}
	if x.plan.hostRewrite != "" {
		r.Host = x.plan.hostRewrite
	}
	if x.plan.rewrite.enabled {
		rewritePath(r.URL, x.plan.rewrite)
	}
	r.Trailer = nil // request trailers are not forwarded
	r.Close = false // a client's "Connection: close" is about its own connection
	if x.p.tracer != nil {
		x.startSpan()
	}
}

// laneHeader is the tutorial's lane header. The proxy routes on it only as
// the routes say; it reads it to put the lane in the access log.
const laneHeader = "X-Asm-Prefer-Tag"

// statusClientClosed is logged (never sent) when the client went away
// before a response, as nginx does.
const statusClientClosed = 499
