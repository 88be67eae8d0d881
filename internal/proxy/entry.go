package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"

	xdstypev3 "github.com/cncf/xds/go/xds/type/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lanemesh/lanemesh/internal/entry"
	"github.com/lanemesh/lanemesh/internal/route"
)

// laneEntry is a filter chain's lane-entry filter: the LaneEntryPolicies
// that select this gateway, built once per snapshot. A request that asks
// for a lane one of them does not allow is routed as the baseline: the
// policy strips the lane headers before the route table sees them.
type laneEntry struct {
	policies []*entry.Policy
}

// buildLaneEntry reads the filter's TypedStruct. Every error rejects the
// update (NACK), so a policy that cannot be enforced never replaces one
// that can; the previous snapshot keeps guarding the lanes.
func (b *builder) buildLaneEntry(f *hcmv3.HttpFilter) (*laneEntry, error) {
	var ts xdstypev3.TypedStruct
	if f.GetTypedConfig() == nil || f.GetTypedConfig().UnmarshalTo(&ts) != nil || ts.GetTypeUrl() != entry.TypeURL {
		return nil, fmt.Errorf("%w: http filter %q: config must be a TypedStruct of %s", route.ErrInvalid, f.GetName(), entry.TypeURL)
	}
	policies, err := entry.Decode(ts.GetValue(), b.store.keys.get)
	if err != nil {
		return nil, fmt.Errorf("%w: http filter %q: %w", route.ErrInvalid, f.GetName(), err)
	}
	le := &laneEntry{policies: policies}
	return le, nil
}

// admit applies the policies to x's request. xff is the X-Forwarded-For
// the gateway received, before it appended the peer. A request without a
// lane header, or with a baseline one, passes untouched and costs no
// allocation.
func (e *laneEntry) admit(x *exchange, xff []string) {
	r := x.r
	req := entry.Request{Header: r.Header, Query: r.URL.RawQuery, ForwardedFor: xff, Now: x.start}
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		req.Peer = ap.Addr()
	}
	for _, p := range e.policies {
		v := p.Decide(&req)
		if !v.Denied {
			continue
		}
		p.Strip(r.Header)
		x.p.laneEntryDenied(p, v, &req)
	}
}

// laneEntryDenied counts and logs a request sent to the baseline.
func (p *Proxy) laneEntryDenied(pol *entry.Policy, v entry.Verdict, r *entry.Request) {
	p.metrics.entryDenied.WithLabelValues(pol.Name, denyReason(v.Reason)).Inc()
	if p.log.Enabled(context.Background(), slog.LevelInfo) {
		p.log.LogAttrs(context.Background(), slog.LevelInfo, "lane entry denied; serving the baseline",
			slog.String("policy", pol.Name), slog.String("lane", v.Lane), slog.String("reason", v.Reason.Error()),
			slog.String("peer", r.Peer.String()))
	}
}

// denyReason is the metric label of a denial: a small, fixed set.
func denyReason(err error) string {
	for _, r := range []struct {
		err   error
		label string
	}{
		{entry.ErrSource, "source"}, {entry.ErrNoToken, "no_token"}, {entry.ErrNoKeys, "keys_unavailable"},
		{entry.ErrClaimMissing, "claim"}, {entry.ErrClaimLane, "claim"}, {entry.ErrExpired, "token_expired"},
		{entry.ErrNotYetValid, "token_expired"}, {entry.ErrNoRule, "no_rule"},
	} {
		if errors.Is(err, r.err) {
			return r.label
		}
	}
	return "token_invalid"
}

// newEntryMetric is lanemesh_lane_entry_denied_total.
func newEntryMetric() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lanemesh_lane_entry_denied_total",
		Help: "Requests that asked for a lane their LaneEntryPolicy does not allow, served by the baseline with the lane headers removed, by policy and reason."},
		[]string{"policy", "reason"})
}
