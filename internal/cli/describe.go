package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/spf13/cobra"

	"github.com/lanemesh/lanemesh/api"
	"github.com/lanemesh/lanemesh/internal/admin"
	"github.com/lanemesh/lanemesh/internal/config"
	"github.com/lanemesh/lanemesh/internal/controlplane"
	"github.com/lanemesh/lanemesh/internal/events"
	"github.com/lanemesh/lanemesh/internal/meshxds"
	"github.com/lanemesh/lanemesh/internal/xdsserver"
)

func newDescribe(stdout io.Writer, now func() time.Time) *cobra.Command {
	var c client
	var ns string
	var tail int
	cmd := &cobra.Command{
		Use:   "describe TYPE NAME | TYPE/NAME [-n NS]",
		Short: "Show one object or pod in detail, with what it does in the running mesh",
		Long: `describe shows one object as kubectl describe does, with what it means in the
running mesh: for a pod, its labels, IP, readiness, restarts, its sidecar's xDS
state and the tail of its app's and sidecar's logs; for a VirtualService, its
hosts, gateways and rules (matches, destinations, fallbacks) and the proxies
that were given its routes; for a DestinationRule, its subsets and how many
pods each selects; for an ASMSwimLaneGroup, its mode and, per lane, the
services it holds (or the baseline a hop goes to instead), its ready pods
and the objects the group generates; for every object, who wrote it last
and its events (a
watched file's edit that overrode an apply).`,
		Example: "  lanemesh describe vs mockb -n istio-system\n  lanemesh describe pod/mockb-v2-0",
		Args:    cobra.RangeArgs(1, 2),
		ValidArgsFunction: func(_ *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
			if len(args) > 1 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return completeGetArgs(&c, args, toComplete)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			reqs, err := parseGetArgs(args)
			if err != nil {
				return usageError{err}
			}
			if len(reqs) != 1 || len(reqs[0].names) != 1 {
				return usageError{fmt.Errorf("describe takes one TYPE NAME or TYPE/NAME")}
			}
			d := describer{c: &c, w: stdout, now: now(), tail: tail}
			return d.describe(reqs[0].resource, ns, reqs[0].names[0])
		},
	}
	cmd.Flags().StringVarP(&ns, "namespace", "n", "", "namespace (default: the only object of that name, else default)")
	cmd.Flags().IntVar(&tail, "tail", 5, "log lines shown per container of a pod")
	addServerFlag(cmd, &c)
	return cmd
}

// describer prints one description.
type describer struct {
	c    *client
	w    io.Writer
	now  time.Time
	tail int
}

func (d describer) describe(resource, ns, name string) error {
	switch resource {
	case "pods":
		return d.pod(ns, name)
	case "proxies", "events":
		return usageError{fmt.Errorf("describe takes a pod or an object; lanemesh get %s lists those", resource)}
	}
	obj, err := d.find(resource, ns, name)
	if err != nil {
		return err
	}
	it, err := decodeItem(resource, obj)
	if err != nil {
		return err
	}
	d.header(it)
	switch resource {
	case "VirtualService":
		err = d.virtualService(it)
	case "DestinationRule":
		err = d.destinationRule(it)
	case "ASMSwimLaneGroup":
		err = d.laneGroup(it)
	default:
		err = d.spec(it)
	}
	if err == nil {
		err = d.podsOf(it)
	}
	if err != nil {
		return err
	}
	return d.events(it.kind, it.namespace, it.name)
}

// find fetches one object; without -n, the only one of that name.
func (d describer) find(kind, ns, name string) (json.RawMessage, error) {
	var list []json.RawMessage
	if _, err := d.c.do("GET", "/v1/objects/"+kind, url.Values{"namespace": {ns}, "name": {name}}, nil, &list); err != nil {
		return nil, err
	}
	if len(list) > 1 {
		var where []string
		for _, o := range list {
			it, _ := decodeItem(kind, o)
			where = append(where, it.namespace)
		}
		return nil, usageError{fmt.Errorf("%s %q is in namespaces %s: give -n", strings.ToLower(kind), name, strings.Join(where, ", "))}
	}
	return list[0], nil
}

