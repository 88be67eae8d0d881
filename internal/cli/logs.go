package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

func newLogs(stdout io.Writer) *cobra.Command {
	var c client
	var ns, container string
	var follow bool
	var tail int
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "logs POD|deployment/NAME [-n NS] [-c app|sidecar] [-f] [--tail N]",
		Short: "Print the log of a pod's app or sidecar in a running lanemesh up",
		Long: `logs prints what a pod's app wrote (-c app, the default) or its sidecar's log
(-c sidecar, also istio-proxy): the proxy's access log and its own messages.
--tail N prints only the last N lines; -f keeps printing what is written
until Ctrl-C (or --timeout), as kubectl logs -f does.`,
		Example: "  lanemesh logs deployment/mocka-v1\n  lanemesh logs mockb-v2-0 -c sidecar -f --tail 10",
		Args:    cobra.ExactArgs(1),
		ValidArgsFunction: func(_ *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
			return completePods(&c, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			pod := args[0]
			if kind, name, ok := strings.Cut(pod, "/"); ok {
				switch kind {
				case "pod", "pods", "po":
					pod = name
				case "deployment", "deployments", "deploy":
					resolved, err := firstPod(&c, ns, name)
					if err != nil {
						return err
					}
					pod = resolved
				default:
					return usageError{fmt.Errorf("logs takes POD, pod/NAME or deployment/NAME, not %q", args[0])}
				}
			}
			q := url.Values{"namespace": {ns}, "pod": {pod}}
			if container != "" {
				q.Set("container", container)
			}
			if cmd.Flags().Changed("tail") && tail >= 0 {
				q.Set("tail", strconv.Itoa(tail))
			}
			if !follow {
				var raw []byte
				code, err := c.do("GET", "/v1/logs", q, nil, &raw)
				if err != nil {
					return err
				}
				if code >= 400 {
					var e struct{ Error string }
					if json.Unmarshal(raw, &e) == nil && e.Error != "" {
						return apiError{code, e.Error}
					}
					return fmt.Errorf("pod %s/%s: %s", ns, pod, strings.TrimSpace(string(raw)))
				}
				_, err = stdout.Write(raw)
				return err
			}
			q.Set("follow", "true")
			ctx := cmd.Context()
			if timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			return c.stream(ctx, "/v1/logs", q, stdout)
		},
	}
	cmd.Flags().StringVarP(&ns, "namespace", "n", "default", "namespace")
	cmd.Flags().StringVarP(&container, "container", "c", "", "app (default) or sidecar")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing what is written")
	cmd.Flags().IntVar(&tail, "tail", -1, "print only the last N lines (-1: all)")
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "with -f, stop after this long (0: until Ctrl-C)")
	cmd.RegisterFlagCompletionFunc("container", func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return []string{"app", "sidecar"}, cobra.ShellCompDirectiveNoFileComp
	})
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
