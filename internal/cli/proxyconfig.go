package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strings"
	"text/tabwriter"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/lanemesh/lanemesh/internal/admin"
	"github.com/lanemesh/lanemesh/internal/meshxds"
	"github.com/lanemesh/lanemesh/internal/xdsserver"
)

// proxyConfigTypes maps proxy-config's TYPE argument to an xDS type URL.
var proxyConfigTypes = map[string]string{
	"clusters": resourcev3.ClusterType, "cluster": resourcev3.ClusterType, "c": resourcev3.ClusterType,
	"listeners": resourcev3.ListenerType, "listener": resourcev3.ListenerType, "l": resourcev3.ListenerType,
	"routes": resourcev3.RouteType, "route": resourcev3.RouteType, "r": resourcev3.RouteType,
	"endpoints": resourcev3.EndpointType, "endpoint": resourcev3.EndpointType, "ep": resourcev3.EndpointType,
}

func newProxyConfig(stdout io.Writer) *cobra.Command {
	var c client
	var ns, output string
	cmd := &cobra.Command{
		Use:     "proxy-config routes|clusters|endpoints|listeners POD[.NAMESPACE] [-o json|yaml]",
		Aliases: []string{"pc"},
		Short:   "Show the xDS configuration the control plane serves one proxy",
		Long: `proxy-config shows what the control plane serves one proxy — a sidecar (by its
pod) or the gateway (ingressgateway.istio-system) — as istioctl proxy-config
does: a table by default, the resources themselves with -o json or -o yaml.
It is the control plane's view: what the proxy was given, which is what it
runs once proxy-status says SYNCED.`,
		Example: "  lanemesh proxy-config routes ingressgateway.istio-system\n  lanemesh proxy-config clusters mocka-v2-0 -o json",
		Args:    cobra.ExactArgs(2),
		ValidArgsFunction: func(_ *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
			if len(args) == 0 {
				return []string{"clusters", "endpoints", "listeners", "routes"}, cobra.ShellCompDirectiveNoFileComp
			}
			return completeProxies(&c, args[1:])
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			typ, ok := proxyConfigTypes[strings.ToLower(args[0])]
			if !ok {
				return usageError{fmt.Errorf("unknown type %q: use clusters, endpoints, listeners or routes", args[0])}
			}
			if output != "" && output != "json" && output != "yaml" {
				return usageError{fmt.Errorf("-o must be json or yaml, not %q", output)}
			}
			var list []xdsserver.ProxyStatus
			if _, err := c.do("GET", "/v1/proxies", nil, nil, &list); err != nil {
				return err
			}
			p, err := resolveProxy(list, args[1], ns)
			if err != nil {
				return err
			}
			var pc admin.ProxyConfig
			if _, err := c.do("GET", "/v1/proxy-config", url.Values{"node": {p.ID}, "type": {typ}}, nil, &pc); err != nil {
				return err
			}
			if output != "" {
				b, err := json.Marshal(pc.Resources)
				if err != nil {
					return err
				}
				if output == "yaml" {
					return printYAML(stdout, b)
				}
				return printJSON(stdout, b)
			}
			return printProxyConfig(stdout, typ, pc.Resources)
		},
	}
	cmd.Flags().StringVarP(&ns, "namespace", "n", "", "namespace of POD (default: POD's .NAMESPACE, else any)")
	cmd.Flags().StringVarP(&output, "output", "o", "", "json or yaml (default: a table)")
	addServerFlag(cmd, &c)
	return cmd
}

