// Package inject adds lanemesh's sidecar to the pods of namespaces that
// ask for it, as Istio's sidecar injector does: a mutating admission
// webhook that the control plane serves in Kubernetes mode.
//
// Patch is the pure core: a pod, its namespace and the injection settings
// in, the JSON patch the apiserver applies out. Webhook wraps it in
// AdmissionReview v1; Serve runs Webhook over TLS with a certificate the
// control plane issues itself, and patches its CA into the
// MutatingWebhookConfiguration.
package inject

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/lanemesh/lanemesh/internal/meshxds"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Names the injected pod carries, fixed so that tools (and Patch itself,
// to stay idempotent) can find them.
const (
	ProxyContainer = "lanemesh-proxy"
	// ProxyCommand is the slim proxy in lanemesh's image: `lanemesh proxy`
	// without the loader, compiler and control plane, at about half the
	// memory per pod (see build-proxy.sh).
	ProxyCommand  = "/usr/local/bin/lanemesh-proxy"
	InitContainer = "lanemesh-init"
	TokenVolume   = "lanemesh-token"
	TokenDir      = "/var/run/secrets/tokens"
	// TokenFile is the projected service-account token the sidecar proves
	// its identity to the control plane with (proxy --xds-token-file).
	TokenFile = TokenDir + "/istio-token"
	// TokenAudience is the audience the control plane's TokenReview asks
	// for: Istio's, so that a token is good for lanemesh exactly when it
	// would be for istiod.
	TokenAudience = "istio-ca"
	// AdminPort is the sidecar's admin listener (/ready for the kubelet's
	// readiness probe), Istio's health port.
	AdminPort = 15021
	// ProxyUID is the user the sidecar runs as; transparent capture
	// exempts its own connections by this owner, as Istio's 1337.
	ProxyUID = 1337
	// tokenSeconds is the projected token's lifetime (Istio's); the
	// kubelet refreshes it well before it ends.
	tokenSeconds = 43200
)

// OutboundPort is where the sidecar takes the app's outbound requests:
// HTTP_PROXY points at it, or iptables redirects to it.
const OutboundPort = meshxds.SidecarListenerPort

// Labels and annotations Patch honours.
const (
	// InjectKey set to "false" as a label or an annotation keeps a pod
	// out, and "true" as a label brings one in from a namespace with no
	// injection label (Istio's). Where both are set the label decides, as
	// in Istio.
	InjectKey = "sidecar.istio.io/inject"
	// RevisionLabel "default" on a namespace with no istio-injection
	// label, or on a pod of an unlabelled namespace, selects it for
	// injection, as Istio's default revision does; other revisions are
	// another control plane's.
	RevisionLabel = "istio.io/rev"
	// IstioStatusAnnotation marks a pod Istio's injector has injected.
	IstioStatusAnnotation = "sidecar.istio.io/status"
	// IstioProxyContainer is Istio's sidecar, or the container Istio's
	// gateway injection fills in (image: auto).
	IstioProxyContainer = "istio-proxy"
	// CaptureAnnotation overrides Config.Capture for one pod.
	CaptureAnnotation = "lanemesh.io/capture-mode"
	// IstioInjectionLabel and LanemeshInjectionLabel on a namespace turn
	// injection on ("enabled"); IstioInjectionLabel "disabled" keeps the
	// namespace out whatever else it says.
	IstioInjectionLabel    = "istio-injection"
	LanemeshInjectionLabel = "lanemesh-injection"
)

// Capture is how the app's outbound requests reach the sidecar.
type Capture string

const (
	// CaptureIPTables redirects the pod's outbound TCP to the sidecar with
	// iptables rules an init container installs: apps need no change, but
	// the init container needs NET_ADMIN.
	CaptureIPTables Capture = "iptables"
	// CaptureHTTPProxy sets HTTP_PROXY in the app containers: no
	// privilege needed, for clusters that forbid NET_ADMIN; only apps that
	// honour HTTP_PROXY (and plain http:// calls) are captured.
	CaptureHTTPProxy Capture = "http-proxy"
)

// ParseCapture reads a capture mode as flags and annotations write it.
func ParseCapture(s string) (Capture, error) {
	switch c := Capture(s); c {
	case CaptureIPTables, CaptureHTTPProxy:
		return c, nil
	}
	return "", fmt.Errorf("capture mode %q: want %s or %s", s, CaptureIPTables, CaptureHTTPProxy)
}

