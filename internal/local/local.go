// Package local is the runner behind `lanemesh up`: it plays the part of a
// Kubernetes cluster for Deployments on one machine.
//
// Each replica is a local "pod" with its own loopback address (from a
// PodRange that ClaimPodRange locks, so two runners on a machine never share
// one), so that pods of one service are told apart by "ip:" as in a
// cluster, and with its own sidecar, started by a SidecarFunc the caller
// supplies. A pod runs its container either as the built-in mock app,
// in-process (image lanemesh/mock), or as a child process (command and
// args) in its own process group that dies with the runner's process. The
// runner probes readiness, restarts exited apps and dead sidecars with
// back-off, rolls pods over when a template changes and reports every
// change of the pods' readiness (app ready and sidecar up) to OnChange as
// the registry's Instances.
//
// Pod names are deterministic, "<deployment>-<n>" with n the smallest number
// no live pod of the Deployment uses, and addresses are the smallest free
// ones, so a fresh start names and places pods exactly as
// Predict predicts, and `lanemesh explain` agrees with `up`.
package local

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/lanemesh/lanemesh/internal/registry"
)

// ErrNotFound is returned for a Deployment or pod the runner does not know.
var ErrNotFound = errors.New("not found")

// Phase is where a pod is in its life.
type Phase string

// A pod is Pending until its app first runs, Running while its app runs
// but the pod is not ready, Ready when its app passes its readiness probe
// and its sidecar is up (as a Kubernetes pod's Ready condition needs every
// container), CrashLoopBackOff while its app or its sidecar has exited and
// waits out a restart back-off (kubectl's word for it), and Terminating
// from the moment it is told to stop. Only Ready pods receive traffic.
const (
	Pending          Phase = "Pending"
	Running          Phase = "Running"
	Ready            Phase = "Ready"
	CrashLoopBackOff Phase = "CrashLoopBackOff"
	Terminating      Phase = "Terminating"
)

// PodInfo is what identifies a pod to its sidecar and to the mesh. It does
// not change during the pod's life; Labels must not be modified.
type PodInfo struct {
	Name      string
	Namespace string
	Labels    map[string]string // the pod template's labels
	IP        string            // the pod's own loopback address
	Owner     string            // "Deployment/<name>"
	// InboundAddr and AppAddr are set for a pod whose sidecar intercepts
	// its inbound traffic (Options.InboundCapture): the sidecar listens
	// on InboundAddr, the pod's address and app port, where the mesh
	// sends the pod's traffic, and passes requests on to the app, which
	// listens on AppAddr instead. Local mode has no iptables; this is
	// Istio's capture without it (a Sidecar ingress listener with a
	// defaultEndpoint). Both are "" otherwise.
	InboundAddr, AppAddr string
}

// Pod is a snapshot of one pod, for `lanemesh get pods`.
type Pod struct {
	PodInfo
	Phase    Phase
	Restarts int    // how many times the app or the sidecar exited and was started again
	LastExit string // why the app or the sidecar last exited, "" if neither has
	Message  string // why the pod is not ready, "" when there is nothing to say
	Created  time.Time
}

// SidecarFunc starts the sidecar of pod and returns it once it serves. The
// sidecar must stop when ctx is done, which is when the pod has stopped (or
// is giving up on this sidecar), and release what it bound on pod.IP, as a
// later pod may get the same address. The runner calls it before the app
// first starts, again after a back-off if it fails, and again whenever the
// sidecar it returned stops by itself, as the kubelet restarts a container;
// each call must serve on the same ProxyURL, since the app keeps the one it
// was started with. It should return promptly, since a pod cannot stop while
// the call runs.
type SidecarFunc func(ctx context.Context, pod PodInfo) (Sidecar, error)

// Sidecar is a started sidecar, as a SidecarFunc returns it.
type Sidecar struct {
	// ProxyURL is the URL the pod's app must use as HTTP proxy.
	ProxyURL string
	// Done receives one value when the sidecar has stopped serving, for
	// whatever reason (nil for a clean stop, such as ctx being done): its
	// listener is closed or closing, so the pod's address is free for a
	// new bind, though requests it accepted may still finish. The runner
	// takes a stop it did not ask for as the sidecar's death: the pod goes
	// unready at once, so the mesh stops sending to it, and the sidecar is
	// restarted after a back-off, counted in the pod's restarts. Nil means
	// the sidecar cannot stop by itself.
	Done <-chan error
}

// Options configures a Runner. The zero value runs pods without sidecars
// and tells no one about them.
type Options struct {
	// Logger receives the runner's own messages (pods started, exited,
	// restarted). Nil discards them. Apps' output goes to Runner.Logs.
	Logger *slog.Logger
	// Sidecar starts each pod's sidecar; nil means pods have none and their
	// apps call upstreams directly.
	Sidecar SidecarFunc
	// OnChange receives the full list of instances whenever a pod appears,
	// changes readiness or goes away. Calls come from one goroutine, in
	// order, each with a fresh slice; a pod told to stop is only stopped
	// after the call reporting it unready has returned, so OnChange should
	// not block for long. Nil means no one is told.
	OnChange func([]registry.Instance)
	// GracePeriod is how long an app may take to stop after SIGTERM (or,
	// for the in-process mock, to finish requests in flight) before it is
	// killed. Zero means 10 seconds.
	GracePeriod time.Duration
	// DrainDelay is how long a pod keeps serving after OnChange has been
	// told it is not ready, so that proxies fed asynchronously from
	// OnChange stop choosing it before it goes away. Zero means none.
	DrainDelay time.Duration
	// PodRange, when set, is where pods get their addresses: its n-th
	// address for n = 1, 2, … (see ClaimPodRange, which keeps two runners
	// on one machine apart). A pod beyond its size waits, unready, with a
	// message that says so. Nil means AddressBase.
	PodRange *PodRange
	// InboundCapture says, when a pod starts, whether its sidecar must
	// intercept its inbound traffic (see PodInfo.AppAddr); it is asked once
	// per pod, as Kubernetes decides a pod's capture rules when the pod is
	// created. Only the built-in mock can be moved to AppAddr, so only
	// mock pods are asked. Nil means never.
	InboundCapture func(PodInfo) bool
	// AddressBase shifts pod addresses when PodRange is nil: pods get
	// LoopbackAddress(AddressBase+n) for n = 1, 2, … Zero gives
	// the addresses Predict predicts; tests running in
	// parallel set it to stay apart.
	AddressBase int
}

// address is the pod address numbered n, "" when the range has none.
func (o Options) address(n int) string {
	if o.PodRange == nil {
		return LoopbackAddress(o.AddressBase + n)
	}
	a, _ := o.PodRange.Address(n)
	return a
}

const defaultGrace = 10 * time.Second

func (o Options) grace() time.Duration {
	if o.GracePeriod <= 0 {
		return defaultGrace
	}
	return o.GracePeriod
}
