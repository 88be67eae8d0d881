package inject

import (
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var testConfig = Config{Image: "lanemesh/lanemesh:test", XDSAddress: "lanemesh.lanemesh-system.svc:15010"}

func pod(labels, annotations map[string]string, containers ...string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default", Labels: labels, Annotations: annotations}}
	for _, c := range containers {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: c, Image: "app"})
	}
	return p
}

func TestSkip(t *testing.T) {
	enabled := map[string]string{IstioInjectionLabel: "enabled"}
	hostNet := pod(nil, nil, "app")
	hostNet.Spec.HostNetwork = true
	withInit := pod(nil, nil, "app")
	withInit.Spec.InitContainers = []corev1.Container{{Name: InitContainer}}
	for _, c := range []struct {
		name   string
		pod    *corev1.Pod
		ns     map[string]string
		reason string // a part of Skip's answer; "" to inject
	}{
		{"istio-injection enabled", pod(nil, nil, "app"), enabled, ""},
		{"lanemesh-injection enabled", pod(nil, nil, "app"), map[string]string{LanemeshInjectionLabel: "enabled"}, ""},
		{"namespace not labelled", pod(nil, nil, "app"), map[string]string{"team": "a"}, "neither"},
		{"namespace labelled other value", pod(nil, nil, "app"), map[string]string{IstioInjectionLabel: "true"}, "neither"},
		{"disabled wins over lanemesh-injection", pod(nil, nil, "app"),
			map[string]string{IstioInjectionLabel: "disabled", LanemeshInjectionLabel: "enabled"}, "disabled"},
		{"opt-out label", pod(map[string]string{InjectKey: "false"}, nil, "app"), enabled, "opts out"},
		{"opt-out annotation", pod(nil, map[string]string{InjectKey: "false"}, "app"), enabled, "opts out"},
		{"inject true is no opt-out", pod(map[string]string{InjectKey: "true"}, nil, "app"), enabled, ""},
		{"host network", hostNet, enabled, "host network"},
		{"already injected", pod(nil, nil, "app", ProxyContainer), enabled, "already"},
		{"init container already there", withInit, enabled, "already"},
	} {
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
