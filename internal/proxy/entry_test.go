package proxy

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lanemesh/lanemesh/internal/meshxds"

	xdstypev3 "github.com/cncf/xds/go/xds/type/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/lanemesh/lanemesh/internal/entry/entrytest"
)

const laneEntryDir = "../../examples/lane-entry"

// laneEntryMesh is the tutorial with the baseline route of
// examples/lane-entry and the policy in policyYAML.
func laneEntryMesh(t *testing.T, policyYAML string) *mesh {
	t.Helper()
	m := newMesh(t, lanesDir, laneEntryDir+"/vs-baseline.yaml")
	if diags := m.cfg.Parse("policy.yaml", []byte(policyYAML)); diags.HasErrors() {
		t.Fatalf("policy: %v", diags.Err())
	}
	return m
}

// sendLane sends a lane request to the gateway and returns the pod that
// answered; it fails unless the answer is 200.
func sendLane(t *testing.T, c *http.Client, p *Proxy, header map[string]string) string {
	t.Helper()
	status, body, _ := call(t, c, "GET", gatewayURL(p, "/mock"), "gateway", header)
	if status != http.StatusOK {
		t.Fatalf("%v: status %d %q", header, status, body)
	}
	return body
}

// TestLaneEntryOverRealSockets: with a LaneEntryPolicy, a request from a
// disallowed source asking for v2 reaches mocka v1 with its lane headers
// removed; one from an allowed source, or with a valid token whose lane
// claim names v2, reaches v2; a forged, expired or wrong-lane token, or a
// client's own forged X-Forwarded-For, gets v1. Keys are generated here.
func TestLaneEntryOverRealSockets(t *testing.T) {
	signer, forger := entrytest.NewRSA(t, "ci"), entrytest.NewRSA(t, "ci")
	ec := entrytest.NewEC(t, "ci-ec")
	m := laneEntryMesh(t, fmt.Sprintf(`
apiVersion: lanemesh.io/v1alpha1
kind: LaneEntryPolicy
metadata: {name: lane-entry, namespace: istio-system}
spec:
  selector: {matchLabels: {istio: ingressgateway}}
  baselineLanes: [v1]
  numTrustedProxies: 1
  rules:
  - sourceCIDRs: [10.0.0.0/8]
  - jwt: {issuer: https://ci.example.com, audiences: [lanemesh], jwks: '%s'}
`, entrytest.JWKS(signer, ec)))
	res := m.resources(gatewayIdentity, nil)
	reg := prometheus.NewRegistry()
	var log logBuffer
	p := startProxy(t, Options{Role: meshxds.Gateway, AccessLog: &log, Registry: reg}, res)
	c := newClient(nil)
	token := func(s *entrytest.Signer, claims map[string]any) string {
		base := map[string]any{"iss": "https://ci.example.com", "aud": "lanemesh", "exp": time.Now().Add(time.Hour).Unix(), "lane": "v2"}
		for k, v := range claims {
			base[k] = v
		}
		return "Bearer " + s.Sign(t, base)
	}
	cases := []struct {
		name   string
		header map[string]string
		want   string
	}{
		{"disallowed source", map[string]string{"x-asm-prefer-tag": "v2", "x-forwarded-for": "203.0.113.9"}, "mocka-v1-0"},
		{"allowed source", map[string]string{"x-asm-prefer-tag": "v2", "x-forwarded-for": "10.1.2.3"}, "mocka-v2-0"},
		{"client's forged entry left of the trusted hop", map[string]string{"x-asm-prefer-tag": "v2", "x-forwarded-for": "10.1.2.3, 203.0.113.9"}, "mocka-v1-0"},
		{"no X-Forwarded-For: the peer 127.0.0.1 is not allowed", map[string]string{"x-asm-prefer-tag": "v3"}, "mocka-v1-0"},
		{"baseline for anyone", map[string]string{"x-asm-prefer-tag": "v1", "x-forwarded-for": "203.0.113.9"}, "mocka-v1-0"},
		{"valid RS256 token for v2", map[string]string{"x-asm-prefer-tag": "v2", "authorization": token(signer, nil)}, "mocka-v2-0"},
		{"valid ES256 token for v2 and v3", map[string]string{"x-asm-prefer-tag": "v3", "authorization": token(ec, map[string]any{"lane": []string{"v2", "v3"}})}, "mocka-v3-0"},
		{"forged token", map[string]string{"x-asm-prefer-tag": "v2", "authorization": token(forger, nil)}, "mocka-v1-0"},
		{"expired token", map[string]string{"x-asm-prefer-tag": "v2", "authorization": token(signer, map[string]any{"exp": time.Now().Add(-time.Hour).Unix()})}, "mocka-v1-0"},
		{"token for another lane", map[string]string{"x-asm-prefer-tag": "v2", "authorization": token(signer, map[string]any{"lane": "v3"})}, "mocka-v1-0"},
		{"lane by baggage only, denied", map[string]string{"baggage": "x-asm-prefer-tag=v2,user=alice"}, "mocka-v1-0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := sendLane(t, c, p, tc.header); got != tc.want {
				t.Fatalf("answered by %s, want %s", got, tc.want)
			}
			seen := m.pods[tc.want].requests()
			last := seen[len(seen)-1]
			if tc.want == "mocka-v1-0" && tc.header["x-asm-prefer-tag"] != "v1" {
				if v := last.Header.Get("X-Asm-Prefer-Tag"); v != "" {
					t.Errorf("the baseline got x-asm-prefer-tag %q; it must be removed", v)
				}
				if b := last.Header.Get("Baggage"); strings.Contains(b, "x-asm-prefer-tag") {
					t.Errorf("the baseline got baggage %q", b)
				}
			}
		})
	}
	reasons := map[string]float64{}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "lanemesh_lane_entry_denied_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			reasons[labelOf(m, "reason")] += m.GetCounter().GetValue()
		}
	}
	// Three disallowed sources and the baggage request; the forged, the
	// expired and the wrong-lane token.
	want := map[string]float64{"source": 4, "token_invalid": 1, "token_expired": 1, "claim": 1}
	if fmt.Sprint(reasons) != fmt.Sprint(want) {
		t.Errorf("lanemesh_lane_entry_denied_total by reason: %v, want %v", reasons, want)
	}
	entries := log.entries(t)
	if last := entries[len(entries)-1]; last["lane"] != nil && last["lane"] != "" {
		t.Errorf("access log of a denied baggage request names lane %v", last["lane"])
	}
}

