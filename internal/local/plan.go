package local

import "slices"

// podView is what the rollout plan needs to know of a live (not
// terminating) pod.
type podView struct {
	current bool // made from the Deployment's current template
	ready   bool
}

// plan decides, for one Deployment's live pods (oldest first), how many pods
// to create and which to stop (indexes into pods) so that there are want
// current pods. It is pure, so the rollout rules are table-tested:
//   - all missing current pods are created at once (local pods are cheap);
//   - surplus current pods go, unready ones first, then the newest;
//   - old-template pods stay while they are needed to keep want pods ready,
//     so a changed template replaces pods without a moment of fewer ready
//     pods than before; unready old pods go first.
func plan(pods []podView, want int) (create int, stop []int) {
	var cur, old []int
	for i, p := range pods {
		if p.current {
			cur = append(cur, i)
		} else {
			old = append(old, i)
		}
	}
	create = max(0, want-len(cur))
	curStop := pick(pods, cur, len(cur)-want)
	readyCur := 0
	for _, i := range cur {
		if pods[i].ready && !slices.Contains(curStop, i) {
			readyCur++
		}
	}
	oldStop := pick(pods, old, len(old)-max(0, want-readyCur))
	stop = append(curStop, oldStop...)
	slices.Sort(stop)
	return create, stop
}

// pick chooses n of the pods at idx to stop: unready before ready, newer
// before older.
func pick(pods []podView, idx []int, n int) []int {
	if n <= 0 {
		return nil
	}
	order := slices.Clone(idx)
	slices.Reverse(order) // newest first
	slices.SortStableFunc(order, func(a, b int) int {
		switch {
		case pods[a].ready == pods[b].ready:
			return 0
		case !pods[a].ready:
			return -1
		default:
			return 1
		}
	})
	return order[:n]
}