// Config is what every injected pod shares. Image and XDSAddress are
// required; the zero Capture means iptables.
type Config struct {
	// Image is the sidecar's (and init container's) image: the control
	// plane's own, so that proxy and control plane are one version.
	Image string
	// XDSAddress is the control plane's xDS address as pods reach it
	// (host:port), normally its Service: lanemesh.lanemesh-system.svc:15010.
	XDSAddress string
	Capture    Capture
	// BindPodIP binds the sidecar's outbound listener to the pod's IP
	// instead of 127.0.0.1. A real pod has its own loopback, where the
	// listener is private to the pod; on a rehearsal node (lanemesh node),
	// pods are processes sharing the host's loopback and are told apart
	// by their pod IPs (127.0.x.y), so 127.0.0.1:15001 would be one port
	// for every pod.
	BindPodIP bool
	// Inbound decides whether a pod whose annotations do not say it gets
	// inbound capture (every port but the sidecar's own): the control
	// plane answers from its configuration, yes for a workload of a
	// permissive lane group whose apps do not carry the route header. Nil
	// means no. It is asked at admission, as the pod's rules are made
	// then; it must not block.
	Inbound func(namespace string, labels map[string]string) bool
	// TracingEndpoint, when set, has injected sidecars export spans to this
	// OTLP/HTTP collector, recording TracingSampling percent of new traces
	// (see proxy.Tracing).
	TracingEndpoint string
	TracingSampling float64
}

// Operation is one RFC 6902 JSON patch operation.
type Operation struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

// ErrBadPod marks a pod whose own settings make injection impossible; the
// webhook refuses such a pod with the message, rather than let it run
// without the sidecar it asked for.
var ErrBadPod = errors.New("cannot inject the lanemesh sidecar")

// Skip says why Patch leaves a pod alone; "" means it injects. It is
// Istio's choice for its default revision: the webhooks' selectors
// (selected), then the pod's own word, its label before its annotation.
func Skip(pod *corev1.Pod, nsLabels map[string]string) string {
	if why := selected(pod, nsLabels); why != "" {
		return why
	}
	choice, labelled := pod.Labels[InjectKey]
	if !labelled {
		choice = pod.Annotations[InjectKey]
	}
	switch {
	case choice == "false":
		return "pod opts out with " + InjectKey + `: "false"`
	case pod.Spec.HostNetwork:
		// A sidecar in the host's network namespace would capture (or
		// collide with) the node's own traffic; Istio skips these too.
		return "pod uses the host network"
	case pod.Annotations[IstioStatusAnnotation] != "":
		return "pod already has Istio's sidecar (" + IstioStatusAnnotation + ")"
	case injected(pod):
		return "pod already has " + ProxyContainer
	}
	return ""
}

// selected says why none of Istio's injection webhooks would be called
// for pod ("" when one is), as deploy/04-injector.yaml selects: a
// namespace labelled istio-injection=enabled (disabled, or any other
// value, keeps it out), else lanemesh-injection=enabled, else
// istio.io/rev=default; in a namespace with none of these labels, a pod
// labelled istio.io/rev=default, or sidecar.istio.io/inject=true with no
// revision.
func selected(pod *corev1.Pod, nsLabels map[string]string) string {
	istio, hasIstio := nsLabels[IstioInjectionLabel]
	rev, hasRev := nsLabels[RevisionLabel]
	switch {
	case istio == "enabled" || nsLabels[LanemeshInjectionLabel] == "enabled" && istio != "disabled":
		return ""
	case hasIstio:
		return "namespace is labelled " + IstioInjectionLabel + "=" + istio
	case hasRev && rev == "default":
		return ""
	case hasRev:
		return "namespace is labelled " + RevisionLabel + "=" + rev + ": another control plane's revision (lanemesh is the default one)"
	case pod.Labels[RevisionLabel] == "default" || pod.Labels[InjectKey] == "true" && pod.Labels[RevisionLabel] == "":
		return ""
	}
	return "namespace has none of " + IstioInjectionLabel + "=enabled, " + LanemeshInjectionLabel + "=enabled, " +
		RevisionLabel + "=default, and the pod is not labelled " + InjectKey + "=true or " + RevisionLabel + "=default"
}

func injected(pod *corev1.Pod) bool {
	for _, c := range append(append([]corev1.Container(nil), pod.Spec.Containers...), pod.Spec.InitContainers...) {
		if c.Name == ProxyContainer || c.Name == InitContainer {
			return true
		}
	}
	return false
}