// header prints what every object has: name, namespace, labels,
// annotations, age and who wrote it last.
func (d describer) header(it item) {
	tw := tabwriter.NewWriter(d.w, 0, 8, 1, ' ', 0)
	fmt.Fprintf(tw, "Name:\t%s\nNamespace:\t%s\nKind:\t%s\nLabels:\t%s\n", it.name, it.namespace, it.kind, labelLines(it.labels))
	var m controlplane.Meta
	if _, err := d.c.do("GET", "/v1/meta", url.Values{"kind": {it.kind}, "namespace": {it.namespace}, "name": {it.name}}, nil, &m); err == nil {
		fmt.Fprintf(tw, "Created:\t%s (%s ago)\n", m.Created.UTC().Format(time.RFC3339), age(m.Created, d.now))
		if m.By != "" {
			fmt.Fprintf(tw, "Last written by:\t%s at %s\n", m.By, m.Updated.UTC().Format(time.RFC3339))
		}
	}
	tw.Flush()
}

// labelLines prints labels one per line, as kubectl describe does.
func labelLines(m map[string]string) string {
	if len(m) == 0 {
		return "<none>"
	}
	s := labelsString(m)
	return strings.ReplaceAll(s, ",", "\n\t")
}

// spec prints the object's spec as YAML, for kinds without a summary.
func (d describer) spec(it item) error {
	var obj struct {
		Spec json.RawMessage `json:"spec"`
	}
	if err := json.Unmarshal(it.object, &obj); err != nil {
		return err
	}
	fmt.Fprintln(d.w, "Spec:")
	var b strings.Builder
	if err := printYAML(&b, obj.Spec); err != nil {
		return err
	}
	fmt.Fprint(d.w, indent(b.String(), "  "))
	return nil
}

func indent(s, prefix string) string {
	lines := strings.SplitAfter(s, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = prefix + l
		}
	}
	return strings.Join(lines, "")
}

// virtualService prints hosts, gateways, each rule and the proxies that
// were given its routes.
func (d describer) virtualService(it item) error {
	var vs api.VirtualService
	if err := json.Unmarshal(it.object, &vs); err != nil {
		return err
	}
	gws := vs.Spec.Gateways
	if len(gws) == 0 {
		gws = []string{"mesh (every sidecar)"}
	}
	w := tabwriter.NewWriter(d.w, 0, 8, 1, ' ', 0)
	fmt.Fprintf(w, "Hosts:\t%s\nGateways:\t%s\nRules:\n", strings.Join(vs.Spec.Hosts, ", "), strings.Join(gws, ", "))
	if err := printRules(w, vs.Spec.HTTP); err != nil {
		return err
	}
	return d.appliesTo(it.namespace + "/" + it.name)
}

// printRules prints a VirtualService's HTTP rules.
func printRules(tw *tabwriter.Writer, rules []api.HTTPRoute) error {
	for i, r := range rules {
		name := ""
		if r.Name != "" {
			name = " " + r.Name
		}
		fmt.Fprintf(tw, "  [%d]%s\n", i, name)
		fmt.Fprintf(tw, "    Match:\t%s\n", matchSummary(r.Match))
		for _, dst := range r.Route {
			line := "    Route:\t" + destinationString(dst.Destination)
			if dst.Weight != 0 {
				line += fmt.Sprintf(" (weight %d)", dst.Weight)
			}
			if dst.Fallback != nil {
				line += ", fallback " + destinationString(dst.Fallback.Target)
			}
			fmt.Fprintln(tw, line)
		}
		switch {
		case r.Delegate != nil:
			fmt.Fprintf(tw, "    Delegate:\t%s/%s\n", r.Delegate.Namespace, r.Delegate.Name)
		case r.Redirect != nil:
			fmt.Fprintln(tw, "    Redirect")
		case r.DirectResponse != nil:
			fmt.Fprintf(tw, "    Direct response:\t%d\n", r.DirectResponse.Status)
		}
	}
	return tw.Flush()
}

