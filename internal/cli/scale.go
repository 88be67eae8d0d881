package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
)

func newScale(stdout io.Writer) *cobra.Command {
	var c client
	var ns string
	var replicas int32
	cmd := &cobra.Command{
		Use:     "scale deployment/NAME --replicas N [-n NS]",
		Short:   "Set the replicas of a Deployment in a running lanemesh up",
		Example: "  lanemesh scale deployment/mockb-v2 --replicas 0",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			kind, name, ok := strings.Cut(args[0], "/")
			if !ok || (kind != "deployment" && kind != "deploy" && kind != "deployments") || name == "" {
				return usageError{fmt.Errorf("scale takes deployment/NAME, not %q", args[0])}
			}
			if !cmd.Flags().Changed("replicas") || replicas < 0 {
				return usageError{fmt.Errorf("give --replicas N (0 or more)")}
			}
			var res struct{ Result string }
			if _, err := c.do("POST", "/v1/scale", nil, map[string]any{"namespace": ns, "name": name, "replicas": replicas}, &res); err != nil {
				return err
			}
			fmt.Fprintln(stdout, res.Result)
			return nil
		},
	}
	cmd.Flags().Int32Var(&replicas, "replicas", 0, "the number of pods")
	cmd.Flags().StringVarP(&ns, "namespace", "n", "default", "namespace")
	addServerFlag(cmd, &c)
	return cmd
}
