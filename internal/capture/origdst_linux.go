package capture

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"
)

// OriginalDst returns where a connection redirected by the nat table was
// going (SO_ORIGINAL_DST, from conntrack). For a connection that was not
// redirected it is the connection's own local address.
func OriginalDst(c syscall.Conn) (netip.AddrPort, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return netip.AddrPort{}, err
	}
	var addr netip.AddrPort
	var serr error
	err = raw.Control(func(fd uintptr) {
		// SO_ORIGINAL_DST answers a struct sockaddr_in (16 bytes); the
		// IPv6 mreq getter is the x/sys call that reads 16 raw bytes.
		var mreq *unix.IPv6Mreq
		mreq, serr = unix.GetsockoptIPv6Mreq(int(fd), unix.IPPROTO_IP, unix.SO_ORIGINAL_DST)
		if serr != nil {
			return
		}
		sa := mreq.Multiaddr
		port := binary.BigEndian.Uint16(sa[2:4])
		addr = netip.AddrPortFrom(netip.AddrFrom4([4]byte(sa[4:8])), port)
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("SO_ORIGINAL_DST: %w", err)
	}
	return addr, nil
}

var _ syscall.Conn = (*net.TCPConn)(nil)
