package xdsserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sort"
	"strings"
	"sync"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"github.com/lanemesh/lanemesh/internal/meshxds"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ProxyStatus is what the server knows about one node.
type ProxyStatus struct {
	ID string
	// Proxy is the identity from the node's metadata, as of its latest
	// stream.
	Proxy meshxds.Proxy
	// Connected is true while the node has at least one open stream.
	Connected bool
	// Acked maps a type URL to the last version the node accepted: the
	// version_info of its latest request without error_detail. A version
	// ending in RetrySuffix is a rejected one sent again (see SetSnapshot).
	Acked map[string]string
	// LastNACK is the node's most recent rejection, nil if it never
	// rejected anything. It stays after later ACKs: compare Acked[TypeURL]
	// with Version to see whether the node has moved on.
	LastNACK *NACK
	// Cluster is the node's cluster and Agent its user agent and version
	// ("lanemesh (devel)", "envoy 1.36.0"), as it sent them.
	Cluster string `json:",omitempty"`
	Agent   string `json:",omitempty"`
	// Sent maps a type URL to the version of the latest response the
	// node's open streams were sent.
	Sent map[string]string
	// Sync maps each type URL lanemesh serves to the node's state for it,
	// in istioctl proxy-status's words: Synced, NotSent or Stale.
	Sync map[string]SyncState
}

// SyncState is how far a node is with one type, as istioctl proxy-status
// reports it.
type SyncState string

const (
	// Synced: the node ACKed the latest response it was sent, and that is
	// the version of the snapshot it is served.
	Synced SyncState = "SYNCED"
	// NotSent: nothing of this type was sent on the node's open streams
	// (a disconnected node, or a type it never asked for), and its snapshot
	// has nothing of this type to send either.
	NotSent SyncState = "NOT SENT"
	// Stale: the node was sent, or is due to be sent, a version it has not
	// ACKed: it is catching up, or it rejected it (see LastNACK).
	Stale SyncState = "STALE"
)

// NACK is one configuration a node rejected.
type NACK struct {
	TypeURL string
	// Version is the version the node rejected, when the server knows it
	// (the response its nonce names), else the request's version_info.
	Version string
	// Message is error_detail.message: the proxy's reason.
	Message string
	Time    time.Time
}

// tracker implements go-control-plane's callbacks: it records, per stream,
// what was sent, and per node, what was accepted or rejected.
type tracker struct {
	logger *slog.Logger
	onNode func() func(string, meshxds.Proxy) // reads Server.OnNode
	auth   func() Authenticator               // reads Server.Auth
	// onGone, if set, is called (t.mu held) when a node loses its last
	// stream, with the number of that disconnection.
	onGone func(id string, gone uint64)

	mu      sync.Mutex
	streams map[int64]*streamRecord
	nodes   map[string]*nodeRecord
	// changed is closed, and replaced, whenever a node's status changes,
	// so a control plane can wait for ACKs instead of polling. watched
	// says whether anyone took it since: if not, there is nobody to wake
	// and no new channel to make, which is the case for most ACKs.
	changed chan struct{}
	watched bool
}

// streamRecord is one open stream.
type streamRecord struct {
	node string           // "" until the first request names the node
	sent [numKinds]sentAt // by kind: the latest response; zero if none
	// grant is what the stream's credentials allow it to claim; nil when
	// the server has no Authenticator.
	grant *Grant
}

type sentAt struct{ nonce, version string }

type nodeRecord struct {
	proxy meshxds.Proxy
	// claimed is the identity the node claimed, and grant what its
	// stream's credentials allow (nil without an Authenticator): the
	// identity served is grant.Serve(claimed), asked again when what it
	// reads may have changed (reidentify).
	claimed meshxds.Proxy
	grant   *Grant
	// cluster and agent are what the node said of itself (ProxyStatus).
	cluster, agent string
	// who is the grant holder of the node's open streams ("" without an
	// Authenticator): a node id is held by one holder at a time, so that
	// one proxy cannot take over the snapshot another is served.
	who     string
	streams int
	// gone counts the times the node lost its last stream, so that a
	// timer set at one disconnection never forgets a node that came back
	// and left again since.
	gone uint64
	// acked is the version last accepted of each kind lanemesh serves,
	// "" if none; ackedOther the same for other type URLs a node may
	// name, nil until one does. The kinds are an array because every
	// ACK reads all of them (settle), a thousand nodes at a time.
	acked      [numKinds]string
	ackedOther map[string]string
	lastNACK   *NACK
	// rejected holds, by kind, the NACKs the node has not yet moved past
	// (no later response of that kind has been answered); zero if none.
	rejected [numKinds]sentAt
	// serving is the snapshot the node was last given, nil if none.
	serving *Snapshot
	// inStep is closed once the node has ACKed serving, or has no open
	// stream; SetSnapshot replaces a closed one (see Server.Synced).
	inStep chan struct{}
}

