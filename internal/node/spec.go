package node

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/lanemesh/lanemesh/api"
)

// errConfig marks what makes a container impossible to start as written:
// the kubelet's CreateContainerConfigError. The pod waits, saying why.
var errConfig = errors.New("container config")

// Lookup reads the ConfigMaps and Secrets a container's env names. ok is
// false when the object or key does not exist; err is for anything else.
type Lookup interface {
	ConfigMapKey(namespace, name, key string) (value string, ok bool, err error)
	SecretKey(namespace, name, key string) (value string, ok bool, err error)
	ConfigMapData(namespace, name string) (data map[string]string, ok bool, err error)
	SecretData(namespace, name string) (data map[string]string, ok bool, err error)
}

// resolveEnv computes a container's environment as the kubelet does: envFrom
// first, then env in order, each value with $(NAME) references to earlier
// variables expanded and $$ as a literal $, valueFrom read from the pod
// (downward API), ConfigMaps and Secrets. It returns NAME=value pairs, later
// ones winning.
func resolveEnv(pod *corev1.Pod, c corev1.Container, ip string, look Lookup) ([]string, error) {
	vars := map[string]string{}
	var order []string
	set := func(k, v string) {
		if _, ok := vars[k]; !ok {
			order = append(order, k)
		}
		vars[k] = v
	}
	for _, from := range c.EnvFrom {
		var data map[string]string
		var ok bool
		var err error
		var what string
		switch {
		case from.ConfigMapRef != nil:
			what = "configmap " + from.ConfigMapRef.Name
			data, ok, err = look.ConfigMapData(pod.Namespace, from.ConfigMapRef.Name)
			ok = ok || (from.ConfigMapRef.Optional != nil && *from.ConfigMapRef.Optional)
		case from.SecretRef != nil:
			what = "secret " + from.SecretRef.Name
			data, ok, err = look.SecretData(pod.Namespace, from.SecretRef.Name)
			ok = ok || (from.SecretRef.Optional != nil && *from.SecretRef.Optional)
		}
		if err != nil {
			return nil, fmt.Errorf("envFrom %s: %w", what, err)
		}
		if !ok {
			return nil, fmt.Errorf("%w: envFrom %s not found", errConfig, what)
		}
		for k, v := range data {
			set(from.Prefix+k, v)
		}
	}
	for _, e := range c.Env {
		v := expand(e.Value, vars)
		if e.ValueFrom != nil {
			var err error
			if v, err = valueFrom(pod, ip, e, look); err != nil {
				return nil, err
			}
		}
		set(e.Name, v)
	}
	out := make([]string, 0, len(order))
	for _, k := range order {
		out = append(out, k+"="+vars[k])
	}
	return out, nil
}

// valueFrom reads one env var's valueFrom.
func valueFrom(pod *corev1.Pod, ip string, e corev1.EnvVar, look Lookup) (string, error) {
	src := e.ValueFrom
	optional := func(p *bool) bool { return p != nil && *p }
	switch {
	case src.FieldRef != nil:
		v, err := fieldValue(pod, ip, src.FieldRef.FieldPath)
		if err != nil {
			return "", fmt.Errorf("env %s: %w", e.Name, err)
		}
		return v, nil
	case src.ConfigMapKeyRef != nil:
		r := src.ConfigMapKeyRef
		v, ok, err := look.ConfigMapKey(pod.Namespace, r.Name, r.Key)
		if err != nil {
			return "", fmt.Errorf("env %s: configmap %s: %w", e.Name, r.Name, err)
		}
		if !ok && !optional(r.Optional) {
			return "", fmt.Errorf("%w: env %s: configmap %s has no key %q", errConfig, e.Name, r.Name, r.Key)
		}
		return v, nil
	case src.SecretKeyRef != nil:
		r := src.SecretKeyRef
		v, ok, err := look.SecretKey(pod.Namespace, r.Name, r.Key)
		if err != nil {
			return "", fmt.Errorf("env %s: secret %s: %w", e.Name, r.Name, err)
		}
		if !ok && !optional(r.Optional) {
			return "", fmt.Errorf("%w: env %s: secret %s has no key %q", errConfig, e.Name, r.Name, r.Key)
		}
		return v, nil
	}
	return "", fmt.Errorf("%w: env %s: valueFrom.resourceFieldRef is not supported by lanemesh node; set a literal value", errConfig, e.Name)
}

