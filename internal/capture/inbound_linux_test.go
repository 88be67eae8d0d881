package capture

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The inbound test's network: a pod namespace and a client namespace
// joined by a veth pair, so that the client's connections arrive at the
// pod from outside and pass PREROUTING, as a caller's do.
var (
	podIP    = netip.MustParseAddr("10.124.0.1")
	clientIP = netip.MustParseAddr("10.124.0.2")
)

const (
	inboundPort      = 15006
	appPort          = 8000
	excludedInbound  = 15021
	clientNamespaceV = "LANEMESH_CAPTURE_CLIENT_NS"
)

// TestInboundCaptureInANetworkNamespace proves the inbound rules on the
// real kernel: a connection from another namespace to the pod's app port
// reaches the sidecar's inbound port, OriginalDst says it was going to the
// app, an excluded port goes straight to its listener, and the sidecar's
// own connection on to the app is not captured again (in either
// direction). Needs root, ip and iptables, as the outbound test.
func TestInboundCaptureInANetworkNamespace(t *testing.T) {
	for _, tool := range []string{"ip", "iptables", "iptables-restore", "bash"} {
		if _, err := exec.LookPath(tool); err != nil {
			skipOrFail(t, fmt.Sprintf("needs %s (apt-get install iproute2 iptables)", tool))
		}
	}
	if os.Geteuid() != 0 {
		skipOrFail(t, "needs root for network namespaces")
	}
	pod := fmt.Sprintf("lanemesh-in-pod-%d", os.Getpid())
	client := fmt.Sprintf("lanemesh-in-cli-%d", os.Getpid())
	veth := fmt.Sprintf("lmv%d", os.Getpid()%100000)
	steps := [][]string{
		{"netns", "add", pod}, {"netns", "add", client},
		{"link", "add", veth + "a", "type", "veth", "peer", "name", veth + "b"},
		{"link", "set", veth + "a", "netns", pod}, {"link", "set", veth + "b", "netns", client},
		{"-n", pod, "addr", "add", podIP.String() + "/24", "dev", veth + "a"},
		{"-n", client, "addr", "add", clientIP.String() + "/24", "dev", veth + "b"},
		{"-n", pod, "link", "set", veth + "a", "up"}, {"-n", client, "link", "set", veth + "b", "up"},
		{"-n", pod, "link", "set", "lo", "up"}, {"-n", client, "link", "set", "lo", "up"},
	}
	t.Cleanup(func() {
		exec.Command("ip", "netns", "delete", pod).Run()
		exec.Command("ip", "netns", "delete", client).Run()
	})
	for _, s := range steps {
		if out, err := exec.Command("ip", s...).CombinedOutput(); err != nil {
			skipOrFail(t, fmt.Sprintf("ip %v: %v: %s", s, err, out))
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", pod, os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"=inbound", clientNamespaceV+"="+client)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "capture works") {
		t.Fatalf("inside the namespace: %v\n%s", err, out)
	}
}

func insideInboundNamespace() error {
	o := Options{OutboundPort: sidecarPort, ProxyUID: proxyUID, InboundPort: inboundPort, ExcludeInboundPorts: []int{excludedInbound}}
	for range 2 { // twice, as a restarted init container would
		if err := Install(context.Background(), o); err != nil {
			return err
		}
	}
	if out, err := exec.Command("iptables", "-w", "-t", "nat", "-S", "PREROUTING").CombinedOutput(); err != nil {
		return fmt.Errorf("iptables -S: %v: %s", err, out)
	} else if n := strings.Count(string(out), "-j "+InboundChain); n != 1 {
		return fmt.Errorf("PREROUTING jumps to %s %d times after two installs:\n%s", InboundChain, n, out)
	}
	listen := func(addr string) (net.Listener, error) { return net.Listen("tcp", addr) }
	sidecar, err := listen(fmt.Sprintf("0.0.0.0:%d", inboundPort))
	if err != nil {
		return err
	}
	defer sidecar.Close()
	app, err := listen(netip.AddrPortFrom(podIP, appPort).String())
	if err != nil {
		return err
	}
	defer app.Close()
	excluded, err := listen(netip.AddrPortFrom(podIP, excludedInbound).String())
	if err != nil {
		return err
	}
	defer excluded.Close()
	fromClient := func(port int) error {
		ns := os.Getenv(clientNamespaceV)
		out, err := exec.Command("ip", "netns", "exec", ns, "bash", "-c", fmt.Sprintf("exec 3<>/dev/tcp/%s/%d", podIP, port)).CombinedOutput()
		if err != nil {
			return fmt.Errorf("dial from the client namespace to port %d: %v: %s", port, err, out)
		}
		return nil
	}

	// A caller's connection to the app's port reaches the sidecar.
	if err := fromClient(appPort); err != nil {
		return err
	}
	c, err := accept(sidecar)
	if err != nil {
		return fmt.Errorf("the inbound connection did not reach the sidecar: %w", err)
	}
	got, err := OriginalDst(c.(*net.TCPConn))
	c.Close()
	if err != nil {
		return err
	}
	if want := netip.AddrPortFrom(podIP, appPort); got != want {
		return fmt.Errorf("OriginalDst = %s, want %s", got, want)
	}
	// An excluded port is not captured.
	if err := fromClient(excludedInbound); err != nil {
		return err
	}
	if c, err := accept(excluded); err != nil {
		return fmt.Errorf("a connection to an excluded inbound port was captured: %w", err)
	} else {
		c.Close()
	}
	// The sidecar's own connection on to the app reaches the app.
	dial := exec.Command("bash", "-c", fmt.Sprintf("exec 3<>/dev/tcp/%s/%d", podIP, appPort))
	dial.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: proxyUID, Gid: proxyUID}}
	if out, err := dial.CombinedOutput(); err != nil {
		return fmt.Errorf("dial as the proxy's user: %v: %s", err, out)
	}
	if c, err := accept(app); err != nil {
		return fmt.Errorf("the sidecar's connection to the app was captured: %w", err)
	} else {
		c.Close()
	}
	return nil
}
