package e2e

import (
	"bufio"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// buildLanemesh builds the lanemesh binary into a temporary directory.
func buildLanemesh(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "lanemesh")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/lanemesh").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// upProcess is a `lanemesh up` run as its own process, on free ports.
type upProcess struct {
	cmd     *exec.Cmd
	gateway string // the gateway's URL, once announced
	pods    string // the pod range, once announced
	stderr  *syncBuffer
	started chan struct{} // closed on the "pods:" line, printed once up has started
	ready   chan struct{} // closed on the "ready:" line
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startUp runs `lanemesh up -f paths...` on free ports, with the extra
// arguments, and stops it (SIGINT, then SIGKILL) when the test ends.
func startUp(t *testing.T, bin string, extra []string, paths ...string) *upProcess {
	t.Helper()
	args := []string{"up", "--admin", freeAddr(t), "--xds", freeAddr(t), "--gateway-admin", freeAddr(t), "--metrics", freeAddr(t), "--port-map", "80=" + freeAddr(t)}
	args = append(args, extra...)
	for _, p := range paths {
		args = append(args, "-f", p)
	}
	u := &upProcess{cmd: exec.Command(bin, args...), stderr: &syncBuffer{}, started: make(chan struct{}), ready: make(chan struct{})}
	u.cmd.Stderr = u.stderr
	u.cmd.Env = append(os.Environ(), "LANEMESH_HOME="+t.TempDir()) // its admin token, kept out of the user's
	stdout, err := u.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := u.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			mu.Lock()
			switch {
			case strings.HasPrefix(line, "pods:"):
				u.pods = strings.TrimSpace(strings.TrimPrefix(line, "pods:"))
				close(u.started)
			case strings.HasPrefix(line, "gateway:"):
				u.gateway = strings.TrimSpace(strings.TrimPrefix(line, "gateway:"))
			case strings.HasPrefix(line, "ready:"):
				close(u.ready)
			}
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		u.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { u.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			u.cmd.Process.Kill()
			<-done
			t.Errorf("lanemesh up did not stop on SIGINT within 30s")
		}
		if t.Failed() {
			t.Logf("lanemesh up stderr:\n%s", u.stderr.String())
		}
	})
	return u
}

// waitStarted waits for the "pods:" line and returns the pod range.
func (u *upProcess) waitStarted(t *testing.T) string {
	t.Helper()
	select {
	case <-u.started:
	case <-time.After(30 * time.Second):
		t.Fatalf("lanemesh up did not start within 30s; stderr:\n%s", u.stderr.String())
	}
	return u.pods
}

// waitReady waits for the "ready:" line and returns the announced pod
// range and gateway URL.
func (u *upProcess) waitReady(t *testing.T) (pods netip.Prefix, gateway string) {
	t.Helper()
	select {
	case <-u.ready:
	case <-time.After(60 * time.Second):
		t.Fatalf("lanemesh up was not ready within 60s; stderr:\n%s", u.stderr.String())
	}
	p, err := netip.ParsePrefix(u.pods)
	if err != nil {
		t.Fatalf("lanemesh up announced pod range %q: %v", u.pods, err)
	}
	return p, u.gateway
}

// TestTwoUpsOnOneMachine runs two `lanemesh up` processes of the tutorial
// at once, each on its own ports and neither told a pod range: each must
// pick its own, and both serve every lane, in lane, from their own pods.
func TestTwoUpsOnOneMachine(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs two meshes")
	}
	bin := buildLanemesh(t)
	a, b := startUp(t, bin, nil, lanes), startUp(t, bin, nil, lanes)
	podsA, gwA := a.waitReady(t)
	podsB, gwB := b.waitReady(t)
	if podsA.Overlaps(podsB) {
		t.Fatalf("both meshes use pod range %s and %s", podsA, podsB)
	}
	for _, gw := range []string{gwA, gwB} {
		waitFor(t, 20*time.Second, "every lane to answer at "+gw, func() bool {
			for _, v := range []string{"v1", "v2", "v3"} {
				if body, code := get(gw+"/mock", v); code != 200 || !inLane(body, v) {
					return false
				}
			}
			return true
		})
	}
	var wg sync.WaitGroup
	for _, m := range []struct {
		gw   string
		pods netip.Prefix
	}{{gwA, podsA}, {gwB, podsB}} {
		wg.Go(func() {
			for _, lane := range []string{"v1", "v2", "v3"} {
				for range 30 {
					body, code := get(m.gw+"/mock", lane)
					if code != 200 || !inLane(body, lane) {
						t.Errorf("mesh with pods in %s, lane %s: %d %s", m.pods, lane, code, body)
						return
					}
					for _, ip := range ips(body) {
						if a, err := netip.ParseAddr(ip); err != nil || !m.pods.Contains(a) {
							t.Errorf("mesh with pods in %s answered from %s: %s", m.pods, ip, body)
							return
						}
					}
				}
			}
		})
	}
	wg.Wait()
}