// Patch returns the JSON patch that adds the sidecar to pod, or nil when
// the pod is not to be injected (see Skip). nsLabels are the labels of the
// pod's namespace. Patch does no I/O.
func Patch(pod *corev1.Pod, nsLabels map[string]string, cfg Config) ([]Operation, error) {
	if cfg.Image == "" || cfg.XDSAddress == "" {
		return nil, errors.New("inject: Config needs Image and XDSAddress")
	}
	if Skip(pod, nsLabels) != "" {
		return nil, nil
	}
	for _, c := range pod.Spec.Containers {
		if c.Name == IstioProxyContainer {
			return nil, fmt.Errorf("%w: the pod has a container %s, which Istio's injector fills in (its gateway injection has image: auto) and lanemesh does not: "+
				"remove it, or keep the pod out with the label %s: \"false\"", ErrBadPod, IstioProxyContainer, InjectKey)
		}
	}
	capture := cfg.Capture
	if capture == "" {
		capture = CaptureIPTables
	}
	if a, ok := pod.Annotations[CaptureAnnotation]; ok {
		c, err := ParseCapture(a)
		if err != nil {
			return nil, fmt.Errorf("%w: annotation %s: %v", ErrBadPod, CaptureAnnotation, err)
		}
		capture = c
	}
	host := "127.0.0.1"
	if cfg.BindPodIP {
		host = "$(INSTANCE_IP)"
	}
	outbound := host + ":" + strconv.Itoa(OutboundPort)
	var inbound inboundCapture
	var excluded []string           // the init container's outbound flags
	if capture == CaptureIPTables { // only iptables can bring inbound traffic to the sidecar
		var err error
		if inbound, err = inboundFor(pod, cfg); err != nil {
			return nil, err
		}
		if excluded, err = outboundArgs(pod); err != nil {
			return nil, err
		}
	}

	var ops []Operation
	if capture == CaptureHTTPProxy {
		for i, c := range pod.Spec.Containers {
			ops = append(ops, proxyEnv(i, c, cfg.BindPodIP, outbound)...)
		}
	} else {
		ops = append(ops, addTo("/spec/initContainers", len(pod.Spec.InitContainers), initContainer(cfg.Image, excluded, inbound)))
	}
	ops = append(ops,
		addTo("/spec/containers", len(pod.Spec.Containers), sidecar(pod, cfg, outbound, inbound)),
		addTo("/spec/volumes", len(pod.Spec.Volumes), tokenVolume()))
	return ops, nil
}

// addTo appends v to the list at path, creating the list when it has none
// (a JSON patch cannot append to a list that is not there).
func addTo(path string, n int, v any) Operation {
	if n == 0 {
		return Operation{Op: "add", Path: path, Value: []any{v}}
	}
	return Operation{Op: "add", Path: path + "/-", Value: v}
}

// proxyEnv points one app container's HTTP_PROXY at the sidecar, in both
// spellings (Go reads either; curl only the lower-case one), as local mode
// does. A container that sets either already keeps its own: its author
// chose where its requests go.
func proxyEnv(i int, c corev1.Container, viaPodIP bool, outbound string) []Operation {
	for _, e := range c.Env {
		if e.Name == "HTTP_PROXY" || e.Name == "http_proxy" {
			return nil
		}
	}
	var env []corev1.EnvVar
	if viaPodIP {
		// $(INSTANCE_IP) in HTTP_PROXY expands only from a variable
		// defined earlier in the same container.
		env = append(env, fieldEnv("INSTANCE_IP", "status.podIP"))
	}
	url := "http://" + outbound
	env = append(env, corev1.EnvVar{Name: "HTTP_PROXY", Value: url}, corev1.EnvVar{Name: "http_proxy", Value: url})
	path := fmt.Sprintf("/spec/containers/%d/env", i)
	if len(c.Env) == 0 {
		return []Operation{{Op: "add", Path: path, Value: env}}
	}
	ops := make([]Operation, 0, len(env))
	for _, e := range env {
		ops = append(ops, Operation{Op: "add", Path: path + "/-", Value: e})
	}
	return ops
}

func fieldEnv(name, path string) corev1.EnvVar {
	return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}}
}

