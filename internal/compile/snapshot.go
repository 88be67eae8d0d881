package compile

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/lanemesh/lanemesh/internal/meshxds"
	"google.golang.org/protobuf/proto"
)

// Snapshot packs r as a go-control-plane snapshot. Each type's
// version is a hash of its content, so an endpoint change bumps only the
// endpoints' version and proxies with equal content agree on versions. It
// fails when the snapshot is not self-consistent (go-control-plane's
// Consistent, plus: every aggregate cluster's members are present).
func Snapshot(r *meshxds.Resources) (*cachev3.Snapshot, error) {
	snap := &cachev3.Snapshot{}
	for typ, items := range byType(r) {
		v, err := version(items)
		if err != nil {
			return nil, err
		}
		snap.Resources[typ] = cachev3.NewResources(v, items)
	}
	if err := snap.Consistent(); err != nil {
		return nil, fmt.Errorf("inconsistent snapshot: %w", err)
	}
	names := map[string]bool{}
	for _, c := range r.Clusters {
		names[c.Name] = true
	}
	for _, c := range r.Clusters {
		for _, m := range meshxds.AggregateMembers(c) {
			if !names[m] {
				return nil, fmt.Errorf("inconsistent snapshot: aggregate cluster %q names missing cluster %q", c.Name, m)
			}
		}
	}
	return snap, nil
}

// byType lists r's resources by type, every type present even when it has
// none: an empty type still needs a version of its own, or a proxy's first
// request (version "") would look up to date and never be answered, and a
// gateway whose routes need no cluster would wait for CDS forever.
func byType(r *meshxds.Resources) map[types.ResponseType][]types.Resource {
	out := map[types.ResponseType][]types.Resource{types.Listener: nil, types.Route: nil, types.Cluster: nil, types.Endpoint: nil}
	for _, l := range r.Listeners {
		out[types.Listener] = append(out[types.Listener], l)
	}
	for _, rc := range r.Routes {
		out[types.Route] = append(out[types.Route], rc)
	}
	for _, c := range r.Clusters {
		out[types.Cluster] = append(out[types.Cluster], c)
	}
	for _, e := range r.Endpoints {
		out[types.Endpoint] = append(out[types.Endpoint], e)
	}
	return out
}

// version hashes resources with deterministic marshalling.
func version(items []types.Resource) (string, error) {
	h := sha256.New()
	opts := proto.MarshalOptions{Deterministic: true}
	for _, it := range items {
		b, err := opts.Marshal(it)
		if err != nil {
			return "", fmt.Errorf("marshal %T: %w", it, err)
		}
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// Size returns r's total size in bytes as protobuf, which is
// what goes over the wire.
func Size(r *meshxds.Resources) int {
	n := 0
	for _, items := range byType(r) {
		for _, it := range items {
			n += proto.Size(it)
		}
	}
	return n
}
