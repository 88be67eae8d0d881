package inject

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/lanemesh/lanemesh/deploy"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

var testConfig = Config{Image: "lanemesh/lanemesh:test", XDSAddress: "lanemesh.lanemesh-system.svc:15010"}

func pod(labels, annotations map[string]string, containers ...string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default", Labels: labels, Annotations: annotations}}
	for _, c := range containers {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: c, Image: "app"})
	}
	return p
}

// skipCase is a pod, its namespace's labels, and why it is not injected.
type skipCase struct {
	name   string
	pod    *corev1.Pod
	ns     map[string]string
	reason string // a part of Skip's answer; "" to inject
}

func skipCases() []skipCase {
	enabled := map[string]string{IstioInjectionLabel: "enabled"}
	hostNet := pod(nil, nil, "app")
	hostNet.Spec.HostNetwork = true
	withInit := pod(nil, nil, "app")
	withInit.Spec.InitContainers = []corev1.Container{{Name: InitContainer}}
	return []skipCase{
		{"istio-injection enabled", pod(nil, nil, "app"), enabled, ""},
		{"lanemesh-injection enabled", pod(nil, nil, "app"), map[string]string{LanemeshInjectionLabel: "enabled"}, ""},
		{"namespace not labelled", pod(nil, nil, "app"), map[string]string{"team": "a"}, "none of"},
		{"namespace labelled other value", pod(nil, nil, "app"), map[string]string{IstioInjectionLabel: "true"}, "istio-injection=true"},
		// Istio's default-revision webhooks (mutatingwebhook.yaml) and
		// injectRequired (the label before the annotation).
		{"namespace revision default", pod(nil, nil, "app"), map[string]string{RevisionLabel: "default"}, ""},
		{"namespace revision of another control plane", pod(nil, nil, "app"), map[string]string{RevisionLabel: "canary"}, "revision"},
		{"istio-injection before the revision", pod(nil, nil, "app"), map[string]string{RevisionLabel: "default", IstioInjectionLabel: "disabled"}, "disabled"},
		{"pod opts in", pod(map[string]string{InjectKey: "true"}, nil, "app"), nil, ""},
		{"pod opts in by annotation: no webhook sees it", pod(nil, map[string]string{InjectKey: "true"}, "app"), nil, "none of"},
		{"pod revision default", pod(map[string]string{RevisionLabel: "default"}, nil, "app"), nil, ""},
		{"pod opts in with another revision", pod(map[string]string{InjectKey: "true", RevisionLabel: "canary"}, nil, "app"), nil, "none of"},
		{"pod opts in, namespace disabled", pod(map[string]string{InjectKey: "true"}, nil, "app"), map[string]string{IstioInjectionLabel: "disabled"}, "disabled"},
		{"the label wins over the annotation", pod(map[string]string{InjectKey: "true"}, map[string]string{InjectKey: "false"}, "app"), enabled, ""},
		{"injected by Istio", pod(nil, map[string]string{IstioStatusAnnotation: `{"containers":["istio-proxy"]}`}, "app", IstioProxyContainer), enabled, "Istio's sidecar"},
		{"disabled wins over lanemesh-injection", pod(nil, nil, "app"),
			map[string]string{IstioInjectionLabel: "disabled", LanemeshInjectionLabel: "enabled"}, "disabled"},
		{"opt-out label", pod(map[string]string{InjectKey: "false"}, nil, "app"), enabled, "opts out"},
		{"opt-out annotation", pod(nil, map[string]string{InjectKey: "false"}, "app"), enabled, "opts out"},
		{"inject true is no opt-out", pod(map[string]string{InjectKey: "true"}, nil, "app"), enabled, ""},
		{"host network", hostNet, enabled, "host network"},
		{"already injected", pod(nil, nil, "app", ProxyContainer), enabled, "already"},
		{"init container already there", withInit, enabled, "already"},
	}
}