// sidecar is the proxy container, with what `lanemesh up` gives a local
// sidecar: its role, namespace and labels (the identity sourceLabels are
// resolved against), the outbound listener, and the control plane's
// address; plus the token that proves the identity.
func sidecar(pod *corev1.Pod, cfg Config, outbound string, inbound inboundCapture) corev1.Container {
	args := []string{"--role=sidecar",
		"--xds=" + cfg.XDSAddress,
		"--xds-token-file=" + TokenFile,
		"--id=sidecar~$(POD_NAMESPACE)/$(POD_NAME)",
		"--namespace=$(POD_NAMESPACE)",
	}
	if l := labelsArg(pod.Labels); l != "" {
		args = append(args, "--labels="+l)
	}
	if w := workloadName(pod); w != "" {
		args = append(args, "--workload="+w)
	}
	args = append(args, "--outbound="+outbound,
		// The kubelet probes the pod's IP, so the admin listener is
		// there, not on loopback; it serves only reads.
		"--admin=$(INSTANCE_IP):"+strconv.Itoa(AdminPort))
	if inbound.on() {
		// REDIRECT sends to the receiving interface's address; a pod's
		// only other one is loopback.
		host := "0.0.0.0"
		if cfg.BindPodIP {
			host = "$(INSTANCE_IP)"
		}
		args = append(args, "--inbound="+host+":"+strconv.Itoa(InboundPort))
	}
	if cfg.TracingEndpoint != "" {
		args = append(args, "--tracing-endpoint="+cfg.TracingEndpoint,
			"--tracing-sampling="+strconv.FormatFloat(cfg.TracingSampling, 'f', -1, 64))
	}
	uid := int64(ProxyUID)
	no, yes := false, true
	return corev1.Container{
		Name:    ProxyContainer,
		Image:   cfg.Image,
		Command: []string{ProxyCommand},
		Args:    args,
		Env: []corev1.EnvVar{
			fieldEnv("POD_NAME", "metadata.name"),
			fieldEnv("POD_NAMESPACE", "metadata.namespace"),
			fieldEnv("INSTANCE_IP", "status.podIP"),
			fieldEnv("SERVICE_ACCOUNT", "spec.serviceAccountName"),
		},
		Ports: []corev1.ContainerPort{{Name: "lanemesh-admin", ContainerPort: AdminPort, Protocol: corev1.ProtocolTCP}},
		ReadinessProbe: &corev1.Probe{
			ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
				Path: "/ready", Port: intstr.FromInt32(AdminPort)}},
			// Istio's readiness settings for istio-proxy.
			InitialDelaySeconds: 1, PeriodSeconds: 2, TimeoutSeconds: 3, FailureThreshold: 4,
		},
		Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("10m"),
			corev1.ResourceMemory: resource.MustParse("40Mi"),
		}},
		VolumeMounts: []corev1.VolumeMount{{Name: TokenVolume, MountPath: TokenDir, ReadOnly: true}},
		SecurityContext: &corev1.SecurityContext{
			RunAsUser: &uid, RunAsGroup: &uid, RunAsNonRoot: &yes,
			AllowPrivilegeEscalation: &no, ReadOnlyRootFilesystem: &yes,
			Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		},
	}
}

// labelsArg writes labels as proxy --labels takes them, sorted so that the
// patch is the same for the same pod. Label keys and values cannot hold
// ',' or '=', so the list is unambiguous.
func labelsArg(labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+labels[k])
	}
	return strings.Join(parts, ",")
}

// initContainer installs the transparent-capture rules: every outbound TCP
// connection of the pod, except the sidecar's own (by its user), is
// redirected to the sidecar's outbound port, and with inbound capture the
// pod's inbound connections to its inbound port; the original destination
// is read with SO_ORIGINAL_DST. It is the only part of the pod
// with NET_ADMIN, and it exits before the app starts.
func initContainer(image string, outbound []string, inbound inboundCapture) corev1.Container {
	root := int64(0)
	no := false
	return corev1.Container{
		Name:  InitContainer,
		Image: image,
		Args: slices.Concat([]string{"iptables",
			"--outbound-port=" + strconv.Itoa(OutboundPort),
			"--proxy-uid=" + strconv.Itoa(ProxyUID)}, outbound, inbound.iptablesArgs()),
		SecurityContext: &corev1.SecurityContext{
			RunAsUser: &root, RunAsNonRoot: &no, AllowPrivilegeEscalation: &no,
			Capabilities: &corev1.Capabilities{
				Add:  []corev1.Capability{"NET_ADMIN", "NET_RAW"},
				Drop: []corev1.Capability{"ALL"},
			},
		},
	}
}

// tokenVolume is the projected service-account token for the control
// plane's audience, as Istio's istio-token volume.
func tokenVolume() corev1.Volume {
	secs := int64(tokenSeconds)
	return corev1.Volume{Name: TokenVolume, VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
		Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
			Audience: TokenAudience, ExpirationSeconds: &secs, Path: "istio-token",
		}}},
	}}}
}

// workloadName is the pod's workload as Istio's metrics name it: the
// Deployment of a ReplicaSet's pod (the ReplicaSet's name less the
// pod-template-hash), else the controller's name, else the pod's own name
// ("" for a pod still to be named, whose proxy then takes its pod name).
func workloadName(pod *corev1.Pod) string {
	for _, ref := range pod.OwnerReferences {
		if ref.Controller == nil || !*ref.Controller {
			continue
		}
		if h := pod.Labels["pod-template-hash"]; ref.Kind == "ReplicaSet" && h != "" {
			if d, ok := strings.CutSuffix(ref.Name, "-"+h); ok {
				return d
			}
		}
		return ref.Name
	}
	return pod.Name
}
