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

// The namespace test runs this test binary again inside a network
// namespace of its own (ip netns exec), where it may change iptables
// without touching the machine's: TestMain runs the inside part then.
const childEnv = "LANEMESH_CAPTURE_NETNS_CHILD"

func TestMain(m *testing.M) {
	if v := os.Getenv(childEnv); v != "" {
		inside := insideNamespace
		if v == "inbound" {
			inside = insideInboundNamespace
		}
		if err := inside(); err != nil {
			fmt.Fprintln(os.Stderr, "FAIL:", err)
			os.Exit(1)
		}
		fmt.Println("capture works")
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestCaptureInANetworkNamespace proves the rules and SO_ORIGINAL_DST on
// the real kernel: in a fresh network namespace, Install's rules send an
// app's connection to the sidecar's port, OriginalDst reads where it was
// going, and the sidecar's own user and excluded ports go straight
// through. It needs root, ip and iptables; LANEMESH_REQUIRE_NETNS=1 (CI)
// turns a skip into a failure.
func TestCaptureInANetworkNamespace(t *testing.T) {
	for _, tool := range []string{"ip", "iptables", "iptables-restore", "bash"} {
		if _, err := exec.LookPath(tool); err != nil {
			skipOrFail(t, fmt.Sprintf("needs %s (apt-get install iproute2 iptables)", tool))
		}
	}
	if os.Geteuid() != 0 {
		skipOrFail(t, "needs root for a network namespace")
	}
	name := fmt.Sprintf("lanemesh-capture-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		skipOrFail(t, fmt.Sprintf("ip netns add: %v: %s", err, out))
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "delete", name).Run() })
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", name, os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "capture works") {
		t.Fatalf("inside the namespace: %v\n%s", err, out)
	}
}

func skipOrFail(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("LANEMESH_REQUIRE_NETNS") == "1" {
		t.Fatal(why)
	}
	t.Skip(why)
}

// Addresses inside the namespace: the app's destination is a pod-network
// address on lo (any local address is captured; only 127/8 is not).
const (
	proxyUID     = 65534 // nobody: a user that exists on every machine
	sidecarPort  = 15001
	servicePort  = 8000
	excludedPort = 5432
)

// serviceIP is captured; outsideIP is not among the include CIDRs
// (includeOutboundIPRanges), so connections to it are left alone.
var serviceIP, outsideIP = netip.MustParseAddr("10.123.0.1"), netip.MustParseAddr("10.200.0.1")

func insideNamespace() error {
	for _, args := range [][]string{{"link", "set", "lo", "up"}, {"addr", "add", serviceIP.String() + "/32", "dev", "lo"},
		{"addr", "add", outsideIP.String() + "/32", "dev", "lo"}} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %v: %v: %s", args, err, out)
		}
	}
	o := Options{OutboundPort: sidecarPort, ProxyUID: proxyUID, ExcludePorts: []int{excludedPort},
		IncludeCIDRs: []netip.Prefix{netip.MustParsePrefix("10.123.0.0/16")}}
	ctx := context.Background()
	// Twice, as a restarted init container would: one jump, not two.
	for range 2 {
		if err := Install(ctx, o); err != nil {
			return err
		}
	}
	out, err := exec.Command("iptables", "-w", "-t", "nat", "-S", "OUTPUT").CombinedOutput()
	if err != nil {
		return fmt.Errorf("iptables -S: %v: %s", err, out)
	}
	if n := strings.Count(string(out), "-j "+Chain); n != 1 {
		return fmt.Errorf("OUTPUT jumps to %s %d times after two installs:\n%s", Chain, n, out)
	}

	sidecar, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", sidecarPort))
	if err != nil {
		return err
	}
	defer sidecar.Close()
	service, err := net.Listen("tcp", netip.AddrPortFrom(serviceIP, servicePort).String())
	if err != nil {
		return err
	}
	defer service.Close()
	excluded, err := net.Listen("tcp", netip.AddrPortFrom(serviceIP, excludedPort).String())
	if err != nil {
		return err
	}
	defer excluded.Close()
	target := netip.AddrPortFrom(serviceIP, servicePort)

	// The app (root here) dials the service: the sidecar gets it.
	if err := dialAsApp(target); err != nil {
		return err
	}
	c, err := accept(sidecar)
	if err != nil {
		return fmt.Errorf("the app's connection did not reach the sidecar: %w", err)
	}
	got, err := OriginalDst(c.(*net.TCPConn))
	c.Close()
	if err != nil {
		return err
	}
	if got != target {
		return fmt.Errorf("OriginalDst = %s, want %s", got, target)
	}

	// An excluded port goes straight to its listener.
	if err := dialAsApp(netip.AddrPortFrom(serviceIP, excludedPort)); err != nil {
		return err
	}
	if c, err := accept(excluded); err != nil {
		return fmt.Errorf("a connection to an excluded port was captured: %w", err)
	} else {
		c.Close()
	}

	// A destination outside the include CIDRs goes straight to it.
	outside, err := net.Listen("tcp", netip.AddrPortFrom(outsideIP, servicePort).String())
	if err != nil {
		return err
	}
	defer outside.Close()
	if err := dialAsApp(netip.AddrPortFrom(outsideIP, servicePort)); err != nil {
		return err
	}
	if c, err := accept(outside); err != nil {
		return fmt.Errorf("a connection outside the include CIDRs was captured: %w", err)
	} else {
		c.Close()
	}

	// The sidecar's own user is never captured: its connection reaches
	// the service itself.
	dial := exec.Command("bash", "-c", fmt.Sprintf("exec 3<>/dev/tcp/%s/%d", serviceIP, servicePort))
	dial.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: proxyUID, Gid: proxyUID}}
	if out, err := dial.CombinedOutput(); err != nil {
		return fmt.Errorf("dial as the proxy's user: %v: %s", err, out)
	}
	if c, err := accept(service); err != nil {
		return fmt.Errorf("the proxy user's connection was captured: %w", err)
	} else {
		c.Close()
	}
	return nil
}

func dialAsApp(to netip.AddrPort) error {
	c, err := net.DialTimeout("tcp", to.String(), 5*time.Second)
	if err != nil {
		return fmt.Errorf("dial %s: %w", to, err)
	}
	return c.Close()
}

// accept waits a little for a connection that should already be queued.
func accept(ln net.Listener) (net.Conn, error) {
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(2 * time.Second))
	return ln.Accept()
}
