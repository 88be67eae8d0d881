package proxy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/lanemesh/lanemesh/internal/h1"
	"github.com/lanemesh/lanemesh/internal/wait"
)

// maxReplayBody is the largest request body the proxy buffers so that a
// retry or the fallback attempt can send it again. Larger bodies stream
// through and get exactly one attempt.
const maxReplayBody = 64 << 10

// forward sends the request upstream, with retries and the fallback
// attempt, under the route timeout, and relays the response.
func (x *exchange) forward() {
	if err := x.readBody(); err != nil {
		x.clientError(err)
		return
	}
	x.mirror()
	ctx := x.r.Context()
	if x.plan.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, x.plan.timeout)
		defer cancel()
	}
	resp := x.roundTrips(ctx)
	if resp != nil {
		x.respond(resp)
	}
}

// roundTrips makes attempts until one yields a response to relay, and
// returns it; or answers the request itself and returns nil.
//
// The target is the first member of the route's cluster with a usable
// endpoint (for a plain cluster, the cluster itself). When an attempt fails
// before any response byte and the body can be replayed, the request goes
// once to the next member with a usable endpoint — the fallback — without
// counting as a retry; later retries stay there. Other failures and
// retriable responses are retried as the route's retry policy and the
// cluster's retry budget allow, each on another endpoint where one exists.
func (x *exchange) roundTrips(ctx context.Context) *http.Response {
	from := 0
	var avoid *endpoint
	last := outcomeResponse
	for {
		idx := x.cluster.firstUsable(from, x.now)
		if idx < 0 {
			x.failed(last)
			return nil
		}
		target := x.cluster.targets[idx]
		if idx > 0 {
			x.fellBack = true
		}
		e := x.pick(target, avoid)
		if e == nil { // ejected since firstUsable looked
			x.failed(last)
			return nil
		}
		if !target.admit() {
			x.generate(http.StatusServiceUnavailable, flagUO)
			return nil
		}
		x.admitted = target
		resp, o := x.try(ctx, target, e)
		if o == outcomeResponse && !x.plan.retry.retriable(o, resp) {
			return resp
		}
		last = o
		if o.local() && x.replayable && !x.fellBack && ctx.Err() == nil {
			if next := x.cluster.firstUsable(idx+1, x.now); next > 0 {
				from, avoid = next, nil
				x.fellBack = true
				continue
			}
		}
		if !x.retryAllowed(ctx, o, resp, target) {
			if resp != nil {
				return resp
			}
			x.failed(o)
			return nil
		}
		if resp != nil {
			discard(resp)
		}
		x.release()
		x.retries++
		target.stats.retries.Add(1)
		x.retryHeld = target
		if !wait.Sleep(ctx, x.plan.retry.backoff(x.retries, x.p.rand())) {
			x.failed(outcomeCancel)
			return nil
		}
		avoid = e
	}
}

// retryAllowed decides whether a failed attempt is retried: the policy's
// conditions and count, a replayable body, time left, and the retry budget.
func (x *exchange) retryAllowed(ctx context.Context, o outcome, resp *http.Response, target *cluster) bool {
	rp := &x.plan.retry
	switch {
	case !x.replayable || ctx.Err() != nil || !rp.retriable(o, resp):
		return false
	case x.retries >= rp.num:
		x.flags |= flagURX
		return false
	}
	return target.budgetAllows()
}

// try makes one attempt on endpoint e of target and feeds its result to
// outlier detection. On failure it releases the attempt's counters.
func (x *exchange) try(ctx context.Context, target *cluster, e *endpoint) (*http.Response, outcome) {
	x.attempts++
	x.served, x.endpoint = target, e
	tryCtx := ctx
	if pt := x.plan.retry.perTry; pt > 0 {
		tryCtx, x.cancelTry = context.WithTimeout(ctx, pt)
	}
	x.tryCtx = tryCtx
	e.host.active.Add(1)
	resp, err := x.send(tryCtx, e)
	if err != nil {
		if errors.Is(err, h1.ErrStreamIdle) {
			x.flags |= flagSI // failed answers 408, as Envoy does
		}
		o := x.classify(err, ctx, tryCtx)
		x.p.record(target, e, o, 0, x.now)
		x.release()
		return nil, o
	}
	x.p.record(target, e, outcomeResponse, resp.StatusCode, x.now)
	return resp, outcomeResponse
}

