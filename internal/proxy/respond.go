package proxy

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/lanemesh/lanemesh/internal/h1"
	"github.com/lanemesh/lanemesh/internal/policy"
)

// respond relays an upstream response: end-to-end headers, the route's
// response header operations, status, body (flushed as it arrives when its
// length is unknown, so streams stay live) and trailers.
func (x *exchange) respond(resp *http.Response) {
	defer resp.Body.Close()
	h := x.w.Header()
	copyResponseHeader(h, resp.Header)
	x.upstreamServiceTime(h) // before the route's header operations, which may remove it, as in Envoy
	if ops, ok := x.plan.weightedOps(x.weighted); ok {
		applyOps(h, ops.respRemove, ops.respAdd)
	}
	applyOps(h, x.plan.ops.respRemove, x.plan.ops.respAdd)
	x.server.apply(h)
	x.decorate(h)
	for k := range resp.Trailer {
		h.Add("Trailer", k)
	}
	if _, ok := h["Content-Type"]; !ok {
		// A proxy relays the type it got, none included: net/http would
		// otherwise sniff one (a text/html on an upload's bytes).
		h["Content-Type"] = nil
	}
	x.status = resp.StatusCode
	x.w.WriteHeader(resp.StatusCode)
	readErr, writeErr := x.copyBody(resp.Body)
	switch {
	case writeErr != nil:
		x.flags |= flagDC
	case readErr != nil && x.r.Context().Err() != nil:
		x.flags |= flagDC
		x.abort = true // a chunked response must not end cleanly when cut short
	case readErr != nil:
		// The upstream broke off mid-body, or a timeout cut it: too late
		// for a retry or the fallback, since the client has part of this
		// response.
		if errors.Is(readErr, h1.ErrStreamIdle) {
			x.flags |= flagSI
		} else if errors.Is(readErr, context.DeadlineExceeded) || x.tryCtx.Err() != nil {
			x.flags |= flagUT
		} else {
			x.flags |= flagUC
		}
		x.abort = true
	}
	for k, vv := range resp.Trailer {
		h[k] = vv
	}
}

// upstreamServiceTime sets x-envoy-upstream-service-time, as Envoy's
// router does on every response it relays (Istio leaves its
// suppress_envoy_headers off): the milliseconds from the request to the
// upstream's response head, retries and fallback included, replacing any
// the upstream sent. Its text comes from the connection's arena, so it
// costs no allocation of its own.
func (x *exchange) upstreamServiceTime(h http.Header) {
	var buf [20]byte
	x.values[4] = x.ids.String(strconv.AppendInt(buf[:0], time.Since(x.start).Milliseconds(), 10))
	h["X-Envoy-Upstream-Service-Time"] = x.values[4:5:5]
}

// copyBody copies body to the client through a pooled buffer, reporting
// read (upstream) and write (downstream) errors apart. A body that arrived
// with its head, the common case, goes straight from the connection's
// buffer instead. Otherwise the head, and each piece of the body, is sent
// as it arrives, whatever the framing, as Envoy streams: a client waits
// for no more than the upstream has sent.
func (x *exchange) copyBody(body io.Reader) (readErr, writeErr error) {
	if b, ok := body.(*h1.Body); ok {
		if rest, ok := b.Buffered(); ok {
			var n int
			n, writeErr = x.w.Write(rest)
			x.sent += int64(n)
			b.Consumed(len(rest))
			return nil, writeErr
		}
	}
	bp := h1.GetBuffer()
	defer h1.PutBuffer(bp)
	buf := *bp
	flusher, _ := x.w.(http.Flusher)
	ready, _ := body.(interface{ Ready() bool })
	flush := func() { // before a read that would wait
		if flusher != nil && (ready == nil || !ready.Ready()) {
			flusher.Flush()
		}
	}
	flush()
	for {
		n, err := body.Read(buf)
		if n > 0 {
			w, werr := x.w.Write(buf[:n])
			x.sent += int64(w)
			if werr != nil {
				return nil, werr
			}
			if err == nil {
				flush()
			}
		}
		if err == io.EOF {
			return nil, nil
		}
		if err != nil {
			return err, nil
		}
	}
}

// flagsHeader carries the response flags of a response the proxy made
// itself.
const flagsHeader = "X-Lanemesh-Flags"

// failed answers a request no attempt could serve, by what went wrong last.
func (x *exchange) failed(o policy.Outcome) {
	switch o {
	case policy.Connect:
		x.generateWith(http.StatusServiceUnavailable, flagUF, x.transportFailure)
	case policy.Reset:
		x.generate(http.StatusServiceUnavailable, flagUC)
	case policy.Protocol:
		x.generate(http.StatusBadGateway, flagUPE)
	case policy.Idle:
		x.generate(http.StatusRequestTimeout, flagSI)
	case policy.Timeout:
		x.generate(http.StatusGatewayTimeout, flagUT)
	case policy.Cancel:
		if x.bodyTimedOut {
			x.generate(http.StatusRequestTimeout, flagDPE)
			return
		}
		x.clientGone()
	default:
		x.generate(http.StatusServiceUnavailable, flagUH)
	}
}

// clientError answers a request whose body could not be read: 408 when
// it did not arrive in time, nothing when the client went away, else 400.
// net/http cancels the request's context on any connection read error, a
// deadline included, so the deadline is checked first.
func (x *exchange) clientError(err error) {
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		x.generate(http.StatusRequestTimeout, flagDPE)
	case x.r.Context().Err() != nil:
		x.clientGone()
	default:
		x.generate(http.StatusBadRequest, flagDPE)
	}
}

// clientGone records a client that went away. There is nobody to answer,
// and returning without a response would make net/http send an empty 200
// on a half-closed connection, so the connection is reset instead.
func (x *exchange) clientGone() {
	x.flags |= flagDC
	x.status = statusClientClosed
	x.abort = true
}

// generate sends a response the proxy makes itself: the status, the flag
// in x-lanemesh-flags, and a one-line body naming the flag. A refused
// request also closes its connection, since what follows it on the wire
// cannot be trusted.
func (x *exchange) generate(status int, f flags) { x.generateWith(status, f, "") }

// generateWith is generate with a detail after the reason: the transport
// failure of a 503 UF, as Envoy's local reply says it.
func (x *exchange) generateWith(status int, f flags, detail string) {
	x.flags |= f
	x.status = status
	h := x.w.Header()
	for k := range h { // anything set for a relayed response does not apply
		delete(h, k)
	}
	body := reasons[f] + " (" + f.String() + ")\n"
	if detail != "" {
		body = reasons[f] + " (" + f.String() + "): " + detail + "\n"
	}
	h["Content-Type"] = []string{"text/plain; charset=utf-8"}
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	h[flagsHeader] = []string{f.String()}
	if f == flagDPE {
		h["Connection"] = []string{"close"}
	}
	x.server.apply(h)
	x.decorate(h)
	x.w.WriteHeader(status)
	n, _ := io.WriteString(x.w, body)
	x.sent = int64(n)
}
