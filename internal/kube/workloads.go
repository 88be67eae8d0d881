package kube

import (
	"context"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/lanemesh/lanemesh/internal/admin"
)

// Workloads shows the cluster's pods through the admin API, so that
// `lanemesh get pods` and `lanemesh logs` work in Kubernetes mode as in
// local mode.
func (s *Source) Workloads() admin.Workloads { return workloads{s} }

type workloads struct{ s *Source }

func (w workloads) Pods() []admin.Pod {
	pods, _ := w.s.typed.Core().V1().Pods().Lister().List(labels.Everything())
	var out []admin.Pod
	for _, p := range pods {
		restarts := 0
		for _, cs := range p.Status.ContainerStatuses {
			restarts += int(cs.RestartCount)
		}
		phase := string(p.Status.Phase)
		if p.DeletionTimestamp != nil {
			phase = "Terminating"
		}
		out = append(out, admin.Pod{Name: p.Name, Namespace: p.Namespace, Owner: owner(p), IP: p.Status.PodIP,
			Phase: phase, Ready: podReady(p) && p.DeletionTimestamp == nil, Restarts: restarts, Labels: p.Labels,
			Created: p.CreationTimestamp.Time})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Namespace+"/"+out[i].Name < out[j].Namespace+"/"+out[j].Name })
	return out
}

// Logs returns the pod's first container's log, as `kubectl logs POD`.
func (w workloads) Logs(namespace, pod string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return w.s.kube.CoreV1().Pods(namespace).GetLogs(pod, &corev1.PodLogOptions{}).DoRaw(ctx)
}
