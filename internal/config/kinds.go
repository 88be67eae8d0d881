package config

import (
	"fmt"
	"strings"
)

// Options change how Parse and Load treat what lanemesh does not enforce.
// The zero value is the safe default: refuse it.
type Options struct {
	// SkipUnsupportedKinds turns the refusal of a kind lanemesh does not
	// enforce (PeerAuthentication, Sidecar, ConfigMap...) into a Warning,
	// and the object is left out, so that a directory holding such files
	// can still be applied. The Warning still names every skipped object.
	SkipUnsupportedKinds bool
}

// SkipUnsupportedKindsFlag is the command-line flag (and, without the
// dashes, the admin API's query parameter) that sets
// Options.SkipUnsupportedKinds; hints name it so users know what to type.
const SkipUnsupportedKindsFlag = "--skip-unsupported-kinds"

// securityKinds are policies whose absence opens access: lanemesh must
// never drop one silently, so their message says so.
var securityKinds = map[string]bool{
	"PeerAuthentication": true, "AuthorizationPolicy": true, "RequestAuthentication": true,
}

// knownKinds are kinds that commonly sit beside lanemesh's in users' files,
// by group: every Istio kind lanemesh does not enforce, and the Kubernetes
// kinds of a typical application's manifests. They are refused as
// "not enforced" (skippable) rather than "unknown" (a typo to fix).
var knownKinds = map[string][]string{
	"security.istio.io":   {"PeerAuthentication", "AuthorizationPolicy", "RequestAuthentication"},
	"networking.istio.io": {"Sidecar", "EnvoyFilter", "WorkloadGroup", "ProxyConfig"},
	"telemetry.istio.io":  {"Telemetry"},
	"extensions.istio.io": {"WasmPlugin"},
	"": {"ConfigMap", "Secret", "ServiceAccount", "Namespace", "Pod", "Endpoints",
		"PersistentVolumeClaim", "ResourceQuota", "LimitRange"},
	"apps":                         {"StatefulSet", "DaemonSet", "ReplicaSet"},
	"batch":                        {"Job", "CronJob"},
	"networking.k8s.io":            {"Ingress", "NetworkPolicy", "IngressClass"},
	"policy":                       {"PodDisruptionBudget"},
	"autoscaling":                  {"HorizontalPodAutoscaler"},
	"rbac.authorization.k8s.io":    {"Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"},
	"discovery.k8s.io":             {"EndpointSlice"},
	"gateway.networking.k8s.io":    {"Gateway", "HTTPRoute", "GRPCRoute", "TCPRoute", "TLSRoute", "ReferenceGrant", "GatewayClass"},
	"apiextensions.k8s.io":         {"CustomResourceDefinition"},
	"admissionregistration.k8s.io": {"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"},
}

func notEnforced(apiVersion, kind string) string {
	return fmt.Sprintf("%s (%s) is not enforced by lanemesh", kind, apiVersion)
}

// IstioKindsNotEnforced are the Istio kinds lanemesh does not enforce, by
// API group: in a cluster, objects of these kinds are NotEnforced.
func IstioKindsNotEnforced() map[string][]string {
	out := map[string][]string{}
	for g, kinds := range knownKinds {
		if strings.HasSuffix(g, ".istio.io") {
			out[g] = kinds
		}
	}
	return out
}

// NotEnforced is the finding about an object of a kind lanemesh does not
// enforce that a cluster holds (an AuthorizationPolicy left from an Istio
// install, say): the cluster keeps it whatever lanemesh says, so it is a
// Warning that it has no effect, where a file holding it is refused.
func NotEnforced(apiVersion, kind, namespace, name string) Diagnostic {
	d := Diagnostic{Level: Warning, Code: CodeUnknownKind, Field: "kind", Kind: kind, Namespace: namespace, Name: name,
		Message: notEnforced(apiVersion, kind) + ": it has no effect on this mesh's traffic",
		Hint:    "enforce it with a mesh that does, or delete it"}
	if securityKinds[kind] {
		d.Message += "; it is a security policy, and the access it restricts is open"
	}
	return d
}

// group returns the API group of an apiVersion ("security.istio.io/v1" →
// "security.istio.io", "v1" → "").
func group(apiVersion string) string {
	g, _, ok := strings.Cut(apiVersion, "/")
	if !ok {
		return ""
	}
	return g
}

// isUnsupportedKind reports whether kind, of apiVersion, is a real kind
// lanemesh does not enforce, as opposed to a misspelling: one listed in
// knownKinds, or any kind of an istio.io group that is not a near miss of a
// kind lanemesh accepts.
func isUnsupportedKind(apiVersion, k string) bool {
	g := group(apiVersion)
	for _, known := range knownKinds[g] {
		if known == k {
			return true
		}
	}
	return strings.HasSuffix(g, "istio.io") && k != "" && nearKind(k) == ""
}

// nearKind returns the accepted kind k is a near miss of ("VirtualSevice"),
// or "".
func nearKind(k string) string {
	for _, accepted := range Kinds() {
		if editDistance(strings.ToLower(k), strings.ToLower(accepted)) < 3 {
			return accepted
		}
	}
	return ""
}

// unsupportedKind fills head (Code, Field, Level, Message, Hint) for a kind
// lanemesh does not enforce, as an Error or, with opt.SkipUnsupportedKinds,
// a Warning that the object was left out.
func unsupportedKind(head Diagnostic, apiVersion, k string, opt Options) Diagnostic {
	head.Code, head.Field = CodeUnknownKind, "kind"
	what := notEnforced(apiVersion, k)
	if securityKinds[k] {
		what += "; it is a security policy, and applying the rest without it would leave the access it restricts open"
	}
	if opt.SkipUnsupportedKinds {
		head.Level = Warning
		head.Message = what + "; skipped (" + SkipUnsupportedKindsFlag + ")"
		head.Hint = "apply it with kubectl to a cluster that enforces it; lanemesh leaves it out"
		return head
	}
	head.Message = what
	head.Hint = "remove it from the files given to lanemesh, or pass " + SkipUnsupportedKindsFlag +
		" to leave it out with a warning; lanemesh accepts " + strings.Join(Kinds(), ", ")
	return head
}
