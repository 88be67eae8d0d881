package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/lanemesh/lanemesh/api"
	"github.com/lanemesh/lanemesh/internal/admin"
	"github.com/lanemesh/lanemesh/internal/events"
	"github.com/lanemesh/lanemesh/internal/xdsserver"
)

// kindColumns are the columns a config kind shows between NAME and AGE,
// and those -o wide adds; Istio's CRDs' printer columns where they have
// them.
func kindColumns(kind string) (cols, wide []string) {
	switch kind {
	case "Deployment":
		return []string{"READY"}, []string{"SELECTOR"}
	case "Service":
		return []string{"TYPE", "PORT(S)"}, []string{"SELECTOR"}
	case "VirtualService":
		return []string{"GATEWAYS", "HOSTS"}, []string{"RULES"}
	case "DestinationRule":
		return []string{"HOST", "SUBSETS"}, nil
	case "Gateway":
		return []string{"SERVERS"}, []string{"SELECTOR"}
	case "ServiceEntry":
		return []string{"HOSTS", "LOCATION", "RESOLUTION"}, nil
	case "WorkloadEntry":
		return []string{"ADDRESS"}, []string{"LABELS"}
	}
	return nil, nil
}

// decodeItem decodes one object as the admin API lists it.
func decodeItem(kind string, obj json.RawMessage) (item, error) {
	var head struct {
		Metadata struct {
			Name              string            `json:"name"`
			Namespace         string            `json:"namespace"`
			Labels            map[string]string `json:"labels"`
			CreationTimestamp time.Time         `json:"creationTimestamp"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(obj, &head); err != nil {
		return item{}, fmt.Errorf("unexpected %s from the server: %w", kind, err)
	}
	m := head.Metadata
	it := item{kind: kind, namespace: m.Namespace, name: m.Name, labels: m.Labels, created: m.CreationTimestamp, object: obj}
	var err error
	it.cells, it.wide, err = kindCells(kind, obj)
	return it, err
}

// kindCells computes an object's columns (see kindColumns).
func kindCells(kind string, obj json.RawMessage) (cells, wide []string, err error) {
	switch kind {
	case "Deployment":
		var d api.Deployment
		err = json.Unmarshal(obj, &d)
		// READY is filled in from the pods (see fillDeployments).
		return []string{fmt.Sprint(d.Spec.ReplicaCount())}, []string{selectorString(d.Spec.Template.Metadata.Labels)}, err
	case "Service":
		var s api.Service
		err = json.Unmarshal(obj, &s)
		var ports []string
		for _, p := range s.Spec.Ports {
			proto := p.Protocol
			if proto == "" {
				proto = "TCP"
			}
			ports = append(ports, fmt.Sprintf("%d/%s", p.Port, proto))
		}
		typ := s.Spec.Type
		if typ == "" {
			typ = "ClusterIP"
		}
		return []string{typ, orDash(ports)}, []string{selectorString(s.Spec.Selector)}, err
	case "VirtualService":
		var v api.VirtualService
		err = json.Unmarshal(obj, &v)
		return []string{quoteList(v.Spec.Gateways), quoteList(v.Spec.Hosts)}, []string{fmt.Sprint(len(v.Spec.HTTP))}, err
	case "DestinationRule":
		var d api.DestinationRule
		err = json.Unmarshal(obj, &d)
		var subsets []string
		for _, s := range d.Spec.Subsets {
			subsets = append(subsets, s.Name)
		}
		return []string{d.Spec.Host, orDash(subsets)}, nil, err
	case "Gateway":
		var g api.Gateway
		err = json.Unmarshal(obj, &g)
		var servers []string
		for _, s := range g.Spec.Servers {
			servers = append(servers, fmt.Sprintf("%d/%s", s.Port.Number, s.Port.Protocol))
		}
		return []string{orDash(servers)}, []string{selectorString(g.Spec.Selector)}, err
	case "ServiceEntry":
		var s api.ServiceEntry
		err = json.Unmarshal(obj, &s)
		return []string{quoteList(s.Spec.Hosts), s.Spec.Location, s.Spec.Resolution}, nil, err
	case "WorkloadEntry":
		var we api.WorkloadEntry
		err = json.Unmarshal(obj, &we)
		return []string{we.Spec.Address}, []string{selectorString(we.Spec.Labels)}, err
	}
	return nil, nil, nil
}

// quoteList prints a list as Istio's printer columns do: ["a","b"].
func quoteList(list []string) string {
	if len(list) == 0 {
		return ""
	}
	b, _ := json.Marshal(list)
	return string(b)
}

func selectorString(m map[string]string) string {
	if len(m) == 0 {
		return "<none>"
	}
	return labels.SelectorFromSet(m).String()
}

func orDash(list []string) string {
	if len(list) == 0 {
		return "-"
	}
	return strings.Join(list, ",")
}

// fetchPods lists pods, filtered here as the server lists them all.
func fetchPods(c *client, f getFlags, req getRequest) (listing, error) {
	l := listing{req: req, header: []string{"READY", "STATUS", "RESTARTS"}, wide: []string{"IP", "OWNER"}}
	var pods []admin.Pod
	if _, err := c.do("GET", "/v1/pods", nil, nil, &pods); err != nil {
		return l, err
	}
	sel, _ := labels.Parse(f.selector)
	for _, p := range pods {
		if (f.namespace != "" && p.Namespace != f.namespace) || !sel.Matches(labels.Set(p.Labels)) ||
			(len(req.names) > 0 && !slices.Contains(req.names, p.Name)) {
			continue
		}
		l.items = append(l.items, podItem(p))
	}
	if err := missing(l, req, "pods", f.namespace); err != nil {
		return l, err
	}
	return l, nil
}

// missing is kubectl's NotFound for names asked for and not listed.
func missing(l listing, req getRequest, what, ns string) error {
	for _, n := range req.names {
		found := false
		for _, it := range l.items {
			found = found || it.name == n
		}
		if !found {
			where := ""
			if ns != "" {
				where = " in namespace " + ns
			}
			return fmt.Errorf("%s %q not found%s", what, n, where)
		}
	}
	return nil
}

// podItem shows a pod as a Kubernetes v1 Pod for -o yaml|json.
func podItem(p admin.Pod) item {
	ready, cond := "0/1", "False"
	if p.Ready {
		ready, cond = "1/1", "True"
	}
	meta := map[string]any{"name": p.Name, "namespace": p.Namespace}
	if len(p.Labels) > 0 {
		meta["labels"] = p.Labels
	}
	if !p.Created.IsZero() {
		meta["creationTimestamp"] = p.Created.UTC().Format(time.RFC3339)
	}
	status := map[string]any{"phase": p.Phase, "podIP": p.IP, "conditions": []map[string]string{{"type": "Ready", "status": cond}}}
	if p.Message != "" {
		status["message"] = p.Message
	}
	obj := map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": meta, "status": status}
	if kind, name, ok := strings.Cut(p.Owner, "/"); ok {
		meta["ownerReferences"] = []map[string]string{{"kind": kind, "name": name}}
	}
	b, _ := json.Marshal(obj)
	return item{kind: "Pod", namespace: p.Namespace, name: p.Name, labels: p.Labels, created: p.Created, object: b,
		cells: []string{ready, p.Phase, fmt.Sprint(p.Restarts)}, wide: []string{orNone(p.IP), orNone(p.Owner)}}
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}

// fillDeployments turns each Deployment's READY cell from its replica count
// into ready/desired, from the pods.
func fillDeployments(c *client, l *listing) error {
	if l.req.resource != "Deployment" || len(l.items) == 0 {
		return nil
	}
	var pods []admin.Pod
	if _, err := c.do("GET", "/v1/pods", nil, nil, &pods); err != nil {
		return err
	}
	for i, it := range l.items {
		ready := 0
		for _, p := range pods {
			if p.Owner == "Deployment/"+it.name && p.Namespace == it.namespace && p.Ready {
				ready++
			}
		}
		l.items[i].cells = []string{fmt.Sprintf("%d/%s", ready, it.cells[0])}
	}
	return nil
}

// fetchEvents lists the mesh's events.
func fetchEvents(c *client, f getFlags, req getRequest) (listing, error) {
	l := listing{req: req, header: []string{"TYPE", "REASON", "OBJECT", "MESSAGE"}}
	var list []events.Event
	if _, err := c.do("GET", "/v1/events", url.Values{"namespace": {f.namespace}}, nil, &list); err != nil {
		return l, err
	}
	for i, e := range list {
		obj := strings.ToLower(e.Kind) + "/" + e.Name
		b, _ := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "Event",
			"metadata": map[string]any{"name": fmt.Sprintf("%s.%d", e.Name, i), "namespace": e.Namespace, "creationTimestamp": e.Time.UTC().Format(time.RFC3339)},
			"type":     e.Type, "reason": e.Reason, "message": e.Message,
			"involvedObject": map[string]string{"kind": e.Kind, "namespace": e.Namespace, "name": e.Name}})
		l.items = append(l.items, item{kind: "Event", namespace: e.Namespace, name: fmt.Sprintf("%s.%d", e.Name, i), created: e.Time, object: b,
			cells: []string{e.Type, e.Reason, obj, e.Message}})
	}
	return l, nil
}

// fetchProxies lists the proxies connected to the control plane, with the
// versions they accepted and their last rejection: a NACK is never silent.
func fetchProxies(c *client, req getRequest) (listing, error) {
	l := listing{req: req, header: []string{"CONNECTED", "CDS", "LDS", "RDS", "EDS", "LAST NACK"}, noAge: true}
	var list []xdsserver.ProxyStatus
	if _, err := c.do("GET", "/v1/proxies", nil, nil, &list); err != nil {
		return l, err
	}
	for _, p := range list {
		if len(req.names) > 0 && !slices.Contains(req.names, p.ID) {
			continue
		}
		nack := "-"
		if n := p.LastNACK; n != nil {
			nack = fmt.Sprintf("%s %s at %s: %s", shortType(n.TypeURL), n.Version, n.Time.Format("15:04:05"), n.Message)
		}
		b, _ := json.Marshal(p)
		l.items = append(l.items, item{kind: "Proxy", name: p.ID, object: b, cells: []string{fmt.Sprint(p.Connected),
			orDash1(p.Acked[resourcev3.ClusterType]), orDash1(p.Acked[resourcev3.ListenerType]), orDash1(p.Acked[resourcev3.RouteType]),
			orDash1(p.Acked[resourcev3.EndpointType]), nack}})
	}
	return l, missing(l, req, "proxy", "")
}

func orDash1(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func shortType(url string) string {
	return url[strings.LastIndex(url, ".")+1:]
}

// table prints one listing's rows.
type table struct {
	tw        *tabwriter.Writer
	l         listing
	f         getFlags
	namespace bool // a NAMESPACE column (no -n)
	kindNames bool // NAME is kind/name (several types listed)
}

func newTable(w io.Writer, l listing, f getFlags, kindNames bool) *table {
	return &table{tw: tabwriter.NewWriter(w, 0, 8, 3, ' ', 0), l: l, f: f,
		namespace: f.namespace == "" && l.req.resource != "proxies" && !clusterScoped[l.req.resource], kindNames: kindNames}
}

// clusterScoped are the kinds that have no namespace (ASM's lane kinds),
// which get no NAMESPACE column, as kubectl prints them.
var clusterScoped = map[string]bool{"ASMSwimLaneGroup": true, "ASMSwimLane": true}

func (t *table) flush() error { return t.tw.Flush() }

func (t *table) header() {
	var cols []string
	if t.f.watchEvents && t.f.watch {
		cols = append(cols, "EVENT")
	}
	if t.namespace {
		cols = append(cols, "NAMESPACE")
	}
	cols = append(cols, "NAME")
	cols = append(cols, t.l.header...)
	if !t.l.noAge {
		cols = append(cols, "AGE")
	}
	if t.f.output == "wide" {
		cols = append(cols, t.l.wide...)
	}
	if t.f.showLabels {
		cols = append(cols, "LABELS")
	}
	fmt.Fprintln(t.tw, strings.Join(cols, "\t"))
}

func (t *table) row(it item, now time.Time, event string) {
	var cols []string
	if event != "" {
		cols = append(cols, event)
	}
	if t.namespace {
		cols = append(cols, it.namespace)
	}
	name := it.name
	if t.kindNames {
		name = nameOf(it)
	}
	cols = append(cols, name)
	cols = append(cols, it.cells...)
	if !t.l.noAge {
		cols = append(cols, age(it.created, now))
	}
	if t.f.output == "wide" {
		cols = append(cols, it.wide...)
	}
	if t.f.showLabels {
		cols = append(cols, labelsString(it.labels))
	}
	fmt.Fprintln(t.tw, strings.Join(cols, "\t"))
}

// age is kubectl's AGE: "<unknown>" without a time, else 5s, 3m12s, 4h, 2d.
func age(created, now time.Time) string {
	if created.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(created))
}

// labelsString is --show-labels' column: k=v,k=v sorted, or <none>.
func labelsString(m map[string]string) string {
	if len(m) == 0 {
		return "<none>"
	}
	parts := make([]string, 0, len(m))
	for k, v := range m {
		parts = append(parts, k+"="+v)
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}
