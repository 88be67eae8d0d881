package kube

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/record"

	"github.com/lanemesh/lanemesh/internal/config"
)

// Reporter writes findings where a kubectl user looks for them: on the
// object's status, as Istio does (status.validationMessages and a
// Reconciled condition, so `kubectl get vs X -o yaml` shows why it is not
// in force), and as an Event (`kubectl describe`, `kubectl get events`).
// Only the leader writes, so replicas do not fight over status; each
// object is written only when what is said about it changes.
type Reporter struct {
	dyn    dynamic.Interface
	events record.EventRecorder
	log    *slog.Logger
	leader atomic.Bool

	mu   sync.Mutex
	said map[objKey]string // the findings last reported, rendered, with the generation
}

// NewReporter returns a reporter that writes through cfg's credentials.
func NewReporter(cfg *rest.Config, log *slog.Logger) (*Reporter, error) {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	kc, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	b := record.NewBroadcaster()
	b.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: kc.CoreV1().Events("")})
	return &Reporter{dyn: dyn, log: log, said: map[objKey]string{},
		events: b.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "lanemesh"})}, nil
}

// SetLeader turns writing on or off. A new leader reports everything anew.
func (r *Reporter) SetLeader(on bool) {
	r.leader.Store(on)
	r.mu.Lock()
	r.said = map[objKey]string{}
	r.mu.Unlock()
}

// Report writes what changed in the findings about objs; kept says
// whether an earlier version of an object is in force.
func (r *Reporter) Report(objs []*unstructured.Unstructured, findings map[objKey]config.Diagnostics, kept func(objKey) bool) {
	if !r.leader.Load() {
		return
	}
	for _, u := range objs {
		k := objKey{u.GetKind(), u.GetNamespace(), u.GetName()}
		diags := findings[k]
		old := diags.HasErrors() && kept(k)
		said := fmt.Sprintf("%d %v\n%s", u.GetGeneration(), old, strings.Join(diags.Render(0), "\n"))
		r.mu.Lock()
		before, known := r.said[k]
		r.mu.Unlock()
		if known && before == said {
			continue
		}
		if err := r.writeStatus(u, diags, old); err != nil {
			r.log.Warn("cannot write status", "kind", k.kind, "namespace", k.namespace, "name", k.name, "err", err)
			continue
		}
		r.event(u, diags, known || len(diags) > 0)
		r.mu.Lock()
		r.said[k] = said
		r.mu.Unlock()
	}
}

// event records one Event per error or warning, or a Normal one when an
// object that had findings is now clean.
func (r *Reporter) event(u *unstructured.Unstructured, diags config.Diagnostics, hadOrHas bool) {
	if len(diags) == 0 {
		if hadOrHas {
			r.events.Event(u, corev1.EventTypeNormal, "Accepted", "lanemesh accepted the object: no findings")
		}
		return
	}
	for _, d := range diags {
		if d.Level == config.Info {
			continue
		}
		kind := corev1.EventTypeWarning
		r.events.Event(u, kind, reason(d), d.String())
	}
}

func reason(d config.Diagnostic) string {
	if d.Level == config.Error {
		return "Rejected"
	}
	return "Warning"
}

// writeStatus puts the findings on the object's status subresource, unless
// it already says that. An object of a kind lanemesh does not read (its
// status is another mesh's to write) gets Events only.
func (r *Reporter) writeStatus(u *unstructured.Unstructured, diags config.Diagnostics, kept bool) error {
	gvr, ours := crdResources[u.GetKind()]
	if !ours || u.GroupVersionKind().Group != gvr.Group {
		return nil
	}
	want := statusFor(u.GetGeneration(), diags, kept)
	cur, _, _ := unstructured.NestedMap(u.Object, "status")
	if sameStatus(cur, want) {
		return nil
	}
	next := u.DeepCopy()
	next.Object["status"] = want
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := r.dyn.Resource(gvr).Namespace(u.GetNamespace()).UpdateStatus(ctx, next, metav1.UpdateOptions{FieldManager: "lanemesh"})
	return err
}

// statusFor is Istio's status for an object: validationMessages as
// istioctl's analysis writes them (type.code, type.name, level) with the
// message and what to do in description, and a Reconciled condition that
// says whether the object is in force, or else whether an earlier version
// of it (kept) is.
func statusFor(generation int64, diags config.Diagnostics, kept bool) map[string]any {
	var msgs []any
	inForce := true
	for _, d := range diags {
		if d.Level == config.Error {
			inForce = false
		}
		msgs = append(msgs, map[string]any{
			"type":        map[string]any{"code": d.Code},
			"level":       strings.ToUpper(d.Level.String()),
			"description": d.String(),
		})
	}
	cond := map[string]any{"type": "Reconciled", "status": "True", "reason": "Accepted",
		"message": "in force", "observedGeneration": generation,
		"lastTransitionTime": time.Now().UTC().Format(time.RFC3339)}
	if !inForce {
		cond["status"], cond["reason"], cond["message"] = "False", "Rejected",
			"not in force, nor any earlier version of it: see validationMessages"
		if kept {
			cond["message"] = "not in force: its last accepted version still is; see validationMessages"
		}
	}
	st := map[string]any{"observedGeneration": generation, "conditions": []any{cond}}
	if len(msgs) > 0 {
		st["validationMessages"] = msgs
	}
	return st
}

// sameStatus compares statuses but for when conditions last changed.
func sameStatus(a, b map[string]any) bool {
	strip := func(m map[string]any) map[string]any {
		m = runtimeCopy(m)
		if conds, ok := m["conditions"].([]any); ok {
			for _, c := range conds {
				if cm, ok := c.(map[string]any); ok {
					delete(cm, "lastTransitionTime")
				}
			}
		}
		return m
	}
	return reflect.DeepEqual(strip(a), strip(b))
}

func runtimeCopy(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return (&unstructured.Unstructured{Object: map[string]any{"s": m}}).DeepCopy().Object["s"].(map[string]any)
}
