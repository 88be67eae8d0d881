package cli

import (
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/lanemesh/lanemesh/internal/compile"
	"github.com/lanemesh/lanemesh/internal/config"
	"github.com/lanemesh/lanemesh/internal/credentials"
	"github.com/lanemesh/lanemesh/internal/guard"
	"github.com/lanemesh/lanemesh/internal/pathnorm"
	"github.com/lanemesh/lanemesh/internal/proxy"
	"github.com/lanemesh/lanemesh/internal/registry"
	"github.com/lanemesh/lanemesh/internal/xds"
)

type proxyFlags struct {
	role, xds, xdsToken, id, namespace, labels string
	static                                     bool
	opt                                        config.Options
	files, portMap                             []string
	outbound, admin                            string
	accessLog, logLevel                        string
	pathNormalization                          string
	trustDownstream                            bool
	credentialsDir                             string
	limits                                     proxyLimits
	tracing                                    tracingFlags
}

// proxyLimits are the data plane's resource limits; zero keeps a default
// (see proxy.Options).
type proxyLimits struct {
	headerTimeout, streamIdle, bodyTimeout, writeTimeout time.Duration
	minBodyRate, maxConnections                          int
	reusePort                                            bool
	drainTime                                            time.Duration
}

func newProxy(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	var f proxyFlags
	cmd := &cobra.Command{
		Use:   "proxy --role gateway|sidecar (--xds ADDR | --static -f PATH...)",
		Short: "Run a gateway or sidecar proxy",
		Long: `proxy runs lanemesh's data plane: an ingress gateway, or the sidecar of one
workload. It gets its configuration from a control plane over xDS (--xds),
identified by its role, namespace and labels; or, with --static, compiles the
files it is given once, for benchmarks and debugging.

A gateway serves every HTTP port of the Gateways that select its labels
(--port-map remaps them, e.g. 80=8080); a sidecar serves an outbound HTTP
proxy listener (--outbound) for its app's HTTP_PROXY.`,
		Example: "  lanemesh proxy --role gateway --xds 127.0.0.1:15010 --port-map 80=8080\n" +
			"  lanemesh proxy --role sidecar --xds 127.0.0.1:15010 --labels app=mocka,version=v2 --outbound 127.0.1.2:15001",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runProxy(cmd, f, stdin, stdout, stderr)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.role, "role", "", "gateway or sidecar")
	fl.StringVar(&f.xds, "xds", "", "control plane xDS address")
	fl.StringVar(&f.xdsToken, "xds-token-file", "", "bearer token for the control plane, re-read on each reconnect: a Kubernetes service-account token, or the operator's token (default: the one `lanemesh controlplane`/`up` on this machine writes for --xds's port, in $LANEMESH_HOME or ~/.config/lanemesh)")
	fl.BoolVar(&f.static, "static", false, "compile -f files once instead of using a control plane")
	fl.StringArrayVarP(&f.files, "filename", "f", nil, "configuration (with --static)")
	addSkipFlag(cmd, &f.opt.SkipUnsupportedKinds)
	fl.StringVar(&f.id, "id", "", "node id (default ROLE~NAMESPACE/HOSTNAME-PID)")
	fl.StringVarP(&f.namespace, "namespace", "n", "", "the workload's namespace (default: default; istio-system for a gateway)")
	fl.StringVar(&f.labels, "labels", "", "the workload's labels k=v,... (default for a gateway: istio=ingressgateway)")
	fl.StringArrayVar(&f.portMap, "port-map", []string{"80=8080"}, "gateway port to local address, PORT=[HOST:]PORT (repeatable)")
	fl.StringVar(&f.outbound, "outbound", "127.0.0.1:15001", "the sidecar's outbound listener")
	fl.StringVar(&f.admin, "admin", "", "admin listener (/ready, /metrics, /config_dump, /clusters); empty for none")
	fl.StringVar(&f.accessLog, "access-log", "", "access log: a file, - for stdout, empty for none")
	fl.StringVar(&f.logLevel, "log-level", "warn", "debug, info, warn or error")
	fl.StringVar(&f.pathNormalization, "path-normalization", "BASE",
		"request paths normalized before routing, as Istio's meshConfig pathNormalization: NONE, BASE, MERGE_SLASHES or DECODE_AND_MERGE_SLASHES")
	fl.BoolVar(&f.trustDownstream, "trust-downstream", false,
		"a gateway's clients are trusted proxies: keep their x-request-id, x-envoy-*, X-Forwarded-Proto/-Host, Forwarded and X-Real-IP")
	fl.StringVar(&f.credentialsDir, "credentials-dir", "", "with --static: "+"directory of the credentials Gateway servers and DestinationRules name with credentialName: NAME/tls.crt, NAME/tls.key and NAME/ca.crt (or NAME-cacert/ca.crt)")
	addLimitFlags(fl, &f.limits)
	addTracingFlags(fl, &f.tracing, "this proxy")
	return cmd
}

