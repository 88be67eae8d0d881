package proxy

import (
	"net/http"
	"net/textproto"
	"strings"

	"github.com/lanemesh/lanemesh/internal/meshxds"
)

// laneFilter is the lane propagation filter (meshxds.LanePropagationFilter)
// of one filter chain. Every hop of a permissive lane group routes by the
// route header, but apps propagate only the trace header; the filter
// bridges the two:
//
//   - On the inbound listener it learns: the route header of the request
//     the pod receives is remembered under its trace id (trace mode), or
//     added to its W3C baggage as the member <route header>=<lane>, which
//     instrumented apps carry to their calls (baggage mode).
//   - On the outbound listener, before routing, a call that carries no
//     route header gets it back: from the trace id's entry, or from the
//     baggage member.
//
// A request that already carries the route header is never changed on the
// way out: the app (or its caller) said where it goes.
type laneFilter struct {
	route   string // the route header, canonical
	member  string // the route header as a baggage member key
	trace   string // the trace header, canonical; "" in baggage mode
	inbound bool   // on the inbound listener: learn; else re-attach
	table   *traceTable
}

// baggageHeader is W3C's header, canonical.
const baggageHeader = "Baggage"

// newLaneFilter builds the filter for settings lp, with the proxy's trace
// table (nil in baggage mode).
func newLaneFilter(lp meshxds.LanePropagation, inbound bool, table *traceTable) *laneFilter {
	f := &laneFilter{route: textproto.CanonicalMIMEHeaderKey(lp.RouteHeader), member: strings.ToLower(lp.RouteHeader), inbound: inbound}
	if !strings.EqualFold(lp.TraceHeader, baggageHeader) {
		f.trace, f.table = textproto.CanonicalMIMEHeaderKey(lp.TraceHeader), table
	}
	return f
}

// reattach puts the route header back on an outgoing call that lacks it,
// and returns the lane it set ("" if none).
func (f *laneFilter) reattach(h http.Header, now int64) string {
	if f.inbound || first(h, f.route) != "" {
		return ""
	}
	var lane string
	if f.trace != "" {
		id := first(h, f.trace)
		if id == "" {
			return ""
		}
		lane, _ = f.table.get(id, now)
	} else if v, ok := baggageValue(h[baggageHeader], f.member); ok && validLane(v) {
		lane = v
	}
	if lane != "" {
		h[f.route] = []string{lane}
	}
	return lane
}

// learn records the lane of a request the pod receives: in the trace
// table, or as a baggage member the app will carry along.
func (f *laneFilter) learn(h http.Header, now int64) {
	lane := first(h, f.route)
	if !f.inbound || lane == "" {
		return
	}
	if f.trace != "" {
		f.table.put(first(h, f.trace), lane, now)
		return
	}
	if !validLane(lane) {
		return
	}
	if v, ok := baggageValue(h[baggageHeader], f.member); ok && v == lane {
		return // already there: leave the app's baggage byte for byte
	}
	h[baggageHeader] = []string{withBaggageMember(h[baggageHeader], f.member, lane)}
}

// validLane reports whether a lane taken from baggage (anyone's input) may
// become a header value: a token of bounded length, as lane names are.
func validLane(s string) bool {
	return len(s) <= maxLaneNameBytes && isToken(s)
}

func first(h http.Header, key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// laneFilterFor builds the chain's filter from its typed_config.
func (b *builder) laneFilterFor(lp meshxds.LanePropagation, inbound bool) *laneFilter {
	var table *traceTable
	if !strings.EqualFold(lp.TraceHeader, baggageHeader) {
		table = b.store.traceTable(lp.TableCapacity, lp.TableTTL.Nanoseconds())
	}
	return newLaneFilter(lp, inbound, table)
}

// traceTable returns the proxy's trace table, which outlives snapshots so
// that an update does not forget the requests in flight; a new one is made
// only when its bounds change.
func (s *store) traceTable(capacity int, ttl int64) *traceTable {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.traces; t != nil && t.ttl == ttl && t.requested == capacity {
		return t
	}
	s.traces = newTraceTable(capacity, ttl)
	s.traces.requested = capacity
	return s.traces
}

// reattachLane is the outbound half of the filter, run before routing; it
// keeps the access log's lane in step with the header it may have set.
func (x *exchange) reattachLane(lc *filterChain) {
	if lc.lanes == nil {
		return
	}
	x.lanes = lc.lanes
	if lane := lc.lanes.reattach(x.r.Header, x.now); lane != "" && lc.lanes.route == laneHeader {
		x.lane = lane
	}
}

// learnLane is the inbound half, run once the request is prepared, so that
// a request id the proxy generated is the one remembered.
func (x *exchange) learnLane() {
	if x.lanes != nil {
		x.lanes.learn(x.r.Header, x.now)
	}
}
