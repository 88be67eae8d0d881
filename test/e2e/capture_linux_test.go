package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// captureConfig is one service with two HTTP ports, each served by its own
// backend, so that which port a request was routed as shows in the answer.
const captureConfig = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: svc, namespace: default}
spec:
  hosts: [svc.example]
  ports:
  - {number: 80, name: http, protocol: HTTP}
  - {number: 8000, name: http-alt, protocol: HTTP}
  resolution: STATIC
  endpoints:
  - {address: 10.123.0.2, ports: {http: 9080, http-alt: 9800}}
`

// TestTransparentCapture runs a sidecar the way an injected pod with
// iptables capture runs it, in a network namespace of its own: lanemesh
// iptables redirects the app's outbound connections, the app (another user)
// calls the service by its address with no proxy configured, and the
// sidecar routes by the port the app called (SO_ORIGINAL_DST) when the Host
// names none. It needs root, ip, iptables and setpriv;
// LANEMESH_REQUIRE_NETNS=1 (CI) turns a skip into a failure.
func TestTransparentCapture(t *testing.T) {
	for _, tool := range []string{"ip", "iptables-restore", "setpriv", "bash"} {
		if _, err := exec.LookPath(tool); err != nil {
			skipOrFailNetns(t, "needs "+tool+" (apt-get install iproute2 iptables util-linux)")
		}
	}
	if os.Geteuid() != 0 {
		skipOrFailNetns(t, "needs root for a network namespace")
	}
	bin := buildLanemesh(t)
	ns := fmt.Sprintf("lanemesh-e2e-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		skipOrFailNetns(t, fmt.Sprintf("ip netns add: %v: %s", err, out))
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "delete", ns).Run() })
	in := func(args ...string) *exec.Cmd {
		return exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...)
	}
	run := func(args ...string) {
		t.Helper()
		if out, err := in(args...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	run("ip", "link", "set", "lo", "up")
	run("ip", "addr", "add", "10.123.0.1/32", "dev", "lo") // the service's address the app calls
	run("ip", "addr", "add", "10.123.0.2/32", "dev", "lo") // the backends' pod address
	// The sidecar and the backends run as root here, the app as nobody:
	// root is the proxy's user the rules leave alone.
	run(bin, "iptables", "--proxy-uid", "0", "--outbound-port", "15001")

	dir := t.TempDir()
	cfg := filepath.Join(dir, "svc.yaml")
	if err := os.WriteFile(cfg, []byte(captureConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	startIn := func(env []string, args ...string) {
		cmd := in(args...)
		cmd.Env = append(os.Environ(), env...)
		startCmd(t, cmd)
	}
	startIn([]string{"app=port80", "version=v1"}, bin, "mock", "--bind", "10.123.0.2:9080")
	startIn([]string{"app=port8000", "version=v1"}, bin, "mock", "--bind", "10.123.0.2:9800")
	startIn([]string{"LANEMESH_HOME=" + dir}, bin, "proxy", "--role", "sidecar", "--static", "-f", cfg, "--outbound", "127.0.0.1:15001")

	// The app: plain HTTP to the service's address, Host without a port,
	// no HTTP_PROXY, as another user.
	call := func(port int, host string) string {
		req := "GET / HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n"
		script := fmt.Sprintf(`exec 3<>/dev/tcp/10.123.0.1/%d && printf '%%b' %q >&3 && cat <&3`, port, req)
		out, _ := in("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "bash", "-c", script).CombinedOutput()
		return string(out)
	}
	var got string
	waitFor(t, 20*time.Second, "the captured call to port 8000 to reach the 8000 backend", func() bool {
		got = call(8000, "svc.example")
		return strings.Contains(got, "port8000(")
	})
	if got := call(80, "svc.example"); !strings.Contains(got, "port80(") {
		t.Errorf("captured call to port 80 answered:\n%s", got)
	}
	if got := call(8000, "svc.example:80"); !strings.Contains(got, "port80(") {
		t.Errorf("a Host naming port 80 routes as port 80 whatever port was called; got:\n%s", got)
	}
}

func skipOrFailNetns(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("LANEMESH_REQUIRE_NETNS") == "1" {
		t.Fatal(why)
	}
	t.Skip(why)
}
