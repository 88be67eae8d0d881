package node

import (
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/lanemesh/lanemesh/internal/local"
)

// hostIP is the node's address, which is also where its pods' loopback
// addresses live.
const hostIP = "127.0.0.1"

// podState is what the node knows of a pod's containers, from which the
// pod's status is derived (podStatus). Transitions are recorded so that
// conditions keep their lastTransitionTime while unchanged.
type podState struct {
	uid         string
	created     time.Time
	initialized bool
	failed      bool // an init container failed under restartPolicy Never
	init        []ctrState
	ctrs        []ctrState
	since       map[corev1.PodConditionType]condSince
}

type condSince struct {
	status corev1.ConditionStatus
	at     time.Time
}

// ctrState is one container's state.
type ctrState struct {
	name, image string
	running     bool
	everStarted bool
	startedAt   time.Time
	ready       bool
	probeMsg    string
	restarts    int32
	waiting     string // reason while not running
	waitMsg     string
	done        *corev1.ContainerStateTerminated // set while terminated and not restarting
	last        *corev1.ContainerStateTerminated // the last termination
}

func newPodState(pod *corev1.Pod, now time.Time) podState {
	s := podState{uid: string(pod.UID), created: now, initialized: len(pod.Spec.InitContainers) == 0, since: map[corev1.PodConditionType]condSince{}}
	for _, c := range pod.Spec.InitContainers {
		s.init = append(s.init, ctrState{name: c.Name, image: c.Image, waiting: "PodInitializing"})
	}
	for _, c := range pod.Spec.Containers {
		s.ctrs = append(s.ctrs, ctrState{name: c.Name, image: c.Image, waiting: "ContainerCreating"})
	}
	return s
}

func (s podState) clone() podState {
	s.init = slices.Clone(s.init)
	s.ctrs = slices.Clone(s.ctrs)
	return s
}

func (c *ctrState) start(now time.Time) {
	c.running, c.everStarted, c.startedAt = true, true, now
	c.ready, c.probeMsg, c.waiting, c.waitMsg, c.done = false, "", "", "", nil
}

// exited records the end of a run; ok is a clean exit (status 0, or a stop
// the node asked for).
func (c *ctrState) exited(err error, ok bool, now time.Time) {
	t := &corev1.ContainerStateTerminated{
		ExitCode:   exitCode(err, ok),
		Reason:     "Completed",
		StartedAt:  metav1.NewTime(c.startedAt),
		FinishedAt: metav1.NewTime(now),
	}
	if !ok {
		t.Reason = "Error"
		if err != nil {
			t.Message = err.Error()
		}
	}
	c.running, c.ready, c.done, c.last = false, false, t, t
}

// backOff records that a container waits to restart.
func (c *ctrState) backOff(delay time.Duration, err error) {
	c.restarts++
	c.done = nil
	c.waiting = "CrashLoopBackOff"
	c.waitMsg = fmt.Sprintf("back-off %v restarting failed container %s", delay, c.name)
	if errors.Is(err, errConfig) {
		c.waiting, c.waitMsg = "CreateContainerConfigError", err.Error()
	}
}

func exitCode(err error, ok bool) int32 {
	var ee *exec.ExitError
	switch {
	case ok || errors.Is(err, local.ErrExitedZero):
		return 0
	case errors.As(err, &ee) && ee.ExitCode() >= 0:
		return int32(ee.ExitCode())
	case errors.As(err, &ee):
		return 137 // killed by a signal
	}
	return 128 // could not start, as a runtime reports a failed exec
}

// waitAll marks every container as waiting for reason.
func (s *podState) waitAll(reason, msg string) {
	for _, cs := range []([]ctrState){s.init, s.ctrs} {
		for i := range cs {
			cs[i].running, cs[i].ready, cs[i].waiting, cs[i].waitMsg = false, false, reason, msg
		}
	}
}

// status is the pod's status for the API server. It records condition
// transitions in s.
func (s *podState) status(ip string, now time.Time) corev1.PodStatus {
	st := corev1.PodStatus{
		HostIP: hostIP, HostIPs: []corev1.HostIP{{IP: hostIP}},
		PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}},
		StartTime: ptr(metav1.NewTime(s.created)),
	}
	allReady, anyStarted, allDone, allOK := len(s.ctrs) > 0, false, len(s.ctrs) > 0, true
	for _, c := range s.ctrs {
		st.ContainerStatuses = append(st.ContainerStatuses, c.api(s.uid))
		allReady = allReady && c.ready
		anyStarted = anyStarted || c.everStarted
		allDone = allDone && c.done != nil
		allOK = allOK && (c.done == nil || c.done.ExitCode == 0)
	}
	for _, c := range s.init {
		st.InitContainerStatuses = append(st.InitContainerStatuses, c.api(s.uid))
	}
	switch {
	case s.failed:
		st.Phase = corev1.PodFailed
	case allDone && allOK:
		st.Phase = corev1.PodSucceeded
	case allDone:
		st.Phase = corev1.PodFailed
	case anyStarted:
		st.Phase = corev1.PodRunning
	default:
		st.Phase = corev1.PodPending
	}
	cond := func(t corev1.PodConditionType, ok bool) corev1.PodCondition {
		status := corev1.ConditionFalse
		if ok {
			status = corev1.ConditionTrue
		}
		since, seen := s.since[t]
		if !seen || since.status != status {
			since = condSince{status: status, at: now}
			s.since[t] = since
		}
		return corev1.PodCondition{Type: t, Status: status, LastTransitionTime: metav1.NewTime(since.at)}
	}
	st.Conditions = []corev1.PodCondition{
		cond(corev1.PodReadyToStartContainers, true),
		cond(corev1.PodInitialized, s.initialized),
		cond(corev1.ContainersReady, allReady),
		cond(corev1.PodReady, allReady),
		cond(corev1.PodScheduled, true),
	}
	return st
}

// api is the container's status as the API has it.
func (c ctrState) api(uid string) corev1.ContainerStatus {
	cs := corev1.ContainerStatus{
		Name: c.name, Image: c.image, ImageID: c.image,
		Ready: c.ready, RestartCount: c.restarts, Started: ptr(c.running),
	}
	if c.everStarted {
		cs.ContainerID = fmt.Sprintf("lanemesh://%s/%s/%d", uid, c.name, c.restarts)
	}
	switch {
	case c.running:
		cs.State.Running = &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(c.startedAt)}
	case c.done != nil:
		cs.State.Terminated = c.done
	default:
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: c.waiting, Message: c.waitMsg}
	}
	if c.last != nil && c.done == nil {
		cs.LastTerminationState.Terminated = c.last
	}
	return cs
}

func ptr[T any](v T) *T { return &v }
