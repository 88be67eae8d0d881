package node

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/lanemesh/lanemesh/internal/local"
)

func TestExpand(t *testing.T) {
	vars := map[string]string{"A": "x", "B": "y"}
	for in, want := range map[string]string{
		"plain":          "plain",
		"$(A)-$(B)":      "x-y",
		"$(C)":           "$(C)", // undefined stays
		"$$(A)":          "$(A)", // escaped
		"a$b":            "a$b",
		"$(A":            "$(A",
		"trailing $":     "trailing $",
		"$(A)$(A)$$$(B)": "xx$y",
	} {
		if got := expand(in, vars); got != want {
			t.Errorf("expand(%q) = %q, want %q", in, got, want)
		}
	}
}

type fakeLookup map[string]map[string]string // "configmap/ns/name" → data

func (f fakeLookup) ConfigMapData(ns, name string) (map[string]string, bool, error) {
	d, ok := f["configmap/"+ns+"/"+name]
	return d, ok, nil
}
func (f fakeLookup) SecretData(ns, name string) (map[string]string, bool, error) {
	d, ok := f["secret/"+ns+"/"+name]
	return d, ok, nil
}
func (f fakeLookup) ConfigMapKey(ns, name, key string) (string, bool, error) {
	d, ok := f["configmap/"+ns+"/"+name]
	v, ok2 := d[key]
	return v, ok && ok2, nil
}
func (f fakeLookup) SecretKey(ns, name, key string) (string, bool, error) {
	d, ok := f["secret/"+ns+"/"+name]
	v, ok2 := d[key]
	return v, ok && ok2, nil
}

func testPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "shop", UID: "u-1", Labels: map[string]string{"app": "web", "version": "v2"}},
		Spec:       corev1.PodSpec{NodeName: "n1", ServiceAccountName: "web-sa"},
	}
}