func runProxy(cmd *cobra.Command, f proxyFlags, stdin io.Reader, stdout, stderr io.Writer) error {
	identity, err := proxyIdentity(f)
	if err != nil {
		return usageError{err}
	}
	if f.static == (f.xds != "") {
		return usageError{fmt.Errorf("give exactly one of --xds ADDR or --static -f PATH")}
	}
	pm, err := parsePortMap(f.portMap)
	if err != nil {
		return usageError{err}
	}
	pathNorm, err := pathnorm.ParseMode(f.pathNormalization)
	if err != nil {
		return usageError{fmt.Errorf("--path-normalization: %w", err)}
	}
	log, err := newLogger(stderr, f.logLevel)
	if err != nil {
		return usageError{err}
	}
	accessLog, err := openLog(f.accessLog, stdout)
	if err != nil {
		return usageError{err}
	}
	tracing, err := f.tracing.tracing(proxyNodeID(f.id, identity))
	if err != nil {
		return err
	}
	p, err := proxy.New(proxy.Options{Role: identity.Role, PortMap: pm, OutboundAddr: f.outbound, AdminAddr: f.admin,
		AccessLog: accessLog, Logger: log, Source: proxy.SourceInfo{Namespace: identity.Namespace, Labels: identity.Labels},
		PathNormalization: pathNorm, TrustDownstream: f.trustDownstream,
		ReadHeaderTimeout: f.limits.headerTimeout, StreamIdleTimeout: f.limits.streamIdle, BodyTimeout: f.limits.bodyTimeout,
		MinBodyRate: f.limits.minBodyRate, WriteTimeout: f.limits.writeTimeout, MaxConnections: f.limits.maxConnections,
		ReusePort: f.limits.reusePort, DrainTime: drainTime(f.limits), Tracing: tracing})
	if err != nil {
		return err
	}
	if f.static {
		c, diags := loadAndAnalyze(f.files, stdin, f.opt)
		if diags.HasErrors() {
			printDiagnostics(stderr, diags.Errors(), "text", f.files)
			return exitFor(diags)
		}
		// Only WorkloadEntries have addresses without a runner.
		instances := registry.WorkloadEntries(c)
		creds, err := credentialsDir(f.credentialsDir)
		if err != nil {
			return usageError{err}
		}
		if err := p.Apply(compile.CompileWith(c, instances, identity, compile.Options{Credentials: creds})); err != nil {
			return fmt.Errorf("the compiled configuration was rejected: %w", err)
		}
	} else {
		id := proxyNodeID(f.id, identity)
		tokenFile := f.xdsToken
		if tokenFile == "" {
			dir, err := tokenDir()
			if err != nil {
				return err
			}
			tokenFile = guard.XDSTokenPath(dir, f.xds)
		}
		c := &xds.Client{Target: f.xds, Node: xds.NodeFor(id, identity), Apply: p.Apply, Logger: log, Token: xds.TokenFile(tokenFile)}
		go c.Run(cmd.Context())
	}
	return p.Run(cmd.Context())
}

// addLimitFlags declares the flags of the proxy's resource limits, named
// after Envoy's settings where Envoy has one.
func addLimitFlags(fl *pflag.FlagSet, l *proxyLimits) {
	fl.DurationVar(&l.headerTimeout, "request-headers-timeout", 0, "close a connection whose request headers take longer (default 10s)")
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
func proxyIdentity(f proxyFlags) (compile.Proxy, error) {
	p := compile.Proxy{Role: compile.Role(f.role), Namespace: f.namespace}
	switch p.Role {
	case compile.Gateway:
		if p.Namespace == "" {
			p.Namespace = "istio-system"
		}
		if f.labels == "" {
			p.Labels = map[string]string{"istio": "ingressgateway"}
		}
	case compile.Sidecar:
		if p.Namespace == "" {
			p.Namespace = "default"
		}
	default:
		return p, fmt.Errorf("--role must be gateway or sidecar, not %q", f.role)
	}
	if f.labels != "" {
		l, err := parseLabels(f.labels)
		if err != nil {
			return p, err
		}
		p.Labels = l
	}
	return p, nil
}

// credentialsDir is the --credentials-dir flag's credentials, made
// absolute: the proxies that read the files may run elsewhere.
func credentialsDir(dir string) (credentials.Dir, error) {
	abs, err := absDir(dir)
	if err != nil {
		return "", fmt.Errorf("--credentials-dir: %w", err)
	}
	return credentials.Dir(abs), nil
}

// absDir is dir made absolute ("" is the working directory).
func absDir(dir string) (string, error) {
	if dir == "" {
		dir = "."
	}
	return filepath.Abs(dir)
}
