package cli

import (
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/lanemesh/lanemesh/internal/mock"
)

func newMock(stderr io.Writer) *cobra.Command {
	var bind string
	cmd := &cobra.Command{
		Use:   "mock",
		Short: "Run the tutorial's sample app",
		Long: `mock runs the traffic-lane tutorial's sample app. It answers any path with
"-> <app>(version: <version>, ip: <pod ip>)" followed by the body of its call
to upstream_url, so a request through a chain of mocks prints the chain.

It is configured like the tutorial's image, by environment variables: app,
version, upstream_url, bind (default :8000), POD_IP, and HTTP_PROXY for the
sidecar it calls through. It forwards x-request-id and nothing else.`,
		Example: "  app=mockc version=v1 lanemesh mock --bind 127.0.0.1:8000",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := mock.ConfigFromEnv(os.Getenv)
			if bind != "" {
				cfg.Bind = bind
			}
			cfg.Logger = slog.New(slog.NewTextHandler(stderr, nil))
			return mock.Run(cmd.Context(), cfg)
		},
	}
	cmd.Flags().StringVar(&bind, "bind", "", "listen address (overrides env bind)")
	return cmd
}