// closedChan is the answer of Synced for a node nobody waits for.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// settle closes inStep if the node is in step with what it is served or
// has gone. t.mu is held.
func (n *nodeRecord) settle() {
	select {
	case <-n.inStep:
		return // already closed
	default:
	}
	if n.streams == 0 || n.serving == nil || n.serving.inStep(&n.acked) {
		close(n.inStep)
	}
}

var _ serverv3.Callbacks = (*tracker)(nil)

func newTracker(logger *slog.Logger, onNode func() func(string, meshxds.Proxy), auth func() Authenticator) *tracker {
	return &tracker{logger: logger, onNode: onNode, auth: auth, streams: map[int64]*streamRecord{}, nodes: map[string]*nodeRecord{},
		changed: make(chan struct{})}
}

// notify wakes everyone waiting on changed. t.mu is held.
func (t *tracker) notify() {
	if !t.watched {
		return
	}
	close(t.changed)
	t.changed, t.watched = make(chan struct{}), false
}

// changes returns a channel that is closed at the next status change.
func (t *tracker) changes() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.watched = true
	return t.changed
}

// status returns a copy of one node's record.
func (t *tracker) status(id string) (ProxyStatus, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := t.nodes[id]
	if n == nil {
		return ProxyStatus{}, false
	}
	return t.nodeStatus(id, n, t.streamsByNode()[id]), true
}

// streamsByNode indexes the open streams by the node they serve, so that
// the status of every node costs one pass over the streams, not one per
// node. t.mu is held.
func (t *tracker) streamsByNode() map[string][]*streamRecord {
	by := make(map[string][]*streamRecord, len(t.nodes))
	for _, st := range t.streams {
		if st.node != "" {
			by[st.node] = append(by[st.node], st)
		}
	}
	return by
}

// status copies a node's record and works out its sync state from what
// its open streams (streams) were sent. t.mu is held.
func (t *tracker) nodeStatus(id string, n *nodeRecord, streams []*streamRecord) ProxyStatus {
	p := n.proxy
	p.Labels = maps.Clone(p.Labels)
	ps := ProxyStatus{ID: id, Proxy: p, Connected: n.streams > 0, Acked: maps.Clone(n.ackedOther), Cluster: n.cluster, Agent: n.agent,
		Sent: map[string]string{}, Sync: map[string]SyncState{}}
	if ps.Acked == nil {
		ps.Acked = map[string]string{}
	}
	for k, v := range n.acked {
		if v != "" {
			ps.Acked[kind(k).TypeURL()] = v
		}
	}
	if n.lastNACK != nil {
		c := *n.lastNACK
		ps.LastNACK = &c
	}
	for _, st := range streams {
		for k, s := range st.sent {
			if s.nonce != "" {
				ps.Sent[kind(k).TypeURL()] = s.version
			}
		}
	}
	for k := range numKinds {
		typ := k.TypeURL()
		ps.Sync[typ] = syncState(ps.Sent[typ], n.acked[k], n.serving, k)
	}
	return ps
}

// syncState is istioctl's verdict on one type: nothing sent and nothing to
// send is NOT SENT; an ACK of the latest response that is also the
// snapshot's version is SYNCED; anything else is STALE.
func syncState(sent, acked string, serving *Snapshot, k kind) SyncState {
	want := ""
	if serving != nil && len(serving.types[k].names) > 0 {
		want = serving.version(k)
	}
	switch {
	case sent == "" && want == "":
		return NotSent
	case sent != "" && acked == sent && (want == "" || want == sent):
		return Synced
	default:
		return Stale
	}
}

