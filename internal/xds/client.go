package xds

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/lanemesh/lanemesh/internal/meshxds"
	"github.com/lanemesh/lanemesh/internal/wait"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoverygrpc "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
)

// Back-off defaults and keepalive of the client's control-plane connection.
const (
	DefaultMinBackoff = 100 * time.Millisecond
	DefaultMaxBackoff = 5 * time.Second
	// clientKeepaliveTime is how often an idle connection is pinged, so
	// that a control plane that vanished without a FIN is noticed within
	// about clientKeepaliveTime + clientKeepaliveTimeout.
	clientKeepaliveTime    = 30 * time.Second
	clientKeepaliveTimeout = 10 * time.Second
	minConnectTimeout      = 20 * time.Second // gRPC's default
)

// Client is the proxy's side of xDS: one ADS stream to the control plane,
// wildcard CDS and LDS, EDS and RDS for the names those reference. It hands
// Apply every complete, new set of resources and ACKs or NACKs by Apply's
// verdict. Set the exported fields, then call Run once; fields must not
// change while Run runs.
//
// What the client promises Apply:
//   - Completeness: every route configuration a listener names and the
//     load assignment of every EDS cluster are present. Apply never sees a
//     listener without its routes or a cluster without its endpoints.
//   - Newness: Apply is not called again for content it last accepted
//     (a reconnect that resends the same versions applies nothing).
//   - Build-check-swap: a response that cannot be decoded, or whose
//     resources make Apply fail, is NACKed and dropped, as Envoy drops a
//     rejected response: later views are built on the previous version of
//     that type, and the rejected resources reach Apply again only if the
//     control plane sends them again (Server does, with its next snapshot
//     for the node). The configuration Apply last accepted stays in force,
//     also while disconnected.
//   - Ownership: Apply owns the Resources it is given; the client never
//     modifies them afterwards.
type Client struct {
	// Target is the control plane's address, host:port (a gRPC target).
	Target string
	// Node identifies the proxy; see NodeFor. Required.
	Node *corev3.Node
	// Apply builds, checks and swaps in a configuration, returning an
	// error (sent to the control plane as the NACK's message) to reject
	// it. It runs on Run's goroutine, one call at a time. Required.
	Apply func(*meshxds.Resources) error
	// Logger receives the client's logs; nil discards them.
	Logger *slog.Logger
	// MinBackoff and MaxBackoff bound the jittered exponential delay
	// between stream attempts; zero means DefaultMinBackoff and
	// DefaultMaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// Token, if set, gives the bearer token presented on each new stream
	// (see Authenticator); nil presents none.
	Token TokenSource
	// DialOptions are added after the defaults (insecure credentials, the
	// back-off above, keepalive, fixed flow-control windows), so they can
	// override them.
	DialOptions []grpc.DialOption

	mu     sync.Mutex
	status ClientStatus
}

// ClientStatus is a Client's view of its connection.
type ClientStatus struct {
	// Connected is true while an ADS stream is open.
	Connected bool
	// Acked maps a type URL to the version last ACKed.
	Acked map[string]string
	// LastError is the last stream failure or rejected response, nil if
	// none happened yet.
	LastError error
}

// Status returns a copy of the client's status.
func (c *Client) Status() ClientStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.status
	s.Acked = maps.Clone(s.Acked)
	return s
}

// Run talks to the control plane until ctx is done, then returns nil. A
// broken stream is reopened after a jittered, capped exponential back-off,
// reset once a stream delivers a response. Run returns an error at once
// only when the Client is misconfigured.
func (c *Client) Run(ctx context.Context) error {
	if err := c.check(); err != nil {
		return err
	}
	conn, err := grpc.NewClient(c.Target, c.dialOptions()...)
	if err != nil {
		return fmt.Errorf("xds client: %w", err)
	}
	defer conn.Close()
	ads := discoverygrpc.NewAggregatedDiscoveryServiceClient(conn)
	st := &state{}
	minDelay, maxDelay := c.backoff()
	delay := minDelay
	for {
		progressed, err := c.runStream(ctx, ads, st)
		c.setDisconnected(err)
		if ctx.Err() != nil {
			return nil
		}
		if progressed {
			delay = minDelay
		}
		pause := jitter(delay)
		c.logger().Warn("xds: stream to control plane broke; retrying", "target", c.Target, "err", err, "in", pause)
		if !wait.Sleep(ctx, pause) {
			return nil
		}
		delay = min(2*delay, maxDelay)
	}
}