// fieldValue is the downward API: the pod fields a fieldRef may name.
func fieldValue(pod *corev1.Pod, ip, field string) (string, error) {
	switch field {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.podIP", "status.podIPs":
		return ip, nil
	case "status.hostIP", "status.hostIPs":
		return hostIP, nil
	}
	for prefix, m := range map[string]map[string]string{"metadata.labels": pod.Labels, "metadata.annotations": pod.Annotations} {
		if field == prefix {
			return formatMap(m), nil
		}
		if key, ok := strings.CutPrefix(field, prefix+"['"); ok {
			if key, ok := strings.CutSuffix(key, "']"); ok {
				return m[key], nil
			}
		}
	}
	return "", fmt.Errorf("%w: fieldRef %q is not a field the downward API offers", errConfig, field)
}

// formatMap writes labels or annotations as the downward API's files do:
// key="value" lines, sorted.
func formatMap(m map[string]string) string {
	lines := make([]string, 0, len(m))
	for k, v := range m {
		lines = append(lines, fmt.Sprintf("%s=%q", k, v))
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// expand replaces $(NAME) with the value of an earlier variable, as the
// kubelet expands env values, command and args: an undefined reference
// stays as written, and $$ is a literal $.
func expand(s string, vars map[string]string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+2+end]
			if v, ok := vars[name]; ok {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+3+end])
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

// envMap indexes NAME=value pairs, later ones winning.
func envMap(env []string) map[string]string {
	m := make(map[string]string, len(env))
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

// argv is the command line of a process container: command then args, each
// with $(NAME) expanded. For lanemesh's own image the entrypoint is the
// lanemesh binary, so self stands for it: in place of command[0] when the
// container names a command, before args when it names none. The image's
// slim proxy, lanemesh-proxy, is self's proxy command.
func argv(c corev1.Container, env []string, self string, ownImage bool) ([]string, error) {
	vars := envMap(env)
	var out []string
	for _, s := range c.Command {
		out = append(out, expand(s, vars))
	}
	if ownImage {
		switch {
		case len(out) == 0:
			out = []string{self}
		case path.Base(out[0]) == proxyBinary:
			out = append([]string{self, "proxy"}, out[1:]...)
		default:
			out[0] = self
		}
	}
	for _, s := range c.Args {
		out = append(out, expand(s, vars))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: container %s (image %s) has no command: lanemesh node runs containers as this machine's processes, so set command (and args) to the program to run, or use image %s",
			errConfig, c.Name, c.Image, "lanemesh/mock")
	}
	return out, nil
}

// proxyBinary is the name of the slim proxy in lanemesh's image.
const proxyBinary = "lanemesh-proxy"

// imageRepo is an image reference without its tag or digest.
func imageRepo(image string) string {
	image, _, _ = strings.Cut(image, "@")
	if i := strings.LastIndexByte(image, ':'); i > strings.LastIndexByte(image, '/') {
		image = image[:i]
	}
	return image
}

// isOwnImage reports whether image is one of lanemesh's own: its repository
// is one of repos, or ends with "/" and one of them (a registry host or
// mirror in front).
func isOwnImage(image string, repos []string) bool {
	r := imageRepo(image)
	for _, want := range repos {
		if r == want || strings.HasSuffix(r, "/"+want) {
			return true
		}
	}
	return false
}

// toContainer is the part of a Kubernetes container the local runner's
// mock and prober read: image, ports, readiness probe, working directory
// and env (the resolved values).
func toContainer(c corev1.Container, env []string) api.Container {
	out := api.Container{Name: c.Name, Image: c.Image, WorkingDir: c.WorkingDir}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		out.Env = append(out.Env, api.EnvVar{Name: k, Value: v})
	}
	for _, p := range c.Ports {
		out.Ports = append(out.Ports, api.ContainerPort{Name: p.Name, ContainerPort: uint32(p.ContainerPort)})
	}
	if p := c.ReadinessProbe; p != nil {
		out.ReadinessProbe = &api.Probe{
			InitialDelaySeconds: p.InitialDelaySeconds, PeriodSeconds: p.PeriodSeconds,
			TimeoutSeconds: p.TimeoutSeconds, FailureThreshold: p.FailureThreshold, SuccessThreshold: p.SuccessThreshold,
		}
		switch {
		case p.HTTPGet != nil:
			h := newOf(out.ReadinessProbe.HTTPGet)
			h.Path, h.Port, h.Scheme = p.HTTPGet.Path, intOrString(p.HTTPGet.Port.IntVal, p.HTTPGet.Port.StrVal), string(p.HTTPGet.Scheme)
			out.ReadinessProbe.HTTPGet = h
		case p.TCPSocket != nil:
			t := newOf(out.ReadinessProbe.TCPSocket)
			t.Port = intOrString(p.TCPSocket.Port.IntVal, p.TCPSocket.Port.StrVal)
			out.ReadinessProbe.TCPSocket = t
		}
	}
	return out
}

