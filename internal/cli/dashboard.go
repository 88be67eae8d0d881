package cli

import (
	"fmt"
	"io"
	"net/url"
	"os/exec"
	"runtime"

	"github.com/spf13/cobra"
)

func newDashboard(stdout, stderr io.Writer) *cobra.Command {
	var c client
	var open bool
	cmd := &cobra.Command{
		Use:   "dashboard [--open]",
		Short: "Print the URL of the web view of lanes and live traffic (served by up and controlplane)",
		Long: `dashboard prints the URL of the control plane's web view: the lanes × services
matrix, each lane's call graph with live request rate, error rate, p99 and
fallbacks, recent fallback events and NACKs, and "why did this request go
there" against the live configuration.

The admin API's token travels in the URL's fragment (#token=...), which a
browser never sends to a server or writes to its logs; the page keeps it in
memory and presents it as a bearer token, so the API stays closed to every
other page and user. --open starts the system's browser on the URL; the URL
(and its token) is then visible in that process's command line to other
users of this machine while the browser runs.`,
		Example: "  lanemesh dashboard\n  lanemesh dashboard --server http://127.0.0.1:15000 --open",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			token, err := c.token()
			if err != nil {
				return err
			}
			var raw []byte
			code, err := c.do("GET", "/v1/dashboard", nil, nil, &raw)
			if err != nil {
				return err
			}
			if code == 404 {
				return fmt.Errorf("%s serves no dashboard; is it an older lanemesh?", c.server)
			}
			if code >= 400 && code != 503 {
				return fmt.Errorf("%s: %s", c.server, raw)
			}
			u, err := url.Parse(c.server)
			if err != nil {
				return usageError{err}
			}
			u.Path, u.RawQuery = "/ui/", ""
			u.Fragment = url.Values{"token": {token}}.Encode()
			fmt.Fprintln(stdout, u.String())
			if open {
				if err := browse(u.String()); err != nil {
					fmt.Fprintf(stderr, "lanemesh: cannot start a browser (%v); open the URL above\n", err)
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&open, "open", false, "open the URL in the system's browser")
	addServerFlag(cmd, &c)
	return cmd
}

// browse starts the system's browser on url without waiting for it.
func browse(url string) error {
	name := "xdg-open"
	switch runtime.GOOS {
	case "darwin":
		name = "open"
	case "windows":
		return fmt.Errorf("not supported on windows")
	}
	cmd := exec.Command(name, url)
	if err := cmd.Start(); err != nil {
		return err
	}
	go cmd.Wait() // reap it
	return nil
}
