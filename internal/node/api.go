package node

import (
	"context"
	"encoding/json"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// apiLookup reads ConfigMaps and Secrets from the API server.
type apiLookup struct{ client kubernetes.Interface }

// lookupTimeout bounds one read, so a pod's start cannot hang on the API.
const lookupTimeout = 10 * time.Second

func (l apiLookup) ConfigMapData(ns, name string) (map[string]string, bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
	defer cancel()
	cm, err := l.client.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	out := map[string]string{}
	for k, v := range cm.Data {
		out[k] = v
	}
	for k, v := range cm.BinaryData {
		out[k] = string(v)
	}
	return out, true, nil
}

func (l apiLookup) SecretData(ns, name string) (map[string]string, bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
	defer cancel()
	s, err := l.client.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	out := map[string]string{}
	for k, v := range s.Data {
		out[k] = string(v)
	}
	for k, v := range s.StringData {
		out[k] = v
	}
	return out, true, nil
}

func (l apiLookup) ConfigMapKey(ns, name, key string) (string, bool, error) {
	return keyOf(l.ConfigMapData(ns, name))(key)
}

func (l apiLookup) SecretKey(ns, name, key string) (string, bool, error) {
	return keyOf(l.SecretData(ns, name))(key)
}

func keyOf(data map[string]string, ok bool, err error) func(string) (string, bool, error) {
	return func(key string) (string, bool, error) {
		if err != nil || !ok {
			return "", false, err
		}
		v, ok := data[key]
		return v, ok, nil
	}
}

// patchPodStatus replaces the pod's status lists with st through a JSON
// merge patch of the status subresource. The UID in the patch is a
// precondition: a new pod that took the name is never written. The QoS
// class is the API server's: it sets it when the pod is created, from the
// containers' resources (an injected sidecar's requests make a pod
// Burstable), and refuses any change to it.
func patchPodStatus(ctx context.Context, client kubernetes.Interface, pod *corev1.Pod, st corev1.PodStatus) error {
	st.QOSClass = pod.Status.QOSClass
	body, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"uid": pod.UID},
		"status":   st,
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	_, err = client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.MergePatchType, body, metav1.PatchOptions{}, "status")
	return err
}
