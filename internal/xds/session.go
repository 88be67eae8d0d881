package xds

import (
	"context"
	"fmt"
	"log/slog"
	"slices"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// state is what a Client remembers across streams. Only Run's goroutine
// touches it.
type state struct {
	// received holds, per type, the latest response the client accepted
	// (ACKed), whether or not Apply has seen it yet: a type waiting for
	// the resources it references is accepted, as Envoy accepts warming
	// clusters. A rejected response never enters it.
	received view
	// applied is what Apply last accepted, and appliedKey its key.
	applied    view
	appliedKey viewKey
	// acked is the version last ACKed per type: the "previous good"
	// version a NACK carries.
	acked [numKinds]string
	// rejectedKey and rejectedErr remember the view Apply last rejected,
	// so that a server that resends a NACKed version at once does not make
	// the proxy rebuild the same configuration in a loop.
	rejectedKey viewKey
	rejectedErr error
}

// session is one ADS stream. Only Run's goroutine touches it.
type session struct {
	c      *Client
	st     *state
	stream discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient

	nodeSent   bool
	subscribed [numKinds]bool
	nonce      [numKinds]string
	requested  [numKinds][]string // resource_names last sent
}

func newSession(c *Client, stream discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient, st *state) *session {
	// A new stream starts from what is in force: anything received but not
	// applied may be stale by now, the server resends its current view,
	// and a rejected view may be tried again.
	st.received = st.applied
	for k := range numKinds {
		st.acked[k] = st.applied[k].version
	}
	st.rejectedKey, st.rejectedErr = viewKey{}, nil
	return &session{c: c, st: st, stream: stream}
}

// start subscribes to CDS and LDS (wildcard) and, if a configuration is in
// force, to the EDS and RDS names it references.
func (s *session) start() error {
	for _, k := range []kind{clusters, listeners} {
		if err := s.request(k, nil); err != nil {
			return err
		}
	}
	return s.sync()
}

// handle processes one response and answers it: every response gets
// exactly one ACK or NACK, so go-control-plane reopens its watch for the
// type and can push the next version.
func (s *session) handle(resp *discoveryv3.DiscoveryResponse) error {
	k, ok := kindOf(resp.GetTypeUrl())
	if !ok {
		return s.send(nackWith(&discoveryv3.DiscoveryRequest{TypeUrl: resp.GetTypeUrl(), ResponseNonce: resp.GetNonce()},
			fmt.Errorf("%w: unexpected type %q", ErrDecode, resp.GetTypeUrl())))
	}
	s.nonce[k] = resp.GetNonce()
	if err := s.accept(k, resp); err != nil {
		s.c.setError(err)
		s.c.logger().Warn("xds: rejected configuration (NACK)", "type", k.String(), "version", resp.GetVersionInfo(), "err", err)
		if err := s.request(k, err); err != nil {
			return err
		}
		return s.sync()
	}
	// A type whose dependents are still on their way is ACKed too, as
	// Envoy ACKs warming clusters: holding the ACK back would keep the
	// server from pushing a newer version of it, and the dependents it
	// waits for might only exist in that newer version.
	s.st.acked[k] = resp.GetVersionInfo()
	s.c.setAcked(k.TypeURL(), resp.GetVersionInfo())
	if err := s.request(k, nil); err != nil {
		return err
	}
	return s.sync()
}

// accept decodes a response into the view and applies the view if it is
// complete and new. On error the view is as it was before the response.
func (s *session) accept(k kind, resp *discoveryv3.DiscoveryResponse) error {
	prev := s.st.received[k]
	next, err := decode(k, resp, &prev)
	if err != nil {
		return err
	}
	s.st.received[k] = next
	if err := s.applyIfComplete(); err != nil {
		s.st.received[k] = prev
		return err
	}
	return nil
}

// applyIfComplete hands a complete and new view to Apply.
func (s *session) applyIfComplete() error {
	key, ok := s.st.received.key()
	switch {
	case !ok:
		s.logVersions(slog.LevelDebug, "xds: waiting for referenced resources", &s.st.received)
		return nil
	case key == s.st.appliedKey:
		return nil
	case key == s.st.rejectedKey:
		return s.st.rejectedErr
	}
	if err := s.c.Apply(s.st.received.resources()); err != nil {
		s.st.rejectedKey, s.st.rejectedErr = key, err
		return err
	}
	s.st.applied, s.st.appliedKey = s.st.received, key
	s.logVersions(slog.LevelInfo, "xds: applied configuration", &s.st.applied)
	return nil
}

// logVersions logs a view's versions, if anyone reads the level: building
// them costs allocations on every response, a thousand times over in a
// process that runs many clients.
func (s *session) logVersions(level slog.Level, msg string, v *view) {
	ctx := context.Background()
	if l := s.c.logger(); l.Enabled(ctx, level) {
		l.Log(ctx, level, msg, v.versions()...)
	}
}

// sync re-subscribes EDS and RDS when the names the view references have
// changed; requests carry the full current list, as SotW requires.
func (s *session) sync() error {
	for _, k := range []kind{endpoints, routes} {
		names := s.st.received.wanted(k)
		if slices.Equal(names, s.requested[k]) && (s.subscribed[k] || len(names) == 0) {
			continue
		}
		if err := s.request(k, nil); err != nil {
			return err
		}
	}
	return nil
}

// request sends the current request for a type: an ACK (nack nil) or NACK
// of its latest response, or a change of names. The first request of a
// type on a stream has empty version and nonce.
func (s *session) request(k kind, nack error) error {
	req := &discoveryv3.DiscoveryRequest{
		TypeUrl:       k.TypeURL(),
		ResourceNames: s.st.received.wanted(k),
		ResponseNonce: s.nonce[k],
	}
	if s.subscribed[k] {
		req.VersionInfo = s.st.acked[k]
	}
	if nack != nil {
		nackWith(req, nack)
	}
	s.subscribed[k], s.requested[k] = true, req.ResourceNames
	return s.send(req)
}

// send sends a request, with the node on the stream's first.
func (s *session) send(req *discoveryv3.DiscoveryRequest) error {
	if !s.nodeSent {
		req.Node, s.nodeSent = s.c.Node, true
	}
	return s.stream.Send(req)
}

// nackWith makes req a NACK: error_detail is InvalidArgument with the
// reason.
func nackWith(req *discoveryv3.DiscoveryRequest, err error) *discoveryv3.DiscoveryRequest {
	req.ErrorDetail = status.New(codes.InvalidArgument, err.Error()).Proto()
	return req
}
