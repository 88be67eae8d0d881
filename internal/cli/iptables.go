package cli

import (
	"fmt"
	"io"
	"net/netip"

	"github.com/spf13/cobra"

	"github.com/lanemesh/lanemesh/internal/capture"
)

func newIPTables(stdout io.Writer) *cobra.Command {
	var o capture.Options
	var cidrs []string
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "iptables [--outbound-port PORT] [--proxy-uid UID] [--dry-run]",
		Short: "Install the rules that capture a pod's outbound traffic for its sidecar",
		Long: `iptables installs, in the network namespace it runs in, the nat rules of
transparent capture: every outbound TCP connection is redirected to the
sidecar's outbound listener on 127.0.0.1, except those of the sidecar's own
user (--proxy-uid), to loopback, and to the excluded ports and CIDRs. The
sidecar reads where each connection was going with SO_ORIGINAL_DST, so the
app needs no HTTP_PROXY and no change.

It is what the injected init container runs (it needs NET_ADMIN, and the
iptables commands in its image); running it twice leaves one set of rules.
--dry-run prints the iptables-restore input instead.`,
		Example: "  lanemesh iptables --outbound-port 15001 --proxy-uid 1337\n  lanemesh iptables --dry-run --exclude-outbound-ports 5432",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, c := range cidrs {
				p, err := netip.ParsePrefix(c)
				if err != nil {
					return usageError{fmt.Errorf("--exclude-outbound-cidrs: %w", err)}
				}
				o.ExcludeCIDRs = append(o.ExcludeCIDRs, p)
			}
			if err := o.Validate(); err != nil {
				return usageError{err}
			}
			if dryRun {
				_, err := io.WriteString(stdout, capture.Rules(o, capture.Jumps{Output: true, Prerouting: true}))
				return err
			}
			return capture.Install(cmd.Context(), o)
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&o.OutboundPort, "outbound-port", 15001, "the sidecar's outbound listener port on 127.0.0.1")
	fl.IntVar(&o.ProxyUID, "proxy-uid", 1337, "the uid the sidecar runs as; its connections are not captured")
	fl.IntSliceVar(&o.ExcludePorts, "exclude-outbound-ports", nil, "destination ports not captured")
	fl.StringSliceVar(&cidrs, "exclude-outbound-cidrs", nil, "destination IPv4 CIDRs not captured")
	fl.BoolVar(&dryRun, "dry-run", false, "print the rules instead of installing them")
	return cmd
}