// TestLaneEntryOffByDefault: without a policy the gateway's filter chain
// has no lane-entry filter and anyone enters any lane, as before.
func TestLaneEntryOffByDefault(t *testing.T) {
	m := newMesh(t, lanesDir, laneEntryDir+"/vs-baseline.yaml")
	res := m.resources(gatewayIdentity, nil)
	p := startProxy(t, Options{Role: meshxds.Gateway}, res)
	if got := sendLane(t, newClient(nil), p, map[string]string{"x-asm-prefer-tag": "v2", "x-forwarded-for": "203.0.113.9"}); got != "mocka-v2-0" {
		t.Fatalf("without a policy: %s, want mocka-v2-0", got)
	}
	for _, l := range p.state.Load().listeners {
		if l.chains[0].entry != nil {
			t.Fatal("a lane-entry filter without a policy")
		}
	}
}

// TestLaneEntryExample runs examples/lane-entry as the README shows it: the
// demo CI token for v2 enters v2, and a request without one gets v1.
func TestLaneEntryExample(t *testing.T) {
	m := newMesh(t, lanesDir, laneEntryDir)
	p := startProxy(t, Options{Role: meshxds.Gateway}, m.resources(gatewayIdentity, nil))
	tok, err := os.ReadFile(laneEntryDir + "/ci-token-v2.jwt")
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(nil)
	if got := sendLane(t, c, p, map[string]string{"x-asm-prefer-tag": "v2", "authorization": "Bearer " + strings.TrimSpace(string(tok))}); got != "mocka-v2-0" {
		t.Errorf("with the demo CI token: %s, want mocka-v2-0", got)
	}
	if got := sendLane(t, c, p, map[string]string{"x-asm-prefer-tag": "v3", "authorization": "Bearer " + strings.TrimSpace(string(tok))}); got != "mocka-v1-0" {
		t.Errorf("the v2 token asking for v3: %s, want mocka-v1-0", got)
	}
	if got := sendLane(t, c, p, map[string]string{"x-asm-prefer-tag": "v2", "x-forwarded-for": "10.1.2.3"}); got != "mocka-v2-0" {
		t.Errorf("from the office network: %s, want mocka-v2-0", got)
	}
	if got := sendLane(t, c, p, map[string]string{"x-asm-prefer-tag": "v2"}); got != "mocka-v1-0" {
		t.Errorf("from anyone else: %s, want mocka-v1-0", got)
	}
}

