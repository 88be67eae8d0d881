package explain

import (
	"fmt"
	"strings"

	"github.com/lanemesh/lanemesh/internal/compile"
	"github.com/lanemesh/lanemesh/internal/config"
	"github.com/lanemesh/lanemesh/internal/meshxds"
	"github.com/lanemesh/lanemesh/internal/registry"
	"github.com/lanemesh/lanemesh/internal/route"
)

// UpstreamEnv is the environment variable through which the sample app
// (`lanemesh mock`, image lanemesh/mock) learns the URL it calls.
const UpstreamEnv = "upstream_url"

// maxHops bounds a chain, so that a configuration whose services call each
// other in a circle still gets an answer.
const maxHops = 16

// Hop is one proxy's decision in a call chain.
type Hop struct {
	From   string  `json:"from"` // the calling proxy: "gateway istio-system/ingressgateway" or "sidecar default/mocka-v2-0"
	URL    string  `json:"url"`
	Result *Result `json:"result"`
	// Pod is the instance that serves this hop (the first healthy endpoint
	// of the serving cluster), empty when the hop fails.
	Pod string `json:"pod,omitempty"`
}

// Chain follows a request through the mesh: it explains the request at the
// first proxy, then, for the pod that serves it, the call that pod makes
// (its container's upstream_url, as the sample app does) from that pod's
// sidecar, and so on until a pod makes no call or a hop fails.
func Chain(c *config.Config, instances []registry.Instance, first meshxds.Proxy, firstName string, req *route.Request, rawURL string) ([]Hop, error) {
	var hops []Hop
	proxy, from, url := first, firstName, rawURL
	for range maxHops {
		res := compile.Compile(c, instances, proxy)
		r, err := Explain(res, RouteConfigForRequest(res, proxy.Role, req), req)
		if err != nil {
			return hops, err
		}
		hop := Hop{From: from, URL: url, Result: r}
		pod := servingPod(instances, r)
		if pod != nil {
			hop.Pod = pod.Namespace + "/" + pod.Name
		}
		hops = append(hops, hop)
		if pod == nil {
			return hops, nil
		}
		url = upstreamURL(c, pod)
		if url == "" {
			return hops, nil
		}
		arrived := req.Header
		if len(r.SetHeaders) > 0 {
			arrived = arrived.Clone()
			for k, v := range r.SetHeaders {
				arrived.Set(k, v)
			}
		}
		if req, err = Request("GET", url, nil); err != nil {
			return hops, fmt.Errorf("pod %s: %s: %w", hop.Pod, UpstreamEnv, err)
		}
		proxy = meshxds.Proxy{Role: meshxds.Sidecar, Namespace: pod.Namespace, Labels: pod.Labels}
		// A permissive lane group's sidecar puts the lane the pod received
		// back on the pod's call (from its trace-id table or baggage), so
		// the next hop routes in that lane again.
		if lp := compile.Propagation(c, proxy); lp != nil {
			if lane := arrived.Get(lp.RouteHeader); lane != "" {
				req.Header.Set(lp.RouteHeader, lane)
			}
		}
		from = "sidecar " + hop.Pod
	}
	return hops, fmt.Errorf("the call chain is longer than %d hops; do the services call each other in a circle?", maxHops)
}

// servingPod is the instance behind the first healthy endpoint of the
// serving cluster.
func servingPod(instances []registry.Instance, r *Result) *registry.Instance {
	if r.Status != 0 {
		return nil
	}
	for _, e := range r.Endpoints {
		if !e.Healthy {
			continue
		}
		for i := range instances {
			if instances[i].Name == e.Pod && strings.HasPrefix(e.Address, instances[i].Address+":") {
				return &instances[i]
			}
		}
	}
	return nil
}

// upstreamURL is the URL the pod's Deployment tells its app to call.
func upstreamURL(c *config.Config, pod *registry.Instance) string {
	kind, name, _ := strings.Cut(pod.Owner, "/")
	if kind != "Deployment" {
		return ""
	}
	for _, d := range c.Deployments {
		if d.Metadata.Name != name || d.Metadata.Namespace != pod.Namespace {
			continue
		}
		for _, ctr := range d.Spec.Template.Spec.Containers {
			if v, ok := ctr.EnvValue(UpstreamEnv); ok {
				return v
			}
		}
	}
	return ""
}

// FormatChain renders a chain one hop a line: "caller -> URL: serving pod
// [FB] via rule", or the status the proxy would answer.
func FormatChain(hops []Hop) string {
	var b strings.Builder
	for _, h := range hops {
		r := h.Result
		fmt.Fprintf(&b, "%s -> %s: ", h.From, h.URL)
		switch {
		case r.Status != 0:
			fmt.Fprintf(&b, "%d %s (%s)\n", r.Status, r.Flag, r.Reason)
		default:
			fb := ""
			if r.FellBack {
				fb = " [FB]"
			}
			fmt.Fprintf(&b, "%s%s via %s\n", h.Pod, fb, ruleName(r))
		}
	}
	return b.String()
}
