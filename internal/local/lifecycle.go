package local

import (
	"context"
	"time"
)

// runPod is a pod's whole life: sidecar, then the app, restarted with
// back-off whenever it exits, until the pod is told to stop. The pod's
// context outlives Run's on purpose: shutdown stops pods the same way
// scale-down does, unready first, rather than by cancelling them at once.
func (r *Runner) runPod(parent context.Context, p *pod) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(parent))
	defer r.removePod(p)
	defer cancel() // ends the sidecar before the address is freed
	r.log.Info("pod created", "pod", p.key(), "ip", p.info.IP)
	proxyURL, ok := r.startSidecar(ctx, p)
	if !ok {
		return
	}
	var bo backoff
	for {
		began := time.Now()
		stopped, err := r.runApp(ctx, p, proxyURL)
		if stopped {
			return
		}
		delay := bo.next(time.Since(began))
		r.restarted(p, err, delay)
		if !p.sleep(delay) {
			return
		}
	}
}

// startSidecar calls the SidecarFunc until it succeeds or the pod is told to
// stop, backing off between failures.
func (r *Runner) startSidecar(ctx context.Context, p *pod) (proxyURL string, ok bool) {
	if r.opts.Sidecar == nil {
		return "", true
	}
	var bo backoff
	for {
		url, err := r.opts.Sidecar(ctx, p.info)
		if err == nil {
			return url, true
		}
		delay := bo.next(0)
		r.log.Warn("sidecar failed to start", "pod", p.key(), "err", err, "retry_in", delay)
		r.setPhase(p, Pending, "sidecar: "+err.Error())
		if !p.sleep(delay) {
			return "", false
		}
	}
}

// runApp runs the app once, with its readiness prober, until it exits
// (stopped false, with the reason) or the pod is told to stop (stopped
// true). A stopping pod keeps serving until OnChange has been told it is
// unready and DrainDelay has passed; only then does its app get the signal.
func (r *Runner) runApp(ctx context.Context, p *pod, proxyURL string) (stopped bool, err error) {
	appCtx, stopApp := context.WithCancel(ctx)
	defer stopApp()
	exited := make(chan error, 1)
	go func() { exited <- r.startApp(appCtx, p, proxyURL) }()
	r.setPhase(p, Running, "")
	probed := make(chan struct{})
	go func() {
		defer close(probed)
		r.newProber(p).run(appCtx, func(ready bool, msg string) { r.probed(p, ready, msg) })
	}()
	select {
	case err = <-exited:
		stopApp()
		<-probed
		return false, err
	case <-p.stop:
	}
	r.waitDelivered(p.stopVersion)
	if d := r.opts.DrainDelay; d > 0 {
		time.Sleep(d) // deliberate: the drain window is a duration, not a condition
	}
	stopApp()
	<-probed
	if err := <-exited; err != nil {
		r.log.Warn("pod app did not stop cleanly", "pod", p.key(), "err", err)
	}
	return true, nil
}

// probed records a readiness probe result.
func (r *Runner) probed(p *pod, ready bool, msg string) {
	if ready {
		r.setPhase(p, Ready, "")
		return
	}
	r.setPhase(p, Running, msg)
}
