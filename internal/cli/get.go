package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/lanemesh/lanemesh/internal/admin"
)

// getFlags are get's flags.
type getFlags struct {
	namespace   string
	all         bool
	selector    string
	output      string
	showLabels  bool
	watch       bool
	watchEvents bool
	noHeaders   bool
	timeout     time.Duration
}

func newGet(stdout io.Writer, now func() time.Time) *cobra.Command {
	var c client
	var f getFlags
	cmd := &cobra.Command{
		Use:   "get TYPE[,TYPE...] [NAME...] | TYPE/NAME... [-n NS|-A] [-l SELECTOR] [-o wide|yaml|json|name] [-w]",
		Short: "List objects, pods, proxies or events of a running lanemesh up",
		Long: `get lists what a running lanemesh up holds, as kubectl get does: pods (po),
deployments (deploy), services (svc), gateways (gw), virtualservices (vs),
destinationrules (dr), serviceentries (se), workloadentries (we), events (ev),
and proxies with their xDS state and any rejected (NACKed) configuration.

Without -n it lists every namespace. -o yaml and -o json print a v1 List
(one object when a single NAME is asked for) that lanemesh apply -f - and
lanemesh analyze -f - accept unchanged. -w prints the rows that change, as
they change, until Ctrl-C (or --timeout).`,
		Example: `  lanemesh get pods -l app=mockb --show-labels
  lanemesh get vs -n istio-system -o yaml > vs.yaml && lanemesh apply -f vs.yaml
  lanemesh get vs/mockb dr/mockb
  lanemesh get deploy -w`,
		Args: cobra.MinimumNArgs(1),
		ValidArgsFunction: func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
			return completeGetArgs(&c, args, toComplete)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if !slices.Contains([]string{"", "wide", "yaml", "json", "name"}, f.output) {
				return usageError{fmt.Errorf("-o must be wide, yaml, json or name, not %q", f.output)}
			}
			if _, err := labels.Parse(f.selector); err != nil {
				return usageError{fmt.Errorf("invalid -l %q: %w", f.selector, err)}
			}
			if f.all {
				f.namespace = ""
			}
			reqs, err := parseGetArgs(args)
			if err != nil {
				return usageError{err}
			}
			ctx := cmd.Context()
			if f.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, f.timeout)
				defer cancel()
			}
			return runGet(ctx, &c, stdout, f, reqs, now)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.namespace, "namespace", "n", "", "namespace (default: all)")
	fl.BoolVarP(&f.all, "all-namespaces", "A", false, "all namespaces")
	fl.StringVarP(&f.selector, "selector", "l", "", "label selector, as kubectl's: app=mockb,version!=v1 or 'version in (v2,v3)'")
	fl.StringVarP(&f.output, "output", "o", "", "wide, yaml, json or name")
	fl.BoolVar(&f.showLabels, "show-labels", false, "add a LABELS column")
	fl.BoolVarP(&f.watch, "watch", "w", false, "after listing, print changes as they happen")
	fl.BoolVar(&f.watchEvents, "output-watch-events", false, "with -w, say ADDED, MODIFIED or DELETED before each row")
	fl.BoolVar(&f.noHeaders, "no-headers", false, "leave out the header line")
	fl.DurationVar(&f.timeout, "timeout", 0, "stop watching after this long (0: until Ctrl-C)")
	addServerFlag(cmd, &c)
	cmd.RegisterFlagCompletionFunc("namespace", func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return completeNamespaces(&c)
	})
	return cmd
}

// getRequest is one resource type and the names asked for (none: all).
type getRequest struct {
	resource string // a config kind ("VirtualService"), or "pods", "proxies", "events"
	names    []string
}

// resource resolves what a user types for a type: kubectl's short names,
// singulars and plurals.
func resource(name string) (string, bool) {
	switch strings.ToLower(name) {
	case "pods", "pod", "po":
		return "pods", true
	case "proxies", "proxy":
		return "proxies", true
	case "events", "event", "ev":
		return "events", true
	}
	return admin.Kind(name)
}

// parseGetArgs reads kubectl's two forms: TYPE[,TYPE...] [NAME...], and
// TYPE/NAME... (which cannot be mixed with the first).
func parseGetArgs(args []string) ([]getRequest, error) {
	unknown := func(t string) error {
		return fmt.Errorf("unknown type %q: use pods, deployments, services, gateways, virtualservices, destinationrules, serviceentries, workloadentries, events or proxies (or their short names: po, deploy, svc, gw, vs, dr, se, we, ev)", t)
	}
	if strings.Contains(args[0], "/") {
		var reqs []getRequest
		for _, a := range args {
			t, name, ok := strings.Cut(a, "/")
			if !ok || name == "" {
				return nil, fmt.Errorf("%q: write every argument as TYPE/NAME, or give TYPE then NAMEs", a)
			}
			r, ok := resource(t)
			if !ok {
				return nil, unknown(t)
			}
			if i := slices.IndexFunc(reqs, func(g getRequest) bool { return g.resource == r }); i >= 0 {
				reqs[i].names = append(reqs[i].names, name)
			} else {
				reqs = append(reqs, getRequest{resource: r, names: []string{name}})
			}
		}
		return reqs, nil
	}
	var reqs []getRequest
	for _, t := range strings.Split(args[0], ",") {
		r, ok := resource(t)
		if !ok {
			return nil, unknown(t)
		}
		reqs = append(reqs, getRequest{resource: r})
	}
	if names := args[1:]; len(names) > 0 {
		if len(reqs) > 1 {
			return nil, fmt.Errorf("names go with one type: write TYPE/NAME for several types")
		}
		if slices.ContainsFunc(names, func(n string) bool { return strings.Contains(n, "/") }) {
			return nil, fmt.Errorf("there is no need to give a TYPE/NAME after a TYPE: write %s NAME", args[0])
		}
		reqs[0].names = names
	}
	return reqs, nil
}

