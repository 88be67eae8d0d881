package cli

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/lanemesh/lanemesh/internal/admin"
	"github.com/lanemesh/lanemesh/internal/controlplane"
	"github.com/lanemesh/lanemesh/internal/registry"
	"github.com/lanemesh/lanemesh/internal/xds"
)

func newControlPlane(stdout, stderr io.Writer) *cobra.Command {
	var files []string
	var xdsAddr, adminAddr, logLevel string
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
			ctx := cmd.Context()
			srv := xds.NewServer(log)
			var cp *controlplane.ControlPlane
			var entries entryList
			store := controlplane.NewStore(func() {
				cp.Changed()
				entries.configChanged()
			})
			cp = controlplane.New(controlplane.Options{Store: store, XDS: srv, Logger: log})
			entries.store = store
			lis, err := net.Listen("tcp", xdsAddr)
			if err != nil {
				return err
			}
			dir, err := tokenDir()
			if err != nil {
				lis.Close()
				return err
			}
			adminLn, err := admin.Listen(adminAddr, dir)
			if err != nil {
				lis.Close()
				return err
			}
			defer adminLn.Close()
			if diags, err := controlplane.WatchFiles(ctx, store, files, time.Second, log); err != nil {
				printDiagnostics(stderr, diags.Errors(), "text", files)
				return exitError{ExitFailed}
			}
			go srv.Serve(lis)
			defer srv.Stop()
			api := &http.Server{Handler: (&admin.Server{Store: store, Listener: adminLn, Proxies: func() any { return srv.Proxies() }}).Handler(),
				ReadHeaderTimeout: 10 * time.Second}
			go api.Serve(adminLn)
			defer api.Close()
			go registry.Probe(ctx, time.Second, time.Second, entries.list, cp.SetInstances)
			fmt.Fprintf(stdout, "xds: %s\nadmin: %s (token in %s)\nready\n", lis.Addr(), adminLn.URL(), adminLn.TokenFile)
			return cp.Run(ctx)
		},
	}
	cmd.Flags().StringArrayVarP(&files, "filename", "f", nil, "configuration file or directory (repeatable; watched)")
	cmd.Flags().StringVar(&xdsAddr, "xds", "127.0.0.1:15010", "xDS (gRPC) listen address")
	cmd.Flags().StringVar(&adminAddr, "admin", "127.0.0.1:15000", "admin API listen address")
	cmd.Flags().StringVar(&logLevel, "log-level", "warn", "debug, info, warn or error")
	return cmd
}

// entryList is the WorkloadEntries of the configuration in force, as
// instances for the prober.
type entryList struct {
	store *controlplane.Store
	mu    sync.Mutex
	cur   []registry.Instance
}

func (e *entryList) configChanged() {
	if e.store == nil {
		return
	}
	c, _ := e.store.Config()
	in := registry.WorkloadEntries(c)
	e.mu.Lock()
	e.cur = in
	e.mu.Unlock()
}

func (e *entryList) list() []registry.Instance {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.cur
}
