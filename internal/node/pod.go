package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/lanemesh/lanemesh/internal/local"
	"github.com/lanemesh/lanemesh/internal/wait"
)

// worker runs one pod: its volumes, its init containers in order, then its
// containers side by side, each restarted by the pod's restartPolicy, until
// the pod is told to stop. The pod object it was started from never
// changes (a pod's spec is immutable where it matters here).
type worker struct {
	n   *Node
	pod *corev1.Pod
	ip  string
	dir string // this pod's directory: volumes/, root/, logs/

	stopOnce sync.Once
	stop     chan struct{} // closed when the pod must stop
	grace    time.Duration // set before stop is closed
	done     chan struct{} // closed when every container has stopped

	mu    sync.Mutex
	state podState // mu
	dirty chan struct{}
}

func newWorker(n *Node, pod *corev1.Pod, ip string) *worker {
	w := &worker{
		n: n, pod: pod, ip: ip,
		dir:   filepath.Join(n.opts.Dir, "pods", pod.Namespace+"_"+pod.Name+"_"+string(pod.UID)),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
		dirty: make(chan struct{}, 1),
	}
	w.state = newPodState(pod, time.Now())
	return w
}

// terminate asks the pod to stop, its containers getting grace to exit
// after SIGTERM. Only the first call counts.
func (w *worker) terminate(grace time.Duration) {
	w.stopOnce.Do(func() {
		w.grace = grace
		close(w.stop)
	})
}

// change updates the pod's state and has its status written.
func (w *worker) change(f func(s *podState)) {
	w.mu.Lock()
	f(&w.state)
	w.mu.Unlock()
	select {
	case w.dirty <- struct{}{}:
	default:
	}
}

func (w *worker) snapshot() podState {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.state.clone()
}

// run is the pod's life. It returns once every container has stopped.
func (w *worker) run(ctx context.Context) {
	defer close(w.done)
	log := w.n.log.With("pod", w.pod.Namespace+"/"+w.pod.Name, "ip", w.ip)
	log.Info("pod starting")

	// Containers outlive ctx on purpose, as the kubelet's do not stop
	// because one watch ended: they stop when told, with the grace period.
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	go func() {
		select {
		case <-w.stop:
		case <-ctx.Done():
			w.terminate(w.defaultGrace())
		}
		// SIGTERM first (cancel), the processes' WaitDelay does the SIGKILL.
		cancel()
	}()

	refresh, err := w.prepare(runCtx)
	for err != nil {
		log.Warn("pod cannot start", "err", err)
		reason := "CreateContainerConfigError"
		if !isConfigError(err) {
			reason = "CreateContainerError"
		}
		w.change(func(s *podState) { s.waitAll(reason, err.Error()) })
		if !wait.Sleep(runCtx, 5*time.Second) {
			return
		}
		refresh, err = w.prepare(runCtx)
	}
	go w.refreshVolumes(runCtx, refresh)

	for i := range w.pod.Spec.InitContainers {
		if !w.runInit(runCtx, i) {
			return
		}
	}
	w.change(func(s *podState) { s.initialized = true })
	var wg sync.WaitGroup
	for i := range w.pod.Spec.Containers {
		wg.Add(1)
		go func() { defer wg.Done(); w.runContainer(runCtx, i) }()
	}
	wg.Wait()
	log.Info("pod stopped")
}

func (w *worker) defaultGrace() time.Duration {
	if g := w.pod.Spec.TerminationGracePeriodSeconds; g != nil {
		return time.Duration(*g) * time.Second
	}
	return 30 * time.Second
}

// prepare writes the pod's volumes and resolves every container's
// environment and command line.
func (w *worker) prepare(ctx context.Context) (time.Time, error) {
	if err := os.MkdirAll(filepath.Join(w.dir, "logs"), 0o755); err != nil {
		return time.Time{}, err
	}
	return writeVolumes(ctx, w.pod, w.dir, w.ip, w.n.lookup, w.n.tokens)
}

// refreshVolumes rewrites the volumes when their tokens near expiry.
func (w *worker) refreshVolumes(ctx context.Context, at time.Time) {
	for !at.IsZero() {
		if !wait.Sleep(ctx, time.Until(at)) {
			return
		}
		next, err := writeVolumes(ctx, w.pod, w.dir, w.ip, w.n.lookup, w.n.tokens)
		if err != nil {
			w.n.log.Warn("refreshing pod volumes", "pod", w.pod.Namespace+"/"+w.pod.Name, "err", err)
			next = time.Now().Add(10 * time.Second)
		}
		at = next
	}
}

// runInit runs init container i until it succeeds; false when the pod
// stopped (or, with restartPolicy Never, failed) first.
func (w *worker) runInit(ctx context.Context, i int) bool {
	c := w.pod.Spec.InitContainers[i]
	var bo backoff
	for {
		began := time.Now()
		w.change(func(s *podState) { s.init[i].start(began) })
		err := w.runOnce(ctx, c, nil)
		if ctx.Err() != nil {
			return false
		}
		ok := errors.Is(err, local.ErrExitedZero)
		w.change(func(s *podState) { s.init[i].exited(err, ok, time.Now()) })
		if ok {
			return true
		}
		if w.pod.Spec.RestartPolicy == corev1.RestartPolicyNever {
			w.change(func(s *podState) { s.failed = true })
			<-ctx.Done()
			return false
		}
		delay := bo.next(time.Since(began))
		w.change(func(s *podState) { s.init[i].backOff(delay, err) })
		if !wait.Sleep(ctx, delay) {
			return false
		}
	}
}

