package local

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// socket is one listening TCP socket of the machine, from /proc/net/tcp*.
type socket struct {
	addr  netip.AddrPort
	inode string
}

// listening lists the machine's listening TCP sockets (IPv4, and IPv6 with
// v4-mapped addresses unmapped). Errors leave sockets out: the list is
// advice for error messages and range checks, not a guarantee.
func listening() []socket {
	var out []socket
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		out = append(out, readSockets(f)...)
	}
	return out
}

func readSockets(name string) []socket {
	f, err := os.Open(name)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []socket
	sc := bufio.NewScanner(f)
	sc.Scan() // the header
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 || fields[3] != "0A" { // 0A is TCP_LISTEN
			continue
		}
		if a, ok := parseProcAddr(fields[1]); ok {
			out = append(out, socket{addr: a, inode: fields[9]})
		}
	}
	return out
}

// parseProcAddr reads /proc/net/tcp's ADDR:PORT, where ADDR is the address
// as 32-bit words in the machine's byte order, in hex.
func parseProcAddr(s string) (netip.AddrPort, bool) {
	h, p, ok := strings.Cut(s, ":")
	port, err := strconv.ParseUint(p, 16, 16)
	raw, herr := hex.DecodeString(h)
	if !ok || err != nil || herr != nil || (len(raw) != 4 && len(raw) != 16) {
		return netip.AddrPort{}, false
	}
	b := make([]byte, len(raw))
	for i := 0; i < len(raw); i += 4 {
		binary.BigEndian.PutUint32(b[i:], binary.NativeEndian.Uint32(raw[i:]))
	}
	a, _ := netip.AddrFromSlice(b)
	return netip.AddrPortFrom(a.Unmap(), uint16(port)), true
}

// listenersIn describes what listens on an address of p, "" when nothing
// does.
func listenersIn(p netip.Prefix) string {
	var busy []string
	for _, s := range listening() {
		if p.Contains(s.addr.Addr()) {
			busy = append(busy, s.addr.String()+" is held by "+processOf(s.inode))
		}
		if len(busy) == 3 {
			busy = append(busy, "…")
			break
		}
	}
	return strings.Join(busy, ", ")
}

// Holder names the process listening on addr (host:port), or on its port
// at the unspecified address, such as "pid 1234 (lanemesh)"; "" when it
// cannot tell.
func Holder(addr string) string {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return ""
	}
	for _, s := range listening() {
		if s.addr.Port() == ap.Port() && (s.addr.Addr() == ap.Addr().Unmap() || s.addr.Addr().IsUnspecified()) {
			return processOf(s.inode)
		}
	}
	return ""
}

// processOf finds the process that has socket inode open, by the links in
// /proc/*/fd; it can only see the user's own processes.
func processOf(inode string) string {
	want := "socket:[" + inode + "]"
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, dir := range procs {
		fds, _ := os.ReadDir(filepath.Join(dir, "fd"))
		for _, fd := range fds {
			if link, err := os.Readlink(filepath.Join(dir, "fd", fd.Name())); err == nil && link == want {
				comm, _ := os.ReadFile(filepath.Join(dir, "comm"))
				return fmt.Sprintf("pid %s (%s)", filepath.Base(dir), strings.TrimSpace(string(comm)))
			}
		}
	}
	return "another process"
}

// reapOrphans kills the processes marked with the pod range lock lockPath
// (see podLockEnv) and waits, up to a second, for them to go, so that what
// they listened on is free. Only the user's own processes can be read, and
// so killed.
func reapOrphans(lockPath string) {
	mark := []byte(podLockEnv + "=" + lockPath + "\x00")
	var pids []int
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, dir := range procs {
		env, err := os.ReadFile(filepath.Join(dir, "environ"))
		if err != nil || !bytes.Contains(append([]byte{0}, env...), append([]byte{0}, mark...)) {
			continue
		}
		if pid, err := strconv.Atoi(filepath.Base(dir)); err == nil && pid != os.Getpid() {
			pids = append(pids, pid)
		}
	}
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	deadline := time.Now().Add(time.Second)
	for _, pid := range pids {
		for processAlive(pid) && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond) // polling a process we cannot wait for
		}
	}
}

// processAlive reports whether pid is a process that has not died (a zombie has).
func processAlive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	_, rest, _ := bytes.Cut(stat, []byte(") "))
	return len(rest) > 0 && rest[0] != 'Z'
}
