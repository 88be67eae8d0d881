package cli

import (
	"fmt"
	"io"
	"net/url"

	"github.com/spf13/cobra"

	"github.com/lanemesh/lanemesh/internal/admin"
	"github.com/lanemesh/lanemesh/internal/config"
)

// newChange builds apply and delete, which differ only in their endpoint.
func newChange(verb string, stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	var c client
	var files []string
	var dryRun, skip bool
	short := map[string]string{
		"apply":  "Create or update objects in a running lanemesh up, all or nothing",
		"delete": "Delete objects from a running lanemesh up",
	}[verb]
	cmd := &cobra.Command{
		Use:   verb + " -f PATH...",
		Short: short,
		Long: short + `.

The whole set is checked as lanemesh analyze checks it; if anything is wrong,
nothing changes and the messages say what to fix. Exit status: 0 done, 1
rejected, 2 usage or connection failure.`,
		Example: "  lanemesh " + verb + " -f examples/traffic-lanes-fallback/vs-mock-fallback.yaml",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(files) == 0 {
				return usageError{fmt.Errorf("%s needs at least one -f PATH", verb)}
			}
			var all []config.File
			for layer, p := range files {
				fs, diags := config.ReadFiles(p, stdin)
				if diags.HasErrors() {
					printDiagnostics(stderr, diags, "text", files)
					return exitError{ExitUsage}
				}
				for _, f := range fs {
					f.Layer = layer
					all = append(all, f)
				}
			}
			q := url.Values{}
			if dryRun {
				q.Set("dryRun", "true")
			}
			if skip {
				q.Set(admin.SkipUnsupportedKindsParam, "true")
			}
			var res admin.Result
			if _, err := c.do("POST", "/v1/"+verb, q, map[string]any{"files": all}, &res); err != nil {
				return err
			}
			for _, ch := range res.Changes {
				fmt.Fprintln(stdout, ch)
			}
			for _, line := range res.Diagnostics.Render(config.PerGroup) {
				fmt.Fprintln(stderr, line)
			}
			if res.Rejected {
				fmt.Fprintf(stderr, "lanemesh: %s rejected; nothing changed\n", verb)
				return exitError{ExitFailed}
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVarP(&files, "filename", "f", nil, "file, directory or - (repeatable)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "check only; change nothing")
	addSkipFlag(cmd, &skip)
	addServerFlag(cmd, &c)
	return cmd
}
