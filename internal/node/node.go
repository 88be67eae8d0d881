// Package node is `lanemesh node`: a rehearsal kubelet that runs the pods a
// real Kubernetes API server binds to it as this machine's processes, so
// that the real controllers (Deployments, ReplicaSets, EndpointSlices) and
// kubectl work on a machine without a container runtime.
//
// It registers a Node (Ready, with capacity, schedulable, heartbeat through
// a Lease in kube-node-lease), watches the pods whose spec.nodeName is its
// name and runs each through local.Host: image lanemesh/mock is the built-in
// mock app, an image of lanemesh's own (Options.OwnImages) runs this
// lanemesh binary with the container's args (that is how an injected
// sidecar runs), and any other image runs its command and args as a
// process. Each pod gets its own loopback address from a locked pod range,
// as `lanemesh up` gives its pods, and reports it as status.podIP, with
// container statuses, restarts, and Ready/ContainersReady from readiness
// probes (a container without one is ready once it runs, as in
// Kubernetes).
//
// Files. Processes see this machine's file system, not an image's, so a
// pod's volumes are written under its directory, DIR/pods/NS_NAME_UID/:
// volume V in volumes/V, and each container mount at path P is a symlink
// root/P pointing at it. Every process gets LANEMESH_POD_ROOT=DIR/…/root, so
// a program finds what a container would see at P at $LANEMESH_POD_ROOT/P;
// the service-account token kubelet mounts at
// /var/run/secrets/kubernetes.io/serviceaccount/token is thus at
// $LANEMESH_POD_ROOT/var/run/secrets/kubernetes.io/serviceaccount/token,
// issued by the TokenRequest API bound to the pod and refreshed at 80% of its
// life. A container's own args and env that name a path under one of its
// mounts (an injected sidecar's --xds-token-file=/var/run/secrets/tokens/…)
// are rewritten to that path under the pod's root, so programs that take
// paths as a container would see them need no change. Container logs are
// in logs/CONTAINER.log.
//
// Deletion is Kubernetes': a pod marked for deletion gets SIGTERM, its
// grace period, then SIGKILL; once every container has stopped the node
// deletes the object with grace 0, so the EndpointSlice controller first
// marks the endpoint terminating, then removes it.
package node

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	authv1 "k8s.io/api/authentication/v1"
	coordv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"

	"github.com/lanemesh/lanemesh/internal/local"
)

// Options configures a Node.
type Options struct {
	// Name is the Node's name; "" means this machine's host name.
	Name string
	// Dir holds the pods' files; "" means a new temporary directory,
	// removed when Run returns.
	Dir string
	// PodRange is where pods get their addresses; it must be claimed
	// (local.ClaimPodRange) so no `lanemesh up` or other node shares it.
	PodRange *local.PodRange
	// OwnImages are the image repositories that mean "lanemesh itself";
	// nil means lanemesh/lanemesh.
	OwnImages []string
	// Self is the lanemesh binary such containers run; "" means this
	// process's own executable.
	Self string
	// APIServer is the URL pods are told the API server is at
	// (KUBERNETES_SERVICE_HOST/PORT), usually the node's own kubeconfig's.
	APIServer string
	// Logger receives the node's messages; nil discards them.
	Logger *slog.Logger
}

// Node is a running rehearsal node.
type Node struct {
	opts   Options
	client kubernetes.Interface
	log    *slog.Logger
	host   *local.Host
	lookup Lookup
	tokens TokenSource
	self   string
	podEnv []string // KUBERNETES_SERVICE_* and the pod range's mark

	mu       sync.Mutex
	workers  map[types.UID]*worker
	finished map[types.UID]bool // pods that ran here and stopped: never started again
	slots    map[int]bool
}

// New checks opts and returns a Node that does nothing until Run.
func New(client kubernetes.Interface, opts Options) (*Node, error) {
	if opts.PodRange == nil {
		return nil, errors.New("node: no pod range: claim one with local.ClaimPodRange")
	}
	if opts.Name == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("node name: %w (pass --name)", err)
		}
		opts.Name = h
	}
	if len(opts.OwnImages) == 0 {
		opts.OwnImages = []string{"lanemesh/lanemesh"}
	}
	self := opts.Self
	if self == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("node: finding the lanemesh binary for lanemesh's own images: %w", err)
		}
		self = exe
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	n := &Node{
		opts: opts, client: client, log: log.With("node", opts.Name), self: self,
		lookup: apiLookup{client}, tokens: apiTokens{client},
		workers: map[types.UID]*worker{}, finished: map[types.UID]bool{}, slots: map[int]bool{},
	}
	if u, err := url.Parse(opts.APIServer); err == nil && u.Host != "" {
		// In-cluster clients find the API server through these; the
		// service's cluster IP is served by nothing here, so they get the
		// API server's real address.
		h, p, err := net.SplitHostPort(u.Host)
		if err != nil {
			h, p = u.Host, "443"
		}
		n.podEnv = append(n.podEnv, "KUBERNETES_SERVICE_HOST="+h, "KUBERNETES_SERVICE_PORT="+p, "KUBERNETES_SERVICE_PORT_HTTPS="+p)
	}
	if e := opts.PodRange.LockEnv(); e != "" {
		n.podEnv = append(n.podEnv, e)
	}
	return n, nil
}

