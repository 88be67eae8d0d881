package controlplane

import (
	"context"
	"errors"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"

	"github.com/lanemesh/lanemesh/internal/meshxds"
	"github.com/lanemesh/lanemesh/internal/xdsserver"
)

// push compiles once per identity and brings every connected node to the
// result, make-before-break: when the new routes need clusters a node does
// not have, it first gets the new clusters beside its old routes; when
// clusters go away, it first gets the new routes beside the old clusters.
// A node gets each phase once it has accepted the one before (or after
// AckTimeout), so no proxy ever holds a route to a cluster it has not
// received, whatever order its xDS client applies the types in.
//
// Each node goes through the phases at its own pace: the guarantee is per
// proxy, so a node does not wait for others to accept a phase, and the
// push is over when the slowest node is.
func (cp *ControlPlane) push(ctx context.Context) {
	groups, proxies := cp.connectedGroups()
	// The generation is read before compiling: whatever the compilations
	// see is at least this new.
	_, gen := cp.opts.Store.Config()
	var wg sync.WaitGroup
	var late atomic.Int64
	for key, ids := range groups {
		phases, err := cp.phases(key, proxies[key])
		if err != nil {
			cp.log.Error("cannot compile", "identity", key, "err", err)
			late.Add(1)
			continue
		}
		for _, id := range ids {
			wg.Go(func() {
				if !cp.roll(ctx, id, phases) {
					late.Add(1)
				}
			})
		}
	}
	wg.Wait()
	cp.mu.Lock()
	cp.pushes++
	if late.Load() == 0 && gen > cp.converged {
		cp.converged = gen
	}
	cp.mu.Unlock()
}

// connectedGroups forgets the nodes that have disconnected (a node that
// comes back is served afresh) and the identities none of the others has;
// it groups the others by identity key. A node missing from Proxies has
// connected since they were listed (nodeForgotten removes the others).
func (cp *ControlPlane) connectedGroups() (groups map[string][]string, proxies map[string]meshxds.Proxy) {
	connected := cp.opts.XDS.Connected()
	cp.mu.Lock()
	defer cp.mu.Unlock()
	groups, proxies = map[string][]string{}, map[string]meshxds.Proxy{}
	for id, n := range cp.nodes {
		if known, ok := connected[id]; ok && !known {
			delete(cp.nodes, id)
			continue
		}
		groups[n.key] = append(groups[n.key], id)
		proxies[n.key] = n.proxy
	}
	for key := range cp.served {
		if groups[key] == nil {
			delete(cp.served, key)
		}
	}
	return groups, proxies
}

// phases compiles for an identity, makes the result what its nodes are
// served from now on, and returns the snapshots that take a node there
// from the identity's previous result, in order.
func (cp *ControlPlane) phases(key string, p meshxds.Proxy) ([]*xdsserver.Snapshot, error) {
	next, err := cp.compile(p)
	if err != nil {
		return nil, err
	}
	cp.mu.Lock()
	prev := cp.served[key]
	cp.served[key] = next
	cp.mu.Unlock()
	var out []*xdsserver.Snapshot
	for _, s := range transition(prev, next) {
		if s != nil {
			out = append(out, s.snap)
		}
	}
	return out, nil
}

// roll gives a node each phase in turn, the next once it has accepted the
// previous or AckTimeout passed, and reports whether it accepted them all
// in time. It stops if ctx ends: giving the rest without waiting would
// break make-before-break.
func (cp *ControlPlane) roll(ctx context.Context, id string, phases []*xdsserver.Snapshot) bool {
	inTime := true
	// One timer for every phase: a push waits for a thousand nodes at once.
	timer := time.NewTimer(cp.opts.AckTimeout)
	defer timer.Stop()
	for i, snap := range phases {
		if i > 0 {
			timer.Reset(cp.opts.AckTimeout)
		}
		cp.opts.XDS.SetSnapshot(id, snap)
		switch cp.wait(ctx, id, timer) {
		case errLate:
			cp.log.Warn("proxy did not accept a push in time; continuing", "node", id, "timeout", cp.opts.AckTimeout)
			inTime = false
		case errStopped:
			return false
		}
	}
	return inTime
}

var (
	errLate    = errors.New("not accepted in time")
	errStopped = errors.New("stopped")
)

// wait waits until the node is in step with its snapshot (or gone), or
// timer fires.
func (cp *ControlPlane) wait(ctx context.Context, id string, timer *time.Timer) error {
	select {
	case <-cp.opts.XDS.Synced(id):
		return nil
	case <-timer.C:
		return errLate
	case <-ctx.Done():
		return errStopped
	}
}

// transition returns the snapshots that take nodes from prev to next:
// [make, break, final]; make and break are nil when not needed.
func transition(prev, next *served) [3]*served {
	out := [3]*served{2: next}
	if prev == nil {
		return out
	}
	added, removed := clusterDiff(prev.res, next.res)
	union := mergeClusters(prev.res, next.res)
	if added {
		out[0] = mustServe(&meshxds.Resources{Listeners: prev.res.Listeners, Routes: prev.res.Routes,
			Clusters: union.Clusters, Endpoints: union.Endpoints})
	}
	if removed {
		out[1] = mustServe(&meshxds.Resources{Listeners: next.res.Listeners, Routes: next.res.Routes,
			Clusters: union.Clusters, Endpoints: union.Endpoints})
	}
	return out
}

func mustServe(res *meshxds.Resources) *served {
	s, err := serve(res)
	if err != nil {
		return nil // a union of two consistent snapshots is consistent; skip the phase if not
	}
	return s
}

// clusterDiff reports whether next has clusters prev lacks, and the
// reverse.
func clusterDiff(prev, next *meshxds.Resources) (added, removed bool) {
	have := map[string]bool{}
	for _, c := range prev.Clusters {
		have[c.Name] = true
	}
	for _, c := range next.Clusters {
		if !have[c.Name] {
			added = true
		}
		delete(have, c.Name)
	}
	return added, len(have) > 0
}

// mergeClusters returns the clusters and endpoints of both, next's where
// both have one, sorted by name.
func mergeClusters(prev, next *meshxds.Resources) *meshxds.Resources {
	clusters := map[string]*clusterv3.Cluster{}
	endpoints := map[string]*endpointv3.ClusterLoadAssignment{}
	for _, r := range []*meshxds.Resources{prev, next} {
		for _, c := range r.Clusters {
			clusters[c.Name] = c
		}
		for _, e := range r.Endpoints {
			endpoints[e.ClusterName] = e
		}
	}
	out := &meshxds.Resources{}
	for _, c := range clusters {
		out.Clusters = append(out.Clusters, c)
	}
	for _, e := range endpoints {
		out.Endpoints = append(out.Endpoints, e)
	}
	sort.Slice(out.Clusters, func(i, j int) bool { return out.Clusters[i].Name < out.Clusters[j].Name })
	sort.Slice(out.Endpoints, func(i, j int) bool { return out.Endpoints[i].ClusterName < out.Endpoints[j].ClusterName })
	return out
}