// TestResolveEnv: the variables the sidecar injector relies on come from
// the downward API; envFrom first, env after, later ones winning, $(VAR)
// expanding earlier ones.
func TestResolveEnv(t *testing.T) {
	look := fakeLookup{"configmap/shop/cfg": {"MODE": "fast", "X": "1"}, "secret/shop/s": {"pw": "hunter2"}}
	c := corev1.Container{
		EnvFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}, Prefix: "CFG_"}},
		Env: []corev1.EnvVar{
			{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
			{Name: "POD_NAMESPACE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
			{Name: "INSTANCE_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
			{Name: "SERVICE_ACCOUNT", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.serviceAccountName"}}},
			{Name: "VERSION", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels['version']"}}},
			{Name: "PW", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}, Key: "pw"}}},
			{Name: "BIND", Value: "$(INSTANCE_IP):8000"},
			{Name: "CFG_X", Value: "2"},
		},
	}
	got, err := resolveEnv(testPod(), c, "127.0.9.3", look)
	if err != nil {
		t.Fatal(err)
	}
	m := envMap(got)
	want := map[string]string{
		"CFG_MODE": "fast", "CFG_X": "2", "POD_NAME": "web-1", "POD_NAMESPACE": "shop", "INSTANCE_IP": "127.0.9.3",
		"SERVICE_ACCOUNT": "web-sa", "VERSION": "v2", "PW": "hunter2", "BIND": "127.0.9.3:8000",
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %q, want %q (env %v)", k, m[k], v, got)
		}
	}
	if len(m) != len(want) {
		t.Errorf("env has %d variables, want %d: %v", len(m), len(want), got)
	}

	missing := corev1.Container{Env: []corev1.EnvVar{{Name: "A", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}, Key: "k"}}}}}
	if _, err := resolveEnv(testPod(), missing, "127.0.9.3", look); !errors.Is(err, errConfig) {
		t.Errorf("missing configmap: err %v, want a config error", err)
	}
	bad := corev1.Container{Env: []corev1.EnvVar{{Name: "A", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.bogus"}}}}}
	if _, err := resolveEnv(testPod(), bad, "127.0.9.3", look); !errors.Is(err, errConfig) {
		t.Errorf("unknown fieldRef: err %v, want a config error", err)
	}
}

func TestArgvAndOwnImage(t *testing.T) {
	own := []string{"lanemesh/lanemesh"}
	for _, tc := range []struct {
		image string
		own   bool
	}{
		{"lanemesh/lanemesh", true}, {"lanemesh/lanemesh:1.2", true}, {"ghcr.io/x/lanemesh/lanemesh@sha256:ab", true},
		{"localhost:5000/lanemesh/lanemesh:dev", true}, {"lanemesh/mock", false}, {"other/lanemesh", false}, {"notlanemesh/lanemesh", false},
	} {
		if got := isOwnImage(tc.image, own); got != tc.own {
			t.Errorf("isOwnImage(%q) = %v, want %v", tc.image, got, tc.own)
		}
	}
	env := []string{"PORT=9000"}
	got, err := argv(corev1.Container{Args: []string{"proxy", "--port", "$(PORT)"}}, env, "/bin/lm", true)
	if err != nil || !slices.Equal(got, []string{"/bin/lm", "proxy", "--port", "9000"}) {
		t.Errorf("own image, args only: %v %v", got, err)
	}
	got, err = argv(corev1.Container{Command: []string{"/usr/local/bin/lanemesh", "proxy"}, Args: []string{"-v"}}, env, "/bin/lm", true)
	if err != nil || !slices.Equal(got, []string{"/bin/lm", "proxy", "-v"}) {
		t.Errorf("own image with command: %v %v", got, err)
	}
	got, err = argv(corev1.Container{Command: []string{"/usr/local/bin/lanemesh-proxy"}, Args: []string{"--role=sidecar"}}, env, "/bin/lm", true)
	if err != nil || !slices.Equal(got, []string{"/bin/lm", "proxy", "--role=sidecar"}) {
		t.Errorf("own image's slim proxy: %v %v", got, err)
	}
	got, err = argv(corev1.Container{Command: []string{"sh", "-c"}, Args: []string{"echo $(PORT)"}}, env, "/bin/lm", false)
	if err != nil || !slices.Equal(got, []string{"sh", "-c", "echo 9000"}) {
		t.Errorf("other image: %v %v", got, err)
	}
	if _, err := argv(corev1.Container{Name: "c", Image: "nginx"}, env, "/bin/lm", false); !errors.Is(err, errConfig) {
		t.Errorf("no command: err %v, want a config error", err)
	}
}

type fakeTokens struct{ reqs []TokenRequest }

func (f *fakeTokens) Token(_ context.Context, r TokenRequest) (string, time.Time, error) {
	f.reqs = append(f.reqs, r)
	return "tok-" + r.PodName, time.Now().Add(time.Hour), nil
}

// TestWriteVolumes: the projected volume the ServiceAccount admission
// plugin adds (token, CA, namespace) lands where the pod's processes find
// the container paths, under root/; the token is bound to the pod.
func TestWriteVolumes(t *testing.T) {
	pod := testPod()
	exp := int64(3607)
	pod.Spec.Volumes = []corev1.Volume{
		{Name: "kube-api-access", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: &exp}},
			{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"}, Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}}}},
		}}}},
		{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
	}
	pod.Spec.Containers = []corev1.Container{{Name: "app", VolumeMounts: []corev1.VolumeMount{
		{Name: "kube-api-access", MountPath: "/var/run/secrets/kubernetes.io/serviceaccount"},
		{Name: "scratch", MountPath: "/tmp/work"},
	}}}
	dir := t.TempDir()
	toks := &fakeTokens{}
	refresh, err := writeVolumes(context.Background(), pod, dir, "127.0.9.3", fakeLookup{"configmap/shop/kube-root-ca.crt": {"ca.crt": "CA"}}, toks)
	if err != nil {
		t.Fatal(err)
	}
	if until := time.Until(refresh); until < 40*time.Minute || until > 50*time.Minute {
		t.Errorf("token refresh in %v, want about 80%% of its hour", until)
	}
	sa := filepath.Join(dir, "root", "var/run/secrets/kubernetes.io/serviceaccount")
	for name, want := range map[string]string{"token": "tok-web-1", "ca.crt": "CA", "namespace": "shop"} {
		b, err := os.ReadFile(filepath.Join(sa, name))
		if err != nil || string(b) != want {
			t.Errorf("%s: %q %v, want %q", name, b, err, want)
		}
	}
	if len(toks.reqs) != 1 || toks.reqs[0].ServiceAccount != "web-sa" || toks.reqs[0].PodUID != "u-1" || toks.reqs[0].ExpirationSeconds != 3607 {
		t.Errorf("token requests %+v, want one for web-sa bound to pod u-1", toks.reqs)
	}
	if fi, err := os.Stat(filepath.Join(dir, "root", "tmp/work")); err != nil || !fi.IsDir() {
		t.Errorf("emptyDir mount: %v", err)
	}
	// Writing again (the token refresh) replaces files in place.
	if _, err := writeVolumes(context.Background(), pod, dir, "127.0.9.3", fakeLookup{"configmap/shop/kube-root-ca.crt": {"ca.crt": "CA2"}}, toks); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(sa, "ca.crt")); string(b) != "CA2" {
		t.Errorf("ca.crt after refresh: %q", b)
	}

	pvc := testPod()
	pvc.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "d"}}}}
	if _, err := writeVolumes(context.Background(), pvc, t.TempDir(), "127.0.9.3", fakeLookup{}, toks); !errors.Is(err, errConfig) {
		t.Errorf("persistentVolumeClaim: err %v, want a config error", err)
	}
}

