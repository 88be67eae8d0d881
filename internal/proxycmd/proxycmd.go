// Package proxycmd is the `lanemesh proxy` command: its flags, the proxy's
// identity, and the wiring of internal/proxy to its xDS client. It links
// only the data plane, so that the same command builds both into the full
// lanemesh binary and into cmd/lanemesh-proxy, which carries no loader,
// compiler or control plane. --static (files compiled in process) needs
// those, so the full binary supplies it as a Static; without one the
// command has no --static.
package proxycmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/lanemesh/lanemesh/internal/guard"
	"github.com/lanemesh/lanemesh/internal/meshxds"
	"github.com/lanemesh/lanemesh/internal/pathnorm"
	"github.com/lanemesh/lanemesh/internal/proxy"
	"github.com/lanemesh/lanemesh/internal/xds"
)

// Static is how --static gets its resources without a control plane: the
// full lanemesh binary compiles the files -f names. AddFlags declares the
// flags it reads besides --static; Resources is called once, after the
// proxy is built and before it serves. Its errors are returned as they
// are, so they keep whatever exit code they carry.
type Static interface {
	AddFlags(fl *pflag.FlagSet)
	Resources(identity meshxds.Proxy, stdin io.Reader, stderr io.Writer) (*meshxds.Resources, error)
}

// UsageError marks an error as the user's invocation being wrong.
type UsageError struct{ Err error }

func (e UsageError) Error() string { return e.Err.Error() }
func (e UsageError) Unwrap() error { return e.Err }

type proxyFlags struct {
	role, xds, xdsToken, id, namespace, labels string
	workload                                   string
	static                                     bool
	portMap                                    []string
	outbound, admin                            string
	inbound, inboundApp                        string
	accessLog, logLevel                        string
	pathNormalization                          string
	trustDownstream                            bool
	limits                                     proxyLimits
	tracing                                    TracingFlags
}

// proxyLimits are the data plane's resource limits; zero keeps a default
// (see proxy.Options).
type proxyLimits struct {
	headerTimeout, streamIdle, bodyTimeout, writeTimeout, idle time.Duration
	minBodyRate, maxConnections                                int
	reusePort                                                  bool
	drainTime                                                  time.Duration
}

// Short and Long describe the command without --static (the full binary
// says more).
const (
	Short = "Run a gateway or sidecar proxy"
	Long  = `The proxy runs lanemesh's data plane: an ingress gateway, or the sidecar of
one workload. It gets its configuration from a control plane over xDS (--xds),
identified by its role, namespace and labels.

A gateway serves every HTTP port of the Gateways that select its labels
(--port-map remaps them, e.g. 80=8080); a sidecar serves an outbound HTTP
proxy listener (--outbound) for its app's HTTP_PROXY.

The proxy runs its garbage collector at GOGC=25, trading about 1.5% more CPU
for less memory, unless the environment sets GOGC or GOMEMLIMIT.`
)

// Command is the proxy command: the flags AddFlags declares, and Run. The
// full binary wraps it in its CLI; Main runs it as a program of its own.
type Command struct {
	static Static
	f      proxyFlags
}

// New returns the proxy command. static supplies --static; nil leaves the
// flag out, and the command then needs --xds.
func New(static Static) *Command { return &Command{static: static} }

