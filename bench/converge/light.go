package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/lanemesh/lanemesh/internal/meshxds"
	"github.com/lanemesh/lanemesh/internal/xds"
)

// A lightClient is a simulated proxy that speaks xDS on the wire as
// xds.Client does, so that the control plane cannot tell the two apart:
// its own gRPC connection and ADS stream, wildcard CDS and LDS, EDS and RDS
// for exactly the names the clusters and listeners it holds reference, and
// one ACK (or NACK) per response, with the response's version and nonce.
//
// What it skips is the proxy's own work on a response: it does not decode
// and validate each resource, nor build a configuration. The first time a
// process's light clients see a resource's bytes, the process decodes them
// once (facts) and every light client that receives the same bytes looks
// the result up; a proxy's view is then the names its resources carry, and
// "it has the change" is its routes' fallback state, settled when the view
// is complete, as xds.Client hands Apply only complete views. That takes
// the N decodes of every change off the one core the harness's clients
// share, where real proxies decode on their own CPUs; the sample of full
// xds.Clients that runs beside them measures what one proxy's decoding
// costs (see fleet).
type lightClient struct {
	target string
	node   *corev3.Node
	token  xds.TokenSource
	memo   *memo
	count  *counter
	// seen is told the fallback state of each new complete view.
	seen func(on bool)
}

// facts is what a light client needs of one resource.
type facts struct {
	name string
	// refs are the EDS service names of an EDS cluster, or the route
	// configuration names of a listener's HTTP connection managers.
	refs []string
	// fallback: a route configuration sends to a fallback cluster.
	fallback bool
	err      error // the bytes do not decode: the response is NACKed
}

// memo holds the facts of every resource a process's light clients have
// seen, by kind and bytes; the control plane shares one marshaled snapshot
// among the nodes of an identity, so the keys are few.
type memo struct {
	mu sync.Mutex
	by [meshxds.NumKinds]map[string]*facts
}

func newMemo() *memo {
	m := &memo{}
	for k := range m.by {
		m.by[k] = map[string]*facts{}
	}
	return m
}

// lookup returns the facts of a resource of kind k with bytes b, decoding
// them the first time.
func (m *memo) lookup(k meshxds.Kind, b []byte) *facts {
	m.mu.Lock()
	f, ok := m.by[k][string(b)]
	m.mu.Unlock()
	if ok {
		return f
	}
	f = decodeFacts(k, b)
	m.mu.Lock()
	m.by[k][string(b)] = f
	m.mu.Unlock()
	return f
}

// decodeFacts decodes one resource. The references are go-control-plane's
// GetResourceReferences, the walk the server's consistency check makes and
// internal/xds's is held to, so a light client asks for the names a full
// one does.
func decodeFacts(k meshxds.Kind, b []byte) *facts {
	var r proto.Message
	switch k {
	case meshxds.Clusters:
		r = &clusterv3.Cluster{}
	case meshxds.Endpoints:
		r = &endpointv3.ClusterLoadAssignment{}
	case meshxds.Listeners:
		r = &listenerv3.Listener{}
	default:
		r = &routev3.RouteConfiguration{}
	}
	if err := proto.Unmarshal(b, r); err != nil {
		return &facts{err: fmt.Errorf("%s resource: %w", k, err)}
	}
	f := &facts{name: cachev3.GetResourceName(r)}
	if f.name == "" {
		return &facts{err: fmt.Errorf("%s resource without a name", k)}
	}
	refs := cachev3.GetResourceReferences(map[string]types.ResourceWithTTL{f.name: {Resource: r}})
	// What clusters reference is endpoints; what listeners do, routes.
	dependent := meshxds.Endpoints
	if k == meshxds.Listeners {
		dependent = meshxds.Routes
	}
	for n := range refs[dependent.TypeURL()] {
		f.refs = append(f.refs, n)
	}
	slices.Sort(f.refs)
	if rc, ok := r.(*routev3.RouteConfiguration); ok {
		f.fallback = usesFallback(&meshxds.Resources{Routes: []*routev3.RouteConfiguration{rc}})
	}
	return f
}

// lightType is one type as of the last response a light client accepted.
type lightType struct {
	have    bool
	version string
	items   map[string]*facts
	refs    []string // sorted union of the items' refs
	refsKey string
}

// lightSession is one ADS stream's state; only run's goroutine touches it.
type lightSession struct {
	c          *lightClient
	stream     grpc.BidiStreamingClient[discoveryv3.DiscoveryRequest, discoveryv3.DiscoveryResponse]
	received   [meshxds.NumKinds]lightType
	acked      [meshxds.NumKinds]string
	nonce      [meshxds.NumKinds]string
	subscribed [meshxds.NumKinds]bool
	requested  [meshxds.NumKinds][]string
	nodeSent   bool
	appliedKey string
}

// run keeps one ADS stream open until ctx is done, reopening it after a
// second if it breaks.
func (c *lightClient) run(ctx context.Context) error {
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials()),
		// The windows xds.Client uses: no BDP ping per response.
		grpc.WithStaticStreamWindowSize(meshxds.FlowWindow), grpc.WithStaticConnWindowSize(meshxds.FlowWindow)}
	if c.token != nil {
		opts = append(opts, grpc.WithPerRPCCredentials(bearer{c.token}))
	}
	conn, err := grpc.NewClient(c.target, opts...)
	if err != nil {
		return err
	}
	defer conn.Close()
	ads := discoveryv3.NewAggregatedDiscoveryServiceClient(conn)
	var appliedKey string
	for ctx.Err() == nil {
		s := &lightSession{c: c, appliedKey: appliedKey}
		err := s.run(ctx, ads)
		appliedKey = s.appliedKey
		if ctx.Err() != nil {
			return nil
		}
		fmt.Fprintf(os.Stderr, "converge: light client %s: stream broke, retrying in 1 s: %v\n", c.node.GetId(), err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	return nil
}

func (s *lightSession) run(ctx context.Context, ads discoveryv3.AggregatedDiscoveryServiceClient) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := ads.StreamAggregatedResources(ctx)
	if err != nil {
		return err
	}
	s.stream = stream
	for _, k := range []meshxds.Kind{meshxds.Clusters, meshxds.Listeners} {
		if err := s.request(k, nil); err != nil {
			return err
		}
	}
	for {
		resp, err := stream.Recv()
		if err != nil {
			return err
		}
		if err := s.handle(resp); err != nil {
			return err
		}
	}
}

