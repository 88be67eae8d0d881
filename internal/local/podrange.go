package local

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
)

// PodRange is the block of loopback addresses one runner gives its pods. A
// range claimed with ClaimPodRange is locked for as long as it is open, so
// that two `lanemesh up`s on one machine never share one, and the lock goes
// with the process, however it ends (the kernel drops it).
type PodRange struct {
	Prefix   netip.Prefix
	lock     *os.File // nil for a range that was not locked
	lockPath string   // the lock file's name, which marks the pods' processes
}

// ErrPodRange is wrapped by every reason a pod range cannot be used.
var ErrPodRange = errors.New("pod range")

// loopback is where local pods live: every address in it is the machine's
// own, on Linux without any setup.
var loopback = netip.MustParsePrefix("127.0.0.0/8")

// ParsePodCIDR reads a pod range such as 127.0.5.0/24: IPv4, inside
// 127.0.0.0/8, clear of 127.0.0.1 (where up's own listeners are), with
// room for at least two pods and at most a /16. Host bits are ignored.
func ParsePodCIDR(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(strings.TrimSpace(s))
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%w %q: not a CIDR; write it as 127.0.5.0/24", ErrPodRange, s)
	}
	p = p.Masked()
	switch {
	case !p.Addr().Is4() || !loopback.Contains(p.Addr()) || p.Bits() < loopback.Bits():
		return netip.Prefix{}, fmt.Errorf("%w %s is not loopback: local pods get addresses in 127.0.0.0/8, e.g. 127.0.5.0/24", ErrPodRange, p)
	case p.Bits() > 30:
		return netip.Prefix{}, fmt.Errorf("%w %s is too small: use a /30 or larger, e.g. 127.0.5.0/24", ErrPodRange, p)
	case p.Bits() < 16:
		return netip.Prefix{}, fmt.Errorf("%w %s is too large: use a /16 or smaller, e.g. 127.0.5.0/24", ErrPodRange, p)
	case p.Contains(netip.MustParseAddr("127.0.0.1")):
		return netip.Prefix{}, fmt.Errorf("%w %s holds 127.0.0.1, where up's own listeners are: use another, e.g. 127.0.5.0/24", ErrPodRange, p)
	}
	return p, nil
}

// Size is how many pod addresses the range has: all but its first and
// last.
func (r *PodRange) Size() int { return 1<<(32-r.Prefix.Bits()) - 2 }

// Address returns the n-th (1-based) pod address of the range, false when
// the range has fewer.
func (r *PodRange) Address(n int) (string, bool) {
	if n < 1 || n > r.Size() {
		return "", false
	}
	a := r.Prefix.Addr().As4()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v += uint32(n)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}).String(), true
}

// Close releases the range's lock.
func (r *PodRange) Close() error {
	if r == nil || r.lock == nil {
		return nil
	}
	return r.lock.Close() // closing the only descriptor drops the lock
}

// DefaultPodRanges are the ranges ClaimPodRange tries when none is asked
// for, in order: 127.0.1.0/24 (the addresses Predict predicts,
// so `lanemesh explain` agrees with a lone `up`), then 127.0.2.0/24 and on.
func DefaultPodRanges() []netip.Prefix {
	out := make([]netip.Prefix, 0, 254)
	for third := 1; third <= 254; third++ {
		out = append(out, netip.PrefixFrom(netip.AddrFrom4([4]byte{127, 0, byte(third), 0}), 24))
	}
	return out
}

// ClaimPodRange locks a pod range for this process: want when it is valid,
// else the first of DefaultPodRanges that no other runner holds and on
// which nothing listens. Locks are files in lockDir ("" for
// LockDir()). The error says what holds a range that was asked for.
func ClaimPodRange(want netip.Prefix, lockDir string) (*PodRange, error) {
	if lockDir == "" {
		lockDir = LockDir()
	}
	if err := os.MkdirAll(lockDir, 0o700); err != nil {
		return nil, fmt.Errorf("%w: lock directory: %w", ErrPodRange, err)
	}
	if want.IsValid() {
		return claim(want, lockDir)
	}
	var last error
	for _, p := range DefaultPodRanges() {
		r, err := claim(p, lockDir)
		if err == nil {
			return r, nil
		}
		last = err
	}
	return nil, fmt.Errorf("no free pod range in 127.0.1.0-127.0.254.0/24 (last: %w); pass --pod-cidr", last)
}

// claim locks p and checks that nothing listens on its addresses.
func claim(p netip.Prefix, dir string) (*PodRange, error) {
	name := filepath.Join(dir, "podrange-"+strings.NewReplacer(".", "-", "/", "_").Replace(p.String())+".lock")
	f, err := lockFile(name)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrPodRange, p, err)
	}
	// Holding the lock proves no live runner has it, so a process marked
	// with it is what a runner killed with SIGKILL left behind: a shell's
	// children, which the parent-death signal does not reach.
	reapOrphans(name)
	if busy := listenersIn(p); busy != "" {
		f.Close()
		return nil, fmt.Errorf("%w %s is in use: %s; pass --pod-cidr with a free range", ErrPodRange, p, busy)
	}
	return &PodRange{Prefix: p, lock: f, lockPath: name}, nil
}

// podLockEnv marks every pod process (and, by inheritance, its children)
// with the lock file of the pod range of the runner that started it.
const podLockEnv = "LANEMESH_POD_LOCK"

// LockDir is where pod range locks live: $XDG_RUNTIME_DIR/lanemesh, else
// lanemesh-<uid> in the temporary directory, both the user's own.
func LockDir() string {
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "lanemesh")
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("lanemesh-%d", os.Getuid()))
}

// LockEnv is the NAME=value that marks a pod's processes with the range's
// lock, as the Runner marks its own (see reapOrphans), so that a later
// claimant of the range reaps what a killed owner left; "" for a range that
// was not locked.
func (r *PodRange) LockEnv() string {
	if r == nil || r.lockPath == "" {
		return ""
	}
	return podLockEnv + "=" + r.lockPath
}