// decodeResources reads resources in protobuf JSON (with @type) into
// messages made by newMsg.
func decodeResources[M proto.Message](raw []json.RawMessage, newMsg func() M) ([]M, error) {
	var out []M
	for _, r := range raw {
		var a anypb.Any
		if err := protojson.Unmarshal(r, &a); err != nil {
			return nil, fmt.Errorf("unexpected resource from the server: %w", err)
		}
		m := newMsg()
		if err := a.UnmarshalTo(m); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// printProxyConfig prints resources as istioctl's tables do.
func printProxyConfig(w io.Writer, typ string, raw []json.RawMessage) error {
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	var err error
	switch typ {
	case resourcev3.ClusterType:
		err = clusterTable(tw, raw)
	case resourcev3.ListenerType:
		err = listenerTable(tw, raw)
	case resourcev3.RouteType:
		err = routeTable(tw, raw)
	case resourcev3.EndpointType:
		err = endpointTable(tw, raw)
	}
	if err != nil {
		return err
	}
	return tw.Flush()
}

func clusterTable(w io.Writer, raw []json.RawMessage) error {
	clusters, err := decodeResources(raw, func() *clusterv3.Cluster { return &clusterv3.Cluster{} })
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "SERVICE FQDN\tPORT\tSUBSET\tDIRECTION\tTYPE\tMEMBERS")
	for _, cl := range clusters {
		fqdn, port, subset, dir := cl.GetName(), "-", "-", "-"
		if p, s, h, ok := meshxds.ParseClusterName(cl.GetName()); ok {
			fqdn, port, subset, dir = h, fmt.Sprint(p), orDash1(s), "outbound"
		}
		typ, members := cl.GetType().String(), "-"
		if ct := cl.GetClusterType(); ct != nil {
			typ = "AGGREGATE"
			if primary, fallback, ok := meshxds.SplitFallbackName(cl.GetName()); ok {
				_, ps, ph, _ := meshxds.ParseClusterName(primary)
				_, fs, fh, _ := meshxds.ParseClusterName(fallback)
				fqdn, port, subset, dir = ph, "-", ps, "outbound"
				if p, _, _, ok := meshxds.ParseClusterName(primary); ok {
					port = fmt.Sprint(p)
				}
				members = primary + " then " + fallback
				if fh == ph {
					subset = ps + ">" + fs
				}
			}
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", fqdn, port, subset, dir, typ, members)
	}
	return nil
}

func listenerTable(w io.Writer, raw []json.RawMessage) error {
	listeners, err := decodeResources(raw, func() *listenerv3.Listener { return &listenerv3.Listener{} })
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "NAME\tADDRESSES\tPORT\tMATCH\tDESTINATION")
	for _, l := range listeners {
		sa := l.GetAddress().GetSocketAddress()
		for _, fc := range l.GetFilterChains() {
			fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\n", l.GetName(), sa.GetAddress(), sa.GetPortValue(), chainMatch(fc.GetFilterChainMatch()), chainDestination(fc))
		}
	}
	return nil
}

// chainMatch says what a filter chain matches: ALL, or its SNI names.
func chainMatch(m *listenerv3.FilterChainMatch) string {
	if m == nil {
		return "ALL"
	}
	var parts []string
	if sni := m.GetServerNames(); len(sni) > 0 {
		parts = append(parts, "SNI: "+strings.Join(sni, ","))
	}
	if tp := m.GetTransportProtocol(); tp != "" {
		parts = append(parts, "Trans: "+tp)
	}
	if len(parts) == 0 {
		return "ALL"
	}
	return strings.Join(parts, "; ")
}

// chainDestination names where a filter chain sends requests: its HTTP
// connection manager's route configuration.
func chainDestination(fc *listenerv3.FilterChain) string {
	for _, f := range fc.GetFilters() {
		var hcm hcmv3.HttpConnectionManager
		if tc := f.GetTypedConfig(); tc != nil && tc.UnmarshalTo(&hcm) == nil {
			if rds := hcm.GetRds(); rds != nil {
				return "Route: " + rds.GetRouteConfigName()
			}
			return "Inline Route: " + hcm.GetRouteConfig().GetName()
		}
	}
	return "-"
}

func routeTable(w io.Writer, raw []json.RawMessage) error {
	configs, err := decodeResources(raw, func() *routev3.RouteConfiguration { return &routev3.RouteConfiguration{} })
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "NAME\tVHOST NAME\tDOMAINS\tMATCH\tVIRTUAL SERVICE\tDESTINATION")
	for _, rc := range configs {
		for _, vh := range rc.GetVirtualHosts() {
			for _, r := range vh.GetRoutes() {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", rc.GetName(), vh.GetName(), domains(vh.GetDomains()), routeMatch(r), routeVS(r), routeDestination(r))
			}
			if len(vh.GetRoutes()) == 0 {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", rc.GetName(), vh.GetName(), domains(vh.GetDomains()), "-", "-", "-")
			}
		}
	}
	return nil
}

