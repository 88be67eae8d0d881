package cli

import (
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lanemesh/lanemesh/internal/capture"
	"github.com/lanemesh/lanemesh/internal/inject"
)

func newIPTables(stdout io.Writer) *cobra.Command {
	var o capture.Options
	var cidrs []string
	var includeInbound, includeCIDRs string
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "iptables [--outbound-port PORT] [--proxy-uid UID] [--dry-run]",
		Short: "Install the rules that capture a pod's outbound traffic for its sidecar",
		Long: `iptables installs, in the network namespace it runs in, the nat rules of
transparent capture: every outbound TCP connection is redirected to the
sidecar's outbound listener on 127.0.0.1, except those of the sidecar's own
user (--proxy-uid), to loopback, to the excluded ports and CIDRs, and, with
--include-outbound-cidrs, to any CIDR it does not list. The
sidecar reads where each connection was going with SO_ORIGINAL_DST, so the
app needs no HTTP_PROXY and no change.

With --inbound-port, inbound TCP connections to the pod are redirected to the
sidecar's inbound listener too (PREROUTING), which passes them on to where
they were going: --include-inbound-ports "*" (every port but the sidecar's
own and --exclude-inbound-ports) or a list of ports, as Istio's
traffic.sidecar.istio.io/includeInboundPorts annotation says it.

It is what the injected init container runs (it needs NET_ADMIN, and the
iptables commands in its image); running it twice leaves one set of rules.
--dry-run prints the iptables-restore input instead.`,
		Example: "  lanemesh iptables --outbound-port 15001 --proxy-uid 1337\n  lanemesh iptables --dry-run --exclude-outbound-ports 5432",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if o.ExcludeCIDRs, err = capture.ParseCIDRs(strings.Join(cidrs, ",")); err != nil {
				return usageError{fmt.Errorf("--exclude-outbound-cidrs: %w", err)}
			}
			if includeCIDRs != "*" {
				if o.IncludeCIDRs, err = capture.ParseCIDRs(includeCIDRs); err != nil {
					return usageError{fmt.Errorf("--include-outbound-cidrs: %w", err)}
				}
				if o.IncludeCIDRs == nil {
					o.IncludeCIDRs = []netip.Prefix{} // "": capture none
				}
			}
			ports, all, err := inject.ParsePorts(includeInbound)
			if err != nil {
				return usageError{fmt.Errorf("--include-inbound-ports: %w", err)}
			}
			switch {
			case !all && len(ports) == 0:
				o.InboundPort = 0 // "": no inbound capture, whatever --inbound-port says
			case o.InboundPort == 0:
				return usageError{fmt.Errorf("--include-inbound-ports %q needs --inbound-port", includeInbound)}
			default:
				o.InboundPorts = ports
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
	fl.StringVar(&includeCIDRs, "include-outbound-cidrs", "*", `destination IPv4 CIDRs captured, comma-separated: "*" for all, "" for none`)
	fl.IntVar(&o.InboundPort, "inbound-port", 15006, "the sidecar's inbound listener port, where captured inbound connections go")
	fl.StringVar(&includeInbound, "include-inbound-ports", "", `inbound ports captured: "*" for all, a comma-separated list, or "" for none`)
	fl.IntSliceVar(&o.ExcludeInboundPorts, "exclude-inbound-ports", nil, "inbound ports never captured")
	fl.BoolVar(&dryRun, "dry-run", false, "print the rules instead of installing them")
	return cmd
}
