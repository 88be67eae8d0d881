//go:build !linux

package local

import "net/netip"

// listenersIn cannot tell what listens where without /proc: it reports
// nothing, and only the lock keeps runners apart.
func listenersIn(netip.Prefix) string { return "" }

// Holder cannot name a port's process without /proc.
func Holder(string) string { return "" }

// reapOrphans cannot find a killed runner's processes without /proc.
func reapOrphans(string) {}
