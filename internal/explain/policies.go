package explain

import (
	"fmt"
	"strings"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"github.com/lanemesh/lanemesh/internal/hashring"
	"github.com/lanemesh/lanemesh/internal/meshxds"
	"github.com/lanemesh/lanemesh/internal/route"
)

// Balancing is how the serving cluster picks the endpoint: its policy
// and, for a consistent hash, the key the route hashes and the endpoint
// this request's key lands on.
type Balancing struct {
	Policy string `json:"policy"`            // LEAST_REQUEST, ROUND_ROBIN, RANDOM, RING_HASH, MAGLEV
	Key    string `json:"hashKey,omitempty"` // "header x-user", "cookie session", "source IP", "query parameter cart"
	// Endpoint is the endpoint the request's key picks ("" when the
	// request has no key: the proxy then picks one at random).
	Endpoint string `json:"endpoint,omitempty"`
	// SetCookie is the cookie the proxy would make up and set, when the
	// request lacks the one a cookie hash with a ttl reads.
	SetCookie bool `json:"setCookie,omitempty"`
}

// MirrorCopy is one mirror the request would be copied to.
type MirrorCopy struct {
	Cluster string  `json:"cluster"`
	Percent float64 `json:"percent"`
	// Missing is true when the proxy has no such cluster: Envoy then
	// sends no copy.
	Missing bool `json:"missing,omitempty"`
}

// policies fills in what the route does beside choosing a cluster: the
// load balancing of the serving cluster, the mirrors, and CORS.
func policies(res *meshxds.Resources, rt *route.Route, req *route.Request, out *Result) {
	for i := range rt.Mirrors {
		m := &rt.Mirrors[i]
		out.Mirrors = append(out.Mirrors, MirrorCopy{Cluster: m.Cluster, Percent: m.Percent(), Missing: !hasCluster(res, m.Cluster)})
	}
	if rt.CORS != nil {
		out.CORS = corsVerdict(rt.CORS, req)
	}
	if out.ServedBy == "" {
		return
	}
	var cl *clusterv3.Cluster
	for _, c := range res.Clusters {
		if c.Name == out.ServedBy {
			cl = c
		}
	}
	if cl == nil {
		return
	}
	out.Balancing = &Balancing{Policy: cl.LbPolicy.String()}
	if cl.LbPolicy != clusterv3.Cluster_RING_HASH && cl.LbPolicy != clusterv3.Cluster_MAGLEV {
		return
	}
	out.Balancing.Key = hashKeys(rt.Action.GetHashPolicy())
	if rt.Hash == nil {
		return
	}
	h := rt.Hash.Compute(req)
	out.Balancing.SetCookie = h.SetCookie != ""
	if !h.OK || h.SetCookie != "" { // a made-up cookie depends on the connection
		return
	}
	keys := make([]string, len(out.Endpoints))
	for i, e := range out.Endpoints {
		keys[i] = e.Address
	}
	var t *hashring.Table
	var err error
	if cl.LbPolicy == clusterv3.Cluster_RING_HASH {
		t, err = hashring.Ring(keys, cl.GetRingHashLbConfig().GetMinimumRingSize().GetValue(), cl.GetRingHashLbConfig().GetMaximumRingSize().GetValue())
	} else {
		t, err = hashring.Maglev(keys, cl.GetMaglevLbConfig().GetTableSize().GetValue())
	}
	if err != nil || t.Len() == 0 {
		return
	}
	// As the proxy does: the key's slot, or the next one whose endpoint
	// is healthy.
	for s, i := t.Start(h.Value), 0; i < t.Len(); i++ {
		if e := out.Endpoints[t.At((s+i)%t.Len())]; e.Healthy {
			out.Balancing.Endpoint = e.Address
			return
		}
	}
}

// hashKeys describes a route's hash policies.
func hashKeys(hp []*routev3.RouteAction_HashPolicy) string {
	var keys []string
	for _, p := range hp {
		switch {
		case p.GetHeader() != nil:
			keys = append(keys, "header "+p.GetHeader().GetHeaderName())
		case p.GetCookie() != nil:
			keys = append(keys, "cookie "+p.GetCookie().GetName())
		case p.GetConnectionProperties().GetSourceIp():
			keys = append(keys, "source IP")
		case p.GetQueryParameter() != nil:
			keys = append(keys, "query parameter "+p.GetQueryParameter().GetName())
		}
	}
	if len(keys) == 0 {
		return "none (every request picks at random)"
	}
	return strings.Join(keys, ", ")
}

// corsVerdict says what the CORS filter does with the request.
func corsVerdict(c *route.CORS, req *route.Request) string {
	origin := ""
	if v := req.Header["Origin"]; len(v) > 0 {
		origin = v[0]
	}
	switch c.Check(req, 0) {
	case route.CORSPreflight:
		return fmt.Sprintf("preflight from allowed origin %s: the proxy answers 200 with the CORS headers", origin)
	case route.CORSRefusePreflight:
		return fmt.Sprintf("preflight from origin %s, which is not allowed: the proxy answers 200 without Access-Control-Allow-Origin", origin)
	case route.CORSActual:
		return fmt.Sprintf("origin %s allowed: the response gets Access-Control-Allow-Origin", origin)
	}
	if origin == "" {
		return "no Origin: not a CORS request"
	}
	return fmt.Sprintf("origin %s not allowed: no CORS headers", origin)
}