func TestSkip(t *testing.T) {
	for _, c := range skipCases() {
		t.Run(c.name, func(t *testing.T) {
			got := Skip(c.pod, c.ns)
			if (c.reason == "") != (got == "") || !strings.Contains(got, c.reason) {
				t.Errorf("Skip = %q, want %q", got, c.reason)
			}
			ops, err := Patch(c.pod, c.ns, testConfig)
			if err != nil {
				t.Fatal(err)
			}
			if (len(ops) > 0) != (c.reason == "") {
				t.Errorf("Patch gave %d operations; Skip said %q", len(ops), got)
			}
		})
	}
}

func TestPatchErrors(t *testing.T) {
	enabled := map[string]string{IstioInjectionLabel: "enabled"}
	// Istio's gateway injection: a container for its injector to fill in.
	if _, err := Patch(pod(map[string]string{InjectKey: "true"}, nil, IstioProxyContainer), nil, testConfig); !errors.Is(err, ErrBadPod) || !strings.Contains(err.Error(), "image: auto") {
		t.Errorf("an istio-proxy container to fill in: %v", err)
	}
	_, err := Patch(pod(nil, map[string]string{CaptureAnnotation: "tproxy"}, "app"), enabled, testConfig)
	if !errors.Is(err, ErrBadPod) || !strings.Contains(err.Error(), "tproxy") {
		t.Errorf("bad capture annotation: %v", err)
	}
	if _, err := Patch(pod(nil, nil, "app"), enabled, Config{Image: "x"}); err == nil {
		t.Error("no XDSAddress: no error")
	}
	// An opted-out pod's bad annotation is not its problem.
	if ops, err := Patch(pod(map[string]string{InjectKey: "false"}, map[string]string{CaptureAnnotation: "tproxy"}, "app"), enabled, testConfig); err != nil || ops != nil {
		t.Errorf("opted-out pod: %v, %v", ops, err)
	}
}

func TestPatchCaptureModes(t *testing.T) {
	enabled := map[string]string{IstioInjectionLabel: "enabled"}
	for _, c := range []struct {
		capture  Capture
		annot    string
		init     bool
		proxyEnv bool
	}{
		{"", "", true, false},
		{CaptureIPTables, "", true, false},
		{CaptureHTTPProxy, "", false, true},
		{CaptureHTTPProxy, "iptables", true, false},
		{CaptureIPTables, "http-proxy", false, true},
	} {
		var annots map[string]string
		if c.annot != "" {
			annots = map[string]string{CaptureAnnotation: c.annot}
		}
		cfg := testConfig
		cfg.Capture = c.capture
		ops, err := Patch(pod(nil, annots, "app"), enabled, cfg)
		if err != nil {
			t.Fatal(err)
		}
		var init, env bool
		for _, op := range ops {
			init = init || strings.HasPrefix(op.Path, "/spec/initContainers")
			env = env || op.Path == "/spec/containers/0/env"
		}
		if init != c.init || env != c.proxyEnv {
			t.Errorf("capture %q annotation %q: init container %v, HTTP_PROXY %v; want %v, %v", c.capture, c.annot, init, env, c.init, c.proxyEnv)
		}
	}
}