// serve records the snapshot a node is given. An unknown node is not
// recorded: it has never connected, and Synced does not wait for it.
func (t *tracker) serve(id string, snap *Snapshot) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := t.nodes[id]
	if n == nil {
		return
	}
	n.serving = snap
	select {
	case <-n.inStep: // in step with the previous snapshot: wait anew
		n.inStep = make(chan struct{})
	default: // waiters for the previous snapshot now wait for this one
	}
	n.settle()
}

// synced returns the channel that closes when the node is in step.
func (t *tracker) synced(id string) <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	if n := t.nodes[id]; n != nil {
		return n.inStep
	}
	return closedChan
}

// OnStreamOpen authenticates a stream, when the server has an
// Authenticator, and starts recording it. A stream whose credentials are
// refused is closed with Unauthenticated before it can name a node.
func (t *tracker) OnStreamOpen(ctx context.Context, id int64, _ string) error {
	rec := &streamRecord{}
	if a := t.auth(); a != nil {
		g, err := a.Authenticate(ctx, bearer(ctx))
		if err != nil {
			t.logger.Warn("xds: refused stream", "err", err)
			code := codes.Unavailable // the authenticator could not decide
			if errors.Is(err, ErrUnauthenticated) {
				code = codes.Unauthenticated
			}
			return status.Error(code, err.Error())
		}
		rec.grant = &g
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.streams[id] = rec
	return nil
}

// OnStreamClosed marks the stream's node disconnected once its last stream
// is gone.
func (t *tracker) OnStreamClosed(id int64, _ *corev3.Node) {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.streams[id]
	delete(t.streams, id)
	if st == nil || st.node == "" {
		return
	}
	if n := t.nodes[st.node]; n != nil {
		n.streams--
		n.settle()
		if n.streams == 0 && t.onGone != nil {
			n.gone++
			t.onGone(st.node, n.gone)
		}
	}
	t.notify()
	t.logger.Info("xds: proxy disconnected", "node", st.node)
}

// forgetGone drops the record of a node that is still disconnected since
// its disconnection number gone, and says whether it did.
func (t *tracker) forgetGone(id string, gone uint64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := t.nodes[id]
	if n == nil || n.streams > 0 || n.gone != gone {
		return false
	}
	delete(t.nodes, id)
	t.notify()
	return true
}

// OnStreamRequest identifies the node on its stream's first request and
// records ACKs and NACKs. A node without a valid identity is refused with
// InvalidArgument: nothing could be compiled for it.
//
// A NACK's version_info is the node's previous good version, which the
// snapshot cache compares with the current one and, finding them different,
// would answer with the very snapshot just rejected, and again after each
// NACK. The request's version_info is therefore set to the rejected version
// before the cache sees it, so the node gets its next response when the
// snapshot changes, as Istio does.
func (t *tracker) OnStreamRequest(id int64, req *discoveryv3.DiscoveryRequest) error {
	t.mu.Lock()
	st := t.streams[id]
	if st == nil { // not opened through OnStreamOpen: cannot happen
		t.mu.Unlock()
		return status.Error(codes.Internal, "unknown stream")
	}
	first := st.node == ""
	var p meshxds.Proxy
	if first {
		var err error
		if p, err = t.register(st, req.GetNode()); err != nil {
			t.mu.Unlock()
			t.logger.Warn("xds: refused node", "node", req.GetNode().GetId(), "err", err)
			code := codes.InvalidArgument
			if errors.Is(err, errForbidden) {
				code = codes.PermissionDenied
			}
			return status.Error(code, err.Error())
		}
	}
	nack := t.record(st, req)
	t.notify()
	t.mu.Unlock()
	if first {
		t.logger.Info("xds: proxy connected", "node", st.node, "identity", meshxds.IdentityKey(p))
	}
	if nack != nil {
		t.logger.Warn("xds: proxy rejected configuration (NACK)", "node", st.node,
			"type", nack.TypeURL, "version", nack.Version, "error", nack.Message)
	}
	if onNode := t.onNode(); first && onNode != nil {
		onNode(st.node, p)
	}
	return nil
}

// errForbidden is wrapped by register's errors for a node the stream's
// credentials may not claim.
var errForbidden = errors.New("forbidden")

// errNoNodeID refuses a stream whose node has no id: the server keys
// snapshots and statuses by it.
var errNoNodeID = fmt.Errorf("%w: node.id is empty", meshxds.ErrNodeMetadata)

// register binds a stream to its node, serving it the identity its grant
// allows. t.mu is held.
func (t *tracker) register(st *streamRecord, node *corev3.Node) (meshxds.Proxy, error) {
	if node.GetId() == "" {
		return meshxds.Proxy{}, errNoNodeID
	}
	p, err := meshxds.ProxyOf(node)
	if err != nil {
		return meshxds.Proxy{}, err
	}
	claimed := p
	var who string
	if st.grant != nil {
		who = st.grant.Who
		if p, err = st.grant.Serve(p); err != nil {
			return meshxds.Proxy{}, fmt.Errorf("node %q: %w: %s: %v", node.GetId(), errForbidden, who, err)
		}
	}
	n := t.nodes[node.GetId()]
	if n != nil && n.streams > 0 && n.who != who {
		return meshxds.Proxy{}, fmt.Errorf("node %q: %w: the id is in use by %s; give each proxy its own node id", node.GetId(), errForbidden, n.who)
	}
	if n == nil {
		n = &nodeRecord{inStep: closedChan}
		t.nodes[node.GetId()] = n
	}
	n.who = who
	n.proxy, n.claimed, n.grant = p, claimed, st.grant
	n.cluster = node.GetCluster()
	n.agent = strings.TrimSpace(node.GetUserAgentName() + " " + node.GetUserAgentVersion())
	n.proxy.Labels = maps.Clone(p.Labels) // p goes to OnNode, which may keep it
	n.streams++
	st.node = node.GetId()
	return p, nil
}

// reidentify asks the grant of every connected node again for the
// identity it is served, and returns the nodes whose identity changed,
// with the new one: a Kubernetes pod relabelled since its sidecar
// connected is served by its new labels (sourceLabels, lanes), as Istio
// updates a proxy's labels from its pod.
func (t *tracker) reidentify() map[string]meshxds.Proxy {
	t.mu.Lock()
	defer t.mu.Unlock()
	var changed map[string]meshxds.Proxy
	for id, n := range t.nodes {
		if n.streams == 0 || n.grant == nil {
			continue
		}
		p, err := n.grant.Serve(n.claimed)
		if err != nil || meshxds.IdentityKey(p) == meshxds.IdentityKey(n.proxy) {
			continue // refused now: the node's pod is going, and its stream with it
		}
		p.Labels = maps.Clone(p.Labels)
		n.proxy = p
		if changed == nil {
			changed = map[string]meshxds.Proxy{}
		}
		changed[id] = p
		t.logger.Info("xds: proxy identity changed", "node", id, "identity", meshxds.IdentityKey(p))
	}
	return changed
}

// record notes an ACK or NACK and returns the NACK, if any. t.mu is held.
func (t *tracker) record(st *streamRecord, req *discoveryv3.DiscoveryRequest) *NACK {
	n := t.nodes[st.node]
	typ := req.GetTypeUrl()
	k, served := kindOf(typ)
	if req.GetErrorDetail() == nil {
		if v := req.GetVersionInfo(); v != "" && served {
			n.acked[k] = v
		} else if v != "" {
			if n.ackedOther == nil {
				n.ackedOther = map[string]string{}
			}
			n.ackedOther[typ] = v
		}
		// A request that answers another response than the NACKed one
		// (or opens a new stream) moves past the rejection; one that only
		// changes resource names after it does not.
		if served && n.rejected[k].nonce != "" && n.rejected[k].nonce != req.GetResponseNonce() {
			n.rejected[k] = sentAt{}
		}
		n.settle()
		return nil
	}
	nack := &NACK{TypeURL: typ, Version: req.GetVersionInfo(), Message: req.GetErrorDetail().GetMessage(), Time: time.Now()}
	if s := st.sent[k]; served && s.nonce != "" && s.nonce == req.GetResponseNonce() {
		nack.Version = s.version
		req.VersionInfo = s.version // see OnStreamRequest
		n.rejected[k] = s
	}
	n.lastNACK = nack
	c := *nack
	return &c
}

// rejected returns the versions a node has rejected and not moved past, by
// kind ("" for none), and whether there is any.
func (t *tracker) rejected(id string) (out [numKinds]string, any bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := t.nodes[id]
	if n == nil {
		return out, false
	}
	for k, r := range n.rejected {
		if r.nonce != "" {
			out[k], any = r.version, true
		}
	}
	return out, any
}

// OnStreamResponse remembers the latest response per type, so that a NACK
// can be matched to the version it rejects.
func (t *tracker) OnStreamResponse(_ context.Context, id int64, _ *discoveryv3.DiscoveryRequest, resp *discoveryv3.DiscoveryResponse) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if k, ok := kindOf(resp.GetTypeUrl()); ok {
		if st := t.streams[id]; st != nil {
			st.sent[k] = sentAt{nonce: resp.GetNonce(), version: resp.GetVersionInfo()}
		}
	}
}