// handle takes one response in and answers it, as xds's session does.
func (s *lightSession) handle(resp *discoveryv3.DiscoveryResponse) error {
	k, ok := meshxds.KindOf(resp.GetTypeUrl())
	if !ok {
		return s.send(&discoveryv3.DiscoveryRequest{TypeUrl: resp.GetTypeUrl(), ResponseNonce: resp.GetNonce(),
			ErrorDetail: status.New(codes.InvalidArgument, "unexpected type "+resp.GetTypeUrl()).Proto()})
	}
	s.nonce[k] = resp.GetNonce()
	t, err := s.take(k, resp)
	s.c.count.response(k, err != nil)
	if err != nil {
		if err := s.request(k, err); err != nil {
			return err
		}
		return s.sync()
	}
	s.received[k], s.acked[k] = t, resp.GetVersionInfo()
	s.settle()
	if err := s.request(k, nil); err != nil {
		return err
	}
	return s.sync()
}

// take builds a type's state from a response, from the process's facts.
func (s *lightSession) take(k meshxds.Kind, resp *discoveryv3.DiscoveryResponse) (lightType, error) {
	t := lightType{have: true, version: resp.GetVersionInfo(), items: make(map[string]*facts, len(resp.GetResources()))}
	for _, a := range resp.GetResources() {
		if a.GetTypeUrl() != k.TypeURL() {
			return lightType{}, fmt.Errorf("type %q in a %s response", a.GetTypeUrl(), k)
		}
		f := s.c.memo.lookup(k, a.GetValue())
		if f.err != nil {
			return lightType{}, f.err
		}
		if _, dup := t.items[f.name]; dup {
			return lightType{}, fmt.Errorf("%s resource %q appears twice", k, f.name)
		}
		t.items[f.name] = f
		t.refs = append(t.refs, f.refs...)
	}
	slices.Sort(t.refs)
	t.refs = slices.Compact(t.refs)
	t.refsKey = strings.Join(t.refs, ",")
	return t, nil
}

// wanted are the names to subscribe to for EDS or RDS.
func (s *lightSession) wanted(k meshxds.Kind) []string {
	switch k {
	case meshxds.Endpoints:
		return s.received[meshxds.Clusters].refs
	case meshxds.Routes:
		return s.received[meshxds.Listeners].refs
	}
	return nil
}

// settle hands the tracker the fallback state of a complete view it has
// not handed yet: the key is xds's viewKey in one string.
func (s *lightSession) settle() {
	r := &s.received
	if !r[meshxds.Clusters].have || !r[meshxds.Listeners].have {
		return
	}
	on := false
	for _, k := range []meshxds.Kind{meshxds.Endpoints, meshxds.Routes} {
		for _, n := range s.wanted(k) {
			f, ok := r[k].items[n]
			if !ok {
				return // incomplete
			}
			on = on || f.fallback
		}
	}
	key := strings.Join([]string{r[meshxds.Clusters].version, r[meshxds.Listeners].version,
		r[meshxds.Clusters].refsKey, r[meshxds.Listeners].refsKey, r[meshxds.Endpoints].version, r[meshxds.Routes].version}, "|")
	if key == s.appliedKey {
		return
	}
	s.appliedKey = key
	s.c.seen(on)
}

// sync subscribes EDS and RDS to the names the view references, when they
// changed.
func (s *lightSession) sync() error {
	for _, k := range []meshxds.Kind{meshxds.Endpoints, meshxds.Routes} {
		names := s.wanted(k)
		if slices.Equal(names, s.requested[k]) && (s.subscribed[k] || len(names) == 0) {
			continue
		}
		if err := s.request(k, nil); err != nil {
			return err
		}
	}
	return nil
}

// request sends the ACK (nack nil) or NACK of a type's latest response, or
// a change of its names.
func (s *lightSession) request(k meshxds.Kind, nack error) error {
	req := &discoveryv3.DiscoveryRequest{TypeUrl: k.TypeURL(), ResourceNames: s.wanted(k), ResponseNonce: s.nonce[k]}
	if s.subscribed[k] {
		req.VersionInfo = s.acked[k]
	}
	if nack != nil {
		req.ErrorDetail = status.New(codes.InvalidArgument, nack.Error()).Proto()
	}
	s.subscribed[k], s.requested[k] = true, req.ResourceNames
	return s.send(req)
}

func (s *lightSession) send(req *discoveryv3.DiscoveryRequest) error {
	if !s.nodeSent {
		req.Node, s.nodeSent = s.c.node, true
	}
	return s.stream.Send(req)
}

// bearer presents a TokenSource's token as xds.Client does.
type bearer struct{ src xds.TokenSource }

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	tok, err := b.src()
	if err != nil {
		return nil, err
	}
	return map[string]string{"authorization": "Bearer " + tok}, nil
}

func (bearer) RequireTransportSecurity() bool { return false }