func TestParseCapture(t *testing.T) {
	for _, s := range []string{"iptables", "http-proxy"} {
		if c, err := ParseCapture(s); err != nil || string(c) != s {
			t.Errorf("%s: %v %v", s, c, err)
		}
	}
	for _, s := range []string{"", "IPTABLES", "redirect"} {
		if _, err := ParseCapture(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

// TestInboundCapture: annotations decide a pod's inbound capture, else
// Config.Inbound; http-proxy mode never captures inbound; bad annotations
// refuse the pod.
func TestInboundCapture(t *testing.T) {
	ns := map[string]string{IstioInjectionLabel: "enabled"}
	permissive := func(namespace string, labels map[string]string) bool {
		return namespace == "default" && labels["app"] == "mockb"
	}
	for name, tc := range map[string]struct {
		annotations map[string]string
		inbound     func(string, map[string]string) bool
		capture     Capture
		want        string // the init container's --include-inbound-ports, "" for none
		bad         bool
	}{
		"default: none":              {},
		"the control plane says yes": {inbound: permissive, want: "*"},
		"annotation wins":            {annotations: map[string]string{IncludeInboundPortsAnnotation: ""}, inbound: permissive},
		"annotation list":            {annotations: map[string]string{IncludeInboundPortsAnnotation: "9000, 8000"}, want: "8000,9000"},
		"http-proxy mode":            {inbound: permissive, capture: CaptureHTTPProxy},
		"bad include":                {annotations: map[string]string{IncludeInboundPortsAnnotation: "http"}, bad: true},
		"bad exclude":                {annotations: map[string]string{ExcludeInboundPortsAnnotation: "*"}, bad: true},
	} {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Labels: map[string]string{"app": "mockb"}, Annotations: tc.annotations},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "x"}}}}
		ops, err := Patch(pod, ns, Config{Image: "i", XDSAddress: "x:15010", Inbound: tc.inbound, Capture: tc.capture})
		if tc.bad {
			if !errors.Is(err, ErrBadPod) {
				t.Errorf("%s: %v, want ErrBadPod", name, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		raw, _ := json.Marshal(ops)
		got := ""
		if _, rest, ok := strings.Cut(string(raw), "--include-inbound-ports="); ok {
			got, _, _ = strings.Cut(rest, `"`)
		}
		sidecarInbound := strings.Contains(string(raw), "--inbound=0.0.0.0:15006")
		if got != tc.want || sidecarInbound != (tc.want != "") {
			t.Errorf("%s: include %q, sidecar --inbound %v; want %q", name, got, sidecarInbound, tc.want)
		}
		if tc.want != "" && !strings.Contains(string(raw), "--exclude-inbound-ports=15021") {
			t.Errorf("%s: the sidecar's admin port is not excluded: %s", name, raw)
		}
	}
}

// TestWorkloadName checks the workload a sidecar's metrics name: a
// ReplicaSet's pod is its Deployment's, as Istio names it.
func TestWorkloadName(t *testing.T) {
	yes := true
	owned := func(kind, name string) []metav1.OwnerReference {
		return []metav1.OwnerReference{{Kind: "Other", Name: "not-controller"}, {Kind: kind, Name: name, Controller: &yes}}
	}
	for _, tc := range []struct {
		name string
		pod  corev1.Pod
		want string
	}{
		{"deployment", corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "mocka-v1-7d9f-abcde", Labels: map[string]string{"pod-template-hash": "7d9f"},
			OwnerReferences: owned("ReplicaSet", "mocka-v1-7d9f")}}, "mocka-v1"},
		{"statefulset", corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "db-0", OwnerReferences: owned("StatefulSet", "db")}}, "db"},
		{"bare pod", corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}}, "p"},
		{"not named yet", corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: "p-"}}, ""},
	} {
		if got := workloadName(&tc.pod); got != tc.want {
			t.Errorf("%s: workloadName = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestPatchTracing: the control plane's tracing settings become the
// injected proxy's flags, and none are added when tracing is off.
func TestPatchTracing(t *testing.T) {
	enabled := map[string]string{IstioInjectionLabel: "enabled"}
	for _, c := range []struct {
		endpoint string
		sampling float64
		want     []string
	}{
		{"", 0, nil},
		{"http://otel.observability:4318", 2.5, []string{"--tracing-endpoint=http://otel.observability:4318", "--tracing-sampling=2.5"}},
	} {
		cfg := testConfig
		cfg.TracingEndpoint, cfg.TracingSampling = c.endpoint, c.sampling
		ops, err := Patch(pod(nil, nil, "app"), enabled, cfg)
		if err != nil {
			t.Fatal(err)
		}
		var tracing []string
		for _, op := range ops {
			if ctr, ok := op.Value.(corev1.Container); ok && ctr.Name == ProxyContainer {
				for _, a := range ctr.Args {
					if strings.HasPrefix(a, "--tracing-") {
						tracing = append(tracing, a)
					}
				}
			}
		}
		if strings.Join(tracing, " ") != strings.Join(c.want, " ") {
			t.Errorf("endpoint %q: proxy tracing args %q, want %q", c.endpoint, tracing, c.want)
		}
	}
}

// TestWebhookSelectorsAgreeWithSkip: the webhooks of
// deploy/04-injector.yaml send the injector exactly the pods whose
// namespace and labels Skip selects (selected), each pod to one webhook
// at most; what only the injector can see (host network, containers)
// Skip decides alone.
func TestWebhookSelectorsAgreeWithSkip(t *testing.T) {
	var mwc admissionregistrationv1.MutatingWebhookConfiguration
	for _, m := range deploy.Manifests() {
		if m.Name == "04-injector.yaml" {
			if err := yaml.UnmarshalStrict(m.Data, &mwc); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(mwc.Webhooks) == 0 {
		t.Fatal("no webhooks in deploy/04-injector.yaml")
	}
	for _, c := range skipCases() {
		var called []string
		for _, w := range mwc.Webhooks {
			nsSel, err := metav1.LabelSelectorAsSelector(w.NamespaceSelector)
			if err != nil {
				t.Fatal(err)
			}
			objSel, err := metav1.LabelSelectorAsSelector(w.ObjectSelector)
			if err != nil {
				t.Fatal(err)
			}
			if nsSel.Matches(labels.Set(c.ns)) && objSel.Matches(labels.Set(c.pod.Labels)) {
				called = append(called, w.Name)
			}
		}
		why := selected(c.pod, c.ns)
		optedOut := c.pod.Labels[InjectKey] == "false"
		if len(called) > 1 || (len(called) == 1) != (why == "" && !optedOut) {
			t.Errorf("%s: webhooks %v called; selected says %q", c.name, called, why)
		}
	}
}

// TestOutboundAnnotations: Istio's outbound capture annotations reach the
// init container's iptables flags; a value that cannot make a rule refuses
// the pod; the annotations lanemesh does not apply are warned about.
func TestOutboundAnnotations(t *testing.T) {
	enabled := map[string]string{IstioInjectionLabel: "enabled"}
	initArgs := func(annots map[string]string) (string, error) {
		ops, err := Patch(pod(nil, annots, "app"), enabled, testConfig)
		for _, op := range ops {
			if v, ok := op.Value.([]any); ok && op.Path == "/spec/initContainers" { // the pod had none
				c := v[0].(corev1.Container)
				return strings.Join(c.Args[3:], " "), err
			}
		}
		return "", err
	}
	for _, tc := range []struct {
		annots map[string]string
		want   string // the flags after --outbound-port and --proxy-uid, or the error
	}{
		{nil, ""},
		{map[string]string{ExcludeOutboundPortsAnnotation: "3306, 5432"}, "--exclude-outbound-ports=3306,5432"},
		{map[string]string{ExcludeOutboundIPRangesAnnotation: "10.0.0.0/8, 172.16.0.1"}, "--exclude-outbound-cidrs=10.0.0.0/8,172.16.0.1"},
		{map[string]string{IncludeOutboundIPRangesAnnotation: "10.96.0.0/12"}, "--include-outbound-cidrs=10.96.0.0/12"},
		{map[string]string{IncludeOutboundIPRangesAnnotation: "*"}, ""},
		{map[string]string{IncludeOutboundIPRangesAnnotation: ""}, "--include-outbound-cidrs="},
		{map[string]string{ExcludeOutboundIPRangesAnnotation: "*"}, "--include-outbound-cidrs="},
		{map[string]string{ExcludeOutboundPortsAnnotation: "mysql"}, "excludeOutboundPorts"},
		{map[string]string{ExcludeOutboundIPRangesAnnotation: "10.0.0/8"}, "excludeOutboundIPRanges"},
	} {
		got, err := initArgs(tc.annots)
		if err != nil {
			if !errors.Is(err, ErrBadPod) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%v: %v, want %q", tc.annots, err, tc.want)
			}
			continue
		}
		if got != tc.want {
			t.Errorf("%v: init flags %q, want %q", tc.annots, got, tc.want)
		}
	}
	w := Warnings(pod(nil, map[string]string{"proxy.istio.io/config": "{holdApplicationUntilProxyStarts: true}",
		"sidecar.istio.io/interceptionMode": "REDIRECT", "traffic.sidecar.istio.io/includeOutboundPorts": "3306"}, "app"))
	if len(w) != 2 || !strings.Contains(w[0], "proxy.istio.io/config") || !strings.Contains(w[1], "includeOutboundPorts") {
		t.Errorf("warnings %q, want proxy.istio.io/config and includeOutboundPorts (REDIRECT is what lanemesh does)", w)
	}
}
