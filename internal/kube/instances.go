package kube

import (
	"cmp"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/lanemesh/lanemesh/internal/registry"
)

// Instances turns pods and the EndpointSlices that list them into the
// registry's instances: every running pod with an IP, its labels (which
// pick subsets and are its callers' sourceLabels) and the ports of all its
// containers by name and number.
//
// An instance is healthy — chosen for new requests — when the
// EndpointSlices that list it say it is ready (a nil condition means ready,
// as the API defines). A pod being deleted is listed as terminating and not
// ready, so proxies stop choosing it while it finishes what it serves: it
// drains instead of failing requests. A pod no slice lists (no Service
// selects it, or the slice is not written yet) is healthy when its Ready
// condition is true and it is not being deleted.
func Instances(pods []*corev1.Pod, slices_ []*discoveryv1.EndpointSlice) []registry.Instance {
	ready := map[string]bool{} // namespace/pod → ready in every slice that lists it
	for _, s := range slices_ {
		if s.AddressType != discoveryv1.AddressTypeIPv4 && s.AddressType != discoveryv1.AddressTypeIPv6 {
			continue
		}
		for _, ep := range s.Endpoints {
			if ep.TargetRef == nil || ep.TargetRef.Kind != "Pod" {
				continue
			}
			key := s.Namespace + "/" + ep.TargetRef.Name
			r := ep.Conditions.Ready == nil || *ep.Conditions.Ready
			if prev, seen := ready[key]; seen {
				r = r && prev
			}
			ready[key] = r
		}
	}
	var out []registry.Instance
	for _, p := range pods {
		if p.Status.PodIP == "" || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		healthy, listed := ready[p.Namespace+"/"+p.Name]
		if !listed {
			healthy = podReady(p)
		}
		out = append(out, registry.Instance{
			Name:      p.Name,
			Namespace: p.Namespace,
			Owner:     owner(p),
			Labels:    p.Labels,
			Address:   p.Status.PodIP,
			Ports:     podPorts(p),
			Healthy:   healthy && p.DeletionTimestamp == nil,
		})
	}
	slices.SortFunc(out, func(a, b registry.Instance) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	return out
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// podPorts lists the ports of every container, by number in decimal and by
// name, as local mode's pods list theirs.
func podPorts(p *corev1.Pod) map[string]uint32 {
	out := map[string]uint32{}
	for _, c := range p.Spec.Containers {
		for _, port := range c.Ports {
			if port.Protocol != "" && port.Protocol != corev1.ProtocolTCP {
				continue
			}
			n := uint32(port.ContainerPort)
			out[strconv.Itoa(int(n))] = n
			if port.Name != "" {
				out[port.Name] = n
			}
		}
	}
	return out
}

// owner names what made the pod as `get pods` shows it: the Deployment
// behind a ReplicaSet (its name less the pod-template-hash), else the
// controller itself.
func owner(p *corev1.Pod) string {
	for _, ref := range p.OwnerReferences {
		if ref.Controller == nil || !*ref.Controller {
			continue
		}
		if h := p.Labels["pod-template-hash"]; ref.Kind == "ReplicaSet" && h != "" {
			if d, ok := strings.CutSuffix(ref.Name, "-"+h); ok {
				return "Deployment/" + d
			}
		}
		return ref.Kind + "/" + ref.Name
	}
	return "Pod/" + p.Name
}
