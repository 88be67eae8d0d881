package kube

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	listersv1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/lanemesh/lanemesh/internal/config"
	"github.com/lanemesh/lanemesh/internal/controlplane"
	"github.com/lanemesh/lanemesh/internal/crd"
	"github.com/lanemesh/lanemesh/internal/registry"
)

// crdResources maps the custom kinds lanemesh reads from the cluster —
// Istio's and ASM's lane kinds, as internal/crd defines them — to their
// resources, at the version lanemesh watches (the stored one; the API
// server converts the others).
var crdResources = func() map[string]schema.GroupVersionResource {
	out := map[string]schema.GroupVersionResource{}
	for _, k := range crd.Kinds {
		out[k.Kind] = schema.GroupVersionResource{Group: k.GroupName(), Version: k.Served()[0], Resource: k.Plural}
	}
	return out
}()

// resourceOf maps the kinds lanemesh reads to their resource names.
var resourceOf = func() map[string]string {
	out := map[string]string{"Service": "services", "Deployment": "deployments"}
	for kind, gvr := range crdResources {
		out[kind] = gvr.Resource
	}
	return out
}()

// Options configures the Kubernetes sources.
type Options struct {
	Config *rest.Config
	Logger *slog.Logger
	Load   config.Options // how Istio objects are read
	// Reporter, if set, is told the findings about each Istio object after
	// every sync (status and Events); see NewReporter.
	Reporter *Reporter
	// Resync is how often informers re-deliver everything [10 min].
	Resync time.Duration
	// Secrets makes the source watch the cluster's Secrets, so that
	// Credentials resolves credentialName (Gateway servers,
	// DestinationRule tls); it needs RBAC to list and watch Secrets.
	Secrets bool
}

// Source keeps a Store and a registry View in step with a cluster: the
// five Istio kinds, Services and Deployments go into the store, pods and
// EndpointSlices into the view. Objects the loader or the analyzer refuses
// are left out, each reported on itself, and the last good version of each
// stays in force: one bad object never takes down the others.
type Source struct {
	opts  Options
	log   *slog.Logger
	store *controlplane.Store // where the cluster's configuration goes
	view  *registry.View      // where its pods go, as source "kubernetes"
	dyn   dynamic.Interface
	kube  kubernetes.Interface
	istio map[string]cache.GenericLister // by kind
	// ignored are the listers of the Istio kinds the cluster serves that
	// lanemesh does not enforce, by kind (watchNotEnforced).
	ignored map[string]cache.GenericLister
	typed   informers.SharedInformerFactory
	dynInf  dynamicinformer.DynamicSharedInformerFactory
	kick    chan struct{}
	podKick chan struct{}
	synced  []cache.InformerSynced
	// With Options.Secrets: the Secrets informer, and its events.
	secretFactory informers.SharedInformerFactory
	secrets       listersv1.SecretLister
	secretKick    chan struct{}

	mu      sync.Mutex
	applied map[objKey]any // what this source put in the store, by object
	// findings are the diagnostics of the last sync, by Istio object.
	findings map[objKey]config.Diagnostics
	syncs    uint64
}

type objKey struct{ kind, namespace, name string }

func keyOf(obj any) objKey {
	k, ns, n := config.Identify(obj)
	return objKey{k, ns, n}
}

