package proxy

import (
	"context"
	"io"
	"log/slog"
	"time"
)

// observe records a finished exchange in metrics and the access log.
func (p *Proxy) observe(x *exchange) {
	d := time.Since(x.start)
	if x.tries.FellBack() && x.served != nil && x.served != x.cluster.targets[0] {
		x.flags |= flagFB
	}
	k := seriesKey{dest: p.unknownDest, code: x.status, flags: x.flags, fallback: x.flags&flagFB != 0, lane: x.lane}
	switch {
	case x.endpoint != nil:
		k.dest = x.endpoint.dest
	case x.served != nil:
		k.dest = x.served.dest
	case x.cluster != nil:
		k.dest = x.cluster.dest
	}
	if k.dest == nil { // a cluster or endpoint not built by the builder
		k.dest = p.unknownDest
	}
	if k.lane == "" && x.cluster != nil {
		k.lane = x.cluster.lane
	}
	received := x.received
	if x.pacer != nil {
		received += x.pacer.BytesRead()
	}
	p.metrics.observe(k, x.st.lanes, d, received, x.sent)
	if p.access != nil && p.access.Enabled(context.Background(), slog.LevelInfo) {
		p.logAccess(x, d)
	}
}

// logAccess writes the request's access log line.
func (p *Proxy) logAccess(x *exchange, d time.Duration) {
	vs, index, routeName := "", -1, ""
	if x.rt != nil {
		vs, index, routeName = x.rt.VirtualService, x.rt.RouteIndex, x.rt.Name
	}
	upstream, address := "", ""
	if x.served != nil {
		upstream, address = x.served.name, x.endpoint.addr
	}
	p.access.LogAttrs(context.Background(), slog.LevelInfo, "request",
		slog.String("method", x.method),
		slog.String("authority", x.authority),
		slog.String("path", x.path),
		slog.Int("status", x.status),
		slog.Float64("duration_ms", float64(d.Microseconds())/1000),
		slog.String("response_flags", x.flags.String()),
		slog.String("virtual_service", vs),
		slog.Int("route_index", index),
		slog.String("route_name", routeName),
		slog.String("route_cluster", x.clusterName),
		slog.String("upstream_cluster", upstream),
		slog.String("upstream_address", address),
		slog.Bool("fallback", x.flags&flagFB != 0),
		slog.Int("attempts", x.attempts),
		slog.String("lane", x.lane),
		slog.String("request_id", x.requestID),
		slog.String("source_workload", p.opts.Source.workload()),
		slog.String("upstream_transport_failure_reason", x.transportFailure),
	)
}

// newAccessLogger is a JSON logger without the level and message keys,
// which say nothing in an access log.
func newAccessLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && (a.Key == slog.LevelKey || a.Key == slog.MessageKey) {
			return slog.Attr{}
		}
		return a
	}}))
}
