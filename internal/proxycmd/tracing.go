package proxycmd

import (
	"fmt"
	"os"

	"github.com/spf13/pflag"

	"github.com/lanemesh/lanemesh/internal/meshxds"
	"github.com/lanemesh/lanemesh/internal/proxy"
)

// TracingFlags turn on span export in the proxies a command runs (or, for
// the control plane, in the sidecars it injects).
type TracingFlags struct {
	endpoint string
	sampling string
}

// AddTracingFlags adds --tracing-endpoint and --tracing-sampling; whom
// says whose proxies they apply to.
func AddTracingFlags(fl *pflag.FlagSet, f *TracingFlags, whom string) {
	fl.StringVar(&f.endpoint, "tracing-endpoint", "",
		"export a span per request from "+whom+" to this OpenTelemetry collector, OTLP/HTTP: http://HOST:4318 (Jaeger, the OpenTelemetry Collector) or a full traces URL; empty turns tracing off")
	fl.StringVar(&f.sampling, "tracing-sampling", "1",
		"percentage of new traces recorded, Istio's tracing.sampling (0-100); a request that brings a traceparent keeps its caller's decision")
}

// Tracing is the proxy.Tracing the flags ask for, nil when tracing is off.
func (f TracingFlags) Tracing(nodeID string) (*proxy.Tracing, error) {
	sampling, err := proxy.ParseSampling(f.sampling)
	if err != nil {
		return nil, UsageError{fmt.Errorf("--tracing-sampling: %w", err)}
	}
	if f.endpoint == "" {
		return nil, nil
	}
	return &proxy.Tracing{Endpoint: f.endpoint, Sampling: sampling, NodeID: nodeID}, nil
}

// nodeID is the proxy's xDS node id: id, else ROLE~NAMESPACE/HOST-PID.
func nodeID(id string, identity meshxds.Proxy) string {
	if id != "" {
		return id
	}
	host, _ := os.Hostname()
	return fmt.Sprintf("%s~%s/%s-%d", identity.Role, identity.Namespace, host, os.Getpid())
}
