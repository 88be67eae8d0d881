package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/spf13/cobra"

	"github.com/lanemesh/lanemesh/internal/admin"
	"github.com/lanemesh/lanemesh/internal/xdsserver"
)

func newProxyStatus(stdout io.Writer) *cobra.Command {
	var c client
	var ns string
	cmd := &cobra.Command{
		Use:     "proxy-status [POD[.NAMESPACE]]",
		Aliases: []string{"ps"},
		Short:   "Show whether each connected proxy is in step with the control plane, per xDS type",
		Long: `proxy-status lists the proxies connected to the control plane with istioctl's
columns. For each xDS type (CDS, LDS, EDS, RDS): SYNCED, the proxy ACKed the
latest response it was sent and that is the configuration it is due; NOT SENT,
nothing of the type was sent and nothing is due; STALE, the proxy has not (yet)
ACKed what it was sent or is due: it is catching up, or it rejected it
(lanemesh get proxies shows the rejection).`,
		Example: "  lanemesh proxy-status\n  lanemesh proxy-status ingressgateway.istio-system",
		Args:    cobra.MaximumNArgs(1),
		ValidArgsFunction: func(_ *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
			return completeProxies(&c, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			var list []xdsserver.ProxyStatus
			if _, err := c.do("GET", "/v1/proxies", nil, nil, &list); err != nil {
				return err
			}
			if len(args) == 1 {
				p, err := resolveProxy(list, args[0], ns)
				if err != nil {
					return err
				}
				list = []xdsserver.ProxyStatus{p}
			}
			var sv admin.ServerVersion
			c.do("GET", "/v1/version", nil, nil, &sv)
			tw := tabwriter.NewWriter(stdout, 0, 8, 3, ' ', 0)
			fmt.Fprintln(tw, "NAME\tCLUSTER\tCDS\tLDS\tEDS\tRDS\tISTIOD\tVERSION")
			for _, p := range list {
				if !p.Connected {
					continue
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", proxyName(p), orDash1(p.Cluster),
					p.Sync[resourcev3.ClusterType], p.Sync[resourcev3.ListenerType], p.Sync[resourcev3.EndpointType],
					p.Sync[resourcev3.RouteType], orDash1(sv.ControlPlane), orDash1(p.Agent))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVarP(&ns, "namespace", "n", "", "namespace of POD (default: POD's .NAMESPACE, else any)")
	addServerFlag(cmd, &c)
	return cmd
}

// proxyName is istioctl's NAME for a proxy: pod.namespace for lanemesh's
// node ids (ROLE~NAMESPACE/NAME), else the node id.
func proxyName(p xdsserver.ProxyStatus) string {
	if ns, name, ok := nodeNamespaceName(p.ID); ok {
		return name + "." + ns
	}
	return p.ID
}

// nodeNamespaceName reads the namespace and pod of lanemesh's node ids
// ("sidecar~default/mocka-v1-0") and of Istio's
// ("sidecar~10.0.0.1~mocka-v1-0.default~default.svc.cluster.local").
func nodeNamespaceName(id string) (ns, name string, ok bool) {
	parts := strings.Split(id, "~")
	switch len(parts) {
	case 2:
		ns, name, ok = strings.Cut(parts[1], "/")
		return ns, name, ok && ns != "" && name != ""
	case 4:
		name, ns, ok = strings.Cut(parts[2], ".")
		return ns, name, ok
	}
	return "", "", false
}

// resolveProxy finds the proxy a user names as istioctl does: POD.NAMESPACE,
// POD with -n, POD alone if only one namespace has it, or a node id.
func resolveProxy(list []xdsserver.ProxyStatus, arg, ns string) (xdsserver.ProxyStatus, error) {
	for _, p := range list {
		if p.ID == arg {
			return p, nil
		}
	}
	name := arg
	if ns == "" {
		if n, s, ok := strings.Cut(arg, "."); ok {
			name, ns = n, s
		}
	}
	var found []xdsserver.ProxyStatus
	for _, p := range list {
		pns, pname, ok := nodeNamespaceName(p.ID)
		if ok && pname == name && (ns == "" || pns == ns) {
			found = append(found, p)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return xdsserver.ProxyStatus{}, fmt.Errorf("no proxy %q is connected: lanemesh proxy-status lists them (write POD.NAMESPACE or a node id)", arg)
	}
	return xdsserver.ProxyStatus{}, fmt.Errorf("%q names proxies in several namespaces: write POD.NAMESPACE", arg)
}

// completeProxies completes the connected proxies' names.
func completeProxies(c *client, args []string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var list []xdsserver.ProxyStatus
	c.do("GET", "/v1/proxies", nil, nil, &list)
	var out []string
	for _, p := range list {
		if p.Connected {
			out = append(out, proxyName(p))
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}