// runContainer runs container i as the pod's restartPolicy says: Always
// restarts it after any exit, OnFailure after a failure, Never not at all;
// restarts back off as the kubelet's do.
func (w *worker) runContainer(ctx context.Context, i int) {
	c := w.pod.Spec.Containers[i]
	var bo backoff
	for {
		began := time.Now()
		w.change(func(s *podState) { s.ctrs[i].start(began) })
		err := w.runOnce(ctx, c, func(runCtx context.Context, ac containerProbe) {
			if ac.kind == "" {
				// Kubernetes: without a readiness probe a container is
				// ready once it runs.
				w.change(func(s *podState) { s.ctrs[i].ready = true })
				return
			}
			w.n.host.Probe(runCtx, ac.spec.Container, w.ip, func(ready bool, msg string) {
				w.change(func(s *podState) { s.ctrs[i].ready, s.ctrs[i].probeMsg = ready, msg })
			})
		})
		if ctx.Err() != nil {
			w.change(func(s *podState) { s.ctrs[i].exited(nil, true, time.Now()) })
			return
		}
		ok := errors.Is(err, local.ErrExitedZero)
		w.change(func(s *podState) { s.ctrs[i].exited(err, ok, time.Now()) })
		switch w.pod.Spec.RestartPolicy {
		case corev1.RestartPolicyNever:
			return
		case corev1.RestartPolicyOnFailure:
			if ok {
				return
			}
		}
		delay := bo.next(time.Since(began))
		w.n.log.Warn("container exited", "pod", w.pod.Namespace+"/"+w.pod.Name, "container", c.Name, "err", err, "restart_in", delay)
		w.change(func(s *podState) { s.ctrs[i].backOff(delay, err) })
		if !wait.Sleep(ctx, delay) {
			return
		}
	}
}

// containerProbe is what a container's prober needs.
type containerProbe struct {
	kind string // probeKind of the readinessProbe
	spec local.ContainerRun
}

// runOnce runs container c once. probe, when not nil, runs beside it with
// a context that ends when the container does.
func (w *worker) runOnce(ctx context.Context, c corev1.Container, probe func(context.Context, containerProbe)) error {
	cr, err := w.containerRun(c)
	if err != nil {
		return err
	}
	logf, err := os.OpenFile(filepath.Join(w.dir, "logs", c.Name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cr.Logs = logf
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var probing sync.WaitGroup
	if probe != nil {
		kind := probeKind(c.ReadinessProbe)
		if kind == "exec" || kind == "grpc" {
			return fmt.Errorf("%w: container %s: a %s readinessProbe cannot run on lanemesh node; use httpGet or tcpSocket", errConfig, c.Name, kind)
		}
		probing.Add(1)
		go func() { defer probing.Done(); probe(runCtx, containerProbe{kind: kind, spec: cr}) }()
	}
	cr.Grace = w.grace
	if cr.Grace == 0 {
		cr.Grace = w.defaultGrace()
	}
	err = w.n.host.Run(runCtx, cr)
	stop()
	probing.Wait()
	return err
}

// containerRun resolves how container c runs here.
func (w *worker) containerRun(c corev1.Container) (local.ContainerRun, error) {
	if sc := c.SecurityContext; sc != nil && sc.Capabilities != nil {
		for _, cp := range sc.Capabilities.Add {
			if cp == "NET_ADMIN" || cp == "SYS_ADMIN" || cp == "ALL" {
				return local.ContainerRun{}, fmt.Errorf("%w: container %s asks for %s: lanemesh node runs containers as this machine's own processes, where that would change the machine itself (e.g. its iptables); use the HTTP_PROXY capture mode for pods on a rehearsal node",
					errConfig, c.Name, cp)
			}
		}
	}
	own, err := resolveEnv(w.pod, c, w.ip, w.n.lookup)
	if err != nil {
		return local.ContainerRun{}, err
	}
	// The container's own paths in its env and args name its mounts as a
	// container sees them; here they are under the pod's root.
	root := filepath.Join(w.dir, "root")
	for i, kv := range own {
		k, v, _ := strings.Cut(kv, "=")
		own[i] = k + "=" + mountPaths(v, root, c.VolumeMounts)
	}
	env := append(local.BaseEnv(), w.n.podEnv...)
	env = append(env, "LANEMESH_POD_ROOT="+root)
	env = append(env, own...)
	cr := local.ContainerRun{Container: toContainer(c, own), Env: env, IP: w.ip}
	if !local.IsMock(c.Image) {
		if cr.Argv, err = argv(c, own, w.n.self, isOwnImage(c.Image, w.n.opts.OwnImages)); err != nil {
			return local.ContainerRun{}, err
		}
		for i := range cr.Argv {
			cr.Argv[i] = mountPaths(cr.Argv[i], root, c.VolumeMounts)
		}
	}
	return cr, nil
}

// backoff is the kubelet's restart back-off: 10s doubling to 5 minutes in
// Kubernetes; here 1s doubling to 30s, as local mode's, since local
// processes restart in milliseconds. It resets after a run of a minute.
type backoff struct{ last time.Duration }

func (b *backoff) next(ran time.Duration) time.Duration {
	if b.last == 0 || ran >= time.Minute {
		b.last = time.Second
	} else {
		b.last = min(2*b.last, 30*time.Second)
	}
	return b.last
}
