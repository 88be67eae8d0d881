package proxy

import (
	"io"
	"net/http"
	"testing"

	"github.com/lanemesh/lanemesh/internal/compile"
	"github.com/lanemesh/lanemesh/internal/meshxds"
)

// TestPassthrough: a sidecar passes an app's request for a host the mesh
// does not know on to where the app sent it, as Istio's ALLOW_ANY does,
// but never back to itself; under REGISTRY_ONLY it answers 502.
func TestPassthrough(t *testing.T) {
	m := newMesh(t, lanesDir)
	ext := newUpstream(t, "external")
	ext.answer(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "external") })
	id := sidecarIdentity("mocka", "v1")
	p := startProxy(t, Options{Role: meshxds.Sidecar}, m.resources(id, nil))
	c := newClient(p.OutboundAddr())
	url := "http://" + ext.srv.Listener.Addr().String() + "/"
	if status, body, _ := call(t, c, "GET", url, "", nil); status != 200 || body != "external" {
		t.Errorf("an unknown host: %d %q, want 200 from it", status, body)
	}
	if status, _, h := call(t, c, "GET", "http://"+p.OutboundAddr().String()+"/", "", nil); status != http.StatusServiceUnavailable || h.Get(flagsHeader) != "UH" {
		t.Errorf("the sidecar itself: %d %s, want 503 UH (no loop)", status, h.Get(flagsHeader))
	}
	strict := startProxy(t, Options{Role: meshxds.Sidecar}, compile.CompileWith(m.cfg, m.instances, id, compile.Options{RegistryOnly: true}))
	if status, _, _ := call(t, newClient(strict.OutboundAddr()), "GET", url, "", nil); status != http.StatusBadGateway {
		t.Errorf("an unknown host under REGISTRY_ONLY: %d, want 502", status)
	}
	if status, _, _ := call(t, c, "GET", "http://mockb:8000/", "", nil); status != 200 {
		t.Errorf("a known host: %d", status)
	}
}