// AddFlags declares the command's flags on fl.
func (c *Command) AddFlags(fl *pflag.FlagSet) {
	f := &c.f
	fl.StringVar(&f.role, "role", "", "gateway or sidecar")
	fl.StringVar(&f.xds, "xds", "", "control plane xDS address")
	fl.StringVar(&f.xdsToken, "xds-token-file", "", "bearer token for the control plane, re-read on each reconnect: a Kubernetes service-account token, or the operator's token (default: the one `lanemesh controlplane`/`up` on this machine writes for --xds's port, in $LANEMESH_HOME or ~/.config/lanemesh)")
	fl.StringVar(&f.id, "id", "", "node id (default ROLE~NAMESPACE/HOSTNAME-PID)")
	fl.StringVar(&f.workload, "workload", "", "the workload's name in metrics (source_workload: a Deployment's, as Istio's; default the pod's, from --id)")
	fl.StringVarP(&f.namespace, "namespace", "n", "", "the workload's namespace (default: default; istio-system for a gateway)")
	fl.StringVar(&f.labels, "labels", "", "the workload's labels k=v,... (default for a gateway: istio=ingressgateway)")
	fl.StringArrayVar(&f.portMap, "port-map", []string{"80=8080"}, "gateway port to local address, PORT=[HOST:]PORT (repeatable)")
	fl.StringVar(&f.outbound, "outbound", "127.0.0.1:15001", "the sidecar's outbound listener")
	AddTracingFlags(fl, &f.tracing, "this proxy")
	fl.StringVar(&f.inbound, "inbound", "", "the sidecar's inbound listener, for a pod whose inbound traffic is captured (0.0.0.0:15006 behind iptables); empty for none")
	fl.StringVar(&f.inboundApp, "inbound-app", "", "with --inbound: where inbound requests whose connection was not redirected go (the app, when the sidecar listens on the app's port in its place)")
	fl.StringVar(&f.admin, "admin", "", "admin listener (/ready, /metrics; /config_dump, /clusters to loopback clients); empty for none")
	fl.StringVar(&f.accessLog, "access-log", "", "access log: a file, - for stdout, empty for none")
	fl.StringVar(&f.logLevel, "log-level", "warn", "debug, info, warn or error")
	fl.StringVar(&f.pathNormalization, "path-normalization", "BASE",
		"request paths normalized before routing, as Istio's meshConfig pathNormalization: NONE, BASE, MERGE_SLASHES or DECODE_AND_MERGE_SLASHES")
	fl.BoolVar(&f.trustDownstream, "trust-downstream", false,
		"a gateway's clients are trusted proxies: keep their x-request-id, x-envoy-*, X-Forwarded-Proto, Forwarded and X-Real-IP (their requests are internal, as Envoy's from an internal address)")
	addLimitFlags(fl, &f.limits)
	if c.static != nil {
		fl.BoolVar(&f.static, "static", false, "compile -f files once instead of using a control plane")
		c.static.AddFlags(fl)
	}
}

// Run runs the proxy until ctx is done. It sets the process's garbage
// collector target to a proxy's, unless GOGC or GOMEMLIMIT is set (see
// proxyGOGC).
func (c *Command) Run(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer) error {
	f, static := c.f, c.static
	identity, err := proxyIdentity(f)
	if err != nil {
		return UsageError{err}
	}
	tuneGC(os.Getenv)
	switch {
	case static == nil && f.xds == "":
		return UsageError{fmt.Errorf("--xds ADDR is required")}
	case f.static == (f.xds != ""):
		return UsageError{fmt.Errorf("give exactly one of --xds ADDR or --static -f PATH")}
	}
	pm, err := ParsePortMap(f.portMap)
	if err != nil {
		return UsageError{err}
	}
	pathNorm, err := pathnorm.ParseMode(f.pathNormalization)
	if err != nil {
		return UsageError{fmt.Errorf("--path-normalization: %w", err)}
	}
	log, err := NewLogger(stderr, f.logLevel)
	if err != nil {
		return UsageError{err}
	}
	accessLog, err := OpenLog(f.accessLog, stdout)
	if err != nil {
		return UsageError{err}
	}
	tracing, err := f.tracing.Tracing(nodeID(f.id, identity))
	if err != nil {
		return err
	}
	p, err := proxy.New(proxy.Options{Role: identity.Role, PortMap: pm, OutboundAddr: f.outbound, AdminAddr: f.admin,
		InboundAddr: f.inbound, InboundApp: f.inboundApp,
		AccessLog: accessLog, Logger: log, Source: proxy.SourceInfo{Namespace: identity.Namespace, Name: podOf(f.id),
			Workload: f.workload, Labels: identity.Labels},
		PathNormalization: pathNorm, TrustDownstream: f.trustDownstream,
		ReadHeaderTimeout: f.limits.headerTimeout, IdleTimeout: f.limits.idle, StreamIdleTimeout: f.limits.streamIdle, BodyTimeout: f.limits.bodyTimeout,
		MinBodyRate: f.limits.minBodyRate, WriteTimeout: f.limits.writeTimeout, MaxConnections: f.limits.maxConnections,
		ReusePort: f.limits.reusePort, DrainTime: drainTime(f.limits), Tracing: tracing})
	if err != nil {
		return err
	}
	if f.static {
		res, err := static.Resources(identity, stdin, stderr)
		if err != nil {
			return err
		}
		if err := p.Apply(res); err != nil {
			return fmt.Errorf("the compiled configuration was rejected: %w", err)
		}
	} else {
		id := nodeID(f.id, identity)
		tokenFile := f.xdsToken
		if tokenFile == "" {
			if !guard.IsLoopback(f.xds) {
				return fmt.Errorf("--xds %s is not this machine's loopback, and the operator's token of a control plane here goes only there: pass the proxy's token with --xds-token-file", f.xds)
			}
			dir, err := guard.HomeDir()
			if err != nil {
				return err
			}
			tokenFile = guard.XDSTokenPath(dir, f.xds)
		}
		c := &xds.Client{Target: f.xds, Node: meshxds.NodeFor(id, identity), Apply: p.Apply, Logger: log, Token: xds.TokenFile(tokenFile)}
		go c.Run(ctx)
	}
	return p.Run(ctx)
}

