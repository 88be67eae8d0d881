package cli

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/lanemesh/lanemesh/internal/bootstrap"
	"github.com/lanemesh/lanemesh/internal/config"
)

func newControlPlane(stdout, stderr io.Writer) *cobra.Command {
	var files []string
	var xdsAddr, adminAddr, logLevel string
	var opt config.Options
	cmd := &cobra.Command{
		Use:   "controlplane -f PATH... [--xds ADDR] [--admin ADDR]",
		Short: "Serve configuration to proxies over xDS",
		Long: `controlplane serves Envoy's xDS API (ADS) to any number of proxies — lanemesh
proxy, or Envoy. Its configuration comes from the watched files and from its
admin API (lanemesh apply); its workloads from WorkloadEntries, health-checked
by TCP probes. It compiles once per proxy identity and pushes make-before-break.`,
		Example: "  lanemesh controlplane -f mesh/ --xds 127.0.0.1:15010",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(files) == 0 {
				return usageError{fmt.Errorf("controlplane needs at least one -f PATH")}
			}
			log, err := newLogger(stderr, logLevel)
			if err != nil {
				return usageError{err}
			}
			dir, err := tokenDir()
			if err != nil {
				return err
			}
			srv, diags, err := bootstrap.Start(cmd.Context(), bootstrap.Options{Paths: files, Load: opt,
				XDS: xdsAddr, Admin: adminAddr, TokenDir: dir, Logger: log})
			if err != nil {
				if diags.HasErrors() {
					printDiagnostics(stderr, diags.Errors(), "text", files)
					return exitError{ExitFailed}
				}
				return err
			}
			defer srv.Close()
			printSkipped(stderr, diags)
			fmt.Fprintf(stdout, "xds: %s\nadmin: %s (token in %s)\nready\n", srv.XDSAddr(), srv.AdminURL(), srv.TokenFile())
			return srv.Run(cmd.Context())
		},
	}
	cmd.Flags().StringArrayVarP(&files, "filename", "f", nil, "configuration file or directory (repeatable; watched)")
	cmd.Flags().StringVar(&xdsAddr, "xds", "127.0.0.1:15010", "xDS (gRPC) listen address")
	cmd.Flags().StringVar(&adminAddr, "admin", "127.0.0.1:15000", "admin API listen address")
	cmd.Flags().StringVar(&logLevel, "log-level", "warn", "debug, info, warn or error")
	addSkipFlag(cmd, &opt.SkipUnsupportedKinds)
	return cmd
}
