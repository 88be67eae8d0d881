package proxy

import (
	"io"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lanemesh/lanemesh/internal/meshxds"
	"github.com/lanemesh/lanemesh/internal/pathnorm"
)

// Options configure a Proxy. The zero value of every field is usable; each
// field says what zero means.
type Options struct {
	// Role is gateway or sidecar. A gateway replaces X-Forwarded-For,
	// -Proto and -Host; a sidecar binds meshxds.SidecarListener to
	// OutboundAddr.
	Role meshxds.Role
	// PortMap maps a listener's port as compiled (80) to the address to
	// bind ("127.0.0.1:8080", or ":0" in tests). A port missing from the
	// map binds the listener's own address.
	PortMap map[uint32]string
	// ListenHost is the host a listener binds when PortMap does not name
	// its port; "" means the listener's own address as compiled (Istio's
	// 0.0.0.0).
	ListenHost string
	// OutboundAddr is where a sidecar's outbound listener binds; "" means
	// "127.0.0.1:15001".
	OutboundAddr string
	// InboundAddr is where a sidecar's inbound listener
	// (meshxds.InboundListener) binds; "" means its own address as
	// compiled (0.0.0.0:15006, where iptables redirects inbound traffic),
	// subject to PortMap and ListenHost.
	InboundAddr string
	// InboundApp is where inbound requests go when their connection was
	// not redirected, so has no original destination: the app's own
	// address when the sidecar listens on the pod's address in its place
	// (local mode, Istio's Sidecar ingress defaultEndpoint). "" means such
	// requests get 503 UH.
	InboundApp string
	// AdminAddr is the admin listener (/ready, /metrics, /config_dump,
	// /clusters); "" means none. New binds it so AdminAddr() is known at once.
	AdminAddr string
	// Source is this proxy's workload, for access logs and metrics.
	Source SourceInfo
	// AccessLog receives one JSON line per request; nil turns access logs off.
	AccessLog io.Writer
	// Logger receives the proxy's own events (listeners, ejections); nil
	// discards them.
	Logger *slog.Logger
	// Registry receives the proxy's metrics; nil means a private registry,
	// served on the admin listener's /metrics. A Registry that is also a
	// prometheus.Gatherer is served there too.
	Registry prometheus.Registerer
	// DrainTimeout bounds how long Run waits for in-flight requests after
	// its context is done; zero means 5s.
	DrainTimeout time.Duration
	// Rand is the source of every random choice (weighted clusters, load
	// balancing, fault percentages, retry jitter, request ids); nil means
	// math/rand/v2. It must be safe for concurrent use.
	Rand func() uint32
	// ReadHeaderTimeout closes a connection whose request headers take
	// longer (slow-header attacks), and answers 408 to a request whose
	// small (replayable, ≤ 64 KiB) body takes longer; zero means 10s.
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes idle downstream keep-alive connections; zero means
	// 1h, Envoy's default idle_timeout, which Istio keeps: a client that
	// reuses a connection just as the proxy closes it loses that request,
	// so the close must be rare.
	IdleTimeout time.Duration
	// MaxHeaderBytes limits request headers (431 beyond it); zero means
	// 60 KiB, Envoy's default.
	MaxHeaderBytes int
	// PathNormalization is how request paths are normalized before
	// routing and forwarding, Istio's meshConfig pathNormalization; the
	// zero value is BASE, Istio's default.
	PathNormalization pathnorm.Mode
	// TrustDownstream says a gateway's clients are trusted proxies (a load
	// balancer that sanitizes requests itself): their x-request-id,
	// x-envoy-*, X-Forwarded-Proto, Forwarded and X-Real-IP pass, as
	// Envoy's internal requests' do. False, the default, trusts
	// no client of the edge. A sidecar ignores it: its app's headers are
	// kept but for lanemesh's own and Envoy's internal-only overrides (see
	// downstream.sanitize).
	TrustDownstream bool
	// StreamIdleTimeout is Envoy's stream_idle_timeout: a request whose
	// upstream exchange moves no byte in either direction for this long is
	// answered 408 (flag SI), or its connection closed if the response had
	// started. It bounds a request to a hung app when no route timeout
	// does (Istio sets none by default). Zero means 5m, Envoy's default; a
	// negative value turns it off.
	StreamIdleTimeout time.Duration
	// BodyTimeout bounds how long a request body may pause: each read of
	// it waits at most this long for the next bytes, and from BodyTimeout
	// after the head on, the body must have averaged MinBodyRate. A body
	// that falls behind gets 408, or its connection closed. Zero means
	// 60s, nginx's client_body_timeout.
	BodyTimeout time.Duration
	// MinBodyRate is the slowest average rate, in bytes per second, at
	// which a request body may arrive once BodyTimeout has passed (a body
	// trickled a byte every two seconds is cut off, a slow upload is
	// not). Zero means 240, Kestrel's MinRequestBodyDataRate; a negative
	// value turns the rate check off.
	MinBodyRate int
	// WriteTimeout closes a downstream connection whose client reads
	// nothing of its response for this long (each write to the socket
	// must make progress within it, so a long stream to a live client is
	// not cut). Zero means 60s, nginx's send_timeout.
	WriteTimeout time.Duration
	// MaxConnections limits each listener's open downstream connections.
	// Past it, a new connection gets "503 Service Unavailable" naming the
	// limit, with Connection: close, and is closed. Zero means 50,000 (the
	// limit Envoy's edge best practices set), or half the process's file
	// descriptor limit when that is lower, since each downstream
	// connection may hold an upstream one; a negative value means
	// unlimited.
	MaxConnections int
	// ReusePort binds listeners with SO_REUSEPORT (Linux), so that the
	// proxy's successor can bind the same ports while it drains, and new
	// connections go to the newest proxy bound (see listenReusePort). Off
	// by default: with it, a second proxy started on the same ports by
	// mistake would share them silently instead of failing to bind.
	ReusePort bool
	// DrainTime is how long a draining proxy keeps its listeners
	// accepting, answering every request with "Connection: close", before
	// it closes them and waits DrainTimeout for what is in flight (Envoy's
	// --drain-time-s). With ReusePort it is the overlap in which a
	// successor takes over without a refused connection. Zero closes the
	// listeners at once.
	DrainTime time.Duration
	// Tracing, when set, records a span per request and exports it over
	// OTLP/HTTP (see Tracing); nil, the default, turns tracing off at the
	// cost of a nil check per request.
	Tracing *Tracing
}

