package kube

import (
	"encoding/json"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/lanemesh/lanemesh/api"
	"github.com/lanemesh/lanemesh/internal/config"
)

// decodeIstio reads an Istio object as the API server holds it with the
// same strict loader that reads files, so that a cluster and a directory
// of YAML are held to the same rules. The "file" of every finding names
// where the object lives, for messages such as
// "(VirtualService mockb.default) kubernetes:virtualservices/default/mockb".
func decodeIstio(u *unstructured.Unstructured, opt config.Options) (any, config.Diagnostics) {
	obj := u.DeepCopy().Object
	if meta, ok := obj["metadata"].(map[string]any); ok {
		delete(meta, "managedFields") // large, and nothing reads it
	}
	delete(obj, "status") // what lanemesh itself writes
	data, err := json.Marshal(obj)
	if err != nil {
		return nil, config.Diagnostics{{Level: config.Error, Code: config.CodeSyntax, Message: err.Error()}}
	}
	var c config.Config
	diags := c.ParseWith(source(u), data, opt)
	// The lines are those of a one-line JSON re-encoding, which no
	// kubectl user can look up: findings name the object and field.
	for i := range diags {
		diags[i].Line = 0
	}
	objs := c.Objects()
	if diags.HasErrors() || len(objs) != 1 {
		return nil, diags
	}
	config.ForgetLines(objs[0])
	return objs[0], diags
}

// source is the name findings give for where an object lives.
func source(u *unstructured.Unstructured) string {
	res := resourceOf[u.GetKind()]
	return fmt.Sprintf("kubernetes:%s/%s/%s", res, u.GetNamespace(), u.GetName())
}

// service is a Service as the loader would have read it: the fields
// lanemesh routes on. The API server has validated the rest.
func service(s *corev1.Service) *api.Service {
	out := &api.Service{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "Service"}, Metadata: meta(s.Name, s.Namespace, s.Labels, s.Annotations, "services"),
		Spec: api.ServiceSpec{Selector: s.Spec.Selector, Type: string(s.Spec.Type)}}
	for _, p := range s.Spec.Ports {
		if p.Protocol != "" && p.Protocol != corev1.ProtocolTCP {
			continue // lanemesh proxies TCP-based protocols only
		}
		sp := api.ServicePort{Name: p.Name, Port: uint32(p.Port), Protocol: string(p.Protocol)}
		if p.AppProtocol != nil {
			sp.AppProtocol = *p.AppProtocol
		}
		if p.TargetPort.IntVal != 0 || p.TargetPort.StrVal != "" {
			sp.TargetPort = api.IntOrString{Int: p.TargetPort.IntVal, Str: p.TargetPort.StrVal}
		}
		out.Spec.Ports = append(out.Spec.Ports, sp)
	}
	return out
}

// deployment is a Deployment as analysis sees it: a workload with labels
// and replicas, so that findings such as "a subset selects no pod" hold in
// Kubernetes as they do for files. No runner starts it; the cluster does.
func deployment(d *appsv1.Deployment) *api.Deployment {
	out := &api.Deployment{TypeMeta: api.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		Metadata: meta(d.Name, d.Namespace, d.Labels, d.Annotations, "deployments")}
	out.Spec.Replicas = d.Spec.Replicas
	out.Spec.Template.Metadata.Labels = d.Spec.Template.Labels
	for _, c := range d.Spec.Template.Spec.Containers {
		ctr := api.Container{Name: c.Name, Image: c.Image}
		for _, p := range c.Ports {
			ctr.Ports = append(ctr.Ports, api.ContainerPort{Name: p.Name, ContainerPort: uint32(p.ContainerPort), Protocol: string(p.Protocol)})
		}
		out.Spec.Template.Spec.Containers = append(out.Spec.Template.Spec.Containers, ctr)
	}
	return out
}

func meta(name, ns string, labels, annotations map[string]string, resource string) api.ObjectMeta {
	return api.ObjectMeta{Name: name, Namespace: ns, Labels: labels, Annotations: annotations,
		Source: api.Source{File: fmt.Sprintf("kubernetes:%s/%s/%s", resource, ns, name)}}
}
