//go:build !linux

package capture

import (
	"errors"
	"net/netip"
	"syscall"
)

// OriginalDst is Linux's alone: transparent capture is iptables'.
func OriginalDst(syscall.Conn) (netip.AddrPort, error) {
	return netip.AddrPort{}, errors.New("SO_ORIGINAL_DST: transparent capture needs Linux; use HTTP_PROXY mode")
}
