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
	"github.com/lanemesh/lanemesh/internal/policy"
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
// returns it; or answers the request itself and returns nil. Where each
// attempt goes, and whether another follows, is policy.Attempts' decision
// (retries and the fallback member); roundTrips makes the attempts, each
// retry on another endpoint of its member where one exists, if the policy
// asks for that (previous_hosts, Istio's default).
func (x *exchange) roundTrips(ctx context.Context) *http.Response {
	a, health := &x.tries, &x.health
	*health = liveMembers{x.cluster, x.now}
	a.Start(&x.plan.retry, x.replayable, h1.Idempotent(x.r))
	var avoid *endpoint
	for {
		idx := a.Target(health)
		if idx < 0 {
			x.failed(a.Last())
			return nil
		}
		target := x.cluster.targets[idx]
		e := x.pick(target, avoid)
		if e == nil { // ejected since Target looked
			x.failed(a.Last())
			return nil
		}
		if !target.admit() {
			x.generate(http.StatusServiceUnavailable, flagUO)
			return nil
		}
		x.admitted = target
		resp, o := x.try(ctx, target, e)
		r := policy.Result{Outcome: o, Expired: ctx.Err() != nil}
		if resp != nil {
			r.Status, r.Header = resp.StatusCode, resp.Header
		}
		step := a.After(health, r)
		if a.Exhausted() {
			x.flags |= flagURX
		}
		switch step {
		case policy.Relay:
			return resp
		case policy.Fail:
			x.failed(o)
			return nil
		case policy.Fallback:
			avoid = nil
			continue
		}
		if resp != nil {
			discard(resp)
		}
		x.release()
		target.stats.retries.Add(1)
		x.retryHeld = target
		if !wait.Sleep(ctx, x.plan.retry.Backoff(a.Retries(), x.p.rand())) {
			x.failed(policy.Cancel)
			return nil
		}
		avoid = nil
		if x.plan.retry.OtherHost {
			avoid = e
		}
	}
}

// try makes one attempt on endpoint e of target and feeds its result to
// outlier detection. On failure it releases the attempt's counters.
func (x *exchange) try(ctx context.Context, target *cluster, e *endpoint) (*http.Response, policy.Outcome) {
	x.attempts++
	x.served, x.endpoint, x.transportFailure = target, e, ""
	tryCtx := ctx
	if pt := x.plan.retry.PerTry; pt > 0 && !x.websocket { // a tunnel lasts as long as its ends want
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
		var tlsErr *upstreamTLSError
		if errors.As(err, &tlsErr) {
			x.transportFailure = tlsErr.Error()
		}
		if o == policy.Protocol { // outlier detection counts it as the 502 it becomes
			x.p.record(target, e, policy.Response, http.StatusBadGateway, x.now)
		} else {
			x.p.record(target, e, o, 0, x.now)
		}
		x.release()
		return nil, o
	}
	x.p.record(target, e, policy.Response, resp.StatusCode, x.now)
	return resp, policy.Response
}

// classify names what went wrong with an attempt that got no response.
func (x *exchange) classify(err error, ctx, tryCtx context.Context) policy.Outcome {
	switch {
	case errors.Is(err, h1.ErrBodyTimeout) || x.pacer.TimedOut():
		x.bodyTimedOut = true // the client's doing, not the upstream's: failed answers 408
		return policy.Cancel
	case x.r.Context().Err() != nil:
		return policy.Cancel
	case errors.Is(err, h1.ErrStreamIdle):
		return policy.Idle
	case ctx.Err() != nil || tryCtx.Err() != nil:
		return policy.Timeout
	case errors.Is(err, h1.ErrInvalidResponse):
		return policy.Protocol
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return policy.Connect
	}
	return policy.Reset
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
