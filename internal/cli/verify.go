package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/lanemesh/lanemesh/internal/verify"
)

func newVerify(stdout, stderr io.Writer) *cobra.Command {
	var o verify.Options
	var cl client
	var lanes, output, progress, group string
	var noFallback bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "verify [--header H] [--lanes v1,v2,v3] [-n N] URL",
		Short: "Send requests into each lane and check that they stay in it",
		Long: `verify automates the tutorial's steps 5 and 7: it sends N requests per lane
through the gateway with the lane header set, reads the call chain the sample
apps print ("-> mocka(version: v2, ip: …)-> mockb(…)…") and reports per lane the
requests that stayed in the lane, fell back to the fallback version (and at
which service), leaked into another lane, or failed.

By default a lane's name is the version its pods print, and every hop falls
back to --fallback. With --group, the lanes, their versions (the lanes'
labelSelector version), the lane header and each service's fallback
(serviceLevelFallbackTarget or fallbackTarget) come from that ASMSwimLaneGroup
of the running mesh; in a permissive group a hop to a service the lane does
not hold is in the lane when it reaches the baseline.

Exit status: 0 when no lane leaked or failed (fallbacks allowed unless
--no-fallback), 1 otherwise, 2 on usage errors — so a pipeline can gate a
release on it.`,
		Example: "  lanemesh verify --header x-asm-prefer-tag --lanes v1,v2,v3 -n 100 http://127.0.0.1:8080/mock\n" +
			"  lanemesh verify --group mock -n 100 http://127.0.0.1:8080/mock",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.Requests < 1 || output != "text" && output != "json" {
				return usageError{fmt.Errorf("-n must be at least 1 and -o text or json")}
			}
			o.URL, o.Lanes = args[0], strings.Split(lanes, ",")
			if group != "" {
				c, _, err := liveMesh(&cl)
				if err != nil {
					return err
				}
				all, header, expect, err := verify.ForGroup(c, group)
				if err != nil {
					return usageError{err}
				}
				o.Expect = expect
				if !cmd.Flags().Changed("lanes") {
					o.Lanes = all
				}
				if header != "" && !cmd.Flags().Changed("header") {
					o.Header = header
				}
			}
			o.Client = &http.Client{Timeout: timeout}
			switch progress {
			case "auto":
				if isTerminal(stderr) {
					o.Progress = progressPrinter(stderr, true)
				}
			case "always":
				o.Progress = progressPrinter(stderr, isTerminal(stderr))
			case "never":
			default:
				return usageError{fmt.Errorf("--progress must be auto, always or never")}
			}
			reports := verify.Run(cmd.Context(), o)
			if output == "json" {
				enc := json.NewEncoder(stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(reports); err != nil {
					return err
				}
			} else {
				verify.Format(stdout, reports)
			}
			for _, r := range reports {
				if !r.OK(!noFallback) {
					return exitError{ExitFailed}
				}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.Header, "header", "x-asm-prefer-tag", "the header that chooses the lane")
	fl.StringVar(&lanes, "lanes", "v1,v2,v3", "the lanes to test, comma-separated")
	fl.StringVar(&o.Fallback, "fallback", "v1", "the version lanes fall back to")
	fl.BoolVar(&noFallback, "no-fallback", false, "count a fallback as a failure")
	fl.StringVar(&group, "group", "", "an ASMSwimLaneGroup of the running mesh (--server) whose lanes to test, each with its own versions and fallbacks, read from the group; its lanes unless --lanes, its routeHeader unless --header")
	addServerFlag(cmd, &cl)
	fl.IntVarP(&o.Requests, "requests", "n", 100, "requests per lane")
	fl.IntVarP(&o.Concurrency, "concurrency", "c", 4, "requests in flight")
	fl.DurationVar(&timeout, "timeout", 10*time.Second, "timeout of each request")
	fl.StringVarP(&output, "output", "o", "text", "output format: text or json")
	fl.StringVar(&progress, "progress", "auto", "progress on stderr: auto (when stderr is a terminal), always or never")
	return cmd
}

// progressPrinter reports verify's progress on w: redrawn in place on a
// terminal, else a line per lane at each tenth, so a log stays short.
func progressPrinter(w io.Writer, tty bool) func(lane string, done, total int) {
	return func(lane string, done, total int) {
		switch {
		case tty:
			fmt.Fprintf(w, "\r\033[Klane %s: %d/%d requests", lane, done, total)
			if done == total {
				fmt.Fprintln(w)
			}
		case done == total || done*10/total != (done-1)*10/total:
			fmt.Fprintf(w, "lane %s: %d/%d requests\n", lane, done, total)
		}
	}
}