// OnDeltaStreamOpen refuses delta xDS: the tracker, and lanemesh's client,
// speak state-of-the-world only, and a config a proxy rejects must never go
// unrecorded.
func (t *tracker) OnDeltaStreamOpen(context.Context, int64, string) error {
	return status.Error(codes.Unimplemented, "lanemesh serves state-of-the-world xDS only; configure the proxy for SotW (GRPC, not DELTA_GRPC)")
}

// OnDeltaStreamClosed does nothing: delta streams are refused on open.
func (t *tracker) OnDeltaStreamClosed(int64, *corev3.Node) {}

// OnStreamDeltaRequest does nothing: delta streams are refused on open.
func (t *tracker) OnStreamDeltaRequest(int64, *discoveryv3.DeltaDiscoveryRequest) error { return nil }

// OnStreamDeltaResponse does nothing: delta streams are refused on open.
func (t *tracker) OnStreamDeltaResponse(int64, *discoveryv3.DeltaDiscoveryRequest, *discoveryv3.DeltaDiscoveryResponse) {
}

// OnFetchRequest allows unary fetches, which carry no ACKs to record, only
// on a server without an Authenticator: a fetch names its node by id
// alone, so it could read another proxy's configuration.
func (t *tracker) OnFetchRequest(context.Context, *discoveryv3.DiscoveryRequest) error {
	if t.auth() != nil {
		return status.Error(codes.PermissionDenied, "this control plane authenticates proxies: use an ADS stream, not a unary fetch")
	}
	return nil
}

