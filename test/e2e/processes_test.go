package e2e

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSeparateProcesses runs the tutorial with every part in its own
// process — the control plane, the gateway, nine sidecars and nine mock
// apps — so the xDS path is proven across processes, as on many hosts. The
// workloads are WorkloadEntries, which the control plane health-checks.
func TestSeparateProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and starts 20 processes")
	}
	bin := buildLanemesh(t)
	dir := t.TempDir()
	for _, f := range []string{"app-services.yaml", "dr-mock.yaml", "vs-mock.yaml", "gw-mock.yaml"} {
		b, err := os.ReadFile(filepath.Join(lanes, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var entries strings.Builder
	type workload struct{ app, version, ip string }
	var workloads []workload
	for i, app := range []string{"mocka", "mockb", "mockc"} {
		for j, v := range []string{"v1", "v2", "v3"} {
			w := workload{app, v, fmt.Sprintf("127.0.20.%d", 1+3*i+j)}
			workloads = append(workloads, w)
			fmt.Fprintf(&entries, "---\napiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata: {name: %s-%s, namespace: default}\n"+
				"spec: {address: %s, labels: {app: %s, version: %s}, ports: {http: 8000}}\n", app, v, w.ip, app, v)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "workloads.yaml"), []byte(entries.String()), 0o644); err != nil {
		t.Fatal(err)
	}

	xdsAddr, adminAddr, gwAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	// The proxies find the control plane's operator token where it wrote
	// it: they share its LANEMESH_HOME, as processes of one user share
	// ~/.config/lanemesh.
	home := []string{"LANEMESH_HOME=" + t.TempDir()}
	cpOut := start(t, bin, home, "controlplane", "-f", dir, "--xds", xdsAddr, "--admin", adminAddr)
	waitLine(t, cpOut, "ready")
	start(t, bin, home, "proxy", "--role", "gateway", "--xds", xdsAddr, "--id", "gateway~istio-system/gw-0", "--port-map", "80="+gwAddr)
	upstream := map[string]string{"mocka": "http://mockb:8000/", "mockb": "http://mockc:8000/", "mockc": ""}
	for _, w := range workloads {
		outbound := w.ip + ":15001"
		start(t, bin, home, "proxy", "--role", "sidecar", "--xds", xdsAddr, "--id", "sidecar~default/"+w.app+"-"+w.version,
			"--labels", "app="+w.app+",version="+w.version, "--outbound", outbound)
		start(t, bin, []string{"app=" + w.app, "version=" + w.version, "upstream_url=" + upstream[w.app],
			"HTTP_PROXY=http://" + outbound, "POD_IP=" + w.ip}, "mock", "--bind", w.ip+":8000")
	}
	url := "http://" + gwAddr + "/mock"
	waitFor(t, 30*time.Second, "every lane through separate processes", func() bool {
		for _, v := range []string{"v1", "v2", "v3"} {
			if body, code := get(url, v); code != 200 || !inLane(body, v) {
				return false
			}
		}
		return true
	})
	for _, lane := range []string{"v1", "v2", "v3"} {
		for range 20 {
			body, code := get(url, lane)
			if code != 200 || !inLane(body, lane) || !strings.Contains(body, "ip: 127.0.20.") {
				t.Fatalf("lane %s: %d %s", lane, code, body)
			}
		}
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// start runs the binary with args (and extra environment) until the test
// ends, and returns its stdout lines.
func start(t *testing.T, bin string, env []string, args ...string) <-chan string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(append(os.Environ(), "LANEMESH_HOME="+t.TempDir()), env...) // admin tokens, kept out of the user's
	return startCmd(t, cmd)
}

// startCmd starts cmd, stops it (SIGINT, then SIGKILL) when the test ends,
// and returns its stdout lines; its stderr is logged if the test failed.
func startCmd(t *testing.T, cmd *exec.Cmd) <-chan string {
	t.Helper()
	args := cmd.Args[1:]
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Errorf("%v did not stop on SIGINT; stderr:\n%s", args, stderr.String())
		}
		if t.Failed() && stderr.Len() > 0 {
			t.Logf("%v stderr:\n%s", args, stderr.String())
		}
	})
	return lines
}

func waitLine(t *testing.T, lines <-chan string, want string) {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case l := <-lines:
			if strings.Contains(l, want) {
				return
			}
		case <-timeout:
			t.Fatalf("no line %q within 20s", want)
		}
	}
}