// Name is the Node's name.
func (n *Node) Name() string { return n.opts.Name }

// Run registers the Node, runs its pods until ctx is done, then stops every
// pod (with its grace period) and marks the Node not ready.
func (n *Node) Run(ctx context.Context) error {
	if n.opts.Dir == "" {
		d, err := os.MkdirTemp("", "lanemesh-node-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		n.opts.Dir = d
	}
	n.host = local.NewHost()
	defer n.host.Close()
	if err := n.register(ctx); err != nil {
		return err
	}
	n.log.Info("node registered", "pods", n.opts.PodRange.Prefix.String(), "dir", n.opts.Dir)
	hb := make(chan struct{})
	go func() { defer close(hb); n.heartbeat(ctx) }()

	factory := informers.NewSharedInformerFactoryWithOptions(n.client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", n.opts.Name).String()
		}))
	inf := factory.Core().V1().Pods().Informer()
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { n.sync(ctx, obj) },
		UpdateFunc: func(_, obj any) { n.sync(ctx, obj) },
		DeleteFunc: func(obj any) { n.forget(obj) },
	}); err != nil {
		return err
	}
	factory.Start(ctx.Done())
	<-ctx.Done()
	factory.Shutdown()
	n.stopAll()
	<-hb
	n.markNotReady()
	return nil
}

// sync starts a pod new to the node, or stops one marked for deletion.
func (n *Node) sync(ctx context.Context, obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok || pod.Spec.NodeName != n.opts.Name {
		return
	}
	n.mu.Lock()
	w := n.workers[pod.UID]
	if w == nil && !n.finished[pod.UID] && pod.DeletionTimestamp == nil && pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed && ctx.Err() == nil {
		slot, ip := n.takeSlotLocked()
		if ip == "" {
			n.mu.Unlock()
			n.log.Error("no address left for a pod: run the node with a larger --pod-cidr", "pod", pod.Namespace+"/"+pod.Name)
			return
		}
		w = newWorker(n, pod.DeepCopy(), ip)
		n.workers[pod.UID] = w
		n.mu.Unlock()
		go n.runWorker(ctx, w, slot)
		return
	}
	n.mu.Unlock()
	if pod.DeletionTimestamp == nil {
		return
	}
	grace := 30 * time.Second
	if g := pod.DeletionGracePeriodSeconds; g != nil {
		grace = time.Duration(*g) * time.Second
	}
	if w != nil {
		w.terminate(grace)
		return
	}
	// Marked for deletion and not running here (it never ran, or ran under
	// an earlier node process): nothing to stop.
	n.deletePod(pod.Namespace, pod.Name, pod.UID)
}

// forget stops a pod whose object is gone without the node deleting it.
func (n *Node) forget(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	n.mu.Lock()
	w := n.workers[pod.UID]
	if w == nil {
		delete(n.finished, pod.UID) // its last event: nothing more to remember
	}
	n.mu.Unlock()
	if w != nil {
		w.terminate(0)
	}
}

// runWorker runs a pod, writes its status as it changes, and once it has
// stopped because it was deleted, deletes its object for good.
func (n *Node) runWorker(ctx context.Context, w *worker, slot int) {
	defer func() {
		n.mu.Lock()
		delete(n.workers, w.pod.UID)
		n.finished[w.pod.UID] = true
		delete(n.slots, slot)
		n.mu.Unlock()
		_ = os.RemoveAll(w.dir)
	}()
	statusDone := make(chan struct{})
	statusCtx, stopStatus := context.WithCancel(context.WithoutCancel(ctx))
	go func() { defer close(statusDone); n.writeStatus(statusCtx, w) }()
	w.run(ctx)
	stopStatus()
	<-statusDone
	select {
	case <-w.stop:
		if ctx.Err() == nil {
			n.deletePod(w.pod.Namespace, w.pod.Name, w.pod.UID)
		}
	default:
	}
}

