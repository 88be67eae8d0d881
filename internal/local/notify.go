package local

import (
	"cmp"
	"maps"
	"slices"

	"github.com/lanemesh/lanemesh/internal/registry"
)

// changedLocked records a change OnChange must see and returns its version.
// Changes are coalesced: OnChange always gets the latest list, so a burst of
// probe results costs one call, never a queue.
func (r *Runner) changedLocked() uint64 {
	r.version++
	select {
	case r.notify <- struct{}{}:
	default:
	}
	return r.version
}

// deliver is the one goroutine that calls OnChange, which is what keeps the
// calls in order and never concurrent. It runs until stop is closed.
func (r *Runner) deliver(stop <-chan struct{}) {
	for {
		select {
		case <-r.notify:
		case <-stop:
			return
		}
		r.mu.Lock()
		v := r.version
		list := r.instancesLocked()
		r.mu.Unlock()
		if r.opts.OnChange != nil {
			r.opts.OnChange(list)
		}
		r.mu.Lock()
		if v > r.delivered {
			r.delivered = v
			close(r.deliveredCh)
			r.deliveredCh = make(chan struct{})
		}
		r.mu.Unlock()
	}
}

// waitDelivered blocks until OnChange has returned from a call that
// reflected version v or a later one.
func (r *Runner) waitDelivered(v uint64) {
	for {
		r.mu.Lock()
		done, ch := r.delivered >= v, r.deliveredCh
		r.mu.Unlock()
		if done {
			return
		}
		<-ch
	}
}

// instancesLocked returns the live pods as registry Instances, sorted by
// namespace and name, sharing nothing with the runner's own state.
func (r *Runner) instancesLocked() []registry.Instance {
	out := make([]registry.Instance, 0, len(r.pods))
	for _, p := range r.pods {
		out = append(out, registry.Instance{
			Name:      p.info.Name,
			Namespace: p.info.Namespace,
			Owner:     p.info.Owner,
			Labels:    maps.Clone(p.info.Labels),
			Address:   p.info.IP,
			Ports:     maps.Clone(p.ports),
			Healthy:   p.phase == Ready,
		})
	}
	slices.SortFunc(out, func(a, b registry.Instance) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	return out
}
