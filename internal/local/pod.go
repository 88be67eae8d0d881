package local

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/lanemesh/lanemesh/api"
)

// pod is one replica. Its identity is fixed at creation; the fields marked
// "r.mu" belong to the Runner's lock; stop is closed exactly once, by the
// reconciler or by shutdown, after stopVersion is set.
type pod struct {
	info      PodInfo
	owner     string            // namespace/name of the Deployment
	hash      string            // template the pod was made from
	container *api.Container    // nil when the template has none
	ports     map[string]uint32 // named and numbered container ports, as registry.Instance has them
	slot      int               // address number, released when the pod is gone
	seq       int               // creation order
	logs      *LogBuffer
	stop      chan struct{}

	stopVersion uint64 // r.mu until stop is closed; read-only after

	// The pod's phase is derived from what its two containers are doing
	// (see derivePhase), except Terminating, which the reconciler sets.
	phase    Phase     // r.mu
	app      ctrState  // r.mu
	appReady bool      // r.mu: the app passed its readiness probe
	appMsg   string    // r.mu: why the app is not ready
	sidecar  ctrState  // r.mu; ctrUp from the start for a pod without a sidecar
	carMsg   string    // r.mu: why the sidecar is not serving
	note     string    // set at creation: what local mode leaves out of the template
	restarts int       // r.mu
	lastExit string    // r.mu
	created  time.Time // r.mu
	placed   bool      // r.mu: decideCapture has run (see captureCurrent)
}

// ctrState is where one container of a pod is: not started yet, running,
// or waiting out a restart back-off after it exited.
type ctrState int

const (
	ctrWaiting ctrState = iota
	ctrUp
	ctrBackOff
)

// newPodLocked creates a pod of d with the smallest free ordinal and address.
func (r *Runner) newPodLocked(d *deployment) *pod {
	r.seq++
	slot := r.addrs.take()
	name := fmt.Sprintf("%s-%d", d.name, r.freeOrdinalLocked(d))
	p := &pod{
		info: PodInfo{
			Name: name, Namespace: d.namespace, Labels: d.template.Metadata.Labels,
			IP: r.opts.address(slot), Owner: "Deployment/" + d.name,
		},
		owner: d.key(), hash: d.hash, slot: slot, seq: r.seq,
		logs: NewLogBuffer(logLimit), stop: make(chan struct{}),
		phase: Pending, created: time.Now(),
	}
	if r.opts.Sidecar == nil {
		p.sidecar = ctrUp
	}
	if cs := d.template.Spec.Containers; len(cs) > 0 {
		p.container = &cs[0] // the deployment's private copy, never modified
		p.ports = containerPorts(cs[0])
		if len(cs) > 1 {
			// Kubernetes would run every container; local mode runs one,
			// so that a pod is one app with one address and one sidecar.
			p.note = fmt.Sprintf("local mode runs only the first of %d containers", len(cs))
			r.log.Warn(p.note, "pod", p.key())
		}
	}
	r.pods[p.key()] = p
	return p
}

func (p *pod) key() string { return p.info.Namespace + "/" + p.info.Name }

// freeOrdinalLocked returns the smallest n such that no live pod of d
// (terminating ones included) is named "<deployment>-<n>".
func (r *Runner) freeOrdinalLocked(d *deployment) int {
	used := map[string]bool{}
	for _, p := range r.pods {
		if p.owner == d.key() {
			used[p.info.Name] = true
		}
	}
	for n := 0; ; n++ {
		if !used[d.name+"-"+strconv.Itoa(n)] {
			return n
		}
	}
}

// containerPorts lists a container's ports as Predict does.
func containerPorts(c api.Container) map[string]uint32 {
	out := map[string]uint32{}
	for _, p := range c.Ports {
		out[strconv.Itoa(int(p.ContainerPort))] = p.ContainerPort
		if p.Name != "" {
			out[p.Name] = p.ContainerPort
		}
	}
	return out
}

func (p *pod) snapshotLocked() Pod {
	return Pod{PodInfo: p.info, Phase: p.phase, Restarts: p.restarts, LastExit: p.lastExit, Message: p.messageLocked(), Created: p.created}
}

// messageLocked says why the pod is not ready, sidecar first, then app,
// then what local mode left out.
func (p *pod) messageLocked() string {
	var parts []string
	for _, m := range []string{p.carMsg, p.appMsg, p.note} {
		if m != "" {
			parts = append(parts, m)
		}
	}
	return strings.Join(parts, "; ")
}

// derivePhase is the phase a pod that is not terminating is in: ready only
// when the app is ready and the sidecar serves, in back-off when either
// container waits to restart.
func (p *pod) derivePhase() Phase {
	switch {
	case p.app == ctrBackOff || p.sidecar == ctrBackOff:
		return CrashLoopBackOff
	case p.app == ctrWaiting:
		return Pending
	case p.appReady && p.sidecar == ctrUp:
		return Ready
	default:
		return Running
	}
}

// sleep waits for d, or until the pod is told to stop; it reports whether
// the pod should go on.
func (p *pod) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-p.stop:
		return false
	}
}

// update changes what is known of a pod's containers under the lock and
// moves the pod to the phase that follows, telling OnChange at once when
// its readiness changed. A terminating pod stays Terminating: the
// reconciler decided, and a late probe result must not revive it.
func (r *Runner) update(p *pod, change func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	change()
	if p.phase == Terminating {
		return
	}
	next := p.derivePhase()
	if next == p.phase {
		return
	}
	wasReady := p.phase == Ready
	p.phase = next
	if wasReady != (next == Ready) {
		r.changedLocked()
		r.reconcileSoon() // a rollout may be waiting for this pod
	}
}

// exitedLocked counts a container's exit as a restart, as the kubelet
// counts them, and records why.
func (p *pod) exitedLocked(who string, err error) {
	p.restarts++
	p.lastExit = who + " exited"
	if err != nil {
		p.lastExit = who + ": " + err.Error()
	}
}

// restarted records an exit of the pod's app and says why it will restart.
func (r *Runner) restarted(p *pod, err error, delay time.Duration) {
	r.log.Warn("pod app exited", "pod", p.key(), "err", err, "restart_in", delay)
	r.update(p, func() {
		p.exitedLocked("app", err)
		p.app, p.appReady = ctrBackOff, false
		p.appMsg = fmt.Sprintf("back-off %v restarting the app", delay)
	})
}

// removePod forgets a pod that has stopped and frees its address.
func (r *Runner) removePod(p *pod) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.pods, p.key())
	r.addrs.release(p.slot)
	r.changedLocked()
	r.log.Info("pod stopped", "pod", p.key())
}
