package controlplane

import (
	"context"
	"sort"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/lanemesh/lanemesh/internal/compile"
	"github.com/lanemesh/lanemesh/internal/xds"
)

// push compiles once per identity and brings every connected node to the
// result, make-before-break: when the new routes need clusters a node does
// not have, it first gets the new clusters beside its old routes; when
// clusters go away, it first gets the new routes beside the old clusters.
// Each phase waits (up to AckTimeout) for the nodes to accept it, so no
// proxy ever holds a route to a cluster it has not received, whatever order
// its xDS client applies the types in.
func (cp *ControlPlane) push(ctx context.Context) {
	connected := map[string]bool{}
	for _, st := range cp.opts.XDS.Proxies() {
		connected[st.ID] = st.Connected
	}
	cp.mu.Lock()
	for id := range cp.nodes {
		if known, ok := connected[id]; ok && !known {
			delete(cp.nodes, id) // gone; it is served afresh if it reconnects
		}
	}
	groups := map[string][]string{} // identity key → node ids
	proxies := map[string]compile.Proxy{}
	for id, p := range cp.nodes {
		key := xds.IdentityKey(p)
		groups[key] = append(groups[key], id)
		proxies[key] = p
	}
	cp.mu.Unlock()

	// The generation is read before compiling: whatever the compilations
	// see is at least this new.
	_, gen := cp.opts.Store.Config()
	var phases [3][]target // make, break, final
	for key, ids := range groups {
		next, err := cp.compile(proxies[key])
		if err != nil {
			cp.log.Error("cannot compile", "identity", key, "err", err)
			continue
		}
		cp.mu.Lock()
		prev := cp.served[key]
		cp.served[key] = next
		cp.mu.Unlock()
		for i, s := range transition(prev, next) {
			if s != nil {
				phases[i] = append(phases[i], target{ids: ids, snap: s.snap})
			}
		}
	}
	allAccepted := true
	for _, phase := range phases {
		allAccepted = cp.publish(ctx, phase) && allAccepted
	}
	cp.mu.Lock()
	cp.pushes++
	if allAccepted && gen > cp.converged {
		cp.converged = gen
	}
	cp.mu.Unlock()
}

// target is a snapshot for some nodes.
type target struct {
	ids  []string
	snap *cachev3.Snapshot
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
		out[0] = mustServe(&compile.Resources{Listeners: prev.res.Listeners, Routes: prev.res.Routes,
			Clusters: union.Clusters, Endpoints: union.Endpoints})
	}
	if removed {
		out[1] = mustServe(&compile.Resources{Listeners: next.res.Listeners, Routes: next.res.Routes,
			Clusters: union.Clusters, Endpoints: union.Endpoints})
	}
	return out
}

func mustServe(res *compile.Resources) *served {
	snap, err := res.Snapshot()
	if err != nil {
		return nil // a union of two consistent snapshots is consistent; skip the phase if not
	}
	return &served{res: res, snap: snap}
}

// clusterDiff reports whether next has clusters prev lacks, and the
// reverse.
func clusterDiff(prev, next *compile.Resources) (added, removed bool) {
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
func mergeClusters(prev, next *compile.Resources) *compile.Resources {
	clusters := map[string]*clusterv3.Cluster{}
	endpoints := map[string]*endpointv3.ClusterLoadAssignment{}
	for _, r := range []*compile.Resources{prev, next} {
		for _, c := range r.Clusters {
			clusters[c.Name] = c
		}
		for _, e := range r.Endpoints {
			endpoints[e.ClusterName] = e
		}
	}
	out := &compile.Resources{}
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

// publish sets each target's snapshot on its nodes and waits until they
// have all accepted it, or AckTimeout; it reports whether they all did.
func (cp *ControlPlane) publish(ctx context.Context, targets []target) bool {
	if len(targets) == 0 {
		return true
	}
	want := map[string]*cachev3.Snapshot{}
	for _, t := range targets {
		for _, id := range t.ids {
			if err := cp.opts.XDS.SetSnapshot(ctx, id, t.snap); err != nil {
				cp.log.Error("cannot push", "node", id, "err", err)
				continue
			}
			want[id] = t.snap
		}
	}
	deadline := time.NewTimer(cp.opts.AckTimeout)
	defer deadline.Stop()
	for len(want) > 0 {
		changed := cp.opts.XDS.Changes() // taken before checking, so no change is missed
		for id, snap := range want {
			if st, ok := cp.opts.XDS.Status(id); !ok || !st.Connected || accepted(st, snap) {
				delete(want, id)
			}
		}
		if len(want) == 0 {
			break
		}
		select {
		case <-changed:
			continue
		case <-deadline.C:
		case <-ctx.Done():
		}
		break
	}
	for id := range want {
		cp.log.Warn("proxy did not accept a push in time; continuing", "node", id, "timeout", cp.opts.AckTimeout)
	}
	return len(want) == 0
}

// typeURLs are the four resource types a snapshot carries, by cache index.
var typeURLs = map[types.ResponseType]string{
	types.Cluster: resourcev3.ClusterType, types.Endpoint: resourcev3.EndpointType,
	types.Listener: resourcev3.ListenerType, types.Route: resourcev3.RouteType,
}

// accepted reports whether a node has ACKed every type of snap.
func accepted(st xds.ProxyStatus, snap *cachev3.Snapshot) bool {
	for typ, url := range typeURLs {
		// A type with no resources is never requested, so never ACKed.
		if r := snap.Resources[typ]; len(r.Items) > 0 && st.Acked[url] != r.Version {
			return false
		}
	}
	return true
}
