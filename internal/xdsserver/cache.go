package xdsserver

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
)

// watchCache is the Server's go-control-plane cache: it holds the Snapshot
// set for each node and the watches of the node's streams (a watch is a
// request waiting for a response), and answers them from the snapshot.
//
// It answers as go-control-plane's SnapshotCache does in ADS mode, which
// the ordering in the package comment relies on:
//   - a watch is answered when its type's version in the snapshot differs
//     from the request's, or, as it opens, when the request names (or,
//     wildcard, lacks) a resource the stream has not been sent yet;
//   - an EDS or RDS watch is answered only when its names cover every
//     resource of the type in the snapshot, and then with all of them;
//   - on set, a node's open watches are answered in type order CDS, EDS,
//     LDS, RDS.
//
// Unlike SnapshotCache it marshals nothing: a response shares the
// snapshot's marshaled resources. And a watch that does not cover the
// snapshot stays open (SnapshotCache drops it) so that a later snapshot
// can answer it.
//
// Sends to a watch's channel, made under the lock, never block: a watch is
// answered at most once, and go-control-plane gives an ADS stream one
// channel with room for a response of every type, and each watch of the
// separate services a channel of its own with room for one.
type watchCache struct {
	mu     sync.Mutex
	nodes  map[string]*cacheNode
	lastID int64 // the latest watch id
}

// cacheNode is one node's snapshot and open watches.
type cacheNode struct {
	snap    *Snapshot // nil until set
	watches map[int64]*watch
}

// watch is one open request.
type watch struct {
	id   int64
	kind kind // numKinds for a type lanemesh does not serve: never answered
	req  *discoveryv3.DiscoveryRequest
	sub  cachev3.Subscription
	out  chan cachev3.Response
}

var _ cachev3.Cache = (*watchCache)(nil)

func newWatchCache() *watchCache {
	return &watchCache{nodes: map[string]*cacheNode{}}
}

// node returns the record of a node, creating it. c.mu is held.
func (c *watchCache) node(id string) *cacheNode {
	n := c.nodes[id]
	if n == nil {
		n = &cacheNode{watches: map[int64]*watch{}}
		c.nodes[id] = n
	}
	return n
}

// set makes snap the node's snapshot and answers its open watches that it
// changes, in type order.
func (c *watchCache) set(id string, snap *Snapshot) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.node(id)
	n.snap = snap
	// A node has a watch per type and stream, four on its one stream as a
	// rule: sorting them in place costs no allocation per node and push.
	var buf [2 * numKinds]*watch
	open := buf[:0]
	for _, w := range n.watches {
		open = append(open, w)
	}
	slices.SortFunc(open, func(a, b *watch) int {
		return cmp.Or(cmp.Compare(a.kind, b.kind), cmp.Compare(a.id, b.id))
	})
	for _, w := range open {
		// As in go-control-plane, a new snapshot answers only watches of
		// a type whose version it changes: what a stream lacks at the
		// same version was answered when the watch opened.
		if w.kind != numKinds && w.req.GetVersionInfo() != snap.version(w.kind) && w.answer(snap) {
			delete(n.watches, w.id)
		}
	}
}

// get returns the node's snapshot, nil if none was set.
func (c *watchCache) get(id string) *Snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := c.nodes[id]; n != nil {
		return n.snap
	}
	return nil
}

// clear forgets the node's snapshot and drops its open watches.
func (c *watchCache) clear(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.nodes, id)
}

// CreateWatch answers req at once if the node's snapshot calls for it, or
// keeps it open until a snapshot does or the stream cancels it.
func (c *watchCache) CreateWatch(req *cachev3.Request, sub cachev3.Subscription, out chan cachev3.Response) (func(), error) {
	k, ok := kindOf(req.GetTypeUrl())
	if !ok {
		k = numKinds
	}
	id := req.GetNode().GetId()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lastID++
	w := &watch{id: c.lastID, kind: k, req: req, sub: sub, out: out}
	n := c.node(id)
	if n.snap != nil && w.answer(n.snap) {
		return func() {}, nil
	}
	n.watches[w.id] = w
	return func() { c.cancel(id, w.id) }, nil
}

// cancel drops an open watch; a stream calls it when a new request
// replaces the watch, or when it ends.
func (c *watchCache) cancel(node string, watch int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := c.nodes[node]; n != nil {
		delete(n.watches, watch)
	}
}

// answer sends the watch its response from snap if snap calls for one,
// and reports whether it did.
func (w *watch) answer(snap *Snapshot) bool {
	if w.kind == numKinds {
		return false
	}
	t := &snap.types[w.kind]
	if w.req.GetVersionInfo() == t.version && !w.unsent(t) {
		return false
	}
	if !w.covers(t) {
		return false
	}
	w.out <- t.response(w.req)
	return true
}

// unsent reports whether the watch wants a resource of t that its stream
// has not been sent: a newly named one, or any one of a new wildcard
// subscription.
func (w *watch) unsent(t *wireType) bool {
	sent := w.sub.ReturnedResources()
	if w.sub.IsWildcard() {
		for _, n := range t.names {
			if _, ok := sent[n]; !ok {
				return true
			}
		}
		return false
	}
	for n := range w.sub.SubscribedResources() {
		_, have := t.returned[n]
		if _, ok := sent[n]; !ok && have {
			return true
		}
	}
	return false
}

// covers reports whether the watch names every resource of t (ADS mode):
// a wildcard one does; an EDS or RDS request that lacks some waits for the
// proxy to ask again with the names the new clusters or listeners use.
func (w *watch) covers(t *wireType) bool {
	if w.sub.IsWildcard() || len(w.req.GetResourceNames()) == 0 {
		return true
	}
	named := w.sub.SubscribedResources()
	for _, n := range t.names {
		if _, ok := named[n]; !ok {
			return false
		}
	}
	return true
}

// Fetch answers a unary request from the node's snapshot: the named
// resources of the type, or all of them if none is named.
func (c *watchCache) Fetch(_ context.Context, req *cachev3.Request) (cachev3.Response, error) {
	snap := c.get(req.GetNode().GetId())
	if snap == nil {
		return nil, fmt.Errorf("no snapshot for node %q", req.GetNode().GetId())
	}
	k, ok := kindOf(req.GetTypeUrl())
	if !ok {
		return nil, fmt.Errorf("type %q is not served", req.GetTypeUrl())
	}
	t := &snap.types[k]
	if req.GetVersionInfo() == t.version {
		return nil, &types.SkipFetchError{}
	}
	if len(req.GetResourceNames()) == 0 {
		return t.response(req), nil
	}
	return &cachev3.PassthroughResponse{Request: req, DiscoveryResponse: &discoveryv3.DiscoveryResponse{
		VersionInfo: t.version, Resources: t.only(req.GetResourceNames()), TypeUrl: req.GetTypeUrl()}}, nil
}

// CreateDeltaWatch refuses: delta streams are refused when they open (see
// tracker.OnDeltaStreamOpen), so this is not reached.
func (c *watchCache) CreateDeltaWatch(*cachev3.DeltaRequest, cachev3.Subscription, chan cachev3.DeltaResponse) (func(), error) {
	return nil, errors.New("lanemesh serves state-of-the-world xDS only")
}