// SourceInfo identifies the workload a proxy serves: a sidecar's pod, or
// the gateway's own deployment.
type SourceInfo struct {
	Namespace string
	Name      string // the pod's name, for access logs
	// Workload is the workload's name as Istio's source_workload label
	// reports it (a Deployment's name, not a pod's); "" means Name.
	Workload string
	// Cluster is the source_cluster label; "" means Istio's default
	// cluster ID, "Kubernetes".
	Cluster string
	// Labels are the workload's labels; "app" and "version" become the
	// source_app and source_version metric labels, and with the workload's
	// name they give its canonical service and revision (see
	// workload.Canonical).
	Labels map[string]string
}

// workload is "namespace/name", or "" when unknown.
func (s SourceInfo) workload() string {
	if s.Name == "" {
		return s.Namespace
	}
	return s.Namespace + "/" + s.Name
}

// Defaults where Options say nothing.
const (
	defaultDrainTimeout        = 5 * time.Second
	defaultReadHeaderTimeout   = 10 * time.Second
	defaultIdleTimeout         = time.Hour
	defaultMaxHeaderBytes      = 60 << 10
	defaultStreamIdleTimeout   = 5 * time.Minute
	defaultBodyTimeout         = 60 * time.Second
	defaultMinBodyRate         = 240
	defaultWriteTimeout        = 60 * time.Second
	defaultListenerConnections = 50_000
	defaultOutboundAddr        = "127.0.0.1:15001"
)

// withDefaults returns o with every zero field set to its default.
func (o Options) withDefaults() Options {
	if o.Role == "" {
		o.Role = meshxds.Gateway
	}
	if o.OutboundAddr == "" {
		o.OutboundAddr = defaultOutboundAddr
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = defaultDrainTimeout
	}
	if o.Rand == nil {
		o.Rand = rand.Uint32
	}
	if o.ReadHeaderTimeout <= 0 {
		o.ReadHeaderTimeout = defaultReadHeaderTimeout
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = defaultIdleTimeout
	}
	if o.MaxHeaderBytes <= 0 {
		o.MaxHeaderBytes = defaultMaxHeaderBytes
	}
	if o.StreamIdleTimeout == 0 {
		o.StreamIdleTimeout = defaultStreamIdleTimeout
	}
	if o.BodyTimeout <= 0 {
		o.BodyTimeout = defaultBodyTimeout
	}
	if o.MinBodyRate == 0 {
		o.MinBodyRate = defaultMinBodyRate
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = defaultWriteTimeout
	}
	if o.MaxConnections == 0 {
		o.MaxConnections = defaultConnectionLimit(fileLimit())
	}
	return o
}
