package xds

import (
	"testing"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
)

// TestDecodeReusesUnchanged: a resource sent again with the same bytes is
// the one decoded before; a changed or new one is decoded afresh.
func TestDecodeReusesUnchanged(t *testing.T) {
	_, snap1 := compiled(t, sidecarID, nil, baseDir)
	_, snap2 := compiled(t, sidecarID, nil, baseDir, fallbackDir) // adds fallback clusters
	resp := func(snap *Snapshot) *discoveryv3.DiscoveryResponse {
		w := snap.types[clusters]
		return &discoveryv3.DiscoveryResponse{TypeUrl: resource.ClusterType, VersionInfo: w.version, Resources: w.resources}
	}
	first, err := decode(clusters, resp(mustSnapshot(t, snap1)), &typeState{})
	if err != nil {
		t.Fatal(err)
	}
	second, err := decode(clusters, resp(mustSnapshot(t, snap2)), &first)
	if err != nil {
		t.Fatal(err)
	}
	reused, fresh := 0, 0
	for name, r := range second.items {
		switch {
		case first.items[name] == r:
			reused++
		case first.items[name] != nil:
			t.Errorf("cluster %s, which the fallback leaves as it is, was decoded again", name)
		default:
			fresh++
		}
	}
	if reused != len(first.items) || fresh != len(second.items)-len(first.items) || fresh == 0 {
		t.Errorf("reused %d of %d, decoded %d new of %d", reused, len(first.items), fresh, len(second.items))
	}
}
