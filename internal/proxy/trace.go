package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/lanemesh/lanemesh/internal/meshxds"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Tracing turns on distributed tracing: the proxy continues the W3C trace
// context (traceparent, tracestate) a request brings, or starts a trace,
// records one span for the request, sends the span's context upstream, and
// exports the span over OTLP/HTTP. The span per hop is the one Istio's
// proxies report for the same traffic:
//
//   - a gateway records a SERVER span for each request it receives (the
//     root of the trace when the client sent no traceparent);
//   - a sidecar, which serves its app's outbound calls, records a CLIENT
//     span for each outbound request, a child of the span whose context
//     the app passed on (the app must forward traceparent, as with Istio).
//
// Retries and a fallback's second attempt are inside the one span, as in
// Envoy: the span is the request, not the attempt.
type Tracing struct {
	// Endpoint is the OTLP/HTTP collector: a URL ("http://127.0.0.1:4318",
	// "https://otel.example:4318/v1/traces") or HOST:PORT, which means
	// http. A URL without a path gets OTLP's /v1/traces.
	Endpoint string
	// Sampling is the percentage (0–100) of new traces recorded: Istio's
	// meshConfig defaultConfig.tracing.sampling. It applies where a trace
	// starts; a request that brings a traceparent is recorded if, and only
	// if, its sampled flag is set, so one trace is recorded whole or not at
	// all.
	Sampling float64
	// ServiceName is the service.name of the exported spans; "" means
	// Istio's: the workload's canonical service and namespace
	// ("mocka.default").
	ServiceName string
	// NodeID is the node_id span attribute: the proxy's xDS node id.
	NodeID string

	// flushEvery is how often finished spans are sent; zero means 5s, the
	// OpenTelemetry SDK's (and Envoy's) default. Tests shorten it.
	flushEvery time.Duration
}

// ParseSampling reads a sampling percentage as the flags give it.
func ParseSampling(s string) (float64, error) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || !(v >= 0 && v <= 100) { // NaN is neither
		return 0, fmt.Errorf("sampling %q: want a percentage from 0 to 100 (Istio's tracing.sampling), such as 1 or 100", s)
	}
	return v, nil
}

// tracer is a proxy's span recorder, built from Tracing by newTracer. The
// proxy holds nil when tracing is off, so that the hot path pays a nil
// check and nothing more.
type tracer struct {
	provider *sdktrace.TracerProvider
	tracer   trace.Tracer
	kind     trace.SpanKind
	// fixed are the attributes every span of this proxy carries.
	fixed []attribute.KeyValue
}

// traceContext is W3C trace context: traceparent and tracestate.
var traceContext = propagation.TraceContext{}

// newTracer builds the exporter and tracer provider of t for the proxy
// described by opts. Nothing is sent until a span ends.
func newTracer(t *Tracing, opts *Options) (*tracer, error) {
	if !(t.Sampling >= 0 && t.Sampling <= 100) { // NaN is neither
		return nil, fmt.Errorf("tracing sampling %v: want a percentage from 0 to 100", t.Sampling)
	}
	endpoint, err := otlpURL(t.Endpoint)
	if err != nil {
		return nil, err
	}
	exp, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpointURL(endpoint))
	if err != nil {
		return nil, fmt.Errorf("tracing endpoint %q: %w", t.Endpoint, err)
	}
	canonical, revision := canonicalService(opts.Source), opts.Source.Labels["version"]
	if revision == "" {
		revision = "latest" // Istio's canonical revision when the workload names none
	}
	service := t.ServiceName
	if service == "" {
		service = canonical + "." + opts.Source.Namespace
	}
	flush := t.flushEvery
	if flush <= 0 {
		flush = 5 * time.Second
	}
	kind := trace.SpanKindClient
	if opts.Role == meshxds.Gateway {
		kind = trace.SpanKindServer
	}
	// The resource is built from these attributes alone, not from
	// resource.Default, which would read OTEL_* variables from the
	// environment behind the flags' back.
	res := resource.NewSchemaless(attribute.String("service.name", service))
	provider := sdktrace.NewTracerProvider(
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(t.Sampling/100))),
		sdktrace.WithBatcher(&loggedExporter{SpanExporter: exp, log: opts.Logger, endpoint: endpoint},
			sdktrace.WithBatchTimeout(flush)))
	return &tracer{
		provider: provider,
		tracer:   provider.Tracer("lanemesh"),
		kind:     kind,
		fixed: []attribute.KeyValue{
			attribute.String("component", "proxy"),
			attribute.String("node_id", t.NodeID),
			attribute.String("istio.canonical_service", canonical),
			attribute.String("istio.canonical_revision", revision),
			attribute.String("istio.namespace", opts.Source.Namespace),
		},
	}, nil
}

// otlpURL is the collector's traces URL for an Endpoint.
func otlpURL(endpoint string) (string, error) {
	if endpoint == "" {
		return "", errors.New("tracing endpoint is empty: give the collector's OTLP/HTTP address, such as http://127.0.0.1:4318")
	}
	if !strings.Contains(endpoint, "://") {
		endpoint = "http://" + endpoint
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("tracing endpoint %q: want http(s)://HOST:PORT[/PATH] or HOST:PORT, such as http://127.0.0.1:4318", endpoint)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/v1/traces"
	}
	return u.String(), nil
}

// canonicalService is Istio's canonical service of a workload: its
// service.istio.io/canonical-name label, else app.kubernetes.io/name,
// else app, else the workload's name.
func canonicalService(src SourceInfo) string {
	for _, k := range []string{"service.istio.io/canonical-name", "app.kubernetes.io/name", "app"} {
		if v := src.Labels[k]; v != "" {
			return v
		}
	}
	if src.Name != "" {
		return src.Name
	}
	return "unknown"
}

