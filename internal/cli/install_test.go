package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/lanemesh/lanemesh/deploy"
	"github.com/lanemesh/lanemesh/internal/inject"
)

// TestInstallPrintsDeploy: install --dry-run prints exactly the files of
// deploy/ on disk, in order; none is left out of the binary.
func TestInstallPrintsDeploy(t *testing.T) {
	code, out, errOut := run(t, "", "install", "--dry-run")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	entries, err := os.ReadDir("../../deploy")
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	n := 0
	for _, e := range entries {
		name := e.Name()
		if name == "deploy.go" || strings.HasSuffix(name, "_test.go") {
			continue
		}
		if !strings.HasSuffix(name, ".yaml") {
			t.Errorf("deploy/%s: only .yaml files are embedded and installed", name)
			continue
		}
		data, err := os.ReadFile(filepath.Join("../../deploy", name))
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			want.WriteString("---\n")
		}
		want.WriteString("# Source: deploy/" + name + "\n")
		want.Write(data)
		n++
	}
	if out != want.String() {
		t.Error("install --dry-run differs from the files of deploy/ (rebuild? a file not ending in a newline?)")
	}
}

func TestInstallImage(t *testing.T) {
	def := strings.Count(string(Manifests(deploy.Image)), deploy.Image)
	if def < 3 {
		t.Fatalf("the manifests name %s %d times; want the control plane, its --image and the gateway", deploy.Image, def)
	}
	code, out, errOut := run(t, "", "install", "--dry-run", "--image", "registry.example/team/lanemesh:v1.2.3")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if strings.Contains(out, deploy.Image) || strings.Count(out, "registry.example/team/lanemesh:v1.2.3") != def {
		t.Errorf("--image did not replace every %s", deploy.Image)
	}
	for _, bad := range []string{"", "Lanemesh", "x:1\n  evil: true", "a b"} {
		if code, _, _ := run(t, "", "install", "--dry-run", "--image", bad); code != 2 {
			t.Errorf("--image %q: exit %d, want 2", bad, code)
		}
	}
	if code, _, errOut := run(t, "", "install"); code != 2 || !strings.Contains(errOut, "kubectl apply") {
		t.Errorf("install without --dry-run: exit %d, %q", code, errOut)
	}
}

// object is the part of a manifest the consistency checks read.
type object struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string            `json:"name"`
		Namespace string            `json:"namespace"`
		Labels    map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec struct {
		Names struct {
			Kind string `json:"kind"`
		} `json:"names"`
		Ports []struct {
			Port       int `json:"port"`
			TargetPort int `json:"targetPort"`
		} `json:"ports"`
		Template struct {
			Metadata struct {
				Labels map[string]string `json:"labels"`
			} `json:"metadata"`
			Spec struct {
				Containers []struct {
					Args []string `json:"args"`
				} `json:"containers"`
			} `json:"spec"`
		} `json:"template"`
	} `json:"spec"`
	Webhooks []struct {
		ClientConfig struct {
			Service struct {
				Name, Namespace, Path string
				Port                  int
			} `json:"service"`
		} `json:"clientConfig"`
		FailurePolicy string `json:"failurePolicy"`
	} `json:"webhooks"`
}