// addLimitFlags declares the flags of the proxy's resource limits, named
// after Envoy's settings where Envoy has one.
func addLimitFlags(fl *pflag.FlagSet, l *proxyLimits) {
	fl.DurationVar(&l.headerTimeout, "request-headers-timeout", 0, "close a connection whose request headers take longer (default 10s)")
	fl.DurationVar(&l.idle, "idle-timeout", 0, "close a client's keep-alive connection idle for this long (default 1h, Envoy's)")
	fl.DurationVar(&l.streamIdle, "stream-idle-timeout", 0, "answer 408 to a request whose upstream exchange moves no byte for this long (default 5m, Envoy's; negative: off)")
	fl.DurationVar(&l.bodyTimeout, "request-body-timeout", 0, "the longest a request body may pause, and the grace before --min-body-rate applies (default 60s)")
	fl.IntVar(&l.minBodyRate, "min-body-rate", 0, "slowest average request body rate in bytes/s after --request-body-timeout (default 240; negative: off)")
	fl.DurationVar(&l.writeTimeout, "write-timeout", 0, "close a connection whose client reads nothing of its response for this long (default 60s)")
	fl.BoolVar(&l.reusePort, "reuse-port", false, "bind listeners with SO_REUSEPORT, so that a new proxy can take over the ports of one draining (graceful restart; Linux)")
	fl.DurationVar(&l.drainTime, "drain-time", 0, "on SIGTERM/SIGINT, keep accepting with Connection: close for this long before closing the listeners (default 5s with --reuse-port, else 0)")
	fl.IntVar(&l.maxConnections, "max-connections", 0, "open downstream connections per listener; past it, 503 and close (default 50000, or half the file limit; negative: unlimited)")
}

// drainTime is --drain-time, or 5s with --reuse-port: a proxy that
// shares its ports with a successor should give it time to take over.
func drainTime(l proxyLimits) time.Duration {
	if l.drainTime == 0 && l.reusePort {
		return defaultReusePortDrain
	}
	return l.drainTime
}

const defaultReusePortDrain = 5 * time.Second

// proxyIdentity reads role, namespace and labels with their defaults.
func proxyIdentity(f proxyFlags) (meshxds.Proxy, error) {
	p := meshxds.Proxy{Role: meshxds.Role(f.role), Namespace: f.namespace}
	switch p.Role {
	case meshxds.Gateway:
		if p.Namespace == "" {
			p.Namespace = "istio-system"
		}
		if f.labels == "" {
			p.Labels = map[string]string{"istio": "ingressgateway"}
		}
	case meshxds.Sidecar:
		if p.Namespace == "" {
			p.Namespace = "default"
		}
		p.Inbound = f.inbound != ""
	default:
		return p, fmt.Errorf("--role must be gateway or sidecar, not %q", f.role)
	}
	if f.inboundApp != "" && f.inbound == "" {
		return p, fmt.Errorf("--inbound-app needs --inbound")
	}
	if f.inbound != "" && p.Role != meshxds.Sidecar {
		return p, fmt.Errorf("--inbound is a sidecar's")
	}
	if f.labels != "" {
		l, err := ParseLabels(f.labels)
		if err != nil {
			return p, err
		}
		p.Labels = l
	}
	return p, nil
}

// Main runs the proxy command as a program of its own (cmd/lanemesh-proxy)
// with args and returns the process exit code: 0 when it stopped cleanly
// (SIGINT, SIGTERM) or printed its help, 2 for a bad invocation, 1 for
// any other failure. It parses with pflag alone, without the full CLI's
// command framework, which the proxy-only binary does not need to link.
func Main(name string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := New(nil)
	fl := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fl.SetOutput(stderr)
	c.AddFlags(fl)
	fl.Usage = func() {
		fmt.Fprintf(stderr, "%s\n\nUsage:\n  %s --role gateway|sidecar --xds ADDR [flags]\n\nFlags:\n%s", Long, name, fl.FlagUsages())
	}
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return 0
		}
		return 2 // pflag has printed the error and the usage
	}
	if fl.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected arguments %q\n", name, fl.Args())
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := c.Run(ctx, stdin, stdout, stderr)
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "%s: %v\n", name, err)
	var ue UsageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

// podOf is the pod name of a node id "ROLE~NAMESPACE/POD", "" for another.
func podOf(id string) string {
	_, pod, ok := strings.Cut(id, "/")
	if !ok || !strings.Contains(id, "~") {
		return ""
	}
	return pod
}
