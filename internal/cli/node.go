package cli

import (
	"fmt"
	"io"
	"net/netip"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"

	"github.com/lanemesh/lanemesh/internal/local"
	"github.com/lanemesh/lanemesh/internal/node"
	"github.com/lanemesh/lanemesh/internal/proxycmd"
)

func newNode(stdout, stderr io.Writer) *cobra.Command {
	var kubeconfig, podCIDR, logLevel string
	var opts node.Options
	cmd := &cobra.Command{
		Use:   "node --kubeconfig PATH [--name NAME] [--pod-cidr CIDR]",
		Short: "Run the pods a Kubernetes API server binds to this machine (a rehearsal kubelet)",
		Long: `node registers this machine as a Kubernetes Node and runs the pods the
scheduler binds to it as local processes, so that a real API server, its
controllers and kubectl work without a container runtime: a rehearsal of a
cluster on one machine.

Image lanemesh/mock runs the built-in mock app; an image of lanemesh's own
(--lanemesh-image) runs this lanemesh binary with the container's args, as an
injected sidecar; any other image runs its command and args. Each pod gets its
own loopback address (127.0.x.y from --pod-cidr, locked as lanemesh up locks
its range), reported as status.podIP, and readiness from its probes. A pod's
volumes are written under --dir; a file a container would see at path P is at
$LANEMESH_POD_ROOT/P for its processes, including the service-account token,
issued by the TokenRequest API bound to the pod. Deleted pods get SIGTERM and
their grace period, then their object is removed.`,
		Example: "  lanemesh node --kubeconfig ~/.kube/config\n  lanemesh node --kubeconfig kubeconfig --name rehearsal --pod-cidr 127.0.9.0/24",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if kubeconfig == "" {
				return usageError{fmt.Errorf("node needs --kubeconfig PATH: the cluster to register with")}
			}
			log, err := proxycmd.NewLogger(stderr, logLevel)
			if err != nil {
				return usageError{err}
			}
			var want netip.Prefix
			if podCIDR != "" {
				if want, err = local.ParsePodCIDR(podCIDR); err != nil {
					return usageError{err}
				}
			}
			cfg, err := kubeConfig(kubeconfig)
			if err != nil {
				return err
			}
			// A kubelet's rates: the default 5 requests/s would queue the
			// token requests and status writes of a Deployment's pods.
			cfg.QPS, cfg.Burst = 50, 100
			client, err := kubernetes.NewForConfig(cfg)
			if err != nil {
				return fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
			}
			pr, err := local.ClaimPodRange(want, "")
			if err != nil {
				return err
			}
			defer pr.Close()
			opts.PodRange, opts.Logger, opts.APIServer = pr, log, cfg.Host
			n, err := node.New(client, opts)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "node: %s\npods: %s\n", n.Name(), pr.Prefix)
			return n.Run(cmd.Context())
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&kubeconfig, "kubeconfig", "", "the cluster to register with")
	fl.StringVar(&opts.Name, "name", "", "the Node's name (default: this machine's host name)")
	fl.StringVar(&podCIDR, "pod-cidr", "", "loopback range for pod addresses, e.g. 127.0.9.0/24; empty picks the first free /24 from 127.0.1.0/24")
	fl.StringVar(&opts.Dir, "dir", "", "directory for the pods' volumes and logs (default: a temporary one, removed at exit)")
	fl.StringSliceVar(&opts.OwnImages, "lanemesh-image", []string{"lanemesh/lanemesh"}, "image repositories that run this lanemesh binary (any tag or registry in front)")
	fl.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	return cmd
}