// matchSummary prints a rule's match list: entries ORed, fields ANDed.
func matchSummary(ms []api.HTTPMatchRequest) string {
	if len(ms) == 0 {
		return "any request"
	}
	var alts []string
	for _, m := range ms {
		var parts []string
		sm := func(field string, s *api.StringMatch) {
			if s == nil {
				return
			}
			switch kind, v := s.Kind(); kind {
			case api.MatchExact:
				if v == "" {
					v = `""`
				}
				parts = append(parts, field+"="+v)
			case api.MatchPrefix:
				parts = append(parts, field+" prefix "+v)
			case api.MatchRegex:
				parts = append(parts, field+" ~ "+v)
			default:
				parts = append(parts, field+" present")
			}
		}
		sm("uri", m.URI)
		sm("method", m.Method)
		sm("authority", m.Authority)
		for _, k := range sortedMapKeys(m.Headers) {
			v := m.Headers[k]
			sm("header "+k, &v)
		}
		for _, k := range sortedMapKeys(m.QueryParams) {
			v := m.QueryParams[k]
			sm("query "+k, &v)
		}
		for _, k := range sortedMapKeys(m.WithoutHeaders) {
			parts = append(parts, "without header "+k)
		}
		if m.Port != 0 {
			parts = append(parts, fmt.Sprintf("port %d", m.Port))
		}
		if len(m.SourceLabels) > 0 {
			parts = append(parts, "caller "+labelsString(m.SourceLabels))
		}
		if len(m.Gateways) > 0 {
			parts = append(parts, "gateways "+strings.Join(m.Gateways, ","))
		}
		if len(parts) == 0 {
			parts = []string{"any request"}
		}
		alts = append(alts, strings.Join(parts, " and "))
	}
	return strings.Join(alts, "; or ")
}

func sortedMapKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func destinationString(d api.Destination) string {
	s := d.Host
	if d.Subset != "" {
		s += " subset " + d.Subset
	}
	if d.Port != nil {
		s += fmt.Sprintf(" port %d", d.Port.Number)
	}
	return s
}

// appliesTo lists the connected proxies whose served routes came from the
// VirtualService key (NS/NAME), with the rules each was given: sourceLabels
// and gateways make that differ per proxy.
func (d describer) appliesTo(key string) error {
	var list []xdsserver.ProxyStatus
	if _, err := d.c.do("GET", "/v1/proxies", nil, nil, &list); err != nil {
		return err
	}
	fmt.Fprintln(d.w, "Applies to:")
	tw := tabwriter.NewWriter(d.w, 0, 8, 2, ' ', 0)
	any := false
	for _, p := range list {
		if !p.Connected {
			continue
		}
		var pc admin.ProxyConfig
		if _, err := d.c.do("GET", "/v1/proxy-config", url.Values{"node": {p.ID}, "type": {resourcev3.RouteType}}, nil, &pc); err != nil {
			continue // no snapshot yet
		}
		rules, err := rulesFrom(pc.Resources, key)
		if err != nil {
			return err
		}
		if len(rules) > 0 {
			any = true
			fmt.Fprintf(tw, "  %s\trules %s\n", proxyName(p), strings.Join(rules, ","))
		}
	}
	if !any {
		fmt.Fprintln(tw, "  no connected proxy was given its routes")
	}
	return tw.Flush()
}