// New connects to the cluster and registers the informers; Run starts them.
func New(opts Options) (*Source, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Resync == 0 {
		opts.Resync = 10 * time.Minute
	}
	dyn, err := dynamic.NewForConfig(opts.Config)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	kc, err := kubernetes.NewForConfig(opts.Config)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	s := &Source{opts: opts, log: opts.Logger, dyn: dyn, kube: kc, istio: map[string]cache.GenericLister{}, ignored: map[string]cache.GenericLister{},
		typed:      informers.NewSharedInformerFactory(kc, opts.Resync),
		dynInf:     dynamicinformer.NewDynamicSharedInformerFactory(dyn, opts.Resync),
		kick:       make(chan struct{}, 1),
		podKick:    make(chan struct{}, 1),
		secretKick: make(chan struct{}, 1),
		applied:    map[objKey]any{}, findings: map[objKey]config.Diagnostics{}}
	onConfig := handler(s.kick)
	for _, kind := range istioKinds() {
		inf := s.dynInf.ForResource(crdResources[kind])
		inf.Informer().AddEventHandler(onConfig)
		s.istio[kind] = inf.Lister()
		s.synced = append(s.synced, inf.Informer().HasSynced)
	}
	for _, inf := range []cache.SharedIndexInformer{s.typed.Core().V1().Services().Informer(), s.typed.Apps().V1().Deployments().Informer()} {
		inf.AddEventHandler(onConfig)
		s.synced = append(s.synced, inf.HasSynced)
	}
	onPods := handler(s.podKick)
	for _, inf := range []cache.SharedIndexInformer{s.typed.Core().V1().Pods().Informer(), s.typed.Discovery().V1().EndpointSlices().Informer()} {
		inf.AddEventHandler(onPods)
		s.synced = append(s.synced, inf.HasSynced)
	}
	if opts.Secrets {
		s.watchSecrets()
	}
	return s, nil
}

func istioKinds() []string {
	return []string{"ServiceEntry", "WorkloadEntry", "DestinationRule", "Gateway", "VirtualService", "ASMSwimLaneGroup", "ASMSwimLane", "LaneEntryPolicy"}
}

// handler kicks ch on every change; the sync that follows reads the
// informers' caches whole, so no event needs to be kept.
func handler(ch chan struct{}) cache.ResourceEventHandler {
	kick := func() {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	return cache.ResourceEventHandlerFuncs{AddFunc: func(any) { kick() }, UpdateFunc: func(any, any) { kick() }, DeleteFunc: func(any) { kick() }}
}

// Run starts the informers, waits for their first listing, syncs into
// store and view, and keeps syncing until ctx is done; a change of Secrets
// (Options.Secrets) calls recompile, since credentials are read at
// compilation. It returns an error only when the first listing fails (the
// CRDs not installed, no permission to list).
func (s *Source) Run(ctx context.Context, store *controlplane.Store, view *registry.View, recompile func()) error {
	s.store, s.view = store, view
	if err := s.checkResources(); err != nil {
		return err
	}
	s.watchNotEnforced()
	s.typed.Start(ctx.Done())
	s.dynInf.Start(ctx.Done())
	if s.secretFactory != nil {
		s.secretFactory.Start(ctx.Done())
	}
	if !cache.WaitForCacheSync(ctx.Done(), s.synced...) {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("kubernetes: the first listing did not complete; are the networking.istio.io CRDs installed (lanemesh install) and may lanemesh list them?")
	}
	s.syncPods()
	s.syncConfig()
	const settle = 20 * time.Millisecond // let a burst of events end
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.kick:
			time.Sleep(settle)
			s.syncConfig()
		case <-s.podKick:
			time.Sleep(settle)
			s.syncPods()
		case <-s.secretKick:
			time.Sleep(settle)
			recompile()
		}
	}
}

// SetLeader turns the Reporter's writing on or off (see Reporter.SetLeader)
// and, on, reports the findings at once: a replica that takes over from a
// leader that stopped or crashed must say what is wrong with objects that
// were refused before it led, not wait for the next change in the cluster.
func (s *Source) SetLeader(on bool) {
	if s.opts.Reporter == nil {
		return
	}
	s.opts.Reporter.SetLeader(on)
	if on {
		select {
		case s.kick <- struct{}{}:
		default: // a sync is due anyway
		}
	}
}

// watchNotEnforced watches the Istio kinds the cluster serves that
// lanemesh does not enforce (security.istio.io's policies, Sidecar,
// EnvoyFilter...), so that each object of them is reported as having no
// effect (config.NotEnforced), as a file holding one is refused: a DENY
// policy that silently allows is worse than none. Their first listing is
// not waited for, and without RBAC to list them they are only logged.
func (s *Source) watchNotEnforced() {
	onConfig := handler(s.kick)
	for group, kinds := range config.IstioKindsNotEnforced() {
		resources, err := s.preferredResources(group)
		if err != nil {
			continue // the group is not served: nothing of it can be in the cluster
		}
		for _, kind := range kinds {
			if gvr, ok := resources[kind]; ok {
				inf := s.dynInf.ForResource(gvr)
				inf.Informer().AddEventHandler(onConfig)
				s.ignored[kind] = inf.Lister()
			}
		}
	}
}

