// Command lanemesh-proxy is lanemesh's data plane alone: `lanemesh proxy`
// with its configuration from a control plane over xDS (--xds), built
// without the configuration loader, the compiler and the control plane, so
// that each gateway and sidecar process holds only what it runs. See
// `lanemesh-proxy --help`.
package main

import (
	"os"

	"github.com/lanemesh/lanemesh/internal/proxycmd"
)

func main() {
	os.Exit(proxycmd.Main("lanemesh-proxy", os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
