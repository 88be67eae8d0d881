package meshxds

import (
	"testing"

	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
)

func TestKindsAreGoControlPlanes(t *testing.T) {
	for k, want := range map[Kind]string{Clusters: resource.ClusterType, Endpoints: resource.EndpointType,
		Listeners: resource.ListenerType, Routes: resource.RouteType} {
		if k.TypeURL() != want {
			t.Errorf("%s: type URL %q, want %q", k, k.TypeURL(), want)
		}
		if got, ok := KindOf(want); !ok || got != k {
			t.Errorf("KindOf(%q) = %s, %v; want %s", want, got, ok, k)
		}
	}
	if _, ok := KindOf(resource.SecretType); ok {
		t.Errorf("KindOf(%q) is a kind lanemesh serves", resource.SecretType)
	}
}
