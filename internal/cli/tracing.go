package cli

import (
	"fmt"
	"os"

	"github.com/spf13/pflag"

	"github.com/lanemesh/lanemesh/internal/compile"
	"github.com/lanemesh/lanemesh/internal/proxy"
)

// tracingFlags turn on span export in the proxies a command runs (or, for
// the control plane, in the sidecars it injects).
type tracingFlags struct {
	endpoint string
	sampling string
}

// addTracingFlags adds --tracing-endpoint and --tracing-sampling; whose
// proxies they apply to is said by whom.
func addTracingFlags(fl *pflag.FlagSet, f *tracingFlags, whom string) {
	fl.StringVar(&f.endpoint, "tracing-endpoint", "",
		"export a span per request from "+whom+" to this OpenTelemetry collector, OTLP/HTTP: http://HOST:4318 (Jaeger, the OpenTelemetry Collector) or a full traces URL; empty turns tracing off")
	fl.StringVar(&f.sampling, "tracing-sampling", "1",
		"percentage of new traces recorded, Istio's tracing.sampling (0-100); a request that brings a traceparent keeps its caller's decision")
}

// tracing is the proxy.Tracing the flags ask for, nil when tracing is off.
func (f tracingFlags) tracing(nodeID string) (*proxy.Tracing, error) {
	sampling, err := proxy.ParseSampling(f.sampling)
	if err != nil {
		return nil, usageError{fmt.Errorf("--tracing-sampling: %w", err)}
	}
	if f.endpoint == "" {
		return nil, nil
	}
	return &proxy.Tracing{Endpoint: f.endpoint, Sampling: sampling, NodeID: nodeID}, nil
}

// proxyNodeID is the proxy's xDS node id: --id, else ROLE~NAMESPACE/HOST-PID.
func proxyNodeID(id string, identity compile.Proxy) string {
	if id != "" {
		return id
	}
	host, _ := os.Hostname()
	return fmt.Sprintf("%s~%s/%s-%d", identity.Role, identity.Namespace, host, os.Getpid())
}