// shutdown sends the spans not yet sent, then stops the exporter.
func (t *tracer) shutdown(ctx context.Context) error {
	return t.provider.Shutdown(ctx)
}

// startSpan starts the request's span, a child of the trace context the
// request brings, and replaces that context in the upstream request's
// headers with the span's. It runs once the request is routed and is
// about to be forwarded, so that every attempt carries the same context.
func (x *exchange) startSpan() {
	h := x.r.Header
	parent := traceContext.Extract(context.Background(), propagation.HeaderCarrier(h))
	_, x.span = x.p.tracer.tracer.Start(parent, "", trace.WithSpanKind(x.p.tracer.kind), trace.WithTimestamp(x.start))
	// W3C trace context: a tracestate goes with the traceparent it came
	// with, so one left from an invalid traceparent is dropped with it.
	delete(h, "Traceparent")
	delete(h, "Tracestate")
	traceContext.Inject(trace.ContextWithSpan(context.Background(), x.span), propagation.HeaderCarrier(h))
}

// finishSpan ends the request's span with what the access log reports.
// A request answered before it was forwarded (no route, a fault, a
// redirect) gets its span here.
func (x *exchange) finishSpan() {
	if x.span == nil {
		parent := traceContext.Extract(context.Background(), propagation.HeaderCarrier(x.r.Header))
		_, x.span = x.p.tracer.tracer.Start(parent, "", trace.WithSpanKind(x.p.tracer.kind), trace.WithTimestamp(x.start))
	}
	span := x.span
	x.span = nil
	if !span.IsRecording() {
		span.End()
		return
	}
	span.SetName(x.operation())
	span.SetAttributes(x.p.tracer.fixed...)
	upstream := x.clusterName
	if x.served != nil {
		upstream = x.served.name
	}
	flags := x.flags.String()
	if flags == "" {
		flags = "-"
	}
	// Envoy writes every tag as a string; the same names and values keep
	// Istio's dashboards and queries working. What the request brought is
	// made valid UTF-8 (received), or the exporter's protobuf would refuse
	// the whole batch.
	span.SetAttributes(
		attribute.String("http.method", x.method),
		received("http.url", x.url()),
		attribute.String("http.protocol", x.r.Proto),
		attribute.String("http.status_code", strconv.Itoa(x.status)),
		attribute.String("response_flags", flags),
		attribute.String("upstream_cluster", upstream),
		attribute.String("upstream_cluster.name", upstream),
		received("guid:x-request-id", x.requestID),
		received("user_agent", x.r.UserAgent()),
		attribute.String("peer.address", hostOf(x.r.RemoteAddr)),
		received("lane", x.lane),
		attribute.String("fallback", strconv.FormatBool(x.flags&flagFB != 0)),
	)
	if x.endpoint != nil {
		span.SetAttributes(attribute.String("upstream_address", x.endpoint.addr))
	}
	if x.status >= 500 || x.status == 0 {
		span.SetAttributes(attribute.String("error", "true"))
		span.SetStatus(codes.Error, "")
	}
	span.End()
}

// received is a string attribute whose value came from a request, which
// HTTP lets hold any byte but controls: bytes that are not UTF-8 become
// U+FFFD, as OTLP requires. A valid value is used as it is.
func received(key, v string) attribute.KeyValue {
	return attribute.String(key, strings.ToValidUTF8(v, "\uFFFD"))
}

// operation is the span's name, Istio's route decorator: the destination
// service's HOST:PORT/*, or "ingress"/"egress" (Envoy's default
// operation names) for a request no route sent anywhere.
func (x *exchange) operation() string {
	name := x.clusterName
	if x.served != nil {
		name = x.served.name
	}
	if port, _, host, ok := meshxds.ParseClusterName(name); ok {
		return host + ":" + strconv.FormatUint(uint64(port), 10) + "/*"
	}
	if x.p.tracer.kind == trace.SpanKindServer {
		return "ingress"
	}
	return "egress"
}

// url is the downstream request's URL, as Envoy's http.url tag writes it.
func (x *exchange) url() string {
	scheme := "http"
	if x.r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + x.authority + x.path
}

// hostOf is the host of a host:port address, or the address.
func hostOf(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}

// loggedExporter reports export failures on the proxy's logger, instead of
// the OpenTelemetry SDK's process-wide error handler: a collector that is
// down is logged once when exports start failing, and once when they
// recover, not once per batch.
type loggedExporter struct {
	sdktrace.SpanExporter
	log      *slog.Logger
	endpoint string
	failing  atomic.Bool
}

func (e *loggedExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	err := e.SpanExporter.ExportSpans(ctx, spans)
	switch {
	case err != nil && !e.failing.Swap(true):
		e.log.Warn("cannot export spans; dropping them until the collector answers", "endpoint", e.endpoint, "err", err)
	case err == nil && e.failing.Swap(false):
		e.log.Info("exporting spans again", "endpoint", e.endpoint)
	}
	return nil
}

// flushSpans sends the spans of the drained proxy's last requests and
// stops its exporter, waiting at most DrainTimeout for the collector.
func (p *Proxy) flushSpans() {
	ctx, cancel := context.WithTimeout(context.Background(), p.opts.DrainTimeout)
	defer cancel()
	if err := p.tracer.shutdown(ctx); err != nil {
		p.log.Warn("spans not sent before shutdown", "err", err)
	}
}
