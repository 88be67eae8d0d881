package local

import (
	"context"
	"fmt"
	"time"

	"github.com/lanemesh/lanemesh/internal/wait"
)

// runPod is a pod's whole life: sidecar, then the app, restarted with
// back-off whenever it exits, until the pod is told to stop. The sidecar is
// supervised beside the app for as long as the pod lives, and stops after
// it, so that the app's last requests still have their proxy. The pod's
// context outlives Run's on purpose: shutdown stops pods the same way
// scale-down does, unready first, rather than by cancelling them at once.
func (r *Runner) runPod(parent context.Context, p *pod) {
	defer r.removePod(p)
	r.log.Info("pod created", "pod", p.key(), "ip", p.info.IP)
	if p.info.IP == "" {
		msg := fmt.Sprintf("no address left in pod range %s: pass a larger --pod-cidr", r.opts.PodRange.Prefix)
		r.log.Error(msg, "pod", p.key())
		r.update(p, func() { p.appMsg = msg })
		<-p.stop
		return
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(parent))
	r.decideCapture(p)
	proxyURL, sidecarDone, ok := r.startSidecar(ctx, p)
	defer func() { cancel(); <-sidecarDone }() // the sidecar is gone before the address is freed
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

// startSidecar starts the supervisor of the pod's sidecar and waits for the
// sidecar's first start. ok is false when the pod was told to stop first.
// done is closed once the supervisor has returned, which it does once ctx
// is done and the sidecar has stopped.
func (r *Runner) startSidecar(ctx context.Context, p *pod) (proxyURL string, done <-chan struct{}, ok bool) {
	finished := make(chan struct{})
	if r.opts.Sidecar == nil {
		close(finished)
		return "", finished, true
	}
	first := make(chan string, 1)
	go func() { defer close(finished); r.superviseSidecar(ctx, p, first) }()
	select {
	case url := <-first:
		return url, finished, true
	case <-p.stop:
		return "", finished, false
	}
}

// superviseSidecar runs the pod's sidecar as the kubelet runs a container:
// it calls the SidecarFunc until it succeeds (backing off between
// failures), sends the first proxy URL on first, and when the sidecar stops
// without being asked to, marks the pod unready at once, counts a restart
// and starts it again after a back-off. It returns once ctx is done and the
// sidecar has stopped.
func (r *Runner) superviseSidecar(ctx context.Context, p *pod, first chan<- string) {
	var bo backoff
	for {
		began := time.Now()
		sc, err := r.opts.Sidecar(ctx, p.info)
		var delay time.Duration
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			delay = bo.next(0)
			r.log.Warn("sidecar failed to start", "pod", p.key(), "err", err, "retry_in", delay)
			r.update(p, func() {
				p.sidecar = ctrBackOff
				p.carMsg = fmt.Sprintf("sidecar failed to start: %v; back-off %v", err, delay)
			})
		} else {
			if first != nil {
				first <- sc.ProxyURL
				first = nil
			}
			r.update(p, func() { p.sidecar, p.carMsg = ctrUp, "" })
			err = waitSidecar(ctx, sc.Done)
			if ctx.Err() != nil {
				return
			}
			delay = bo.next(time.Since(began))
			r.log.Warn("pod sidecar exited", "pod", p.key(), "err", err, "restart_in", delay)
			r.update(p, func() {
				p.exitedLocked("sidecar", err)
				p.sidecar = ctrBackOff
				p.carMsg = fmt.Sprintf("sidecar exited; back-off %v restarting it", delay)
			})
		}
		if !wait.Sleep(ctx, delay) {
			return
		}
		r.update(p, func() { p.sidecar, p.carMsg = ctrWaiting, "sidecar starting" })
	}
}

// waitSidecar waits until a sidecar has stopped and returns why; when ctx
// is done first it still waits for the stop, so that the pod's address is
// free once the pod is gone. A nil done never fires by itself.
func waitSidecar(ctx context.Context, done <-chan error) error {
	if done == nil {
		<-ctx.Done()
		return nil
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		<-done
		return nil
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
	r.update(p, func() { p.app, p.appReady, p.appMsg = ctrUp, false, "" })
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
	r.update(p, func() {
		p.appReady = ready
		if ready || msg != "" {
			p.appMsg = msg
		}
	})
}
