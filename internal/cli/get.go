package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strings"
	"text/tabwriter"

	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/lanemesh/lanemesh/api"
	"github.com/lanemesh/lanemesh/internal/admin"
	"github.com/lanemesh/lanemesh/internal/xdsserver"
)

func newGet(stdout io.Writer) *cobra.Command {
	var c client
	var ns, output string
	var all bool
	cmd := &cobra.Command{
		Use:   "get KIND [NAME] [-n NS] [-o wide|yaml|json]",
		Short: "List objects, pods or proxies of a running lanemesh up",
		Long: `get lists what a running lanemesh up holds: pods, deployments, services,
gateways, virtualservices (vs), destinationrules (dr), serviceentries (se),
workloadentries (we), and proxies — with their xDS state and any rejected
(NACKed) configuration.`,
		Example: "  lanemesh get pods\n  lanemesh get vs -n istio-system -o yaml\n  lanemesh get proxies",
		Args:    cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if all {
				ns = ""
			}
			name := ""
			if len(args) == 2 {
				name = args[1]
			}
			switch strings.ToLower(args[0]) {
			case "pods", "pod", "po":
				return getPods(&c, stdout, ns, name, output)
			case "proxies", "proxy":
				return getProxies(&c, stdout, output)
			}
			return getObjects(&c, stdout, args[0], ns, name, output)
		},
	}
	cmd.Flags().StringVarP(&ns, "namespace", "n", "", "namespace (default: all)")
	cmd.Flags().BoolVarP(&all, "all-namespaces", "A", false, "all namespaces")
	cmd.Flags().StringVarP(&output, "output", "o", "", "wide, yaml or json")
	addServerFlag(cmd, &c)
	return cmd
}

func getRaw(c *client, w io.Writer, path string, q url.Values, output string) error {
	var raw []byte
	if _, err := c.do("GET", path, q, nil, &raw); err != nil {
		return err
	}
	if output == "yaml" {
		return printYAML(w, raw)
	}
	_, err := w.Write(raw)
	return err
}

// getProxies lists the proxies connected to the control plane, with the
// versions they accepted and their last rejection: a NACK is never silent.
func getProxies(c *client, w io.Writer, output string) error {
	if output == "json" || output == "yaml" {
		return getRaw(c, w, "/v1/proxies", nil, output)
	}
	var list []xdsserver.ProxyStatus
	if _, err := c.do("GET", "/v1/proxies", nil, nil, &list); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "ID\tCONNECTED\tCDS\tLDS\tRDS\tEDS\tLAST NACK")
	for _, p := range list {
		nack := "-"
		if n := p.LastNACK; n != nil {
			nack = fmt.Sprintf("%s %s at %s: %s", shortType(n.TypeURL), n.Version, n.Time.Format("15:04:05"), n.Message)
		}
		fmt.Fprintf(tw, "%s\t%v\t%s\t%s\t%s\t%s\t%s\n", p.ID, p.Connected, p.Acked[resourcev3.ClusterType],
			p.Acked[resourcev3.ListenerType], p.Acked[resourcev3.RouteType], p.Acked[resourcev3.EndpointType], nack)
	}
	return tw.Flush()
}

func shortType(url string) string {
	return url[strings.LastIndex(url, ".")+1:]
}

