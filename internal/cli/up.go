package cli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/lanemesh/lanemesh/examples"
	"github.com/lanemesh/lanemesh/internal/guard"
	"github.com/lanemesh/lanemesh/internal/pathnorm"
	"github.com/lanemesh/lanemesh/internal/proxycmd"
	"github.com/lanemesh/lanemesh/internal/up"
)

func newUp(stdout, stderr io.Writer) *cobra.Command {
	var o up.Options
	var portMap []string
	var accessLog, logLevel, pathNorm string
	var tracing proxycmd.TracingFlags
	cmd := &cobra.Command{
		Use:   "up [-f PATH]...",
		Short: "Run the whole mesh on this machine: control plane, gateway, pods and sidecars",
		Long: `up runs lanemesh's embedded default: a control plane, an ingress gateway (labels
istio: ingressgateway) and a local runner that starts every Deployment replica
as a pod with its own loopback address (127.0.x.y, from --pod-cidr or the
first free /24 from 127.0.1.0/24, locked while up runs) and its own sidecar — the
built-in mock app for image lanemesh/mock, otherwise the container's command.
Services resolve by name; apps reach each other through their sidecars.

Without -f it runs the embedded traffic-lanes tutorial (examples/traffic-lanes).
The files are watched: edit them, or use lanemesh apply/delete/get/scale/logs
against the admin API. Ctrl-C stops everything.`,
		Example: "  lanemesh up -f examples/traffic-lanes\n  curl -H 'x-asm-prefer-tag: v2' http://127.0.0.1:8080/mock",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(o.Paths) == 0 {
				dir, err := writeEmbeddedDefault()
				if err != nil {
					return err
				}
				defer os.RemoveAll(dir)
				o.Paths = []string{filepath.Join(dir, examples.Default)}
				fmt.Fprintf(stdout, "no -f given: running the embedded traffic-lanes tutorial from %s\n", o.Paths[0])
			}
			pm, err := proxycmd.ParsePortMap(portMap)
			if err != nil {
				return usageError{err}
			}
			o.PortMap = pm
			if o.PathNormalization, err = pathnorm.ParseMode(pathNorm); err != nil {
				return usageError{fmt.Errorf("--path-normalization: %w", err)}
			}
			if o.Logger, err = proxycmd.NewLogger(stderr, logLevel); err != nil {
				return usageError{err}
			}
			if o.AccessLog, err = proxycmd.OpenLog(accessLog, stdout); err != nil {
				return usageError{err}
			}
			if o.Tracing, err = tracing.Tracing(""); err != nil {
				return err
			}
			o.Out = stdout
			o.Progress = stderr
			if o.CredentialsDir, err = absDir(o.CredentialsDir); err != nil {
				return usageError{fmt.Errorf("--credentials-dir: %w", err)}
			}
			if o.TokenDir, err = guard.HomeDir(); err != nil {
				return err
			}
			m, diags, err := up.Start(cmd.Context(), o)
			if err != nil {
				printDiagnostics(stderr, diags.Errors(), "text", o.Paths)
				fmt.Fprintln(stderr, "lanemesh:", err)
				return exitError{ExitFailed}
			}
			printSkipped(stderr, diags)
			fmt.Fprintf(stdout, "pods:    %s\n", m.PodCIDR())
			return m.Run(cmd.Context())
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVarP(&o.Paths, "filename", "f", nil, "configuration file or directory (repeatable; watched)")
	addSkipFlag(cmd, &o.SkipUnsupportedKinds)
	fl.StringArrayVar(&portMap, "port-map", []string{"80=8080", "443=8443"}, "gateway port to local address, PORT=[HOST:]PORT (repeatable)")
	addMeshFlags(fl, &o.Mesh, "")
	fl.StringVar(&o.CredentialsDir, "credentials-dir", "", "directory of the credentials Gateway servers and DestinationRules name with credentialName: NAME/tls.crt, NAME/tls.key and NAME/ca.crt (or NAME-cacert/ca.crt)"+"; default: the working directory")
	fl.StringVar(&o.Admin, "admin", "127.0.0.1:15000", "admin API address (for lanemesh get/apply/scale)")
	fl.StringVar(&o.ListenHost, "listen-host", "127.0.0.1", "address the gateway binds for ports not in --port-map (0.0.0.0 for every interface)")
	fl.StringVar(&o.XDS, "xds", "127.0.0.1:15010", "control plane xDS address")
	fl.StringVar(&o.GatewayAdmin, "gateway-admin", "127.0.0.1:15021", "the gateway's admin listener (/ready, /metrics; /config_dump, /clusters to loopback clients); - for none")
	fl.StringVar(&o.Metrics, "metrics", "127.0.0.1:15020", "the mesh's one Prometheus endpoint, /metrics: Istio's standard metrics of every proxy, labelled namespace and pod; - for none")
	fl.StringVar(&o.PodCIDR, "pod-cidr", "", "loopback range for pod addresses, e.g. 127.0.5.0/24; empty picks the first free /24 from 127.0.1.0/24")
	fl.StringVar(&accessLog, "access-log", "", "access log: a file, - for stdout, empty for none")
	fl.StringVar(&logLevel, "log-level", "warn", "debug, info, warn or error")
	fl.StringVar(&pathNorm, "path-normalization", "BASE",
		"request paths normalized before routing by every proxy, as Istio's meshConfig pathNormalization: NONE, BASE, MERGE_SLASHES or DECODE_AND_MERGE_SLASHES")
	proxycmd.AddTracingFlags(fl, &tracing, "the gateway and every sidecar")
	return cmd
}

// writeEmbeddedDefault copies the embedded tutorial to a temporary
// directory, which up then watches like any other (edit the files there, or
// use lanemesh apply).
func writeEmbeddedDefault() (string, error) {
	dir, err := os.MkdirTemp("", "lanemesh-up-")
	if err != nil {
		return "", err
	}
	if err := os.CopyFS(dir, examples.FS); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("writing the embedded tutorial: %w", err)
	}
	return dir, nil
}
