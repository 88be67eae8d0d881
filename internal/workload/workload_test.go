package workload

import "testing"

func TestCanonical(t *testing.T) {
	for _, tc := range []struct {
		name         string
		labels       map[string]string
		svc, revison string
	}{
		{"app and version", map[string]string{"app": "mockb", "version": "v2"}, "mockb", "v2"},
		{"canonical labels win", map[string]string{"app": "a", "version": "v", "service.istio.io/canonical-name": "c",
			"service.istio.io/canonical-revision": "r", "app.kubernetes.io/name": "k", "app.kubernetes.io/version": "kv"}, "c", "r"},
		{"kubernetes labels before app", map[string]string{"app": "a", "version": "v", "app.kubernetes.io/name": "k",
			"app.kubernetes.io/version": "kv"}, "k", "kv"},
		{"none: workload name and latest", map[string]string{"istio": "ingressgateway"}, "wl", "latest"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, r := Canonical(tc.labels, "wl")
			if s != tc.svc || r != tc.revison {
				t.Errorf("Canonical = %q, %q; want %q, %q", s, r, tc.svc, tc.revison)
			}
		})
	}
}

func TestEncodeParse(t *testing.T) {
	id := Identity{Name: "mockb-v1", Namespace: "default", CanonicalService: "mockb", CanonicalRevision: "v1", Cluster: DefaultCluster}
	if got := id.Encode(); got != "mockb-v1;default;mockb;v1;Kubernetes" {
		t.Errorf("Encode = %q", got)
	}
	if back, ok := Parse(id.Encode()); !ok || back != id {
		t.Errorf("Parse(Encode) = %+v, %v", back, ok)
	}
	for _, bad := range []string{"", "a;b;c;d", "a;b;c;d;e;f"} {
		if _, ok := Parse(bad); ok {
			t.Errorf("Parse(%q) ok", bad)
		}
	}
}

func TestNameAndService(t *testing.T) {
	for owner, want := range map[string]string{"Deployment/mocka-v2": "mocka-v2", "WorkloadEntry/vm-1": "vm-1", "": "pod-0", "Pod/": "pod-0"} {
		if got := NameFromOwner(owner, "pod-0"); got != want {
			t.Errorf("NameFromOwner(%q) = %q, want %q", owner, got, want)
		}
	}
	for host, want := range map[string][2]string{
		"mockb.default.svc.cluster.local": {"mockb", "default"},
		"mockb.default.svc":               {"mockb", "default"},
		"api.example.com":                 {"api.example.com", ""},
	} {
		if n, ns := ServiceParts(host); n != want[0] || ns != want[1] {
			t.Errorf("ServiceParts(%q) = %q, %q; want %v", host, n, ns, want)
		}
	}
}
