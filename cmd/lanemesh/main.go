// Command lanemesh is the traffic-lane service mesh: its CLI, control plane
// and proxies in one binary. See `lanemesh --help`.
package main

import (
	"os"

	"github.com/lanemesh/lanemesh/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
