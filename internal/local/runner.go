package local

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"

	"github.com/lanemesh/lanemesh/api"
)

// Runner runs Deployments as local pods. Apply and Scale set the desired
// state at any time; Run makes it so until its context is done. All methods
// are safe for concurrent use. A Runner runs once.
type Runner struct {
	opts   Options
	log    *slog.Logger
	probes *http.Client // shared by HTTP readiness probes; keeps no connections

	kick    chan struct{} // asks Run to reconcile; buffered, never blocks
	starter *starter      // starts pod processes; set by Run before any pod

	mu          sync.Mutex
	state       runState
	deployments map[string]*deployment // desired, by namespace/name
	pods        map[string]*pod        // live pods, by namespace/name
	addrs       slots
	seq         int // creation order of pods

	// version counts changes OnChange must see; delivered is the last
	// version OnChange has returned from, and deliveredCh is closed (and
	// replaced) whenever delivered advances.
	version     uint64
	delivered   uint64
	deliveredCh chan struct{}
	notify      chan struct{} // wakes the notifier; buffered, never blocks
}

type runState int

const (
	idle runState = iota
	running
	stopped
)

// deployment is the desired state of one Deployment.
type deployment struct {
	namespace, name string
	replicas        int
	template        api.PodTemplate // a private copy
	hash            string          // identifies the template, to detect changes
}

func (d *deployment) key() string { return d.namespace + "/" + d.name }

// New returns a Runner with opts; it starts nothing until Run.
func New(opts Options) *Runner {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Runner{
		opts:        opts,
		log:         log,
		probes:      newProbeClient(),
		kick:        make(chan struct{}, 1),
		deployments: map[string]*deployment{},
		pods:        map[string]*pod{},
		deliveredCh: make(chan struct{}),
		notify:      make(chan struct{}, 1),
	}
}

// Apply makes deployments the whole desired state: pods of Deployments not
// listed are stopped, new ones are created, replica counts are honoured, and
// a Deployment whose pod template changed has its pods replaced, each new
// pod ready before an old one stops. Apply keeps its own copy of each
// template, so callers may reuse the objects.
func (r *Runner) Apply(deployments []*api.Deployment) error {
	next := make(map[string]*deployment, len(deployments))
	for _, d := range deployments {
		want, err := desired(d)
		if err != nil {
			return err
		}
		if _, dup := next[want.key()]; dup {
			return fmt.Errorf("deployment %s is listed twice", want.key())
		}
		next[want.key()] = want
	}
	r.mu.Lock()
	r.deployments = next
	r.mu.Unlock()
	r.reconcileSoon()
	return nil
}

// desired copies a Deployment's spec into the runner's own form.
func desired(d *api.Deployment) (*deployment, error) {
	ns := cmp.Or(d.Metadata.Namespace, "default")
	raw, err := json.Marshal(d.Spec.Template) // ObjectMeta.Source is not marshalled, so moved lines change nothing
	if err != nil {
		return nil, fmt.Errorf("deployment %s/%s: %w", ns, d.Metadata.Name, err)
	}
	want := &deployment{namespace: ns, name: d.Metadata.Name, replicas: int(max(0, d.Spec.ReplicaCount()))}
	if err := json.Unmarshal(raw, &want.template); err != nil {
		return nil, fmt.Errorf("deployment %s/%s: %w", ns, d.Metadata.Name, err)
	}
	sum := sha256.Sum256(raw)
	want.hash = hex.EncodeToString(sum[:8])
	return want, nil
}

// Scale sets the replica count of a Deployment given to Apply, as `kubectl
// scale` does; the next Apply sets it again from its spec.
func (r *Runner) Scale(namespace, name string, replicas int32) error {
	if replicas < 0 {
		return fmt.Errorf("scale deployment %s/%s: replicas %d is negative", namespace, name, replicas)
	}
	r.mu.Lock()
	d, ok := r.deployments[namespace+"/"+name]
	if ok {
		d.replicas = int(replicas) // d is the runner's own; Apply replaces it rather than mutating it
	}
	r.mu.Unlock()
	if !ok {
		return fmt.Errorf("deployment %s/%s: %w", namespace, name, ErrNotFound)
	}
	r.reconcileSoon()
	return nil
}

// Pods returns a snapshot of the live pods, sorted by namespace and name.
func (r *Runner) Pods() []Pod {
	r.mu.Lock()
	out := make([]Pod, 0, len(r.pods))
	for _, p := range r.pods {
		out = append(out, p.snapshotLocked())
	}
	r.mu.Unlock()
	slices.SortFunc(out, func(a, b Pod) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	return out
}

// Logs returns what the pod's app has written lately, stdout and stderr
// interleaved (the last logLimit bytes), across restarts.
func (r *Runner) Logs(namespace, pod string) ([]byte, error) {
	r.mu.Lock()
	p, ok := r.pods[namespace+"/"+pod]
	r.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("pod %s/%s: %w", namespace, pod, ErrNotFound)
	}
	return p.logs.Bytes(), nil
}

// LogsFrom returns what the pod's app wrote at or after offset, as far as it
// is kept, and the offset to ask from next (see LogBuffer.From).
func (r *Runner) LogsFrom(namespace, pod string, offset int64) ([]byte, int64, error) {
	r.mu.Lock()
	p, ok := r.pods[namespace+"/"+pod]
	r.mu.Unlock()
	if !ok {
		return nil, 0, fmt.Errorf("pod %s/%s: %w", namespace, pod, ErrNotFound)
	}
	b, end := p.logs.From(offset)
	return b, end, nil
}

// errAlreadyRun is returned by a second call to Run.
var errAlreadyRun = errors.New("local runner: Run called more than once")

// reconcileSoon asks Run to compare pods with the desired state.
func (r *Runner) reconcileSoon() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}
