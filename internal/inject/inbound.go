package inject

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/lanemesh/lanemesh/internal/meshxds"

	corev1 "k8s.io/api/core/v1"
)

// Inbound capture: which of a pod's inbound connections iptables sends
// through its sidecar. Istio's annotations say it for one pod; without
// them, Config.Inbound decides, and by default nothing is captured, since
// every inbound hop through a sidecar costs latency and only lane
// propagation needs it.
const (
	// IncludeInboundPortsAnnotation is "*" (every port), a
	// comma-separated list of ports, or "" (none).
	IncludeInboundPortsAnnotation = "traffic.sidecar.istio.io/includeInboundPorts"
	// ExcludeInboundPortsAnnotation lists ports never captured inbound.
	ExcludeInboundPortsAnnotation = "traffic.sidecar.istio.io/excludeInboundPorts"
	// InboundPort is the sidecar's inbound listener.
	InboundPort = meshxds.InboundListenerPort
)

// ParsePorts reads an includeInboundPorts value: "*" is every port (all),
// "" none, else a comma-separated list of ports.
func ParsePorts(s string) (ports []int, all bool, err error) {
	s = strings.TrimSpace(s)
	if s == "*" {
		return nil, true, nil
	}
	for part := range strings.SplitSeq(s, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		n, err := strconv.Atoi(part)
		if err != nil || n <= 0 || n > 65535 {
			return nil, false, fmt.Errorf("port %q: want 1-65535, a comma-separated list, or \"*\"", part)
		}
		ports = append(ports, n)
	}
	slices.Sort(ports)
	return slices.Compact(ports), false, nil
}

// inboundCapture is a pod's inbound capture: include as the init
// container's --include-inbound-ports takes it ("" for none) and the
// ports excluded, the sidecar's admin port (where the kubelet probes it)
// always among them.
type inboundCapture struct {
	include string
	exclude []int
}

func (c inboundCapture) on() bool { return c.include != "" }

// inboundFor reads a pod's inbound capture from its annotations, or asks
// cfg.Inbound when it has none.
func inboundFor(pod *corev1.Pod, cfg Config) (inboundCapture, error) {
	include, set := pod.Annotations[IncludeInboundPortsAnnotation]
	if !set && cfg.Inbound != nil && cfg.Inbound(pod.Namespace, pod.Labels) {
		include = "*"
	}
	ports, all, err := ParsePorts(include)
	if err != nil {
		return inboundCapture{}, fmt.Errorf("%w: annotation %s: %v", ErrBadPod, IncludeInboundPortsAnnotation, err)
	}
	exclude, excludeAll, err := ParsePorts(pod.Annotations[ExcludeInboundPortsAnnotation])
	if err != nil || excludeAll {
		return inboundCapture{}, fmt.Errorf("%w: annotation %s: want a comma-separated list of ports", ErrBadPod, ExcludeInboundPortsAnnotation)
	}
	c := inboundCapture{exclude: append([]int{AdminPort}, exclude...)}
	switch {
	case all:
		c.include = "*"
	case len(ports) > 0:
		parts := make([]string, len(ports))
		for i, p := range ports {
			parts[i] = strconv.Itoa(p)
		}
		c.include = strings.Join(parts, ",")
	}
	return c, nil
}

// iptablesArgs are the init container's inbound flags.
func (c inboundCapture) iptablesArgs() []string {
	if !c.on() {
		return nil
	}
	parts := make([]string, len(c.exclude))
	for i, p := range c.exclude {
		parts[i] = strconv.Itoa(p)
	}
	return []string{"--inbound-port=" + strconv.Itoa(InboundPort), "--include-inbound-ports=" + c.include,
		"--exclude-inbound-ports=" + strings.Join(parts, ",")}
}