// classify names what went wrong with an attempt that got no response.
func (x *exchange) classify(err error, ctx, tryCtx context.Context) outcome {
	switch {
	case errors.Is(err, h1.ErrBodyTimeout) || x.pacer.TimedOut():
		x.bodyTimedOut = true // the client's doing, not the upstream's: failed answers 408
		return outcomeCancel
	case x.r.Context().Err() != nil:
		return outcomeCancel
	case ctx.Err() != nil || tryCtx.Err() != nil || errors.Is(err, h1.ErrStreamIdle):
		return outcomeTimeout
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return outcomeConnect
	}
	return outcomeReset
}

// release gives back the counters the current attempt holds: the
// circuit-breaker slot, the endpoint's active request, a retry token, and
// the per-try timer.
func (x *exchange) release() {
	if x.admitted != nil {
		x.admitted.stats.active.Add(-1)
		x.endpoint.host.active.Add(-1)
		x.admitted = nil
	}
	if x.retryHeld != nil {
		x.retryHeld.stats.retries.Add(-1)
		x.retryHeld = nil
	}
	if x.cancelTry != nil {
		x.cancelTry()
		x.cancelTry = nil
	}
}

// readBody buffers a small request body so it can be replayed. A body over
// maxReplayBody (or of unknown length that turns out longer) streams
// through once: what was read is put back in front of the rest.
func (x *exchange) readBody() error {
	r := x.r
	if r.Body == nil || r.Body == http.NoBody || (r.ContentLength == 0 && len(r.TransferEncoding) == 0) {
		r.Body, r.ContentLength, x.replayable = http.NoBody, 0, true
		return nil
	}
	if r.ContentLength > maxReplayBody {
		r.Body = x.paced(r.Body)
		return nil
	}
	// A body small enough to buffer gets the header timeout to arrive in
	// full, so a client cannot hold a request open by trickling it.
	// Larger bodies stream, bounded by the route timeout instead.
	rc := http.NewResponseController(x.w)
	_ = rc.SetReadDeadline(time.Now().Add(x.p.opts.ReadHeaderTimeout))
	defer func() { _ = rc.SetReadDeadline(time.Time{}) }()
	buf, err := io.ReadAll(io.LimitReader(r.Body, maxReplayBody+1))
	if err != nil {
		return err
	}
	if len(buf) > maxReplayBody {
		x.received = int64(len(buf)) // the pacer counts the rest
		r.Body = readCloser{io.MultiReader(bytes.NewReader(buf), x.paced(r.Body)), r.Body}
		return nil
	}
	x.replayable = true
	if len(buf) == 0 { // an empty chunked body: send none, not an empty chunked one
		r.Body, r.ContentLength, r.TransferEncoding = http.NoBody, 0, nil
		return nil
	}
	x.body, x.received = buf, int64(len(buf))
	r.ContentLength, r.TransferEncoding = int64(len(buf)), nil
	delete(r.Header, "Expect") // the body is here already; nothing to wait for
	return nil
}

// paced wraps a body the proxy streams rather than buffers, holding it to
// BodyTimeout and MinBodyRate.
func (x *exchange) paced(body io.ReadCloser) io.ReadCloser {
	o := &x.p.opts
	x.pacer = h1.Pace(body, x.w, x.start, o.BodyTimeout, o.MinBodyRate)
	return x.pacer
}

type readCloser struct {
	io.Reader
	io.Closer
}

// discard drains a little of a response the proxy will not relay, so its
// connection can be reused, and closes it.
func discard(resp *http.Response) {
	_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
	resp.Body.Close()
}