// TestManifestsAgreeWithTheBinary: what the manifests say and what the
// control plane assumes (flag defaults, names, ports) are the same.
func TestManifestsAgreeWithTheBinary(t *testing.T) {
	var objs []object
	for _, doc := range strings.Split(string(Manifests(deploy.Image)), "\n---\n") {
		var o object
		if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
			t.Fatalf("%v in:\n%s", err, doc)
		}
		if o.Kind != "" {
			objs = append(objs, o)
		}
	}
	find := func(kind, name string) object {
		t.Helper()
		for _, o := range objs {
			if o.Kind == kind && o.Metadata.Name == name {
				return o
			}
		}
		t.Fatalf("no %s %s", kind, name)
		return object{}
	}
	cp := newControlPlane(nil, nil)
	flag := func(name string) string { return cp.Flags().Lookup(name).DefValue }

	var crdKinds []string
	for _, o := range objs {
		switch o.Kind {
		case "CustomResourceDefinition":
			crdKinds = append(crdKinds, o.Spec.Names.Kind)
		case "Namespace", "ClusterRole", "ClusterRoleBinding", "MutatingWebhookConfiguration":
		default:
			if o.Metadata.Namespace != "istio-system" {
				t.Errorf("%s %s is in namespace %q, want istio-system", o.Kind, o.Metadata.Name, o.Metadata.Namespace)
			}
		}
		if o.Kind == "Deployment" && o.Spec.Template.Metadata.Labels[inject.InjectKey] != "false" {
			t.Errorf("Deployment %s may be injected", o.Metadata.Name)
		}
	}
	slices.Sort(crdKinds)
	if want := []string{"ASMSwimLane", "ASMSwimLaneGroup", "DestinationRule", "Gateway", "LaneEntryPolicy", "ServiceEntry", "VirtualService", "WorkloadEntry"}; !slices.Equal(crdKinds, want) {
		t.Errorf("CRDs %v, want %v", crdKinds, want)
	}
	ns := find("Namespace", "istio-system")
	if ns.Metadata.Labels[inject.IstioInjectionLabel] != "disabled" {
		t.Error("istio-system is not labelled istio-injection=disabled")
	}

	svc := find("Service", flag("injector-service"))
	ports := map[int]int{}
	for _, p := range svc.Spec.Ports {
		ports[p.Port] = p.TargetPort
	}
	if ports[443] != 15017 || ports[15010] != 15010 {
		t.Errorf("control plane Service ports %v, want 443→15017 and 15010", ports)
	}
	mwc := find("MutatingWebhookConfiguration", flag("injector-webhook-config"))
	if len(mwc.Webhooks) != 5 { // which pods each selects: inject.TestWebhookSelectorsAgreeWithSkip
		t.Fatalf("%d webhooks, want 5 (istio-injection, lanemesh-injection, and Istio's default revision: namespace, pod revision, pod opt-in)", len(mwc.Webhooks))
	}
	for _, w := range mwc.Webhooks {
		s := w.ClientConfig.Service
		if s.Name != svc.Metadata.Name || s.Namespace != svc.Metadata.Namespace || s.Path != "/inject" || s.Port != 443 {
			t.Errorf("webhook service %+v does not reach the control plane's /inject", s)
		}
		if w.FailurePolicy != "Fail" {
			t.Errorf("failurePolicy %q", w.FailurePolicy)
		}
	}
	args := find("Deployment", "lanemesh").Spec.Template.Spec.Containers[0].Args
	for _, a := range []string{"controlplane", "--injector=:15017", "--xds=:15010", "--image=" + deploy.Image} {
		if !slices.Contains(args, a) {
			t.Errorf("control plane args %v lack %s", args, a)
		}
	}
	gw := find("Deployment", "istio-ingressgateway")
	if gw.Spec.Template.Metadata.Labels["istio"] != "ingressgateway" {
		t.Error("the gateway's pods are not labelled istio: ingressgateway")
	}
	gwArgs := gw.Spec.Template.Spec.Containers[0].Args
	if !slices.Contains(gwArgs, "--xds="+svc.Metadata.Name+"."+svc.Metadata.Namespace+".svc:15010") {
		t.Errorf("gateway args %v do not dial the control plane Service", gwArgs)
	}
	gsvc := find("Service", "istio-ingressgateway")
	if len(gsvc.Spec.Ports) != 1 || gsvc.Spec.Ports[0].Port != 80 || !slices.Contains(gwArgs, "--port-map=80=$(INSTANCE_IP):8080") || gsvc.Spec.Ports[0].TargetPort != 8080 {
		t.Errorf("gateway Service %+v and --port-map disagree", gsvc.Spec.Ports)
	}
}
