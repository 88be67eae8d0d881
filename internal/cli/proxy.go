package cli

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/lanemesh/lanemesh/internal/compile"
	"github.com/lanemesh/lanemesh/internal/config"
	"github.com/lanemesh/lanemesh/internal/credentials"
	"github.com/lanemesh/lanemesh/internal/meshxds"
	"github.com/lanemesh/lanemesh/internal/proxycmd"
	"github.com/lanemesh/lanemesh/internal/registry"
)

// newProxy is `lanemesh proxy`: internal/proxycmd's command, which the
// proxy-only binary shares, with --static compiling files in process.
func newProxy(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	c := proxycmd.New(&staticFiles{})
	cmd := &cobra.Command{
		Use:   "proxy --role gateway|sidecar (--xds ADDR | --static -f PATH...)",
		Short: proxycmd.Short,
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
			return c.Run(cmd.Context(), stdin, stdout, stderr)
		},
	}
	c.AddFlags(cmd.Flags())
	return cmd
}

// staticFiles is `lanemesh proxy --static -f PATH...`: the files compiled
// once for the proxy's identity, for benchmarks and debugging.
type staticFiles struct {
	files          []string
	opt            config.Options
	credentialsDir string
	mesh           compile.Options
}

var _ proxycmd.Static = (*staticFiles)(nil)

func (s *staticFiles) AddFlags(fl *pflag.FlagSet) {
	fl.StringArrayVarP(&s.files, "filename", "f", nil, "configuration (with --static)")
	addSkipFlagSet(fl, &s.opt.SkipUnsupportedKinds)
	addMeshFlags(fl, &s.mesh, "with --static: ")
	fl.StringVar(&s.credentialsDir, "credentials-dir", "", "with --static: "+"directory of the credentials Gateway servers and DestinationRules name with credentialName: NAME/tls.crt, NAME/tls.key and NAME/ca.crt (or NAME-cacert/ca.crt)")
}

func (s *staticFiles) Resources(identity meshxds.Proxy, stdin io.Reader, stderr io.Writer) (*meshxds.Resources, error) {
	if len(s.files) == 0 {
		return nil, usageError{fmt.Errorf("--static needs the configuration: pass -f PATH (repeatable; - for stdin)")}
	}
	c, diags := loadAndAnalyze(s.files, stdin, s.opt)
	if diags.HasErrors() {
		printDiagnostics(stderr, diags.Errors(), "text", s.files)
		return nil, exitFor(diags)
	}
	// Only WorkloadEntries have addresses without a runner.
	instances := registry.WorkloadEntries(c)
	creds, err := credentialsDir(s.credentialsDir)
	if err != nil {
		return nil, usageError{err}
	}
	opts := s.mesh
	opts.Credentials = creds
	return compile.CompileWith(c, instances, identity, opts), nil
}

// addMeshFlags adds the mesh-wide settings Istio takes from istiod's
// environment and MeshConfig: --http10 (PILOT_HTTP10) and
// --outbound-traffic-policy (outboundTrafficPolicy.mode).
func addMeshFlags(fl *pflag.FlagSet, o *compile.Options, prefix string) {
	fl.BoolVar(&o.HTTP10, "http10", false, prefix+"accept HTTP/1.0 requests, as Istio's PILOT_HTTP10; without it every proxy answers them 426 Upgrade Required, as Istio's do")
	fl.Var((*outboundPolicy)(&o.RegistryOnly), "outbound-traffic-policy", prefix+"what a sidecar does with a request for a host the mesh does not know, as Istio's outboundTrafficPolicy.mode: ALLOW_ANY passes it on to where the app sent it, REGISTRY_ONLY answers 502")
}

// outboundPolicy is --outbound-traffic-policy: ALLOW_ANY or REGISTRY_ONLY.
type outboundPolicy bool

func (p *outboundPolicy) String() string {
	if *p {
		return "REGISTRY_ONLY"
	}
	return "ALLOW_ANY"
}

func (p *outboundPolicy) Set(s string) error {
	switch strings.ToUpper(s) {
	case "ALLOW_ANY":
		*p = false
	case "REGISTRY_ONLY":
		*p = true
	default:
		return fmt.Errorf("%q: want ALLOW_ANY or REGISTRY_ONLY", s)
	}
	return nil
}

func (p *outboundPolicy) Type() string { return "mode" }

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
