package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// TokenSource issues service-account tokens bound to a pod, as the
// kubelet gets them for projected serviceAccountToken volumes (the
// TokenRequest API with the pod as bound object).
type TokenSource interface {
	Token(ctx context.Context, req TokenRequest) (token string, expires time.Time, err error)
}

// TokenRequest is one token to issue.
type TokenRequest struct {
	Namespace, ServiceAccount string
	PodName                   string
	PodUID                    types.UID
	Audiences                 []string // empty: the API server's own
	ExpirationSeconds         int64    // 0: the API server's default
}

// volumes writes a pod's volumes into its directory on this machine:
// volume V's files in DIR/volumes/V, and for each container mount a symlink
// at DIR/root/MOUNTPATH to it, so that a process finds the file a container
// would see at P at $LANEMESH_POD_ROOT/P. Writing again refreshes tokens,
// ConfigMaps and Secrets in place; refresh says when tokens need it next
// (at 80% of their life, as the kubelet does), zero when none does.
func writeVolumes(ctx context.Context, pod *corev1.Pod, dir, ip string, look Lookup, tokens TokenSource) (refresh time.Time, err error) {
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	note := func(expires time.Time) {
		at := time.Now().Add(time.Until(expires) * 4 / 5)
		if refresh.IsZero() || at.Before(refresh) {
			refresh = at
		}
	}
	for _, v := range pod.Spec.Volumes {
		vdir := filepath.Join(dir, "volumes", v.Name)
		if err := os.MkdirAll(vdir, 0o755); err != nil {
			return time.Time{}, err
		}
		var files map[string][]byte
		var err error
		switch {
		case v.EmptyDir != nil:
			continue // an empty directory, kept across container restarts
		case v.HostPath != nil:
			// The host's own path: the volume directory becomes a link to it.
			if err := replaceLink(v.HostPath.Path, vdir); err != nil {
				return time.Time{}, fmt.Errorf("volume %s: %w", v.Name, err)
			}
			continue
		case v.ConfigMap != nil:
			files, err = keyFiles(look.ConfigMapData, pod.Namespace, "configmap", v.ConfigMap.Name, v.ConfigMap.Items, v.ConfigMap.Optional)
		case v.Secret != nil:
			files, err = keyFiles(look.SecretData, pod.Namespace, "secret", v.Secret.SecretName, v.Secret.Items, v.Secret.Optional)
		case v.DownwardAPI != nil:
			files, err = downwardFiles(pod, ip, v.DownwardAPI.Items)
		case v.Projected != nil:
			files = map[string][]byte{}
			for _, src := range v.Projected.Sources {
				var part map[string][]byte
				switch {
				case src.ServiceAccountToken != nil:
					t := src.ServiceAccountToken
					req := TokenRequest{Namespace: pod.Namespace, ServiceAccount: sa, PodName: pod.Name, PodUID: pod.UID}
					if t.Audience != "" {
						req.Audiences = []string{t.Audience}
					}
					if t.ExpirationSeconds != nil {
						req.ExpirationSeconds = *t.ExpirationSeconds
					}
					tok, expires, terr := tokens.Token(ctx, req)
					if terr != nil {
						return time.Time{}, fmt.Errorf("volume %s: service account token: %w", v.Name, terr)
					}
					note(expires)
					part = map[string][]byte{t.Path: []byte(tok)}
				case src.ConfigMap != nil:
					part, err = keyFiles(look.ConfigMapData, pod.Namespace, "configmap", src.ConfigMap.Name, src.ConfigMap.Items, src.ConfigMap.Optional)
				case src.Secret != nil:
					part, err = keyFiles(look.SecretData, pod.Namespace, "secret", src.Secret.Name, src.Secret.Items, src.Secret.Optional)
				case src.DownwardAPI != nil:
					part, err = downwardFiles(pod, ip, src.DownwardAPI.Items)
				default:
					err = fmt.Errorf("%w: a projected source other than serviceAccountToken, configMap, secret or downwardAPI is not supported by lanemesh node", errConfig)
				}
				if err != nil {
					break
				}
				for k, b := range part {
					files[k] = b
				}
			}
		default:
			err = fmt.Errorf("%w: only emptyDir, hostPath, configMap, secret, downwardAPI and projected volumes are supported by lanemesh node", errConfig)
		}
		if err != nil {
			return time.Time{}, fmt.Errorf("volume %s: %w", v.Name, err)
		}
		for name, b := range files {
			if err := writeAtomic(vdir, name, b); err != nil {
				return time.Time{}, fmt.Errorf("volume %s: %w", v.Name, err)
			}
		}
	}
	return refresh, mountAll(pod, dir)
}

