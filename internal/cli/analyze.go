package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/lanemesh/lanemesh/internal/config"
	lanegroups "github.com/lanemesh/lanemesh/internal/lanes"
)

func newAnalyze(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	var files []string
	var output string
	var opt config.Options
	cmd := &cobra.Command{
		Use:   "analyze -f PATH...",
		Short: "Check configuration for errors, in istioctl analyze's format",
		Long: `analyze reads YAML or JSON files and directories (recursively; "-" is stdin),
decodes them strictly and checks every reference. Errors and warnings name the
file, line, object and field, and say what to do.

Exit status: 0 no errors (warnings allowed), 1 errors found, 2 usage or I/O failure.`,
		Example: "  lanemesh analyze -f examples/traffic-lanes\n  kubectl get vs -o yaml | lanemesh analyze -f - -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(files) == 0 {
				return usageError{fmt.Errorf("analyze needs at least one -f PATH")}
			}
			if output != "text" && output != "json" {
				return usageError{fmt.Errorf("-o must be text or json, not %q", output)}
			}
			_, diags := loadAndAnalyze(files, stdin, opt)
			if err := printDiagnostics(stdout, diags, output, files); err != nil {
				return err
			}
			return exitFor(diags)
		},
	}
	cmd.Flags().StringArrayVarP(&files, "filename", "f", nil, "file, directory or - (repeatable)")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	addSkipFlag(cmd, &opt.SkipUnsupportedKinds)
	return cmd
}

// addSkipFlag adds --skip-unsupported-kinds, for every command that reads
// configuration, so a directory that also holds PeerAuthentications or
// ConfigMaps can be used without editing it, and never by accident.
func addSkipFlag(cmd *cobra.Command, skip *bool) { addSkipFlagSet(cmd.Flags(), skip) }

// addSkipFlagSet is addSkipFlag on a flag set.
func addSkipFlagSet(fl *pflag.FlagSet, skip *bool) {
	fl.BoolVar(skip, strings.TrimPrefix(config.SkipUnsupportedKindsFlag, "--"), false,
		"leave out, with a warning, objects of kinds lanemesh does not enforce (PeerAuthentication, Sidecar, ConfigMap...) instead of refusing them")
}

// printSkipped prints the warnings for objects left out by
// --skip-unsupported-kinds, so that what is not enforced is always said.
func printSkipped(w io.Writer, diags config.Diagnostics) {
	var skipped config.Diagnostics
	for _, d := range diags {
		if d.Level == config.Warning && d.Code == config.CodeUnknownKind {
			skipped = append(skipped, d)
		}
	}
	for _, line := range skipped.Render(config.PerGroup) {
		fmt.Fprintln(w, line)
	}
}

// loadAndAnalyze reads paths and returns the configuration in force —
// with the objects its lane groups generate — and the findings of both
// the loader and the analyzer.
func loadAndAnalyze(paths []string, stdin io.Reader, opt config.Options) (*config.Config, config.Diagnostics) {
	c, diags := config.LoadWith(paths, stdin, opt)
	eff, found := lanegroups.ResolveWith(c, func(eff *config.Config) config.Diagnostics { return config.AnalyzeLoaded(eff, diags) })
	return eff, append(diags, found...)
}

// exitFor maps findings to an exit code: unreadable input is a usage
// failure (2), any other error is 1.
func exitFor(diags config.Diagnostics) error {
	for _, d := range diags {
		if d.Code == config.IOCode {
			return exitError{ExitUsage}
		}
	}
	if diags.HasErrors() {
		return exitError{ExitFailed}
	}
	return nil
}

func printDiagnostics(w io.Writer, diags config.Diagnostics, output string, files []string) error {
	if output == "json" {
		if diags == nil {
			diags = config.Diagnostics{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(diags)
	}
	for _, line := range diags.Render(config.PerGroup) {
		fmt.Fprintln(w, line)
	}
	if len(diags) == 0 {
		fmt.Fprintf(w, "✔ No validation issues found when analyzing %v.\n", files)
	}
	return nil
}