// TestLaneEntryRemoteKeys fetches the key set from a jwksUri once, keeps
// it for the cache duration, and fetches it again after.
func TestLaneEntryRemoteKeys(t *testing.T) {
	signer := entrytest.NewRSA(t, "k")
	var fetches atomic.Int64
	issuer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		_, _ = w.Write([]byte(entrytest.JWKS(signer)))
	}))
	t.Cleanup(issuer.Close)
	m := laneEntryMesh(t, fmt.Sprintf(`
apiVersion: lanemesh.io/v1alpha1
kind: LaneEntryPolicy
metadata: {name: ci, namespace: istio-system}
spec:
  rules:
  - jwt: {issuer: ci, jwksUri: %q, jwksCacheDuration: 200ms}
`, issuer.URL+"/jwks"))
	p := startProxy(t, Options{Role: meshxds.Gateway}, m.resources(gatewayIdentity, nil))
	c := newClient(nil)
	auth := "Bearer " + signer.Sign(t, map[string]any{"iss": "ci", "lane": "v2"})
	for range 5 {
		if got := sendLane(t, c, p, map[string]string{"x-asm-prefer-tag": "v2", "authorization": auth}); got != "mocka-v2-0" {
			t.Fatalf("with a token checked against the fetched keys: %s", got)
		}
	}
	if n := fetches.Load(); n != 1 {
		t.Fatalf("%d fetches for 5 requests within the cache duration, want 1", n)
	}
	waitFor(t, "a refetch after the cache duration", func() bool {
		sendLane(t, c, p, map[string]string{"x-asm-prefer-tag": "v2", "authorization": auth})
		return fetches.Load() >= 2
	})
}

func labelOf(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// TestLaneEntryFilterRejectedWhole: a lane-entry filter whose
// configuration does not decode (an unknown field, a bad CIDR that slipped
// past the loader) is a NACK, and the policy in force keeps guarding the
// lanes; an HTTP filter this proxy does not know is skipped when marked
// optional, as in Envoy, and refused otherwise.
func TestLaneEntryFilterRejectedWhole(t *testing.T) {
	m := laneEntryMesh(t, `
apiVersion: lanemesh.io/v1alpha1
kind: LaneEntryPolicy
metadata: {name: closed, namespace: istio-system}
spec:
  baselineLanes: [v1]
  rules: []
`)
	good := m.resources(gatewayIdentity, nil)
	p := startProxy(t, Options{Role: meshxds.Gateway}, good)
	c := newClient(nil)
	if got := sendLane(t, c, p, map[string]string{"x-asm-prefer-tag": "v2"}); got != "mocka-v1-0" {
		t.Fatalf("with the closed policy: %s", got)
	}
	edit := func(change func(hcm *hcmv3.HttpConnectionManager)) *meshxds.Resources {
		res := m.resources(gatewayIdentity, nil)
		for _, l := range res.Listeners {
			for _, fc := range l.GetFilterChains() {
				var hcm hcmv3.HttpConnectionManager
				if err := fc.GetFilters()[0].GetTypedConfig().UnmarshalTo(&hcm); err != nil {
					t.Fatal(err)
				}
				change(&hcm)
				a, err := anypb.New(&hcm)
				if err != nil {
					t.Fatal(err)
				}
				fc.GetFilters()[0].ConfigType = &listenerv3.Filter_TypedConfig{TypedConfig: a}
			}
		}
		return res
	}
	setPolicyField := func(name string, v *structpb.Value) func(*hcmv3.HttpConnectionManager) {
		return func(hcm *hcmv3.HttpConnectionManager) {
			f := hcm.GetHttpFilters()[0]
			var ts xdstypev3.TypedStruct
			if err := f.GetTypedConfig().UnmarshalTo(&ts); err != nil {
				t.Fatal(err)
			}
			pol := ts.GetValue().GetFields()["policies"].GetListValue().GetValues()[0].GetStructValue()
			pol.GetFields()["spec"].GetStructValue().Fields[name] = v
			a, _ := anypb.New(&ts)
			f.ConfigType = &hcmv3.HttpFilter_TypedConfig{TypedConfig: a}
		}
	}
	for name, res := range map[string]*meshxds.Resources{
		"unknown field": edit(setPolicyField("bogus", structpb.NewBoolValue(true))),
		"bad CIDR": edit(setPolicyField("rules", structpb.NewListValue(&structpb.ListValue{Values: []*structpb.Value{
			structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{"sourceCIDRs": structpb.NewListValue(&structpb.ListValue{Values: []*structpb.Value{structpb.NewStringValue("0.0.0.0/99")}})}}),
		}}))),
		"unknown required filter": edit(func(hcm *hcmv3.HttpConnectionManager) {
			hcm.HttpFilters = append([]*hcmv3.HttpFilter{{Name: "acme.filters.http.unknown"}}, hcm.HttpFilters...)
		}),
	} {
		if err := p.Apply(res); err == nil {
			t.Errorf("%s: applied, want a NACK", name)
		}
		if got := sendLane(t, c, p, map[string]string{"x-asm-prefer-tag": "v2"}); got != "mocka-v1-0" {
			t.Fatalf("%s: after the NACK v2 reached %s; the policy in force must still guard it", name, got)
		}
	}
	optional := edit(func(hcm *hcmv3.HttpConnectionManager) {
		hcm.HttpFilters = append([]*hcmv3.HttpFilter{{Name: "acme.filters.http.unknown", IsOptional: true}}, hcm.HttpFilters...)
	})
	if err := p.Apply(optional); err != nil {
		t.Fatalf("an unknown optional filter: %v, want it skipped", err)
	}
}
