package xds

import (
	"fmt"
	"testing"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/lanemesh/lanemesh/internal/meshxds"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// BenchmarkClientChange is one proxy's share of a configuration change,
// the tutorial's fallback turned on or off (alternately), as the control
// plane's make-before-break pushes it: on sends the clusters first, then
// the routes; off the routes first, then the clusters. It runs the
// client's whole handling of each response, with gRPC's part stood in by
// proto.Unmarshal of the response's bytes and proto.Marshal of every
// request: the CPU that bench/converge's clients spend, one at a time, on
// their shared core, without the network and the server.
func BenchmarkClientChange(b *testing.B) {
	off, on := compiled(b, baseDir), compiled(b, baseDir, fallbackDir)
	nonce := 0
	wire := func(res *meshxds.Resources, k kind) []byte {
		nonce++
		resp := response(b, res, k)
		resp.Nonce = fmt.Sprint(nonce)
		b, err := proto.Marshal(resp)
		if err != nil {
			panic(err)
		}
		return b
	}
	initial := [][]byte{wire(off, clusters), wire(off, listeners), wire(off, endpoints), wire(off, routes)}
	changes := [2][][]byte{
		{wire(on, clusters), wire(on, routes)}, // fallback on: new clusters first
		{wire(off, routes), wire(off, clusters)},
	}
	applied := 0
	c := &Client{Target: "bench", Node: meshxds.NodeFor("bench-0", sidecarID),
		Apply: func(*meshxds.Resources) error { applied++; return nil }}
	s := newSession(c, marshalingStream{}, &state{})
	if err := s.start(); err != nil {
		b.Fatal(err)
	}
	handle := func(msg []byte) {
		resp := new(discoveryv3.DiscoveryResponse)
		if err := proto.Unmarshal(msg, resp); err != nil {
			b.Fatal(err)
		}
		if err := s.handle(resp); err != nil {
			b.Fatal(err)
		}
	}
	for _, msg := range initial {
		handle(msg)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		for _, msg := range changes[i%2] {
			handle(msg)
		}
	}
	b.StopTimer()
	if want := 1 + 2*b.N; applied != want {
		b.Fatalf("Apply called %d times, want %d", applied, want)
	}
}

// marshalingStream is an ADS stream whose Send marshals the request, as
// gRPC would, and drops it.
type marshalingStream struct {
	grpc.BidiStreamingClient[discoveryv3.DiscoveryRequest, discoveryv3.DiscoveryResponse]
}

func (marshalingStream) Send(req *discoveryv3.DiscoveryRequest) error {
	_, err := proto.Marshal(req)
	return err
}
