package local

import (
	"context"
	"maps"
	"slices"
	"sync"
)

// Run creates, supervises and stops pods until ctx is done, then stops every
// pod gracefully: each is reported unready first, then its app gets SIGTERM
// (the mock: a graceful shutdown) and, after GracePeriod, SIGKILL for its
// whole process group. Run returns once every pod has stopped and OnChange
// has heard so; the error is only for a Runner run twice.
func (r *Runner) Run(ctx context.Context) error {
	r.mu.Lock()
	if r.state != idle {
		r.mu.Unlock()
		return errAlreadyRun
	}
	r.state = running
	r.mu.Unlock()
	r.starter = startStarter()
	defer r.starter.stop() // after shutdown: every pod process is gone

	stopNotifier := make(chan struct{})
	notifierDone := make(chan struct{})
	go func() { defer close(notifierDone); r.deliver(stopNotifier) }()

	var pods sync.WaitGroup
	r.reconcile(ctx, &pods)
	for {
		select {
		case <-r.kick:
			r.reconcile(ctx, &pods)
		case <-ctx.Done():
			r.shutdown(&pods)
			close(stopNotifier)
			<-notifierDone
			return nil
		}
	}
}

// reconcile starts and stops pods so that each Deployment moves towards its
// desired replicas and template. It only decides and spawns; pods stop
// themselves, after OnChange has heard they are unready.
func (r *Runner) reconcile(ctx context.Context, pods *sync.WaitGroup) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state != running {
		return
	}
	var stopping []*pod
	started := false
	for _, owner := range r.ownersLocked() {
		d := r.deployments[owner] // nil once a Deployment is deleted: all its pods go
		live := r.livePodsLocked(owner)
		views := make([]podView, len(live))
		for i, p := range live {
			views[i] = podView{current: d != nil && p.hash == d.hash && r.captureCurrent(p), ready: p.phase == Ready}
		}
		want := 0
		if d != nil {
			want = d.replicas
		}
		create, stop := plan(views, want)
		for _, i := range stop {
			stopping = append(stopping, live[i])
		}
		for range create {
			p := r.newPodLocked(d)
			pods.Add(1)
			go func() { defer pods.Done(); r.runPod(ctx, p) }()
			started = true
		}
	}
	if len(stopping) > 0 || started {
		r.stopLocked(stopping, r.changedLocked())
	}
}

// ownersLocked returns the keys of every Deployment that is desired or still
// has live pods, sorted, so pods are created in namespace/name order.
func (r *Runner) ownersLocked() []string {
	set := map[string]bool{}
	for k := range r.deployments {
		set[k] = true
	}
	for _, p := range r.pods {
		set[p.owner] = true
	}
	return slices.Sorted(maps.Keys(set))
}

// livePodsLocked returns the pods of owner that are not terminating, oldest
// first.
func (r *Runner) livePodsLocked(owner string) []*pod {
	var out []*pod
	for _, p := range r.pods {
		if p.owner == owner && p.phase != Terminating {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b *pod) int { return a.seq - b.seq })
	return out
}

// stopLocked marks pods Terminating (so unready) in change version v and
// tells each to stop; each pod waits until OnChange has seen v before its
// app goes away.
func (r *Runner) stopLocked(pods []*pod, v uint64) {
	for _, p := range pods {
		p.phase = Terminating
		p.stopVersion = v
		close(p.stop)
	}
}

// shutdown stops every pod and waits for them, then for OnChange to hear
// they are gone.
func (r *Runner) shutdown(pods *sync.WaitGroup) {
	r.mu.Lock()
	r.state = stopped
	var all []*pod
	for _, p := range r.pods {
		if p.phase != Terminating {
			all = append(all, p)
		}
	}
	if len(all) > 0 {
		r.stopLocked(all, r.changedLocked())
	}
	r.mu.Unlock()
	pods.Wait()
	r.mu.Lock()
	v := r.version
	r.mu.Unlock()
	r.waitDelivered(v)
}