// TestPodStatus: phase and conditions follow the containers, and a
// condition keeps its transition time while unchanged.
func TestPodStatus(t *testing.T) {
	pod := testPod()
	pod.Spec.Containers = []corev1.Container{{Name: "app", Image: "lanemesh/mock"}, {Name: "sidecar", Image: "lanemesh/lanemesh"}}
	t0 := time.Unix(1000, 0)
	s := newPodState(pod, t0)
	st := s.status("127.0.9.3", t0)
	if st.Phase != corev1.PodPending || cond(st, corev1.PodReady) != corev1.ConditionFalse || st.PodIP != "127.0.9.3" {
		t.Fatalf("new pod: phase %s ready %s ip %s", st.Phase, cond(st, corev1.PodReady), st.PodIP)
	}
	s.ctrs[0].start(t0)
	s.ctrs[1].start(t0)
	s.ctrs[0].ready = true
	st = s.status("127.0.9.3", t0.Add(time.Second))
	if st.Phase != corev1.PodRunning || cond(st, corev1.PodReady) != corev1.ConditionFalse {
		t.Fatalf("one container ready: phase %s ready %s", st.Phase, cond(st, corev1.PodReady))
	}
	s.ctrs[1].ready = true
	st = s.status("127.0.9.3", t0.Add(2*time.Second))
	if cond(st, corev1.PodReady) != corev1.ConditionTrue || cond(st, corev1.ContainersReady) != corev1.ConditionTrue {
		t.Fatalf("both ready: ready %s", cond(st, corev1.PodReady))
	}
	readySince := transition(st, corev1.PodReady)
	st = s.status("127.0.9.3", t0.Add(3*time.Second))
	if transition(st, corev1.PodReady) != readySince || transition(st, corev1.PodScheduled) != t0 {
		t.Errorf("unchanged conditions moved their transition time")
	}
	s.ctrs[1].exited(errors.New("boom"), false, t0.Add(4*time.Second))
	s.ctrs[1].backOff(time.Second, errors.New("boom"))
	st = s.status("127.0.9.3", t0.Add(4*time.Second))
	cs := st.ContainerStatuses[1]
	if cs.RestartCount != 1 || cs.State.Waiting == nil || cs.State.Waiting.Reason != "CrashLoopBackOff" || cs.LastTerminationState.Terminated == nil || cs.Ready {
		t.Errorf("crashed sidecar status: %+v", cs)
	}
	if cond(st, corev1.PodReady) != corev1.ConditionFalse || st.Phase != corev1.PodRunning {
		t.Errorf("pod with a crashed container: phase %s ready %s", st.Phase, cond(st, corev1.PodReady))
	}
	s.ctrs[0].exited(local.ErrExitedZero, true, t0.Add(5*time.Second))
	s.ctrs[1].exited(local.ErrExitedZero, true, t0.Add(5*time.Second))
	if st = s.status("127.0.9.3", t0.Add(5*time.Second)); st.Phase != corev1.PodSucceeded {
		t.Errorf("all containers exited 0: phase %s", st.Phase)
	}
}

func cond(st corev1.PodStatus, t corev1.PodConditionType) corev1.ConditionStatus {
	for _, c := range st.Conditions {
		if c.Type == t {
			return c.Status
		}
	}
	return ""
}

func transition(st corev1.PodStatus, t corev1.PodConditionType) time.Time {
	for _, c := range st.Conditions {
		if c.Type == t {
			return c.LastTransitionTime.Time
		}
	}
	return time.Time{}
}

// TestMountPaths: a container's mount paths in its args and env are where
// the node wrote the mounts; other paths, and paths that only begin like a
// mount path, stay as written.
func TestMountPaths(t *testing.T) {
	mounts := []corev1.VolumeMount{{MountPath: "/var/run/secrets/tokens"}, {MountPath: "/data/"}, {MountPath: "/data/inner"}, {MountPath: "/"}}
	for in, want := range map[string]string{
		"--xds-token-file=/var/run/secrets/tokens/istio-token": "--xds-token-file=/r/var/run/secrets/tokens/istio-token",
		"/var/run/secrets/tokens":                              "/r/var/run/secrets/tokens",
		"/data,/data/inner/x":                                  "/r/data,/r/data/inner/x",
		"a:/data/x b=/data":                                    "a:/r/data/x b=/r/data",
		"/database/x":                                          "/database/x",
		"/srv/data/x":                                          "/srv/data/x",
		"/usr/bin/lanemesh":                                    "/usr/bin/lanemesh",
		"/r/data/x":                                            "/r/data/x",
		"http://127.0.0.1:15001":                               "http://127.0.0.1:15001",
	} {
		if got := mountPaths(in, "/r", mounts); got != want {
			t.Errorf("mountPaths(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestPatchStatusKeepsQOSClass: the API server set the pod's QoS class at
// creation and refuses a change; the node's status patch carries the
// pod's own, whatever its containers' resources.
func TestPatchStatusKeepsQOSClass(t *testing.T) {
	pod := testPod()
	pod.Status.QOSClass = corev1.PodQOSBurstable
	var sent []byte
	client := fake.NewClientset(pod)
	client.PrependReactor("patch", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		sent = a.(k8stesting.PatchAction).GetPatch()
		return true, pod, nil
	})
	st := corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "127.0.9.3"}
	if err := patchPodStatus(context.Background(), client, pod, st); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(sent), `"qosClass":"Burstable"`) {
		t.Errorf("status patch %s does not keep the pod's qosClass Burstable", sent)
	}
}
