package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/lanemesh/lanemesh/internal/meshxds"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/lanemesh/lanemesh/internal/bootstrap"
	"github.com/lanemesh/lanemesh/internal/compile"
	"github.com/lanemesh/lanemesh/internal/config"
	"github.com/lanemesh/lanemesh/internal/dashboard"
	"github.com/lanemesh/lanemesh/internal/guard"
	"github.com/lanemesh/lanemesh/internal/kube"
	"github.com/lanemesh/lanemesh/internal/proxycmd"
)

func newControlPlane(stdout, stderr io.Writer) *cobra.Command {
	var files []string
	var xdsAddr, adminAddr, logLevel, kubeconfig, leaseNS, audience, credsDir string
	var mesh compile.Options
	var opt config.Options
	var inj injectorFlags
	cmd := &cobra.Command{
		Use:   "controlplane (-f PATH... | --kubeconfig PATH) [--xds ADDR] [--admin ADDR]",
		Short: "Serve configuration to proxies over xDS",
		Long: `controlplane serves Envoy's xDS API (ADS) to any number of proxies — lanemesh
proxy, or Envoy. It compiles once per proxy identity and pushes
make-before-break.

With -f, its configuration comes from the watched files and from its admin API
(lanemesh apply); its workloads from WorkloadEntries, health-checked by TCP
probes.

Every proxy authenticates. The control plane writes an operator token (mode
0600) beside its admin token, xds-PORT.token in $LANEMESH_HOME or
~/.config/lanemesh; lanemesh proxy on the same machine finds it by itself,
and --xds-token-file hands it to one elsewhere. Its holder may be served any
identity. In Kubernetes mode a proxy may instead present its pod's projected
service-account token (audience --xds-token-audience): it is checked with a
TokenReview and the proxy is served as that pod, with the pod's namespace and
labels, whatever it claims.

With --kubeconfig (or inside a pod, where the in-cluster configuration is
used), it reads the cluster: the networking.istio.io kinds, Services,
Deployments, Pods and EndpointSlices, as Istio's control plane does. An object
lanemesh refuses is reported on its status and as an Event, and left out; the
last good version of it stays in force. Replicas elect a leader (a Lease) to
write status; every replica serves xDS. It also serves the sidecar-injection
webhook (--injector, TLS with a certificate it issues itself; the CA is kept in
the Secret lanemesh-webhook-ca of --lease-namespace and patched into the
webhook configuration's caBundle).`,
		Example: "  lanemesh controlplane -f mesh/ --xds 127.0.0.1:15010\n  lanemesh controlplane --kubeconfig ~/.kube/config",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) (retErr error) {
			var started startedServer // the injector asks its configuration once it is up
			inCluster := kubeconfig == "" && len(files) == 0 && os.Getenv("KUBERNETES_SERVICE_HOST") != ""
			kubeMode := kubeconfig != "" || inCluster
			switch {
			case kubeMode && len(files) > 0:
				return usageError{fmt.Errorf("controlplane reads either files (-f) or a cluster (--kubeconfig), not both")}
			case !kubeMode:
				if len(files) == 0 {
					return usageError{fmt.Errorf("controlplane needs -f PATH, or --kubeconfig PATH to read a cluster")}
				}
			}
			log, err := proxycmd.NewLogger(stderr, logLevel)
			if err != nil {
				return usageError{err}
			}
			dir, err := guard.HomeDir()
			if err != nil {
				return err
			}
			creds, err := credentialsDir(credsDir)
			if err != nil {
				return usageError{err}
			}
			bo := bootstrap.Options{Paths: files, Load: opt, XDS: xdsAddr, Admin: adminAddr, TokenDir: dir, Logger: log,
				Compile: mesh}
			bo.Compile.Credentials = creds
			var src *kube.Source
			scrapePods := &dashboard.Pods{}
			var restCfg *rest.Config
			if kubeMode {
				if restCfg, err = kubeConfig(kubeconfig); err != nil {
					return err
				}
				rep, err := kube.NewReporter(restCfg, log.With("part", "status"))
				if err != nil {
					return err
				}
				// credentialName names Secrets in a cluster, unless the
				// user keeps credentials in a directory instead.
				fromSecrets := credsDir == ""
				if src, err = kube.New(kube.Options{Config: restCfg, Logger: log.With("part", "kubernetes"), Load: opt, Reporter: rep, Secrets: fromSecrets}); err != nil {
					return err
				}
				if fromSecrets {
					bo.Compile.Credentials = src.Credentials()
				}
				bo.Workloads = src.Workloads()
				// The dashboard reads each pod's proxy over its admin port,
				// as Prometheus would; the pods are known once Start returns.
				bo.Metrics = scrapePods
				// Every reading is an HTTP request to every pod: every 15s
				// (Prometheus's default) while nobody watches.
				bo.MetricsIdle = 15 * time.Second
				bo.Auth = src.Authenticator(audience)
				bo.ReadOnly = "this control plane reads its configuration from Kubernetes: change it with kubectl"
				ctx, cancel := context.WithCancel(cmd.Context())
				defer cancel()
				elected := make(chan struct{})
				go func() {
					defer close(elected)
					identity, _ := os.Hostname()
					identity = fmt.Sprintf("%s-%d", identity, os.Getpid())
					if err := kube.Elect(ctx, restCfg, leaseNS, "lanemesh-controlplane", identity, log, src.SetLeader); err != nil {
						log.Error("leader election", "err", err)
					}
				}()
				// On the way out the lease is released (ReleaseOnCancel), so
				// that the next replica leads at once rather than after it
				// expires (15 s of stale status); the process must wait for
				// that write, within reason.
				defer func() {
					cancel()
					select {
					case <-elected:
					case <-time.After(5 * time.Second):
					}
				}()
				cmd.SetContext(ctx)
				if inj.addr != "" {
					o, err := inj.options(restCfg, leaseNS, log.With("part", "injector"))
					if err != nil {
						return err
					}
					o.Webhook.Config.Inbound = started.inboundCapture
					wait := startInjector(ctx, o, cancel)
					defer func() {
						cancel()
						// A webhook that cannot serve cancels the rest, which
						// then ends with "context canceled": its own error is
						// the one to report.
						if err := wait(); err != nil && (retErr == nil || errors.Is(retErr, context.Canceled)) {
							retErr = err
						}
					}()
				}
			}
			srv, diags, err := bootstrap.Start(cmd.Context(), bo)
			if err == nil {
				scrapePods.Instances = srv.Instances.Instances
			}
			if err != nil {
				if diags.HasErrors() {
					printDiagnostics(stderr, diags.Errors(), "text", files)
					return exitError{ExitFailed}
				}
				return err
			}
			started.Store(srv)
			defer srv.Close()
			printSkipped(stderr, diags)
			if src != nil {
				failed := make(chan error, 1)
				go func() { failed <- src.Run(cmd.Context(), srv.Store, srv.Instances, srv.ControlPlane.Changed) }()
				if err := src.WaitSynced(cmd.Context(), failed); err != nil {
					return err
				}
			}
			fmt.Fprintf(stdout, "xds: %s (operator token in %s)\nadmin: %s (token in %s)\nready\n", srv.XDSAddr(), srv.XDSTokenFile(), srv.AdminURL(), srv.TokenFile())
			return srv.Run(cmd.Context())
		},
	}
	cmd.Flags().StringArrayVarP(&files, "filename", "f", nil, "configuration file or directory (repeatable; watched)")
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", "", "read the configuration and workloads from this cluster (in a pod: the in-cluster configuration)")
	cmd.Flags().StringVar(&leaseNS, "lease-namespace", envOr("POD_NAMESPACE", "istio-system"), "namespace of the leader-election Lease (Kubernetes mode)")
	cmd.Flags().StringVar(&xdsAddr, "xds", "127.0.0.1:15010", "xDS (gRPC) listen address")
	cmd.Flags().StringVar(&audience, "xds-token-audience", kube.DefaultAudience, "Kubernetes mode: the audience of the service-account tokens proxies present (checked by TokenReview)")
	cmd.Flags().StringVar(&adminAddr, "admin", "127.0.0.1:15000", "admin API listen address")
	cmd.Flags().StringVar(&logLevel, "log-level", "warn", "debug, info, warn or error")
	addMeshFlags(cmd.Flags(), &mesh, "")
	cmd.Flags().StringVar(&credsDir, "credentials-dir", "", "directory of the credentials Gateway servers and DestinationRules name with credentialName: NAME/tls.crt, NAME/tls.key and NAME/ca.crt (or NAME-cacert/ca.crt); in Kubernetes mode the default is the Secret of that name in the proxy's namespace")
	addSkipFlag(cmd, &opt.SkipUnsupportedKinds)
	addInjectorFlags(cmd.Flags(), &inj)
	return cmd
}

// kubeConfig loads a kubeconfig file, or the in-cluster configuration when
// path is empty.
func kubeConfig(path string) (*rest.Config, error) {
	if path == "" {
		cfg, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("in-cluster configuration: %w (outside a pod, pass --kubeconfig)", err)
		}
		return cfg, nil
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", path, err)
	}
	return cfg, nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// startedServer is the control plane once bootstrap.Start has returned,
// for the injector, which serves before that.
type startedServer struct {
	atomic.Pointer[bootstrap.Server]
}

// inboundCapture is the injector's Config.Inbound: a pod gets inbound
// capture when its sidecar has lane propagation to do (a permissive lane
// group whose apps do not carry the route header); before the
// configuration is loaded, no pod does.
func (s *startedServer) inboundCapture(namespace string, labels map[string]string) bool {
	srv := s.Load()
	if srv == nil {
		return false
	}
	cfg, _ := srv.Store.Config()
	return cfg != nil && compile.Propagation(cfg, meshxds.Proxy{Role: meshxds.Sidecar, Namespace: namespace, Labels: labels}) != nil
}