func getPods(c *client, w io.Writer, ns, name, output string) error {
	var pods []admin.Pod
	if _, err := c.do("GET", "/v1/pods", nil, nil, &pods); err != nil {
		return err
	}
	var keep []admin.Pod
	for _, p := range pods {
		if (ns == "" || p.Namespace == ns) && (name == "" || p.Name == name) {
			keep = append(keep, p)
		}
	}
	if output == "json" || output == "yaml" {
		b, _ := json.Marshal(keep)
		return printStructured(w, b, output)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tNAME\tREADY\tSTATUS\tRESTARTS\tIP"+wideCols(output, "\tOWNER"))
	for _, p := range keep {
		ready := "0/1"
		if p.Ready {
			ready = "1/1"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s%s\n", p.Namespace, p.Name, ready, p.Phase, p.Restarts, p.IP, wideCols(output, "\t"+p.Owner))
	}
	return tw.Flush()
}

func wideCols(output, cols string) string {
	if output == "wide" {
		return cols
	}
	return ""
}

func getObjects(c *client, w io.Writer, kindArg, ns, name, output string) error {
	kind, ok := admin.Kind(kindArg)
	if !ok {
		return usageError{fmt.Errorf("unknown kind %q: use pods, deployments, services, gateways, virtualservices, destinationrules, serviceentries, workloadentries or proxies", kindArg)}
	}
	q := url.Values{"namespace": {ns}, "name": {name}}
	var raw []byte
	code, err := c.do("GET", "/v1/objects/"+kindArg, q, nil, &raw)
	if err != nil {
		return err
	}
	if code >= 400 {
		var e struct{ Error string }
		json.Unmarshal(raw, &e)
		return fmt.Errorf("%s", e.Error)
	}
	if output == "json" || output == "yaml" {
		return printStructured(w, raw, output)
	}
	var pods []admin.Pod
	if kind == "Deployment" {
		c.do("GET", "/v1/pods", nil, nil, &pods)
	}
	return printTable(w, kind, raw, pods)
}

// printTable prints one line per object with the columns that matter for
// its kind.
func printTable(w io.Writer, kind string, raw []byte, pods []admin.Pod) error {
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	var header string
	var rows []string
	decode := func(v any) error { return json.Unmarshal(raw, v) }
	switch kind {
	case "Deployment":
		var list []api.Deployment
		if err := decode(&list); err != nil {
			return err
		}
		header = "NAMESPACE\tNAME\tREADY\tLABELS"
		for _, d := range list {
			ready := 0
			for _, p := range pods {
				if p.Owner == "Deployment/"+d.Metadata.Name && p.Namespace == d.Metadata.Namespace && p.Ready {
					ready++
				}
			}
			rows = append(rows, fmt.Sprintf("%s\t%s\t%d/%d\t%s", d.Metadata.Namespace, d.Metadata.Name, ready, d.Spec.ReplicaCount(), labels(d.Spec.Template.Metadata.Labels)))
		}
	case "VirtualService":
		var list []api.VirtualService
		if err := decode(&list); err != nil {
			return err
		}
		header = "NAMESPACE\tNAME\tGATEWAYS\tHOSTS\tRULES"
		for _, v := range list {
			rows = append(rows, fmt.Sprintf("%s\t%s\t%s\t%s\t%d", v.Metadata.Namespace, v.Metadata.Name, orDash(v.Spec.Gateways), orDash(v.Spec.Hosts), len(v.Spec.HTTP)))
		}
	case "DestinationRule":
		var list []api.DestinationRule
		if err := decode(&list); err != nil {
			return err
		}
		header = "NAMESPACE\tNAME\tHOST\tSUBSETS"
		for _, d := range list {
			var subsets []string
			for _, s := range d.Spec.Subsets {
				subsets = append(subsets, s.Name)
			}
			rows = append(rows, fmt.Sprintf("%s\t%s\t%s\t%s", d.Metadata.Namespace, d.Metadata.Name, d.Spec.Host, orDash(subsets)))
		}
	default:
		var list []struct{ Metadata api.ObjectMeta }
		if err := decode(&list); err != nil {
			return err
		}
		header = "NAMESPACE\tNAME"
		for _, o := range list {
			rows = append(rows, o.Metadata.Namespace+"\t"+o.Metadata.Name)
		}
	}
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		fmt.Fprintln(tw, r)
	}
	return tw.Flush()
}

func labels(m map[string]string) string {
	parts := make([]string, 0, len(m))
	for k, v := range m {
		parts = append(parts, k+"="+v)
	}
	sort.Strings(parts)
	return orDash(parts)
}

func orDash(list []string) string {
	if len(list) == 0 {
		return "-"
	}
	return strings.Join(list, ",")
}

func printStructured(w io.Writer, raw []byte, output string) error {
	if output == "yaml" {
		return printYAML(w, raw)
	}
	_, err := w.Write(raw)
	return err
}

// printYAML re-renders JSON as block-style YAML, keeping key order.
func printYAML(w io.Writer, raw []byte) error {
	var n yaml.Node
	if err := yaml.Unmarshal(raw, &n); err != nil {
		return err
	}
	blockStyle(&n)
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	return enc.Encode(&n)
}

func blockStyle(n *yaml.Node) {
	n.Style &^= yaml.FlowStyle
	if n.Kind == yaml.ScalarNode && n.Tag == "!!str" {
		n.Style &^= yaml.DoubleQuotedStyle
	}
	for _, c := range n.Content {
		blockStyle(c)
	}
}