// writeStatus patches the pod's status whenever it changes, until ctx is
// done; a failed write is retried.
func (n *Node) writeStatus(ctx context.Context, w *worker) {
	for {
		select {
		case <-ctx.Done():
			n.patchStatus(context.WithoutCancel(ctx), w) // the last word: containers stopped
			return
		case <-w.dirty:
		}
		for n.patchStatus(ctx, w) != nil {
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
				continue
			}
			break
		}
	}
}

func (n *Node) patchStatus(ctx context.Context, w *worker) error {
	w.mu.Lock()
	st := w.state.status(w.ip, time.Now())
	w.mu.Unlock()
	err := patchPodStatus(ctx, n.client, w.pod, st)
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		n.log.Warn("writing pod status", "pod", w.pod.Namespace+"/"+w.pod.Name, "err", err)
		return err
	}
	return nil
}

// deletePod removes a stopped pod's object, with its UID as precondition
// so a new pod of the same name is never touched.
func (n *Node) deletePod(ns, name string, uid types.UID) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := n.client.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{
		GracePeriodSeconds: ptr(int64(0)), Preconditions: &metav1.Preconditions{UID: &uid},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		n.log.Warn("deleting stopped pod", "pod", ns+"/"+name, "err", err)
	}
}

// stopAll stops every pod, each with its own grace period, and waits.
func (n *Node) stopAll() {
	n.mu.Lock()
	ws := make([]*worker, 0, len(n.workers))
	for _, w := range n.workers {
		ws = append(ws, w)
	}
	n.mu.Unlock()
	for _, w := range ws {
		w.terminate(w.defaultGrace())
	}
	for _, w := range ws {
		<-w.done
	}
}

// takeSlotLocked takes the smallest free pod address.
func (n *Node) takeSlotLocked() (int, string) {
	for i := 1; ; i++ {
		if n.slots[i] {
			continue
		}
		ip, ok := n.opts.PodRange.Address(i)
		if !ok {
			return 0, ""
		}
		n.slots[i] = true
		return i, ip
	}
}

// register creates or updates the Node object, schedulable and Ready.
func (n *Node) register(ctx context.Context) error {
	nodes := n.client.CoreV1().Nodes()
	want := n.nodeObject()
	cur, err := nodes.Get(ctx, n.opts.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		if _, err = nodes.Create(ctx, want, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("registering node %s: %w", n.opts.Name, err)
		}
	case err != nil:
		return fmt.Errorf("registering node %s: %w", n.opts.Name, err)
	default:
		cur.Labels = want.Labels
		cur.Spec.Unschedulable = false
		if _, err = nodes.Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("registering node %s: %w", n.opts.Name, err)
		}
	}
	if err := n.postStatus(ctx, true); err != nil {
		return fmt.Errorf("node %s status: %w", n.opts.Name, err)
	}
	return nil
}

func (n *Node) nodeObject() *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: n.opts.Name,
			Labels: map[string]string{
				"kubernetes.io/hostname": n.opts.Name, "kubernetes.io/os": runtime.GOOS,
				"kubernetes.io/arch": runtime.GOARCH, "node.lanemesh.io/rehearsal": "true",
			},
		},
	}
}

// nodeStatus is what the node reports: capacity (this machine's CPUs and
// memory, and as many pods as its range has addresses), conditions, and
// 127.0.0.1 as its address.
func (n *Node) nodeStatus(now time.Time, ready bool) corev1.NodeStatus {
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewQuantity(int64(runtime.NumCPU()), resource.DecimalSI),
		corev1.ResourceMemory: *resource.NewQuantity(memoryBytes(), resource.BinarySI),
		corev1.ResourcePods:   *resource.NewQuantity(int64(n.opts.PodRange.Size()), resource.DecimalSI),
	}
	t := metav1.NewTime(now)
	readyStatus, reason, msg := corev1.ConditionTrue, "KubeletReady", "lanemesh node is posting ready status"
	if !ready {
		readyStatus, reason, msg = corev1.ConditionFalse, "KubeletNotReady", "lanemesh node stopped"
	}
	cond := func(t2 corev1.NodeConditionType, s corev1.ConditionStatus, reason, msg string) corev1.NodeCondition {
		return corev1.NodeCondition{Type: t2, Status: s, Reason: reason, Message: msg, LastHeartbeatTime: t, LastTransitionTime: t}
	}
	return corev1.NodeStatus{
		Capacity: capacity, Allocatable: capacity,
		Conditions: []corev1.NodeCondition{
			cond(corev1.NodeReady, readyStatus, reason, msg),
			cond(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", ""),
			cond(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", ""),
			cond(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", ""),
		},
		Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: hostIP}, {Type: corev1.NodeHostName, Address: n.opts.Name}},
		NodeInfo: corev1.NodeSystemInfo{
			OperatingSystem: runtime.GOOS, Architecture: runtime.GOARCH,
			KubeletVersion: "v1.37.2-lanemesh", ContainerRuntimeVersion: "lanemesh://local",
		},
	}
}