// ips returns the pod addresses of a printed chain.
func ips(body string) []string {
	var out []string
	for _, part := range strings.Split(body, "ip: ")[1:] {
		ip, _, _ := strings.Cut(part, ")")
		out = append(out, ip)
	}
	return out
}

// TestKill9OfUpLeavesNoPodProcess kills a real `lanemesh up` with SIGKILL,
// which it cannot catch: its command pods must die with it at once. A
// shell's child, which the parent-death signal cannot reach, must be gone
// once the next `up` takes the same pod range, before it checks the range
// is free.
func TestKill9OfUpLeavesNoPodProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildLanemesh(t)
	token := fmt.Sprintf("LANEMESH_ORPHAN_TEST=%d", time.Now().UnixNano())
	envName, envValue, _ := strings.Cut(token, "=")
	dir, empty := t.TempDir(), t.TempDir()
	service := `apiVersion: v1
kind: Service
metadata: {name: sleeper, namespace: default}
spec:
  selector: {app: sleeper}
  ports: [{name: http, port: 8000}]
`
	deployment := func(name string, replicas int, command string) string {
		return fmt.Sprintf(`---
apiVersion: apps/v1
kind: Deployment
metadata: {name: %s, namespace: default}
spec:
  replicas: %d
  selector: {matchLabels: {app: sleeper}}
  template:
    metadata: {labels: {app: sleeper}}
    spec:
      containers:
      - name: default
        command: %s
        env: [{name: %s, value: "%s"}]
`, name, replicas, command, envName, envValue)
	}
	config := service + deployment("sleeper", 3, `[sleep, "3600"]`) + deployment("shell", 1, `[/bin/sh, -c, "sleep 3600; true"]`)
	if err := os.WriteFile(filepath.Join(dir, "sleeper.yaml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(empty, "service.yaml"), []byte(service), 0o644); err != nil {
		t.Fatal(err)
	}
	u := startUp(t, bin, nil, dir)
	pods := u.waitStarted(t)
	// 3 sleepers, and the shell with its sleep.
	waitFor(t, 30*time.Second, "5 pod processes", func() bool { return len(processesWith(token)) == 5 })
	if err := u.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, pid := range processesWith(token) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for len(processesWith(token)) > 1 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if left := processesWith(token); len(left) > 1 {
		t.Fatalf("pod processes %v outlived `lanemesh up` killed with SIGKILL; only the shell's child may", left)
	}
	startUp(t, bin, []string{"--pod-cidr", pods}, empty).waitStarted(t)
	if left := processesWith(token); len(left) > 0 {
		t.Fatalf("pod processes %v are still alive after the next up took pod range %s", left, pods)
	}
}

// processesWith lists the user's processes whose environment holds kv.
func processesWith(kv string) []int {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	var out []int
	for _, d := range dirs {
		env, err := os.ReadFile(filepath.Join(d, "environ"))
		if err != nil {
			continue
		}
		for _, e := range strings.Split(string(env), "\x00") {
			if e == kv {
				var pid int
				fmt.Sscan(filepath.Base(d), &pid)
				if stat, err := os.ReadFile(filepath.Join(d, "stat")); err == nil && strings.Contains(string(stat), ") Z ") {
					break // a zombie is dead, only not yet reaped
				}
				out = append(out, pid)
				break
			}
		}
	}
	return out
}
