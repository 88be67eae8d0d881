package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/lanemesh/lanemesh/internal/admin"
	"github.com/lanemesh/lanemesh/internal/compile"
	"github.com/lanemesh/lanemesh/internal/config"
	"github.com/lanemesh/lanemesh/internal/explain"
	"github.com/lanemesh/lanemesh/internal/local"
	"github.com/lanemesh/lanemesh/internal/meshxds"
	"github.com/lanemesh/lanemesh/internal/proxycmd"
	"github.com/lanemesh/lanemesh/internal/registry"
	"github.com/lanemesh/lanemesh/internal/route"
)

type explainFlags struct {
	files        []string
	gateway      string
	sourceLabels string
	namespace    string
	headers      []string
	method       string
	output       string
	chain        bool
	client       string
	opt          config.Options
	// live reads the configuration and endpoints from a running mesh
	// through c instead of files; pod takes the caller's labels from one
	// of its pods.
	live bool
	pod  string
	c    client
}

func newExplain(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	var f explainFlags
	cmd := &cobra.Command{
		Use:   "explain -f PATH... (--gateway NS/NAME | --source-labels k=v,...) [-H 'k: v']... URL",
		Short: "Show where a request would go, and why",
		Long: `explain compiles the configuration for one proxy — an ingress gateway, or the
sidecar of a workload with the given labels — and runs the data plane's own
route decision on the request: which VirtualService rule matched, the
destination and its fallback, the cluster and its endpoints. With --chain it
follows the call each serving pod makes (its upstream_url, as the sample app
does) through that pod's sidecar, to the end of the chain.

Endpoints are those of the configuration's Deployments and WorkloadEntries, at
the addresses lanemesh up would give them on a fresh start. With --live, the
configuration and the endpoints (with their readiness) are those of the
running mesh at --server instead, and --pod NAME explains at that pod's
sidecar.

Exit status: 0 the request would be forwarded, 1 it would fail (404 NR, 503
NC/UH) or the configuration has errors, 2 usage or I/O failure.`,
		Example: `  lanemesh explain -f examples/traffic-lanes --gateway istio-system/ingressgateway \
      -H 'x-asm-prefer-tag: v2' --chain http://gateway/mock
  lanemesh explain -f examples/traffic-lanes --source-labels app=mocka,version=v2 \
      -o json http://mockb:8000/
  lanemesh explain --live --pod mocka-v2-0 --chain http://mockb:8000/`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runExplain(f, args[0], stdin, stdout, stderr)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVarP(&f.files, "filename", "f", nil, "file, directory or - (repeatable)")
	fl.StringVar(&f.gateway, "gateway", "", "explain at this gateway (NS/NAME of a Gateway object)")
	fl.StringVar(&f.sourceLabels, "source-labels", "", "explain at the sidecar of a workload with these labels (k=v,...)")
	fl.StringVarP(&f.namespace, "namespace", "n", "default", "namespace of the workload (with --source-labels)")
	fl.StringArrayVarP(&f.headers, "header", "H", nil, "request header 'Name: value' (repeatable)")
	fl.StringVarP(&f.method, "request", "X", "GET", "request method")
	fl.StringVarP(&f.output, "output", "o", "text", "output format: text or json")
	fl.BoolVar(&f.chain, "chain", false, "follow the call chain through the serving pods")
	fl.StringVar(&f.client, "client", "", "the client's address as the gateway sees it, for LaneEntryPolicy source CIDRs (default: unknown, which no CIDR holds)")
	fl.BoolVar(&f.live, "live", false, "explain against the running mesh at --server (its configuration and endpoints), not files")
	fl.StringVar(&f.pod, "pod", "", "with --live: explain at this pod's sidecar (its labels and namespace; -n to choose)")
	addSkipFlag(cmd, &f.opt.SkipUnsupportedKinds)
	addServerFlag(cmd, &f.c)
	return cmd
}

func runExplain(f explainFlags, rawURL string, stdin io.Reader, stdout, stderr io.Writer) error {
	switch {
	case f.live && len(f.files) > 0:
		return usageError{fmt.Errorf("give -f PATH or --live, not both")}
	case !f.live && len(f.files) == 0:
		return usageError{fmt.Errorf("explain needs at least one -f PATH, or --live")}
	case f.pod != "" && !f.live:
		return usageError{fmt.Errorf("--pod needs --live: pods are the running mesh's")}
	}
	if f.pod != "" {
		if f.sourceLabels != "" || f.gateway != "" {
			return usageError{fmt.Errorf("give one of --pod, --gateway or --source-labels")}
		}
		var err error
		if f.sourceLabels, f.namespace, err = podLabels(&f.c, f.pod, f.namespace); err != nil {
			return err
		}
	}
	if (f.gateway == "") == (f.sourceLabels == "") {
		return usageError{fmt.Errorf("give exactly one of --gateway NS/NAME or --source-labels k=v,...")}
	}
	if f.output != "text" && f.output != "json" {
		return usageError{fmt.Errorf("-o must be text or json, not %q", f.output)}
	}
	req, err := explain.Request(f.method, rawURL, f.headers)
	if err != nil {
		return usageError{err}
	}
	var c *config.Config
	var diags config.Diagnostics
	var instances []registry.Instance
	if f.live {
		if c, instances, err = liveMesh(&f.c); err != nil {
			return err
		}
		diags = config.Analyze(c)
	} else {
		c, diags = loadAndAnalyze(f.files, stdin, f.opt)
		instances = local.Predict(c)
	}
	if diags.HasErrors() {
		printDiagnostics(stderr, diags.Errors(), "text", f.files)
		fmt.Fprintln(stderr, "lanemesh: the configuration has errors; fix them first (lanemesh analyze shows them all)")
		return exitFor(diags)
	}
	proxy, name, err := proxyFor(c, f)
	if err != nil {
		return usageError{err}
	}
	if proxy.Role == meshxds.Gateway {
		if err := explainLaneEntry(f, c, instances, proxy, req, stdout, stderr); err != nil {
			return err
		}
	}
	var hops []explain.Hop
	if f.chain {
		hops, err = explain.Chain(c, instances, proxy, name, req, rawURL)
	} else {
		res := compile.Compile(c, instances, proxy)
		var r *explain.Result
		r, err = explain.Explain(res, explain.RouteConfigForRequest(res, proxy.Role, req), req)
		if r != nil {
			hops = []explain.Hop{{From: name, URL: rawURL, Result: r}}
		}
	}
	if err != nil {
		return err
	}
	if err := printExplain(stdout, f, hops); err != nil {
		return err
	}
	if last := hops[len(hops)-1]; last.Result.Status != 0 || last.Result.RouteConfig == explain.NoFilterChain {
		return exitError{ExitFailed}
	}
	return nil
}

// explainLaneEntry applies the gateway's LaneEntryPolicies to req, as the
// gateway does before routing, and says so when one sends it to the
// baseline: on stdout for text, on stderr for json, which stays one
// document.
func explainLaneEntry(f explainFlags, c *config.Config, instances []registry.Instance, proxy meshxds.Proxy, req *route.Request, stdout, stderr io.Writer) error {
	var client netip.Addr
	if f.client != "" {
		a, err := netip.ParseAddr(f.client)
		if err != nil {
			return usageError{fmt.Errorf("--client %q is not an IP address", f.client)}
		}
		client = a
	}
	res := compile.Compile(c, instances, proxy)
	note, err := explain.LaneEntry(res, explain.RouteConfigForRequest(res, proxy.Role, req), req, client, time.Now())
	if err != nil || note == "" {
		return err
	}
	w := stdout
	if f.output == "json" {
		w = stderr
	}
	fmt.Fprintln(w, "lane entry: "+note)
	return nil
}

// proxyFor builds the proxy identity the flags name, and its display name.
func proxyFor(c *config.Config, f explainFlags) (meshxds.Proxy, string, error) {
	if f.gateway != "" {
		ns, name, ok := strings.Cut(f.gateway, "/")
		if !ok {
			ns, name = "default", f.gateway
		}
		var known []string
		for _, gw := range c.Gateways {
			if gw.Metadata.Namespace == ns && gw.Metadata.Name == name {
				return meshxds.Proxy{Role: meshxds.Gateway, Namespace: ns, Labels: gw.Spec.Selector}, "gateway " + ns + "/" + name, nil
			}
			known = append(known, gw.Metadata.Key())
		}
		return meshxds.Proxy{}, "", fmt.Errorf("no Gateway %s/%s in the configuration (known: %s)", ns, name, strings.Join(known, ", "))
	}
	labels, err := proxycmd.ParseLabels(f.sourceLabels)
	if err != nil {
		return meshxds.Proxy{}, "", err
	}
	return meshxds.Proxy{Role: meshxds.Sidecar, Namespace: f.namespace, Labels: labels},
		fmt.Sprintf("sidecar %s{%s}", f.namespace, f.sourceLabels), nil
}

func printExplain(w io.Writer, f explainFlags, hops []explain.Hop) error {
	if f.output == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false) // cluster names contain '>'
		if f.chain {
			return enc.Encode(hops)
		}
		return enc.Encode(hops[0].Result)
	}
	if f.chain {
		_, err := io.WriteString(w, explain.FormatChain(hops))
		return err
	}
	printResult(w, f, hops[0])
	return nil
}

