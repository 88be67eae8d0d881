package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// measureResult is a command's result with the proxy's resource use while
// it ran.
type measureResult struct {
	WallSeconds float64 `json:"wall_seconds"`
	// Proxy's CPUCores near 1.0 means the proxy's core was the bottleneck;
	// well below it, the load-generator core was.
	Proxy *procWindow `json:"proxy,omitempty"`
	// Cores is how busy each core was while the command ran.
	Cores *coreWindow `json:"cores"`
	// Result is the last line of the command's stdout that is a JSON
	// object (wrk's done() hook prints one).
	Result json.RawMessage `json:"result"`
}

// cmdMeasure runs a command (the closed-loop load generator) and samples a
// process tree's CPU time before and after it. The command's stdout is
// copied to stderr for the log.
func cmdMeasure(args []string) error {
	fs := flag.NewFlagSet("measure", flag.ExitOnError)
	pid := fs.Int("pid", 0, "process to measure (its whole tree); 0 for none")
	out := fs.String("out", "", "write the JSON result here instead of stdout")
	fs.Parse(args)
	if fs.NArg() == 0 {
		return errors.New("no command given after --")
	}
	var before procSample
	if *pid != 0 {
		var err error
		if before, err = sampleTree(*pid); err != nil {
			return err
		}
	}
	var stdout bytes.Buffer
	cmd := exec.Command(fs.Arg(0), fs.Args()[1:]...)
	cmd.Stdout, cmd.Stderr = &stdout, os.Stderr
	coresBefore := readCores()
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	cores := coresBetween(coresBefore, readCores())
	os.Stderr.Write(stdout.Bytes())
	if err != nil {
		return fmt.Errorf("%s: %w", fs.Arg(0), err)
	}
	res := measureResult{WallSeconds: wall.Seconds(), Cores: cores, Result: lastJSONLine(stdout.String())}
	if res.Result == nil {
		return fmt.Errorf("%s printed no JSON line", fs.Arg(0))
	}
	if *pid != 0 {
		after, err := sampleTree(*pid)
		if err != nil {
			return fmt.Errorf("proxy exited during the run: %w", err)
		}
		res.Proxy = windowBetween(before, after, wall)
	}
	return writeJSON(*out, res)
}

func lastJSONLine(s string) json.RawMessage {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if strings.HasPrefix(l, "{") && json.Valid([]byte(l)) {
			return json.RawMessage(l)
		}
	}
	return nil
}