// item is one listed thing, decoded enough to print.
type item struct {
	kind, namespace, name string
	labels                map[string]string
	created               time.Time
	// object is the item as -o yaml|json prints it: a Kubernetes object.
	object json.RawMessage
	// cells are its table columns after NAMESPACE and NAME and before AGE.
	cells []string
	wide  []string // the extra columns of -o wide
}

func (it item) key() string { return it.kind + "/" + it.namespace + "/" + it.name }

// listing is what one request found, and how its table is headed.
type listing struct {
	req    getRequest
	header []string // the columns of cells
	wide   []string
	items  []item
	// noAge is set for listings without AGE (proxies).
	noAge bool
}

// fetch lists one request's items.
func fetch(c *client, f getFlags, req getRequest) (listing, error) {
	switch req.resource {
	case "pods":
		return fetchPods(c, f, req)
	case "events":
		return fetchEvents(c, f, req)
	case "proxies":
		return fetchProxies(c, req)
	}
	l := listing{req: req}
	l.header, l.wide = kindColumns(req.resource)
	names := req.names
	if len(names) == 0 {
		names = []string{""}
	}
	for _, name := range names {
		q := url.Values{"namespace": {f.namespace}, "name": {name}, "labelSelector": {f.selector}}
		var raw []json.RawMessage
		if _, err := c.do("GET", "/v1/objects/"+req.resource, q, nil, &raw); err != nil {
			return l, err
		}
		for _, obj := range raw {
			it, err := decodeItem(req.resource, obj)
			if err != nil {
				return l, err
			}
			l.items = append(l.items, it)
		}
	}
	return l, fillDeployments(c, &l)
}

// runGet prints every request's listing, then, with -w, the changes.
func runGet(ctx context.Context, c *client, w io.Writer, f getFlags, reqs []getRequest, now func() time.Time) error {
	var gen uint64
	if f.watch {
		// The generation before listing: a change made while listing is
		// then seen by the first wait, never missed.
		var wt admin.Watched
		if _, err := c.do("GET", "/v1/watch", url.Values{"since": {"0"}}, nil, &wt); err != nil {
			return err
		}
		gen = wt.Generation
	}
	var listings []listing
	for _, r := range reqs {
		l, err := fetch(c, f, r)
		if err != nil {
			return err
		}
		listings = append(listings, l)
	}
	if err := printListings(w, f, listings, now()); err != nil {
		return err
	}
	if !f.watch {
		return nil
	}
	return watchListings(ctx, c, w, f, listings, gen, now)
}

// printListings prints listings in the format -o asks for.
func printListings(w io.Writer, f getFlags, listings []listing, now time.Time) error {
	var all []item
	for _, l := range listings {
		all = append(all, l.items...)
	}
	switch f.output {
	case "yaml", "json":
		single := len(listings) == 1 && len(listings[0].req.names) == 1 && len(all) == 1
		return printObjects(w, f.output, all, single)
	case "name":
		for _, it := range all {
			fmt.Fprintln(w, nameOf(it))
		}
		return nil
	}
	if len(all) == 0 {
		if f.namespace != "" {
			fmt.Fprintf(w, "No resources found in %s namespace.\n", f.namespace)
		} else {
			fmt.Fprintln(w, "No resources found")
		}
		return nil
	}
	first := true
	for _, l := range listings {
		if len(l.items) == 0 {
			continue
		}
		if !first {
			fmt.Fprintln(w)
		}
		first = false
		t := newTable(w, l, f, len(listings) > 1)
		if !f.noHeaders {
			t.header()
		}
		ev := ""
		if f.watch && f.watchEvents {
			ev = "ADDED"
		}
		for _, it := range l.items {
			t.row(it, now, ev)
		}
		if err := t.flush(); err != nil {
			return err
		}
	}
	return nil
}

// printObjects prints items as a v1 List, or the one object alone.
func printObjects(w io.Writer, output string, items []item, single bool) error {
	var doc []byte
	if single {
		doc = items[0].object
	} else {
		list := struct {
			APIVersion string            `json:"apiVersion"`
			Kind       string            `json:"kind"`
			Items      []json.RawMessage `json:"items"`
			Metadata   map[string]string `json:"metadata"`
		}{"v1", "List", []json.RawMessage{}, map[string]string{"resourceVersion": ""}}
		for _, it := range items {
			list.Items = append(list.Items, it.object)
		}
		var err error
		if doc, err = json.Marshal(list); err != nil {
			return err
		}
	}
	if output == "yaml" {
		return printYAML(w, doc)
	}
	return printJSON(w, doc)
}

// printJSON indents JSON as kubectl does.
func printJSON(w io.Writer, raw []byte) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "    ")
	enc.SetEscapeHTML(false)
	return enc.Encode(orderedJSON(raw))
}

// orderedJSON keeps a document's key order when re-encoding it.
type orderedJSON json.RawMessage

func (o orderedJSON) MarshalJSON() ([]byte, error) { return o, nil }

// nameOf is -o name's form: kind.group/name, as kubectl prints it.
func nameOf(it item) string {
	switch it.kind {
	case "Pod", "Service", "Event":
		return strings.ToLower(it.kind) + "/" + it.name
	case "Deployment":
		return "deployment.apps/" + it.name
	case "Proxy":
		return "proxy/" + it.name
	}
	return strings.ToLower(it.kind) + ".networking.istio.io/" + it.name
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
