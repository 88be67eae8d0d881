package policy

import "net/http"

// Members is the health view of a route's cluster that Attempts reads, as
// the proxy sees it at the moment: the cluster's members in order, one for
// a plain cluster, [primary, fallback, ...] for an aggregate (fallback)
// cluster.
type Members interface {
	// FirstUsable is the index of the first member, from index from on,
	// with an endpoint that can take a request now (EDS HEALTHY or
	// UNKNOWN, and not ejected); -1 when none has one.
	FirstUsable(from int) int
	// RetryBudget reports whether member i may start another retry: its
	// cluster's max_retries, or its retry budget.
	RetryBudget(i int) bool
}

// Attempts decides, one attempt at a time, where a request goes and
// whether it goes again: the route's retry policy and ASM's fallback.
//
// The first attempt goes to the first member with a usable endpoint (the
// primary, unless it has none). When an attempt fails before any response
// byte (connect failure, reset, timeout) and the body can be replayed, the
// request goes at once to the next member with a usable endpoint, the
// fallback, without counting as a retry; later retries stay there. Other
// failures and retriable responses are retried as the retry policy and the
// member's retry budget allow. A request is sent again only if its body
// can be: a streamed body gets one attempt.
//
// The zero value is not ready: call Start.
type Attempts struct {
	retry      *Retry
	replayable bool
	idempotent bool
	from       int // the first member the next attempt may go to
	member     int // the member of the last attempt
	retries    int
	fellBack   bool
	exhausted  bool
	last       Outcome
}

// Step is what follows an attempt.
type Step uint8

const (
	// Relay: the attempt's response is the request's.
	Relay Step = iota
	// Fail: no attempt is left and none got a response to relay; the
	// request is answered from Last.
	Fail
	// Fallback: the request goes now to the next member (Target).
	Fallback
	// Again: a retry; the request goes again after the retry backoff
	// (Retry.Backoff of Retries), to Target.
	Again
)

// Result is how an attempt went.
type Result struct {
	Outcome Outcome
	// Status and Header of a response. The header is read only by a
	// policy with gRPC conditions (its grpc-status).
	Status int
	Header http.Header
	// Expired: the request's time is up, or its client is gone; nothing
	// more is sent.
	Expired bool
}

// Start readies a for a request routed with retry policy p (nil: none)
// whose body can be sent again (replayable) or not, and whose method is
// idempotent (RFC 9110 §9.2.2) or not.
func (a *Attempts) Start(p *Retry, replayable, idempotent bool) {
	if p == nil {
		p = &Retry{}
	}
	*a = Attempts{retry: p, replayable: replayable, idempotent: idempotent, member: -1}
}

// Target returns the member the next attempt goes to, or -1 when none has
// a usable endpoint (then Fail, from Last).
func (a *Attempts) Target(m Members) int {
	a.member = m.FirstUsable(a.from)
	if a.member > 0 {
		a.fellBack = true
	}
	return a.member
}

// After takes the result of the attempt on the member Target returned
// last, and says what comes next.
func (a *Attempts) After(m Members, r Result) Step {
	if r.Outcome == Response && !a.retry.Retriable(Response, r.Status, r.Header) {
		return Relay
	}
	a.last = r.Outcome
	noResponse := r.Outcome.Local() || r.Outcome == Idle && a.idempotent
	if noResponse && a.replayable && !a.fellBack && !r.Expired {
		if next := m.FirstUsable(a.member + 1); next > 0 {
			a.from, a.fellBack = next, true
			return Fallback
		}
	}
	switch {
	case !a.replayable || r.Expired || !a.retry.Retriable(r.Outcome, r.Status, r.Header):
	case r.Outcome == Reset && !a.idempotent && !a.retry.retriesAnyReset(): // refused-stream's reset
	case a.retries >= a.retry.num:
		a.exhausted = true
	case !m.RetryBudget(a.member):
	default:
		a.retries++
		return Again
	}
	if r.Outcome == Response {
		return Relay
	}
	return Fail
}

// Last is the outcome of the last attempt that failed: what a request no
// attempt could serve is answered from (Response when there was none, as
// when no member had a usable endpoint).
func (a *Attempts) Last() Outcome { return a.last }

// Retries is how many retries were decided so far.
func (a *Attempts) Retries() int { return a.retries }

// FellBack reports whether an attempt went (or is going) to a member
// other than the first.
func (a *Attempts) FellBack() bool { return a.fellBack }

// Exhausted reports whether a retriable attempt was not retried because
// the policy's retries were used up (Envoy's URX flag).
func (a *Attempts) Exhausted() bool { return a.exhausted }