// preferredResources maps the kinds of an API group's preferred version
// to their resources.
func (s *Source) preferredResources(group string) (map[string]schema.GroupVersionResource, error) {
	groups, err := s.kube.Discovery().ServerGroups()
	if err != nil {
		return nil, err
	}
	for _, g := range groups.Groups {
		if g.Name != group {
			continue
		}
		list, err := s.kube.Discovery().ServerResourcesForGroupVersion(g.PreferredVersion.GroupVersion)
		if err != nil {
			return nil, err
		}
		out := map[string]schema.GroupVersionResource{}
		for _, r := range list.APIResources {
			if !strings.Contains(r.Name, "/") { // not a subresource
				out[r.Kind] = schema.GroupVersionResource{Group: group, Version: g.PreferredVersion.Version, Resource: r.Name}
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("the cluster does not serve %s", group)
}

// checkResources fails at once, saying what to do, when the cluster does
// not serve the Istio kinds: informers would otherwise retry forever.
func (s *Source) checkResources() error {
	const install = "install lanemesh first (lanemesh install --dry-run | kubectl apply --server-side -f -)"
	served := map[schema.GroupVersion]map[string]bool{}
	for _, kind := range istioKinds() {
		gvr := crdResources[kind]
		gv := gvr.GroupVersion()
		if served[gv] == nil {
			list, err := s.kube.Discovery().ServerResourcesForGroupVersion(gv.String())
			switch {
			case apierrors.IsNotFound(err):
				return fmt.Errorf("kubernetes: the cluster does not serve %s (%w): %s", gv, err, install)
			case err != nil:
				// Not an answer about the CRDs: the API server is unreachable,
				// refuses the credentials, or failed.
				return fmt.Errorf("kubernetes: cannot read the API server's resources at %s: %w", s.opts.Config.Host, err)
			}
			served[gv] = map[string]bool{}
			for _, r := range list.APIResources {
				served[gv][r.Name] = true
			}
		}
		if !served[gv][gvr.Resource] {
			return fmt.Errorf("kubernetes: the cluster serves no %s.%s: %s", gvr.Resource, gvr.Group, install)
		}
	}
	return nil
}

// syncPods publishes the cluster's pods as instances.
func (s *Source) syncPods() {
	pods, err := s.typed.Core().V1().Pods().Lister().List(labels.Everything())
	if err != nil {
		s.log.Error("cannot list pods", "err", err)
		return
	}
	eps, err := s.typed.Discovery().V1().EndpointSlices().Lister().List(labels.Everything())
	if err != nil {
		s.log.Error("cannot list endpointslices", "err", err)
		return
	}
	s.view.Set("kubernetes", Instances(pods, eps))
}

// desired reads every object from the caches: what the cluster holds, as
// lanemesh objects, when each was created, and the findings of objects
// that do not load.
func (s *Source) desired() (want map[objKey]any, created map[objKey]time.Time, bad map[objKey]config.Diagnostics) {
	want, created, bad = map[objKey]any{}, map[objKey]time.Time{}, map[objKey]config.Diagnostics{}
	for _, kind := range istioKinds() {
		list, err := s.istio[kind].List(labels.Everything())
		if err != nil {
			s.log.Error("cannot list", "kind", kind, "err", err)
			continue
		}
		for _, o := range list {
			u, ok := o.(*unstructured.Unstructured)
			if !ok {
				continue
			}
			k := objKey{kind, u.GetNamespace(), u.GetName()}
			created[k] = u.GetCreationTimestamp().Time
			obj, diags := decodeIstio(u, s.opts.Load)
			if obj == nil {
				bad[k] = diags
				continue
			}
			want[k] = obj
		}
	}
	svcs, _ := s.typed.Core().V1().Services().Lister().List(labels.Everything())
	for _, svc := range svcs {
		obj := service(svc)
		want[keyOf(obj)], created[keyOf(obj)] = obj, svc.CreationTimestamp.Time
	}
	deps, _ := s.typed.Apps().V1().Deployments().Lister().List(labels.Everything())
	for _, d := range deps {
		obj := deployment(d)
		want[keyOf(obj)], created[keyOf(obj)] = obj, d.CreationTimestamp.Time
	}
	return want, created, bad
}

// syncConfig brings the store to what the cluster holds. The whole change
// is tried at once; when the analyzer refuses it, objects are applied one
// at a time (deletions first, then kinds in dependency order), each kept
// only if the configuration stays free of errors, and refused ones are
// tried again after every success, so an object that arrives before what
// it refers to gets in as soon as that does.
func (s *Source) syncConfig() {
	want, created, findings := s.desired()
	s.mu.Lock()
	changes := diff(s.applied, want, created)
	s.mu.Unlock()
	if len(changes) > 0 {
		if _, err := s.store.Update(func(next *config.Config) { applyAll(next, changes) }); err != nil {
			s.applyEach(changes, findings)
		} else {
			s.record(changes)
		}
	}
	for kind, l := range s.ignored {
		list, _ := l.List(labels.Everything())
		for _, o := range list {
			if u, ok := o.(*unstructured.Unstructured); ok {
				findings[objKey{kind, u.GetNamespace(), u.GetName()}] = config.Diagnostics{
					config.NotEnforced(u.GetAPIVersion(), kind, u.GetNamespace(), u.GetName())}
			}
		}
	}
	// Warnings and infos of what is in force are reported too.
	cfg, _ := s.store.Config()
	for _, d := range config.Analyze(cfg) {
		k := objKey{d.Kind, d.Namespace, d.Name}
		if _, istio := resourceOf[k.kind]; istio && findings[k] == nil {
			findings[k] = append(findings[k], d)
		}
	}
	s.mu.Lock()
	s.findings = findings
	s.syncs++
	s.mu.Unlock()
	if s.opts.Reporter != nil {
		s.opts.Reporter.Report(s.istioObjects(), findings, s.inForce)
	}
}

// change is one object to put into the store (obj set) or take out of it.
type change struct {
	key objKey
	obj any
	old any
}

// diff lists the changes from what was applied to what is wanted:
// deletions first, then additions and updates, oldest first (created),
// then in the order of kindOrder. Where two objects conflict (two
// VirtualServices for one host, a lane group and a VirtualService of the
// name it generates), the one tried first gets in and the other is
// refused, so the oldest wins, as in Istio, which sorts configuration by
// creation time; and a replica that starts, or restarts, builds what the
// one before it built, whatever order the changes had reached it in. An
// object tried before what it refers to is tried again after each success
// (applyEach).
func diff(applied, want map[objKey]any, created map[objKey]time.Time) []change {
	var out []change
	for k, old := range applied {
		if _, ok := want[k]; !ok {
			out = append(out, change{key: k, old: old})
		}
	}
	for k, obj := range want {
		if old, ok := applied[k]; !ok || !config.SameObject(old, obj) {
			out = append(out, change{key: k, obj: obj, old: old})
		}
	}
	slices.SortFunc(out, func(a, b change) int {
		if (a.obj == nil) != (b.obj == nil) {
			if a.obj == nil {
				return -1
			}
			return 1
		}
		if d := created[a.key].Compare(created[b.key]); d != 0 {
			return d
		}
		if d := kindOrder(a.key.kind) - kindOrder(b.key.kind); d != 0 {
			return d
		}
		return compareKeys(a.key, b.key)
	})
	return out
}

// kindOrder puts what others refer to first.
func kindOrder(kind string) int {
	return slices.Index([]string{"Service", "Deployment", "ServiceEntry", "WorkloadEntry", "DestinationRule", "Gateway", "VirtualService", "ASMSwimLaneGroup", "ASMSwimLane", "LaneEntryPolicy"}, kind)
}

func compareKeys(a, b objKey) int {
	return cmp.Or(cmp.Compare(a.namespace, b.namespace), cmp.Compare(a.name, b.name))
}

func applyAll(next *config.Config, changes []change) {
	for _, c := range changes {
		apply(next, c)
	}
}

func apply(next *config.Config, c change) {
	if c.obj == nil {
		next.Remove(c.old)
		return
	}
	next.Put(c.obj)
}

// applyEach applies changes one at a time, retrying refused ones after
// every success; what is still refused at the end gets its errors into
// findings, and its last good version (if any) stays in force.
func (s *Source) applyEach(changes []change, findings map[objKey]config.Diagnostics) {
	pending := changes
	for {
		var refused []change
		progress := false
		for _, c := range pending {
			diags, err := s.store.Update(func(next *config.Config) { apply(next, c) })
			if err != nil {
				refused = append(refused, c)
				findings[c.key] = about(c.key, diags.Errors())
				continue
			}
			delete(findings, c.key)
			s.record([]change{c})
			progress = true
		}
		pending = refused
		if !progress || len(pending) == 0 {
			break
		}
	}
	for _, c := range pending {
		if c.obj == nil {
			s.forceDelete(c, findings)
		}
	}
}

// forceDelete takes out an object deleted from the cluster whose absence
// the analyzer refuses. A deletion is the cluster's state, not input to
// refuse: keeping a deleted Gateway in force would keep open an ingress
// its operator closed. So it takes effect, and the objects it breaks (a
// VirtualService bound to the Gateway, or routing to the deleted
// DestinationRule's subsets) go out with it, their errors in findings,
// so that their status and Events say why; they get in again once what
// they need is back. Only when the errors name objects that cannot be
// taken out (generated ones) is the deleted object kept, and logged.
func (s *Source) forceDelete(c change, findings map[objKey]config.Diagnostics) {
	out := []change{c}
	for {
		diags, err := s.store.Update(func(next *config.Config) { applyAll(next, out) })
		if err == nil {
			s.record(out)
			return
		}
		more := false
		s.mu.Lock()
		for _, d := range diags.Errors() {
			k := objKey{d.Kind, d.Namespace, d.Name}
			old, ok := s.applied[k]
			if !ok || slices.ContainsFunc(out, func(o change) bool { return o.key == k }) {
				continue
			}
			out = append(out, change{key: k, old: old})
			findings[k] = about(k, diags.Errors())
			more = true
		}
		s.mu.Unlock()
		if !more {
			s.log.Warn("kept a deleted object: the configuration without it has errors about objects that cannot be left out", "kind", c.key.kind,
				"namespace", c.key.namespace, "name", c.key.name, "err", diags.Err())
			return
		}
	}
}

// about keeps the findings about one object; when the errors are all about
// others (the object broke them), all of them, since that is why it is out.
func about(k objKey, diags config.Diagnostics) config.Diagnostics {
	var own config.Diagnostics
	for _, d := range diags {
		if d.Kind == k.kind && d.Namespace == k.namespace && d.Name == k.name {
			own = append(own, d)
		}
	}
	if len(own) > 0 {
		return own
	}
	return diags
}

// record notes accepted changes as applied.
func (s *Source) record(changes []change) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range changes {
		if c.obj == nil {
			delete(s.applied, c.key)
		} else {
			s.applied[c.key] = c.obj
		}
	}
}

// inForce reports whether a version of the object k is in force.
func (s *Source) inForce(k objKey) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.applied[k]
	return ok
}

// istioObjects returns the Istio objects in the caches, for the reporter.
func (s *Source) istioObjects() []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, l := range slices.Concat(slices.Collect(maps.Values(s.istio)), slices.Collect(maps.Values(s.ignored))) {
		list, _ := l.List(labels.Everything())
		for _, o := range list {
			if u, ok := o.(*unstructured.Unstructured); ok {
				out = append(out, u)
			}
		}
	}
	return out
}

// WaitSynced returns once the first sync has completed, or Run's error
// from failed, or when ctx is done.
func (s *Source) WaitSynced(ctx context.Context, failed <-chan error) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		if _, n := s.Findings("", "", ""); n > 0 {
			return nil
		}
		select {
		case err := <-failed:
			if err == nil {
				err = ctx.Err()
			}
			return err
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Findings returns the diagnostics of the last sync for one Istio object,
// and how many syncs have completed.
func (s *Source) Findings(kind, namespace, name string) (config.Diagnostics, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.findings[objKey{kind, namespace, name}], s.syncs
}
