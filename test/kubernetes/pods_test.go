package kubernetes_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestRestartsAndGracefulDelete: a container that exits is restarted and
// counted, with its exit code as last state; a deleted pod's process gets
// SIGTERM and, when it exits on it, the pod is gone long before its grace
// period would have ended in a SIGKILL.
func TestRestartsAndGracefulDelete(t *testing.T) {
	e := cluster(t)
	e.startNode(t, "rehearsal-pods")
	const pods = `
apiVersion: v1
kind: Pod
metadata: {name: crasher, namespace: default}
spec:
  containers:
  - name: c
    image: busybox
    command: [sh, -c, "echo up; exit 3"]
---
apiVersion: v1
kind: Pod
metadata: {name: sleeper, namespace: default}
spec:
  terminationGracePeriodSeconds: 30
  containers:
  - name: c
    image: busybox
    command: [sh, -c, "trap 'exit 0' TERM; while true; do sleep 0.1; done"]
`
	e.kubectl(t, pods, "apply", "-f", "-")
	t.Cleanup(func() {
		_, _ = e.kubectlErr(pods, "delete", "--ignore-not-found", "--wait=false", "--grace-period=0", "-f", "-")
	})
	ctx := context.Background()

	eventually(t, 60*time.Second, "crasher restarted with its exit code recorded", func() (bool, string) {
		p, err := e.client.CoreV1().Pods("default").Get(ctx, "crasher", metav1.GetOptions{})
		if err != nil || len(p.Status.ContainerStatuses) != 1 {
			return false, fmt.Sprint(err)
		}
		cs := p.Status.ContainerStatuses[0]
		last := cs.LastTerminationState.Terminated
		return cs.RestartCount >= 1 && last != nil && last.ExitCode == 3 && !cs.Ready,
			fmt.Sprintf("restarts=%d last=%+v state=%+v", cs.RestartCount, last, cs.State)
	})

	eventually(t, 60*time.Second, "sleeper Ready", func() (bool, string) {
		p, err := e.client.CoreV1().Pods("default").Get(ctx, "sleeper", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return podReady(*p), string(p.Status.Phase)
	})
	began := time.Now()
	e.kubectl(t, "", "delete", "pod", "sleeper", "--wait=true", "--timeout=60s")
	if took := time.Since(began); took > 15*time.Second {
		t.Errorf("deleting sleeper took %v: its process did not get SIGTERM (grace period 30s)", took)
	}
}