// rulesFrom returns the indexes of the VirtualService's rules that routes
// in raw came from, as their route metadata says.
func rulesFrom(raw []json.RawMessage, key string) ([]string, error) {
	configs, err := decodeResources(raw, func() *routev3.RouteConfiguration { return &routev3.RouteConfiguration{} })
	if err != nil {
		return nil, err
	}
	seen := map[int]bool{}
	for _, rc := range configs {
		for _, vh := range rc.GetVirtualHosts() {
			for _, r := range vh.GetRoutes() {
				f := r.GetMetadata().GetFilterMetadata()[meshxds.MetadataKey].GetFields()
				if f["virtualService"].GetStringValue() == key {
					seen[int(f["routeIndex"].GetNumberValue())] = true
				}
			}
		}
	}
	var idx []int
	for i := range seen {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	out := make([]string, len(idx))
	for i, n := range idx {
		out[i] = fmt.Sprintf("[%d]", n)
	}
	return out, nil
}

// destinationRule prints the subsets and how many pods each selects: those
// of the host's Service whose labels contain the subset's.
func (d describer) destinationRule(it item) error {
	var dr api.DestinationRule
	if err := json.Unmarshal(it.object, &dr); err != nil {
		return err
	}
	host := config.FQDN(dr.Spec.Host, it.namespace)
	hw := tabwriter.NewWriter(d.w, 0, 8, 1, ' ', 0)
	fmt.Fprintf(hw, "Host:\t%s\n", host)
	var svcs []api.Service
	if _, err := d.c.do("GET", "/v1/objects/services", nil, nil, &svcs); err != nil {
		return err
	}
	var pods []admin.Pod
	if _, err := d.c.do("GET", "/v1/pods", nil, nil, &pods); err != nil {
		return err
	}
	var svc *api.Service
	for i, s := range svcs {
		if config.FQDN(s.Metadata.Name, s.Metadata.Namespace) == host {
			svc = &svcs[i]
		}
	}
	if svc == nil {
		fmt.Fprintln(hw, "Service:\tnone in the mesh (the host is a ServiceEntry's, or missing)")
	} else {
		fmt.Fprintf(hw, "Service:\t%s/%s\n", svc.Metadata.Namespace, svc.Metadata.Name)
	}
	hw.Flush()
	fmt.Fprintln(d.w, "Subsets:")
	tw := tabwriter.NewWriter(d.w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "  NAME\tLABELS\tPODS READY/SELECTED")
	for _, s := range dr.Spec.Subsets {
		ready, selected := 0, 0
		for _, p := range pods {
			if svc == nil || p.Namespace != svc.Metadata.Namespace || !contains(p.Labels, svc.Spec.Selector) || !contains(p.Labels, s.Labels) {
				continue
			}
			selected++
			if p.Ready {
				ready++
			}
		}
		fmt.Fprintf(tw, "  %s\t%s\t%d/%d\n", s.Name, labelsString(s.Labels), ready, selected)
	}
	return tw.Flush()
}

// podsOf lists the pods of a Deployment (its replicas) or a Service (its
// endpoints: the pods its selector matches), with their readiness.
func (d describer) podsOf(it item) error {
	var match func(admin.Pod) bool
	switch it.kind {
	case "Deployment":
		match = func(p admin.Pod) bool { return p.Namespace == it.namespace && p.Owner == "Deployment/"+it.name }
	case "Service":
		var svc api.Service
		if err := json.Unmarshal(it.object, &svc); err != nil {
			return err
		}
		if len(svc.Spec.Selector) == 0 {
			return nil // no selector: endpoints come from elsewhere
		}
		match = func(p admin.Pod) bool { return p.Namespace == it.namespace && contains(p.Labels, svc.Spec.Selector) }
	default:
		return nil
	}
	var pods []admin.Pod
	if _, err := d.c.do("GET", "/v1/pods", nil, nil, &pods); err != nil {
		return err
	}
	fmt.Fprintln(d.w, "Pods:")
	tw := tabwriter.NewWriter(d.w, 0, 8, 2, ' ', 0)
	n := 0
	for _, p := range pods {
		if match(p) {
			n++
			fmt.Fprintf(tw, "  %s\t%s\t%s\tready=%v\n", p.Name, orNone(p.IP), p.Phase, p.Ready)
		}
	}
	if n == 0 {
		fmt.Fprintln(tw, "  <none>")
	}
	return tw.Flush()
}

// contains reports whether labels hold every pair of sel.
func contains(labels, sel map[string]string) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// events prints the object's events, oldest first.
func (d describer) events(kind, ns, name string) error {
	var list []events.Event
	if _, err := d.c.do("GET", "/v1/events", url.Values{"kind": {kind}, "namespace": {ns}, "name": {name}}, nil, &list); err != nil {
		return err
	}
	if len(list) == 0 {
		fmt.Fprintln(d.w, "Events: <none>")
		return nil
	}
	fmt.Fprintln(d.w, "Events:")
	tw := tabwriter.NewWriter(d.w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "  TYPE\tREASON\tAGE\tMESSAGE")
	for _, e := range list {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", e.Type, e.Reason, age(e.Time, d.now), e.Message)
	}
	return tw.Flush()
}

// pod describes a pod: what get shows, its sidecar's xDS state and the
// tails of its logs.
func (d describer) pod(ns, name string) error {
	var pods []admin.Pod
	if _, err := d.c.do("GET", "/v1/pods", nil, nil, &pods); err != nil {
		return err
	}
	var found []admin.Pod
	for _, p := range pods {
		if p.Name == name && (ns == "" || p.Namespace == ns) {
			found = append(found, p)
		}
	}
	switch {
	case len(found) == 0:
		return fmt.Errorf("pod %q not found", name)
	case len(found) > 1:
		return usageError{fmt.Errorf("pod %q is in several namespaces: give -n", name)}
	}
	p := found[0]
	tw := tabwriter.NewWriter(d.w, 0, 8, 1, ' ', 0)
	fmt.Fprintf(tw, "Name:\t%s\nNamespace:\t%s\nLabels:\t%s\nIP:\t%s\nControlled By:\t%s\n", p.Name, p.Namespace, labelLines(p.Labels), orNone(p.IP), orNone(p.Owner))
	if !p.Created.IsZero() {
		fmt.Fprintf(tw, "Created:\t%s (%s ago)\n", p.Created.UTC().Format(time.RFC3339), age(p.Created, d.now))
	}
	fmt.Fprintf(tw, "Status:\t%s\nReady:\t%v\nRestarts:\t%d\n", p.Phase, p.Ready, p.Restarts)
	if p.Message != "" {
		fmt.Fprintf(tw, "Message:\t%s\n", p.Message)
	}
	if p.LastExit != "" {
		fmt.Fprintf(tw, "Last exit:\t%s\n", p.LastExit)
	}
	tw.Flush()
	if err := d.sidecar(p); err != nil {
		return err
	}
	for _, container := range []string{"app", "sidecar"} {
		q := url.Values{"namespace": {p.Namespace}, "pod": {p.Name}, "container": {container}, "tail": {fmt.Sprint(d.tail)}}
		var raw []byte
		code, err := d.c.do("GET", "/v1/logs", q, nil, &raw)
		if err != nil {
			return err
		}
		fmt.Fprintf(d.w, "Logs (%s, last %d lines):\n", container, d.tail)
		if code >= 400 || len(raw) == 0 {
			fmt.Fprintln(d.w, "  <none>")
			continue
		}
		fmt.Fprint(d.w, indent(string(raw), "  "))
		if !strings.HasSuffix(string(raw), "\n") {
			fmt.Fprintln(d.w)
		}
	}
	return nil
}

// sidecar prints the pod's proxy as the control plane sees it.
func (d describer) sidecar(p admin.Pod) error {
	var list []xdsserver.ProxyStatus
	if _, err := d.c.do("GET", "/v1/proxies", nil, nil, &list); err != nil {
		return err
	}
	for _, ps := range list {
		if ns, name, ok := nodeNamespaceName(ps.ID); !ok || ns != p.Namespace || name != p.Name {
			continue
		}
		tw := tabwriter.NewWriter(d.w, 0, 8, 1, ' ', 0)
		fmt.Fprintf(tw, "Sidecar:\n  Node:\t%s\n  Connected:\t%v\n  xDS:\tCDS %s, LDS %s, EDS %s, RDS %s\n", ps.ID, ps.Connected,
			ps.Sync[resourcev3.ClusterType], ps.Sync[resourcev3.ListenerType], ps.Sync[resourcev3.EndpointType], ps.Sync[resourcev3.RouteType])
		if n := ps.LastNACK; n != nil {
			fmt.Fprintf(tw, "  Last NACK:\t%s %s at %s: %s\n", shortType(n.TypeURL), n.Version, n.Time.UTC().Format(time.RFC3339), n.Message)
		}
		return tw.Flush()
	}
	fmt.Fprintln(d.w, "Sidecar:\tnot connected to the control plane")
	return nil
}
