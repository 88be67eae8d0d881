package e2e

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestGatewayRestartRefusesNothing restarts a gateway process under load
// the graceful way: the successor binds the same port (--reuse-port) while
// the old one drains (it keeps accepting, with Connection: close, for
// --drain-time, then closes). Every request opens its own connection, so
// any gap in accepting shows as a refused or reset connection: there must
// be none. A plain restart (stop, then start) is measured beside it, for
// the figure it improves on.
func TestGatewayRestartRefusesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and restarts gateway processes under load")
	}
	bin := buildLanemesh(t)
	appAddr := freeAddr(t)
	start(t, bin, []string{"app=mocka", "version=v1"}, "mock", "--bind", appAddr)
	dir := t.TempDir()
	gw, err := os.ReadFile(filepath.Join(lanes, "gw-mock.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := strings.Cut(appAddr, ":")
	conf := string(gw) + "\n---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: mocka, namespace: default}\n" +
		"spec: {host: mocka, subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}, {name: v3, labels: {version: v3}}]}\n" +
		"---\napiVersion: v1\nkind: Service\nmetadata: {name: mocka, namespace: default}\nspec: {selector: {app: mocka}, ports: [{name: http, port: 8000, targetPort: http}]}\n" +
		"---\napiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata: {name: mocka-v1, namespace: default}\n" +
		"spec: {address: 127.0.0.1, labels: {app: mocka, version: v1}, ports: {http: " + port + "}}\n"
	if err := os.WriteFile(filepath.Join(dir, "gateway.yaml"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, graceful := range []bool{false, true} {
		gwAddr := freeAddr(t)
		url := "http://" + gwAddr + "/mock"
		args := func(admin string) []string {
			a := []string{"proxy", "--role", "gateway", "--static", "-f", dir, "--port-map", "80=" + gwAddr, "--admin", admin}
			if graceful {
				a = append(a, "--reuse-port", "--drain-time", "2s")
			}
			return a
		}
		old := startProcess(t, bin, args(freeAddr(t)))
		waitFor(t, 10*time.Second, "the first gateway", func() bool { body, code := get(url, "v1"); return code == 200 && strings.Contains(body, "mocka") })
		l := startFreshLoad(url, 4)
		time.Sleep(300 * time.Millisecond)
		newAdmin := freeAddr(t)
		if graceful {
			startProcess(t, bin, args(newAdmin))
			waitFor(t, 10*time.Second, "the successor ready", func() bool { return ready(newAdmin) })
			_ = old.Process.Signal(syscall.SIGTERM)
		} else {
			_ = old.Process.Signal(syscall.SIGTERM)
			_ = old.Wait()
			startProcess(t, bin, args(newAdmin))
			waitFor(t, 10*time.Second, "the successor ready", func() bool { return ready(newAdmin) })
		}
		if graceful {
			if err := old.Wait(); err != nil {
				t.Errorf("the old gateway: %v", err)
			}
		}
		time.Sleep(300 * time.Millisecond) // load on the successor alone
		sent, failed, examples := l.finish()
		t.Logf("graceful %v: %d requests, %d failed %v", graceful, sent, failed, examples)
		if graceful && (failed != 0 || sent < 100) {
			t.Errorf("graceful restart: %d of %d requests failed, want 0: %v", failed, sent, examples)
		}
	}
}

// startProcess runs the binary until the test ends (SIGINT, then a kill),
// and returns its command, which the test may signal and wait for itself.
func startProcess(t *testing.T, bin string, args []string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	waited := make(chan struct{})
	wait := func() { once.Do(func() { _ = cmd.Wait(); close(waited) }) }
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		go wait()
		select {
		case <-waited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-waited
			t.Errorf("lanemesh %v did not stop on SIGINT", args)
		}
		if t.Failed() {
			t.Logf("lanemesh %v stderr:\n%s", args, stderr.String())
		}
	})
	return cmd
}

func ready(admin string) bool {
	resp, err := http.Get("http://" + admin + "/ready")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == 200
}

// startFreshLoad sends lane v1 requests on a new connection each, from
// workers, 5 ms apart; a failure is anything but a 200.
func startFreshLoad(url string, workers int) *load {
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	return runLoad(workers, 5*time.Millisecond, func(int) (bool, string) {
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("x-asm-prefer-tag", "v1")
		resp, err := c.Do(req)
		if err != nil {
			return false, fmt.Sprintf("0 %v", err)
		}
		resp.Body.Close()
		return resp.StatusCode == 200, fmt.Sprintf("%d", resp.StatusCode)
	})
}