// mountAll links each container mount into the pod's root directory.
// Containers of one pod share the root, so two containers that mount
// different volumes at one path cannot both be honoured: that is an error.
func mountAll(pod *corev1.Pod, dir string) error {
	root := filepath.Join(dir, "root")
	linked := map[string]string{}
	all := append(append([]corev1.Container(nil), pod.Spec.InitContainers...), pod.Spec.Containers...)
	for _, c := range all {
		for _, m := range c.VolumeMounts {
			target := filepath.Join(dir, "volumes", m.Name, filepath.Clean("/"+m.SubPath))
			at := hostPathOf(root, m.MountPath)
			if prev, ok := linked[at]; ok {
				if prev != target {
					return fmt.Errorf("%w: container %s mounts %s at %s, where another container of the pod mounts %s; lanemesh node gives a pod's containers one file tree",
						errConfig, c.Name, m.Name, m.MountPath, prev)
				}
				continue
			}
			linked[at] = target
			if err := os.MkdirAll(filepath.Dir(at), 0o755); err != nil {
				return err
			}
			if err := replaceLink(target, at); err != nil {
				return fmt.Errorf("container %s: mount %s: %w", c.Name, m.MountPath, err)
			}
		}
	}
	return os.MkdirAll(root, 0o755)
}

// replaceLink makes at a symlink to target.
func replaceLink(target, at string) error {
	if cur, err := os.Readlink(at); err == nil && cur == target {
		return nil
	}
	if fi, err := os.Lstat(at); err == nil && fi.IsDir() && fi.Mode()&os.ModeSymlink == 0 {
		if err := os.Remove(at); err != nil { // an empty directory MkdirAll made earlier
			return err
		}
	}
	tmp := at + ".tmp"
	_ = os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return err
	}
	return os.Rename(tmp, at)
}

// writeAtomic writes name under dir through a rename, so a reader never
// sees half a token.
func writeAtomic(dir, name string, b []byte) error {
	p := filepath.Join(dir, filepath.Clean("/"+name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}

// keyFiles turns a ConfigMap's or Secret's keys into files: every key, or
// the listed items at their paths.
func keyFiles(get func(ns, name string) (map[string]string, bool, error), ns, kind, name string, items []corev1.KeyToPath, optional *bool) (map[string][]byte, error) {
	data, ok, err := get(ns, name)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", kind, name, err)
	}
	if !ok {
		if optional != nil && *optional {
			return nil, nil
		}
		return nil, fmt.Errorf("%w: %s %s not found", errConfig, kind, name)
	}
	out := map[string][]byte{}
	if len(items) == 0 {
		for k, v := range data {
			out[k] = []byte(v)
		}
		return out, nil
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			if optional != nil && *optional {
				continue
			}
			return nil, fmt.Errorf("%w: %s %s has no key %q", errConfig, kind, name, it.Key)
		}
		out[it.Path] = []byte(v)
	}
	return out, nil
}

// downwardFiles writes the downward API's fieldRef items.
func downwardFiles(pod *corev1.Pod, ip string, items []corev1.DownwardAPIVolumeFile) (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, it := range items {
		if it.FieldRef == nil {
			return nil, fmt.Errorf("%w: downwardAPI item %s: only fieldRef is supported by lanemesh node", errConfig, it.Path)
		}
		v, err := fieldValue(pod, ip, it.FieldRef.FieldPath)
		if err != nil {
			return nil, fmt.Errorf("downwardAPI item %s: %w", it.Path, err)
		}
		out[it.Path] = []byte(v)
	}
	return out, nil
}

// isConfigError reports whether err is the pod's spec being unusable here
// (so waiting helps only once the spec or a referenced object changes).
func isConfigError(err error) bool { return errors.Is(err, errConfig) }