// runStream runs one ADS stream until it breaks. progressed reports whether
// any response arrived.
func (c *Client) runStream(ctx context.Context, ads discoverygrpc.AggregatedDiscoveryServiceClient, st *state) (progressed bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the stream whatever made us return
	stream, err := ads.StreamAggregatedResources(ctx)
	if err != nil {
		return false, err
	}
	s := newSession(c, stream, st)
	if err := s.start(); err != nil {
		return false, streamError(stream, err)
	}
	c.setConnected()
	for {
		resp, err := stream.Recv()
		if err != nil {
			return progressed, err
		}
		progressed = true
		if err := s.handle(resp); err != nil {
			return progressed, streamError(stream, err)
		}
	}
}

// streamError returns the reason a Send failed. gRPC reports a stream the
// server ended as io.EOF from Send; the server's status comes from Recv.
func streamError(stream grpc.ClientStream, err error) error {
	if !errors.Is(err, io.EOF) {
		return err
	}
	if rerr := stream.RecvMsg(new(discoverygrpc.DiscoveryResponse)); rerr != nil && !errors.Is(rerr, io.EOF) {
		return rerr
	}
	return err
}

func (c *Client) check() error {
	switch {
	case c.Target == "":
		return errors.New("xds client: Target is empty")
	case c.Node.GetId() == "":
		return errors.New("xds client: Node is nil or has no id")
	case c.Apply == nil:
		return errors.New("xds client: Apply is nil")
	}
	return nil
}

func (c *Client) dialOptions() []grpc.DialOption {
	minDelay, maxDelay := c.backoff()
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		// gRPC's own reconnect back-off (up to 120 s by default) would
		// otherwise outlast ours after a control plane restart.
		// ConnectParams also sets the dial timeout, max(MinConnectTimeout,
		// current back-off): left zero, a first dial would get only
		// BaseDelay (100 ms) and fail on a busy host, so it is gRPC's
		// default again.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: minDelay, Multiplier: 2, Jitter: 0.2, MaxDelay: maxDelay},
			MinConnectTimeout: minConnectTimeout,
		}),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{
			Time: clientKeepaliveTime, Timeout: clientKeepaliveTimeout, PermitWithoutStream: true}),
		// Fixed windows: no BDP ping per response (see meshxds.FlowWindow).
		grpc.WithStaticStreamWindowSize(meshxds.FlowWindow), grpc.WithStaticConnWindowSize(meshxds.FlowWindow),
	}
	if c.Token != nil {
		opts = append(opts, grpc.WithPerRPCCredentials(bearerCreds{c.Token}))
	}
	return append(opts, c.DialOptions...)
}

func (c *Client) backoff() (time.Duration, time.Duration) {
	lo, hi := c.MinBackoff, c.MaxBackoff
	if lo <= 0 {
		lo = DefaultMinBackoff
	}
	if hi <= 0 {
		hi = DefaultMaxBackoff
	}
	return lo, max(lo, hi)
}

// discardLogger is the logger of a Client without one.
var discardLogger = slog.New(slog.DiscardHandler)

func (c *Client) logger() *slog.Logger {
	if c.Logger == nil {
		return discardLogger
	}
	return c.Logger
}

func (c *Client) setConnected() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.status.Connected = true
}

func (c *Client) setDisconnected(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.status.Connected = false
	if err != nil {
		c.status.LastError = err
	}
}

func (c *Client) setAcked(typeURL, version string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.status.Acked == nil {
		c.status.Acked = map[string]string{}
	}
	c.status.Acked[typeURL] = version
}

func (c *Client) setError(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.status.LastError = err
}

// jitter spreads d by ±20%, so that proxies cut off together do not
// reconnect together.
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}
