package proxy

import (
	"errors"
	"fmt"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"

	"github.com/lanemesh/lanemesh/internal/hashring"
	"github.com/lanemesh/lanemesh/internal/route"
)

// buildRing builds the table of a RING_HASH or MAGLEV cluster over every
// endpoint its assignment lists, healthy or not, keyed by address as
// Envoy keys hosts. Endpoints that cannot take a request are skipped at
// pick time instead (see pickHashed): then an endpoint that turns
// unhealthy or is ejected moves only its own keys, and they come back
// when it does. Envoy rebuilds its table from the healthy endpoints
// instead, which also moves a few keys among the others; lanemesh keeps
// the stabler table and rebuilds only when the endpoints listed change.
func buildRing(c *clusterv3.Cluster, lb lbPolicy, eps []*endpoint, cs *clusterStats) (*hashring.Table, error) {
	if lb != lbRingHash && lb != lbMaglev {
		return nil, nil
	}
	if ch := c.GetCommonLbConfig().GetConsistentHashingLbConfig(); ch.GetUseHostnameForHashing() || ch.GetHashBalanceFactor() != nil {
		return nil, fmt.Errorf("%w: consistent_hashing_lb_config (use_hostname_for_hashing, hash_balance_factor) is not supported", route.ErrUnsupported)
	}
	if h := c.GetRingHashLbConfig().GetHashFunction(); lb == lbRingHash && h != clusterv3.Cluster_RingHashLbConfig_XX_HASH {
		return nil, fmt.Errorf("%w: ring_hash_lb_config hash_function %v is not supported; use XX_HASH", route.ErrUnsupported, h)
	}
	keys := make([]string, len(eps))
	for i, e := range eps {
		keys[i] = e.addr
	}
	rh := c.GetRingHashLbConfig()
	sig := fmt.Sprintf("%v %d %d %d %q", lb, rh.GetMinimumRingSize().GetValue(), rh.GetMaximumRingSize().GetValue(),
		c.GetMaglevLbConfig().GetTableSize().GetValue(), keys)
	if prev := cs.ring.Load(); prev != nil && prev.sig == sig {
		return prev.table, nil
	}
	var t *hashring.Table
	var err error
	if lb == lbRingHash {
		t, err = hashring.Ring(keys, rh.GetMinimumRingSize().GetValue(), rh.GetMaximumRingSize().GetValue())
	} else {
		t, err = hashring.Maglev(keys, c.GetMaglevLbConfig().GetTableSize().GetValue())
	}
	if errors.Is(err, hashring.ErrSize) {
		return nil, fmt.Errorf("%w: %w", route.ErrInvalid, err)
	}
	if err == nil {
		// Stored before the snapshot is published: a rejected update may
		// leave a table the running snapshot does not use, which only
		// costs a rebuild later.
		cs.ring.Store(&builtRing{sig: sig, table: t})
	}
	return t, err
}

// builtRing is a table and what it was built from.
type builtRing struct {
	sig   string
	table *hashring.Table
}

// pickHashed returns the endpoint of a consistent-hash cluster for hash h:
// the one h's slot holds or, when that one cannot take the request now,
// the first usable one in the slots after it. nil when none is usable.
func (cl *cluster) pickHashed(h uint64, now int64) *endpoint {
	t := cl.ring
	n := t.Len()
	start := t.Start(h)
	for i := range n {
		if e := cl.endpoints[t.At((start+i)%n)]; e.usable(now) {
			return e
		}
	}
	return nil
}

// pick chooses the endpoint of target for the next attempt. A
// consistent-hash cluster reads the route's hash policy, computed once per
// request; a request without the key gets a random hash, so it lands on a
// random endpoint, as in Envoy. Retries stay on the hashed endpoint (avoid
// is not honoured there), as Istio leaves out the previous-hosts retry
// predicate when a route hashes.
func (x *exchange) pick(target *cluster, avoid *endpoint) *endpoint {
	if target.ring == nil {
		return target.pick(x.now, x.p.rand, avoid)
	}
	if !x.hashed {
		x.hashed = true
		if x.rt.Hash != nil {
			rq := route.Request{Method: x.r.Method, Authority: x.authority, Path: x.path, Header: x.r.Header,
				RemoteAddr: x.r.RemoteAddr, LocalAddr: x.bind}
			x.hash = x.rt.Hash.Compute(&rq)
		}
	}
	h := x.hash.Value
	if !x.hash.OK {
		h = uint64(x.p.rand())<<32 | uint64(x.p.rand())
	}
	return target.pickHashed(h, x.now)
}
