package inject

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// NamespaceLabels returns the labels of a namespace.
type NamespaceLabels func(ctx context.Context, namespace string) (map[string]string, error)

// Webhook serves AdmissionReview v1 for pod creation: it answers with
// Patch's JSON patch. Its zero value is not usable: Config and Namespaces
// are required.
type Webhook struct {
	Config Config
	// Namespaces looks up the namespace of the pod under review; the
	// apiserver sends only the pod. Patch checks the namespace's labels
	// itself, rather than trusting that the webhook's namespaceSelector
	// matched, so that a hand-edited webhook configuration cannot inject
	// into an istio-injection=disabled namespace.
	Namespaces NamespaceLabels
	Logger     *slog.Logger // nil: slog.Default()
}

// maxReviewBytes bounds a request body: the apiserver refuses objects over
// 3 MiB, and an AdmissionReview carries the object once (twice on update).
const maxReviewBytes = 7 << 20

// ServeHTTP answers POSTed AdmissionReviews. A request that is not one
// gets a 4xx; a review whose pod cannot be injected is answered
// allowed=false with the reason, which kubectl shows.
func (w *Webhook) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		rw.Header().Set("Allow", http.MethodPost)
		http.Error(rw, "POST an AdmissionReview", http.StatusMethodNotAllowed)
		return
	}
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/json" {
		http.Error(rw, "Content-Type must be application/json", http.StatusUnsupportedMediaType)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(rw, r.Body, maxReviewBytes))
	if err != nil {
		http.Error(rw, "reading the request: "+err.Error(), http.StatusRequestEntityTooLarge)
		return
	}
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &review); err != nil || review.Request == nil {
		http.Error(rw, "not an AdmissionReview with a request", http.StatusBadRequest)
		return
	}
	if review.APIVersion != admissionv1.SchemeGroupVersion.String() || review.Kind != "AdmissionReview" {
		http.Error(rw, "want admission.k8s.io/v1 AdmissionReview, got "+review.APIVersion+" "+review.Kind, http.StatusBadRequest)
		return
	}
	resp, err := w.review(r.Context(), review.Request)
	if err != nil {
		// A failed call, not a refusal: the webhook's failurePolicy
		// decides what becomes of the pod.
		http.Error(rw, err.Error(), http.StatusInternalServerError)
		return
	}
	resp.UID = review.Request.UID
	out, err := json.Marshal(admissionv1.AdmissionReview{TypeMeta: review.TypeMeta, Response: resp})
	if err != nil {
		http.Error(rw, err.Error(), http.StatusInternalServerError)
		return
	}
	rw.Header().Set("Content-Type", "application/json")
	_, _ = rw.Write(out)
}

// review decides one request; an error means it could not.
func (w *Webhook) review(ctx context.Context, req *admissionv1.AdmissionRequest) (*admissionv1.AdmissionResponse, error) {
	log := w.Logger
	if log == nil {
		log = slog.Default()
	}
	allow := &admissionv1.AdmissionResponse{Allowed: true}
	if req.Kind.Group != "" || req.Kind.Kind != "Pod" || req.Operation != admissionv1.Create {
		return allow, nil // not ours to change: the configuration sends only pod creations
	}
	var pod corev1.Pod
	if err := json.Unmarshal(req.Object.Raw, &pod); err != nil {
		return deny(http.StatusBadRequest, "lanemesh sidecar injector: the pod does not decode: "+err.Error()), nil
	}
	ns := req.Namespace
	if ns == "" {
		ns = pod.Namespace
	}
	if pod.Namespace == "" {
		pod.Namespace = ns // a pod being created may not say it; Config.Inbound needs it
	}
	labels, err := w.Namespaces(ctx, ns)
	if err != nil {
		log.Error("sidecar injection: namespace lookup failed", "namespace", ns, "err", err)
		return nil, fmt.Errorf("lanemesh sidecar injector: reading namespace %s: %w", ns, err)
	}
	ops, err := Patch(&pod, labels, w.Config)
	if errors.Is(err, ErrBadPod) {
		return deny(http.StatusBadRequest, err.Error()), nil
	}
	if err != nil {
		return nil, fmt.Errorf("lanemesh sidecar injector: %w", err)
	}
	if ops == nil {
		return allow, nil
	}
	patch, err := json.Marshal(ops)
	if err != nil {
		return nil, fmt.Errorf("lanemesh sidecar injector: %w", err)
	}
	name := pod.Name
	if name == "" {
		name = pod.GenerateName + "*"
	}
	log.Info("sidecar injected", "namespace", ns, "pod", name)
	if allow.Warnings = Warnings(&pod); len(allow.Warnings) > 0 {
		log.Warn("sidecar injected: annotations not applied", "namespace", ns, "pod", name, "warnings", allow.Warnings)
	}
	pt := admissionv1.PatchTypeJSONPatch
	allow.Patch, allow.PatchType = patch, &pt
	return allow, nil
}

func deny(code int32, msg string) *admissionv1.AdmissionResponse {
	return &admissionv1.AdmissionResponse{Allowed: false,
		Result: &metav1.Status{Status: metav1.StatusFailure, Code: code, Message: msg}}
}
