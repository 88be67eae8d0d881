package xds

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/lanemesh/lanemesh/internal/compile"
	"github.com/lanemesh/lanemesh/internal/config"
	"github.com/lanemesh/lanemesh/internal/local"
	"github.com/lanemesh/lanemesh/internal/meshxds"
)

// The client's own tests decode what a server would send without running
// one; the tests of client and server together are internal/xdsserver's.

var (
	baseDir     = "../../examples/traffic-lanes"
	fallbackDir = "../../examples/traffic-lanes-fallback"
	sidecarID   = meshxds.Proxy{Role: meshxds.Sidecar, Namespace: "default", Labels: map[string]string{"app": "mocka", "version": "v2"}}
)

// compiled compiles the tutorial configuration at paths for mocka v2's
// sidecar.
func compiled(t testing.TB, paths ...string) *meshxds.Resources {
	t.Helper()
	c, diags := config.Load(paths, nil)
	if diags.HasErrors() {
		t.Fatal(diags.Err())
	}
	return compile.Compile(c, local.Predict(c), sidecarID)
}

// response is the state-of-the-world response a server sends for kind k of
// res: every resource, deterministically marshaled, at a version that is a
// hash of their bytes (as the server's).
func response(t testing.TB, res *meshxds.Resources, k kind) *discoveryv3.DiscoveryResponse {
	t.Helper()
	var items []proto.Message
	switch k {
	case clusters:
		items = each(res.Clusters)
	case endpoints:
		items = each(res.Endpoints)
	case listeners:
		items = each(res.Listeners)
	default:
		items = each(res.Routes)
	}
	resp := &discoveryv3.DiscoveryResponse{TypeUrl: k.TypeURL()}
	h := sha256.New()
	for _, m := range items {
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		h.Write(b)
		resp.Resources = append(resp.Resources, &anypb.Any{TypeUrl: k.TypeURL(), Value: b})
	}
	resp.VersionInfo = hex.EncodeToString(h.Sum(nil))[:16]
	return resp
}

func each[T proto.Message](items []T) []proto.Message {
	out := make([]proto.Message, len(items))
	for i, m := range items {
		out[i] = m
	}
	return out
}
