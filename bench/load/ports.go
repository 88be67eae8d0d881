package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strings"
)

// cmdPorts prints n distinct TCP ports that are free on 127.0.0.1. They are
// drawn below the kernel's ephemeral range, so that the load generator's
// own outgoing connections cannot take one between this check and the
// moment a server binds it.
func cmdPorts(args []string) error {
	fs := flag.NewFlagSet("ports", flag.ExitOnError)
	n := fs.Int("n", 1, "how many ports")
	fs.Parse(args)
	lo, hi := 20000, ephemeralStart()
	if hi-lo < 1000 {
		lo, hi = 10000, 20000
	}
	var held []net.Listener
	defer func() {
		for _, ln := range held {
			ln.Close()
		}
	}()
	var ports []string
	for tries := 0; len(ports) < *n && tries < 1000; tries++ {
		p := lo + rand.IntN(hi-lo)
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue // in use, or taken by this loop already
		}
		held = append(held, ln)
		ports = append(ports, fmt.Sprint(p))
	}
	if len(ports) < *n {
		return fmt.Errorf("found only %d free ports of %d", len(ports), *n)
	}
	fmt.Println(strings.Join(ports, " "))
	return nil
}

// ephemeralStart reads the first port of the kernel's ephemeral range.
func ephemeralStart() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	var lo, hi int
	if _, err := fmt.Sscan(string(b), &lo, &hi); err != nil {
		return 32768
	}
	return lo
}
