package inject

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/lanemesh/lanemesh/internal/capture"
)

// Outbound capture: Istio's annotations that keep some of a pod's outbound
// connections away from its sidecar, which speaks HTTP only: a database
// reached directly must not be redirected to it.
const (
	// ExcludeOutboundPortsAnnotation lists destination ports not captured.
	ExcludeOutboundPortsAnnotation = "traffic.sidecar.istio.io/excludeOutboundPorts"
	// ExcludeOutboundIPRangesAnnotation lists destination CIDRs not
	// captured; "*" is every one.
	ExcludeOutboundIPRangesAnnotation = "traffic.sidecar.istio.io/excludeOutboundIPRanges"
	// IncludeOutboundIPRangesAnnotation lists the only destination CIDRs
	// captured: "*" (the default) is every one, "" none.
	IncludeOutboundIPRangesAnnotation = "traffic.sidecar.istio.io/includeOutboundIPRanges"
)

// outboundArgs are the init container's flags for a pod's outbound
// capture annotations, as istio-iptables reads them.
func outboundArgs(pod *corev1.Pod) ([]string, error) {
	a := pod.Annotations
	var args []string
	if v, ok := a[ExcludeOutboundPortsAnnotation]; ok {
		ports, all, err := ParsePorts(v)
		if err != nil || all {
			return nil, fmt.Errorf("%w: annotation %s: want a comma-separated list of ports", ErrBadPod, ExcludeOutboundPortsAnnotation)
		}
		if len(ports) > 0 {
			args = append(args, "--exclude-outbound-ports="+joinInts(ports))
		}
	}
	include := strings.TrimSpace(a[IncludeOutboundIPRangesAnnotation])
	if _, set := a[IncludeOutboundIPRangesAnnotation]; !set {
		include = "*"
	}
	if v := strings.TrimSpace(a[ExcludeOutboundIPRangesAnnotation]); v == "*" {
		include = "" // every destination excluded
	} else if v != "" {
		if _, err := capture.ParseCIDRs(v); err != nil {
			return nil, fmt.Errorf("%w: annotation %s: %v", ErrBadPod, ExcludeOutboundIPRangesAnnotation, err)
		}
		args = append(args, "--exclude-outbound-cidrs="+compact(v))
	}
	if include != "*" {
		if _, err := capture.ParseCIDRs(include); err != nil {
			return nil, fmt.Errorf("%w: annotation %s: %v (or \"*\" for every destination)", ErrBadPod, IncludeOutboundIPRangesAnnotation, err)
		}
		args = append(args, "--include-outbound-cidrs="+compact(include))
	}
	return args, nil
}

// compact drops the spaces of a comma-separated list.
func compact(s string) string { return strings.ReplaceAll(s, " ", "") }

func joinInts(ns []int) string {
	parts := make([]string, len(ns))
	for i, n := range ns {
		parts[i] = strconv.Itoa(n)
	}
	return strings.Join(parts, ",")
}

// unsupported are Istio's pod annotations that change how a sidecar
// captures or starts, which lanemesh does not apply, and why.
var unsupported = map[string]string{
	"traffic.sidecar.istio.io/includeOutboundPorts": "outbound capture is by destination address only",
	"sidecar.istio.io/interceptionMode":             "capture is always REDIRECT",
	"proxy.istio.io/config":                         "the sidecar takes no ProxyConfig",
}

// Warnings names what of a pod's annotations the injected sidecar will
// not honour, for the admission response's warnings (kubectl prints them)
// and the injector's log: a pod that relied on them is told, not silently
// served otherwise.
func Warnings(pod *corev1.Pod) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(unsupported)) {
		if v, ok := pod.Annotations[k]; ok && !(k == "sidecar.istio.io/interceptionMode" && v == "REDIRECT") {
			out = append(out, fmt.Sprintf("lanemesh does not apply the annotation %s (%s): it has no effect", k, unsupported[k]))
		}
	}
	return out
}