func printResult(w io.Writer, f explainFlags, h explain.Hop) {
	r := h.Result
	row := func(k, v string) { fmt.Fprintf(w, "%-16s%s\n", k+":", v) }
	row("Proxy", h.From)
	req := f.method + " " + h.URL
	if len(f.headers) > 0 {
		req += " [" + strings.Join(f.headers, "; ") + "]"
	}
	row("Request", req)
	if r.VirtualHost != "" {
		row("Virtual host", r.VirtualHost)
	}
	if r.VirtualService != "" {
		rule := fmt.Sprintf("%s, rule %d", r.VirtualService, r.RouteIndex)
		if r.RouteName != "" {
			rule += " (" + r.RouteName + ")"
		}
		row("VirtualService", rule)
	}
	for i, sh := range r.Split {
		label := ""
		if i == 0 {
			label = "Split:"
		}
		fmt.Fprintf(w, "%-16s%s\n", label, shareLine(sh))
	}
	if d := r.Destination; d != nil {
		drawn := ""
		if len(r.Split) > 0 {
			drawn = " (this request's draw from the split)"
		}
		row("Destination", fmt.Sprintf("%s subset %q port %d%s", d.Host, d.Subset, d.Port, drawn))
		fb := "none"
		if r.Fallback != nil {
			fb = fmt.Sprintf("%s subset %q", r.Fallback.Host, r.Fallback.Subset)
		}
		row("Fallback", fb)
	}
	if r.Cluster != "" {
		row("Cluster", r.Cluster)
	}
	if r.ServedBy != "" && r.ServedBy != r.Cluster {
		row("Served by", r.ServedBy)
	}
	if len(r.Endpoints) > 0 {
		eps := make([]string, len(r.Endpoints))
		for i, e := range r.Endpoints {
			health := "healthy"
			if !e.Healthy {
				health = "unhealthy"
			}
			if e.Pod != "" { // a ServiceEntry's own endpoints have no pod
				health = e.Pod + ", " + health
			}
			eps[i] = fmt.Sprintf("%s (%s)", e.Address, health)
		}
		sort.Strings(eps)
		row("Endpoints", strings.Join(eps, ", "))
	}
	if b := r.Balancing; b != nil && b.Key != "" {
		lb := b.Policy + " by " + b.Key
		switch {
		case b.Endpoint != "":
			lb += " -> " + b.Endpoint
		case b.SetCookie:
			lb += " (no cookie: the proxy makes one up and sets it)"
		case strings.Contains(b.Key, "source IP"):
			lb += " (the caller's address picks the endpoint)"
		default:
			lb += " (the request has no key: a random endpoint)"
		}
		row("Load balancing", lb)
	}
	for _, m := range r.Mirrors {
		note := ""
		if m.Missing {
			note = "; no such cluster, so no copy is sent"
		}
		row("Mirror", fmt.Sprintf("%s (%g%% of requests%s)", m.Cluster, m.Percent, note))
	}
	if r.CORS != "" {
		row("CORS", r.CORS)
	}
	if r.UpstreamTLS != "" {
		row("Upstream TLS", r.UpstreamTLS)
	}
	result := r.Reason
	if r.Status != 0 {
		result = fmt.Sprintf("%d %s: %s", r.Status, r.Flag, r.Reason)
	}
	row("Result", result)
}