// OnFetchResponse does nothing.
func (t *tracker) OnFetchResponse(*discoveryv3.DiscoveryRequest, *discoveryv3.DiscoveryResponse) {}

// forget drops a node's record unless it is connected, and in any case
// what it was served.
func (t *tracker) forget(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := t.nodes[id]
	if n == nil {
		return
	}
	if n.streams == 0 {
		delete(t.nodes, id)
	}
	n.serving = nil
	n.settle()
}

// connected reports, for every node the tracker knows, whether it has an
// open stream: what a push needs, without building each node's status.
func (t *tracker) connected() map[string]bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string]bool, len(t.nodes))
	for id, n := range t.nodes {
		out[id] = n.streams > 0
	}
	return out
}

// glance counts the connected nodes and copies the last NACK of each node
// that has one. t.mu is taken once, and nothing is built per node.
func (t *tracker) glance() Glance {
	t.mu.Lock()
	defer t.mu.Unlock()
	var g Glance
	for id, n := range t.nodes {
		if n.streams > 0 {
			g.Connected++
		}
		if n.lastNACK != nil {
			g.NACKs = append(g.NACKs, ProxyNACK{ID: id, NACK: *n.lastNACK})
		}
	}
	sort.Slice(g.NACKs, func(i, j int) bool { return g.NACKs[i].ID < g.NACKs[j].ID })
	return g
}

// proxies returns copies of every node's record, sorted by id.
func (t *tracker) proxies() []ProxyStatus {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]ProxyStatus, 0, len(t.nodes))
	by := t.streamsByNode()
	for id, n := range t.nodes {
		out = append(out, t.nodeStatus(id, n, by[id]))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
