package proxy

import (
	"io"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lanemesh/lanemesh/internal/compile"
	"github.com/lanemesh/lanemesh/internal/pathnorm"
)

// Options configure a Proxy. The zero value of every field is usable; each
// field says what zero means.
type Options struct {
	// Role is gateway or sidecar. A gateway replaces X-Forwarded-For,
	// -Proto and -Host; a sidecar binds compile.SidecarListener to
	// OutboundAddr.
	Role compile.Role
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
	// 60s.
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
	// x-envoy-*, X-Forwarded-Proto and -Host, Forwarded and X-Real-IP
	// pass, as Envoy's internal requests' do. False, the default, trusts
	// no client of the edge. A sidecar ignores it: its app's headers are
	// kept but for lanemesh's own (see downstream.sanitize).
	TrustDownstream bool
}

// SourceInfo identifies the workload a proxy serves: a sidecar's pod, or
// the gateway's own deployment.
type SourceInfo struct {
	Namespace string
	Name      string
	// Labels are the workload's labels; "app" and "version" become the
	// source_app and source_version metric labels.
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
	defaultDrainTimeout      = 5 * time.Second
	defaultReadHeaderTimeout = 10 * time.Second
	defaultIdleTimeout       = 60 * time.Second
	defaultMaxHeaderBytes    = 60 << 10
	defaultOutboundAddr      = "127.0.0.1:15001"
)

// withDefaults returns o with every zero field set to its default.
func (o Options) withDefaults() Options {
	if o.Role == "" {
		o.Role = compile.Gateway
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
	return o
}
