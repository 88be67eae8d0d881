package cli

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/lanemesh/lanemesh/internal/admin"
	"github.com/lanemesh/lanemesh/internal/version"
)

func newVersion(stdout io.Writer) *cobra.Command {
	var c client
	var output string
	var clientOnly bool
	cmd := &cobra.Command{
		Use:   "version [--client] [-o json|yaml]",
		Short: "Print the client's version and, if one runs, the server's",
		Long: `version prints this binary's build (from the Go build information: module
version, Go version, VCS revision) and that of the lanemesh up or control
plane at --server, as kubectl version and istioctl version do. A server that
does not answer is reported, not an error, unless --server was given.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "" && output != "json" && output != "yaml" {
				return usageError{fmt.Errorf("-o must be json or yaml, not %q", output)}
			}
			out := struct {
				Client version.Info         `json:"clientVersion"`
				Server *admin.ServerVersion `json:"serverVersion,omitempty"`
				Error  string               `json:"serverError,omitempty"`
			}{Client: version.Get()}
			if !clientOnly {
				var sv admin.ServerVersion
				if _, err := c.do("GET", "/v1/version", nil, nil, &sv); err != nil {
					if cmd.Flags().Changed("server") {
						return err
					}
					out.Error = err.Error()
				} else {
					out.Server = &sv
				}
			}
			if output != "" {
				b, err := json.Marshal(out)
				if err != nil {
					return err
				}
				if output == "yaml" {
					return printYAML(stdout, b)
				}
				return printJSON(stdout, b)
			}
			fmt.Fprintf(stdout, "client: %s\n", out.Client)
			switch {
			case out.Server != nil:
				fmt.Fprintf(stdout, "server: %s at %s\n", out.Server.Info, out.Server.ControlPlane)
			case !clientOnly:
				fmt.Fprintf(stdout, "server: none (%s)\n", out.Error)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "json or yaml")
	cmd.Flags().BoolVar(&clientOnly, "client", false, "the client's version only")
	addServerFlag(cmd, &c)
	return cmd
}