// newOf allocates a value of the type p points to: api.Probe's handlers
// are anonymous structs, which another package cannot name.
func newOf[T any](_ *T) *T { return new(T) }

func intOrString(i int32, s string) api.IntOrString {
	if s != "" {
		return api.IntOrString{Str: s}
	}
	return api.IntOrString{Int: i}
}

// probeKind says which readiness probe a container has: "" for none, else
// the kind, so exec and grpc probes, which local processes cannot run as
// the kubelet would, are named in the pod's message.
func probeKind(p *corev1.Probe) string {
	switch {
	case p == nil:
		return ""
	case p.HTTPGet != nil:
		return "httpGet"
	case p.TCPSocket != nil:
		return "tcpSocket"
	case p.Exec != nil:
		return "exec"
	case p.GRPC != nil:
		return "grpc"
	}
	return "none"
}

// mountPaths rewrites, in s (an arg or env value), each mention of one of
// the container's mount paths to where the pod's processes find it, under
// root: a program told --token-file=/var/run/secrets/tokens/t, as a
// container would be, opens the file the node wrote. A mount path counts
// only as a whole path at a word boundary (start of s or after a character
// that cannot be part of a path, such as '=', ':', ',' or a space; followed
// by the end, '/' or such a character), so /data does not match in /database
// or in a path already under root. Paths outside every mount are the
// machine's own and stay as they are.
func mountPaths(s, root string, mounts []corev1.VolumeMount) string {
	if !strings.Contains(s, "/") || len(mounts) == 0 {
		return s
	}
	paths := make([]string, 0, len(mounts))
	for _, m := range mounts {
		if p := path.Clean("/" + m.MountPath); p != "/" {
			paths = append(paths, p)
		}
	}
	// Longest first, so a mount inside another mount wins.
	slices.SortFunc(paths, func(a, b string) int { return len(b) - len(a) })
	var b strings.Builder
	for i := 0; i < len(s); {
		matched := ""
		if i == 0 || !isPathByte(s[i-1]) {
			for _, p := range paths {
				if strings.HasPrefix(s[i:], p) {
					if end := i + len(p); end == len(s) || s[end] == '/' || !isPathByte(s[end]) {
						matched = p
						break
					}
				}
			}
		}
		if matched == "" {
			b.WriteByte(s[i])
			i++
			continue
		}
		b.WriteString(hostPathOf(root, matched))
		i += len(matched)
	}
	return b.String()
}

// isPathByte reports whether c can be part of a path (as far as telling
// where a mount path starts and ends in an arg goes).
func isPathByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '/' || c == '.' || c == '-' || c == '_' || c == '~' || c == '+' || c == '@'
}

// hostPathOf maps a container path to where the pod's processes find it:
// under the pod's root directory (see the package comment).
func hostPathOf(root, containerPath string) string {
	return path.Join(root, path.Clean("/"+containerPath))
}