// memoryBytes is this machine's memory, from /proc/meminfo where there is
// one; 8 GiB elsewhere (the scheduler only needs a number).
func memoryBytes() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err == nil {
		var kb int64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kb); err == nil {
			return kb * 1024
		}
	}
	return 8 << 30
}

// Heartbeat periods, the kubelet's: the Lease is renewed every 10s (its
// duration is 40s, the node lifecycle controller's grace), the status
// posted every minute.
const (
	leaseRenew     = 10 * time.Second
	leaseDuration  = 40
	statusInterval = time.Minute
)

// heartbeat renews the node's Lease and status until ctx is done.
func (n *Node) heartbeat(ctx context.Context) {
	lastStatus := time.Now()
	for {
		if err := n.renewLease(ctx); err != nil && ctx.Err() == nil {
			n.log.Warn("renewing node lease", "err", err)
		}
		if time.Since(lastStatus) >= statusInterval {
			if err := n.postStatus(ctx, true); err != nil && ctx.Err() == nil {
				n.log.Warn("posting node status", "err", err)
			}
			lastStatus = time.Now()
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(leaseRenew):
		}
	}
}

func (n *Node) renewLease(ctx context.Context) error {
	leases := n.client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	now := metav1.NewMicroTime(time.Now())
	l, err := leases.Get(ctx, n.opts.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		node, err := n.client.CoreV1().Nodes().Get(ctx, n.opts.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		l = &coordv1.Lease{
			ObjectMeta: metav1.ObjectMeta{
				Name: n.opts.Name, Namespace: corev1.NamespaceNodeLease,
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID}},
			},
			Spec: coordv1.LeaseSpec{HolderIdentity: &n.opts.Name, LeaseDurationSeconds: ptr(int32(leaseDuration)), RenewTime: &now},
		}
		_, err = leases.Create(ctx, l, metav1.CreateOptions{})
		return err
	}
	if err != nil {
		return err
	}
	l.Spec.HolderIdentity, l.Spec.LeaseDurationSeconds, l.Spec.RenewTime = &n.opts.Name, ptr(int32(leaseDuration)), &now
	_, err = leases.Update(ctx, l, metav1.UpdateOptions{})
	return err
}

// postStatus writes the node's status, reading the node again when the
// node lifecycle controller (which taints and labels new nodes) wrote in
// between.
func (n *Node) postStatus(ctx context.Context, ready bool) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		node, err := n.client.CoreV1().Nodes().Get(ctx, n.opts.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		node.Status = n.nodeStatus(time.Now(), ready)
		_, err = n.client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{})
		return err
	})
}

// markNotReady tells the cluster the node is gone, so nothing is scheduled
// on it until it returns.
func (n *Node) markNotReady() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.postStatus(ctx, false); err != nil {
		n.log.Warn("marking node not ready", "err", err)
	}
}

// PodDir is where a pod's files are (see the package comment).
func (n *Node) PodDir(pod *corev1.Pod) string {
	return filepath.Join(cmp.Or(n.opts.Dir, os.TempDir()), "pods", pod.Namespace+"_"+pod.Name+"_"+string(pod.UID))
}

// apiTokens issues tokens with the TokenRequest API.
type apiTokens struct{ client kubernetes.Interface }

func (t apiTokens) Token(ctx context.Context, r TokenRequest) (string, time.Time, error) {
	req := &authv1.TokenRequest{Spec: authv1.TokenRequestSpec{
		Audiences:      r.Audiences,
		BoundObjectRef: &authv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: r.PodName, UID: r.PodUID},
	}}
	if r.ExpirationSeconds > 0 {
		req.Spec.ExpirationSeconds = &r.ExpirationSeconds
	}
	out, err := t.client.CoreV1().ServiceAccounts(r.Namespace).CreateToken(ctx, r.ServiceAccount, req, metav1.CreateOptions{})
	if err != nil {
		return "", time.Time{}, err
	}
	return out.Status.Token, out.Status.ExpirationTimestamp.Time, nil
}