// domains abbreviates a virtual host's domains as istioctl does.
func domains(d []string) string {
	switch len(d) {
	case 0:
		return "-"
	case 1:
		return d[0]
	}
	return fmt.Sprintf("%s +%d more...", d[0], len(d)-1)
}

// routeMatch is a route's path match and its other conditions, counted.
func routeMatch(r *routev3.Route) string {
	m := r.GetMatch()
	var s string
	switch {
	case m.GetPath() != "":
		s = m.GetPath()
	case m.GetPrefix() != "":
		s = m.GetPrefix() + "*"
	case m.GetSafeRegex() != nil:
		s = "~" + m.GetSafeRegex().GetRegex()
	case m.GetPathSeparatedPrefix() != "":
		s = m.GetPathSeparatedPrefix() + "/*"
	default:
		s = "/*"
	}
	if n := len(m.GetHeaders()) + len(m.GetQueryParameters()); n > 0 {
		s += fmt.Sprintf(" (+%d)", n)
	}
	return s
}

// routeVS is the VirtualService a route came from, from lanemesh's route
// metadata ("NS/NAME" → "NAME.NS" as istioctl prints it).
func routeVS(r *routev3.Route) string {
	f := r.GetMetadata().GetFilterMetadata()[meshxds.MetadataKey].GetFields()
	vs := f["virtualService"].GetStringValue()
	if ns, name, ok := strings.Cut(vs, "/"); ok {
		return name + "." + ns
	}
	return "-"
}

// routeDestination is where a route sends requests.
func routeDestination(r *routev3.Route) string {
	switch a := r.GetAction().(type) {
	case *routev3.Route_Route:
		if cl := a.Route.GetCluster(); cl != "" {
			return cl
		}
		var parts []string
		for _, wc := range a.Route.GetWeightedClusters().GetClusters() {
			parts = append(parts, fmt.Sprintf("%s (%d)", wc.GetName(), wc.GetWeight().GetValue()))
		}
		return orDash(parts)
	case *routev3.Route_Redirect:
		return "redirect"
	case *routev3.Route_DirectResponse:
		return fmt.Sprintf("direct response %d", a.DirectResponse.GetStatus())
	}
	return "-"
}

func endpointTable(w io.Writer, raw []json.RawMessage) error {
	cla, err := decodeResources(raw, func() *endpointv3.ClusterLoadAssignment { return &endpointv3.ClusterLoadAssignment{} })
	if err != nil {
		return err
	}
	type row struct{ ep, status, pod, cluster string }
	var rows []row
	for _, a := range cla {
		for _, le := range a.GetEndpoints() {
			for _, e := range le.GetLbEndpoints() {
				sa := e.GetEndpoint().GetAddress().GetSocketAddress()
				status := e.GetHealthStatus()
				if status == corev3.HealthStatus_UNKNOWN {
					status = corev3.HealthStatus_HEALTHY // Envoy's reading of UNKNOWN
				}
				pod := e.GetMetadata().GetFilterMetadata()[meshxds.MetadataKey].GetFields()["pod"].GetStringValue()
				rows = append(rows, row{fmt.Sprintf("%s:%d", sa.GetAddress(), sa.GetPortValue()), status.String(), orDash1(pod), a.GetClusterName()})
			}
		}
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].cluster < rows[j].cluster })
	fmt.Fprintln(w, "ENDPOINT\tSTATUS\tPOD\tCLUSTER")
	for _, r := range rows {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", r.ep, r.status, r.pod, r.cluster)
	}
	return nil
}