// shareLine is one weighted destination: its share and where it goes.
func shareLine(s explain.Share) string {
	d := s.Destination
	line := fmt.Sprintf("%g%% to %s subset %q: ", s.Percent, d.Host, d.Subset)
	switch {
	case s.Status != 0:
		return line + fmt.Sprintf("%d %s", s.Status, s.Flag)
	case s.FellBack:
		return line + "no healthy endpoint, the fallback " + s.ServedBy + " serves (FB)"
	default:
		return line + "served by " + s.ServedBy
	}
}

// liveMesh reads the running mesh's configuration and instances from the
// admin API, as explain reads files: the configuration parsed and checked
// by the same loader.
func liveMesh(cl *client) (*config.Config, []registry.Instance, error) {
	var objs []json.RawMessage
	if _, err := cl.do("GET", "/v1/objects", nil, nil, &objs); err != nil {
		return nil, nil, err
	}
	doc, err := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "List", "items": objs})
	if err != nil {
		return nil, nil, err
	}
	c := &config.Config{}
	if diags := c.Parse(cl.server, doc); diags.HasErrors() {
		return nil, nil, fmt.Errorf("the mesh at %s answered a configuration lanemesh cannot read: %s", cl.server, diags.Errors().Render(config.PerGroup)[0])
	}
	var instances []registry.Instance
	if _, err := cl.do("GET", "/v1/instances", nil, nil, &instances); err != nil {
		return nil, nil, err
	}
	return c, instances, nil
}

// podLabels returns a running pod's labels (k=v,...) and namespace.
func podLabels(cl *client, pod, ns string) (string, string, error) {
	var pods []admin.Pod
	if _, err := cl.do("GET", "/v1/pods", nil, nil, &pods); err != nil {
		return "", "", err
	}
	for _, p := range pods {
		if p.Name == pod && (ns == "" || ns == "default" || p.Namespace == ns) {
			if len(p.Labels) == 0 {
				return "", "", fmt.Errorf("pod %s/%s has no labels to explain with", p.Namespace, p.Name)
			}
			return labelsString(p.Labels), p.Namespace, nil
		}
	}
	return "", "", fmt.Errorf("no pod %q in the running mesh: lanemesh get pods lists them", pod)
}
