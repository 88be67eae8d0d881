// Package h1 is lanemesh's HTTP/1.1 codec: the server side that reads
// requests from downstream connections and writes their responses, and the
// client side that writes requests on upstream connections and reads their
// responses. It knows nothing of routing: a Handler gets each request, with
// a per-connection value it reuses (a proxy's per-request state), and a
// ClientConn makes one exchange at a time for whoever owns it.
//
// Server (server.go, request.go, writer.go): a plain request head, which
// is nearly every one, is parsed on the connection's goroutine into a
// request and header map reused across the connection, and answered
// through a buffered writer, one read and one write per request. The first
// head that is not plain hands the connection to net/http's server for the
// rest of its life (handoff.go), so every oddity (chunked bodies, Expect,
// HTTP/1.0, oversized heads) is parsed, refused or served exactly as
// net/http does; the differential test and fuzzer in request_test.go hold
// the fast path to net/http's result. Two things net/http accepts are
// refused with 400 before the hand-off, as Envoy refuses them: both
// Content-Length and Transfer-Encoding, and obs-fold (screen.go). The
// hostile corpus in hostile_test.go is the server's contract against
// smuggling and malformed framing.
//
// Client (client.go, response.go): a request is written from the inbound
// one as it stands (the caller may have rewritten it in place: neither
// server reads a request after its handler returns, see Go issue 14940 for
// net/http), and the response read on the same goroutine. http.Transport
// hands each request to two goroutines per connection over channels, which
// at one core costs more than the rest of a proxy, and would hide the
// attempts that retries and fallback work on. Plain responses (a
// Content-Length and ordinary headers) are parsed by a fast path held to
// http.ReadResponse by its own differential test and fuzzer; every other
// framing goes through http.ReadResponse.
//
// Both loops yield (rawio.Yield: runtime.Gosched, within a budget that
// keeps parked connections from waiting long for the scheduler to poll)
// before a read that would most likely find nothing yet: the next request
// right after a response, the response right after a request. Under load
// other connections run meanwhile and the read finds its data, so that a
// request costs the two reads and two writes HAProxy's does, without a
// read failing with EAGAIN and a park;
// an exchange under its server connection's context is watched through
// that connection (ctxwatch.go), not with an allocation of its own.
//
// A plain exchange allocates nothing of its own: the text of each head
// (which its header values and the request's fields are substrings of,
// and which may outlive the request in a metric's labels or a log line)
// and the response's value slices come from per-connection arenas
// (package arena) whose chunks serve many heads and are never reused.
// Deadlines that only move forward are checked against the monotonic
// clock (clock.go) and moved only when they have fallen behind by a 64th
// of their timeout, so that most requests leave the runtime's timers and
// the wall clock alone.
//
// Both sides read and write TCP sockets through package rawio, with raw
// system calls that skip the runtime's bookkeeping: at light load, where
// a proxy is idle between requests, that bookkeeping cost a wake-up of the
// runtime's monitor thread and a run of its 20 µs polls per request.
//
// Every resource a peer can hold has a bound (limits.go, Config,
// ClientOptions): request heads (ReadHeaderTimeout), streamed request
// bodies (Pace), writes to a client that stops reading (WriteTimeout), an
// upstream exchange that stops moving (StreamIdle), and a listener's
// connections (MaxConnections).
package h1
