package cli

import (
	"fmt"
	"io"
	"net/url"
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

func newLogs(stdout io.Writer) *cobra.Command {
	var c client
	var ns string
	cmd := &cobra.Command{
		Use:     "logs POD|deployment/NAME [-n NS]",
		Short:   "Print the output of a pod of a running lanemesh up",
		Example: "  lanemesh logs deployment/mocka-v1",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pod := args[0]
			if _, name, ok := strings.Cut(pod, "/"); ok {
				resolved, err := firstPod(&c, ns, name)
				if err != nil {
					return err
				}
				pod = resolved
			}
			var raw []byte
			code, err := c.do("GET", "/v1/logs", url.Values{"namespace": {ns}, "pod": {pod}}, nil, &raw)
			if err != nil {
				return err
			}
			if code >= 400 {
				return fmt.Errorf("pod %s/%s: %s", ns, pod, strings.TrimSpace(string(raw)))
			}
			_, err = stdout.Write(raw)
			return err
		},
	}
	cmd.Flags().StringVarP(&ns, "namespace", "n", "default", "namespace")
	addServerFlag(cmd, &c)
	return cmd
}

// firstPod returns the name of the first pod of a deployment.
func firstPod(c *client, ns, deployment string) (string, error) {
	var pods []struct{ Name, Namespace, Owner string }
	if _, err := c.do("GET", "/v1/pods", nil, nil, &pods); err != nil {
		return "", err
	}
	for _, p := range pods {
		if p.Namespace == ns && p.Owner == "Deployment/"+deployment {
			return p.Name, nil
		}
	}
	return "", fmt.Errorf("deployment %s/%s has no pod", ns, deployment)
}
