package kube

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func pod(name, ip string, ready bool) *corev1.Pod {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	yes := true
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": "mockb", "pod-template-hash": "5d8f"},
			OwnerReferences: []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "mockb-v2-5d8f", Controller: &yes}}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8000}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}},
	}
}

func TestInstancesFollowEndpointSlices(t *testing.T) {
	no, yes := false, true
	terminating := pod("mockb-v2-b", "10.0.0.2", true)
	terminating.DeletionTimestamp = &metav1.Time{}
	unlisted := pod("mockb-v2-c", "10.0.0.3", true)
	pending := pod("mockb-v2-d", "", false)
	slice := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "mockb-x"},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{
			{Addresses: []string{"10.0.0.1"}, TargetRef: &corev1.ObjectReference{Kind: "Pod", Name: "mockb-v2-a"}},
			{Addresses: []string{"10.0.0.2"}, Conditions: discoveryv1.EndpointConditions{Ready: &no, Serving: &yes, Terminating: &yes},
				TargetRef: &corev1.ObjectReference{Kind: "Pod", Name: "mockb-v2-b"}},
		}}
	in := Instances([]*corev1.Pod{unlisted, terminating, pod("mockb-v2-a", "10.0.0.1", false), pending}, []*discoveryv1.EndpointSlice{slice})
	if len(in) != 3 {
		t.Fatalf("%d instances, want 3 (a pod without an IP is none): %+v", len(in), in)
	}
	want := map[string]bool{"mockb-v2-a": true, "mockb-v2-b": false, "mockb-v2-c": true}
	for _, i := range in {
		if i.Healthy != want[i.Name] {
			t.Errorf("%s healthy = %v, want %v", i.Name, i.Healthy, want[i.Name])
		}
		if i.Owner != "Deployment/mockb-v2" || i.Ports["http"] != 8000 || i.Ports["8000"] != 8000 {
			t.Errorf("%s: owner %q ports %v, want Deployment/mockb-v2 and http=8000", i.Name, i.Owner, i.Ports)
		}
	}
}
