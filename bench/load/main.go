// Command load is the benchmark's client side and its measuring tape. It has
// one subcommand per job:
//
//	load ports -n N                 print N free loopback TCP ports
//	load check -url URL ...         prove a proxy routes each lane to its upstream
//	load rate -url URL -rate R ...  open-loop fixed-rate load, latency from the scheduled time;
//	                                with -at, a kill or a command mid-run (failover)
//	load measure -pid P -- CMD ...  run CMD (wrk) while measuring process P's CPU and RSS
//	load proc -pid P                print the CPU time, RSS and pids of P's process tree
//
// Results are JSON on stdout (or -out FILE), for bench/report to tabulate.
// Every subcommand is bounded in time and sends traffic only to the URL it
// is given, which the harness keeps on 127.0.0.1.
package main

import (
	"encoding/json"
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	cmds := map[string]func([]string) error{
		"ports":   cmdPorts,
		"check":   cmdCheck,
		"rate":    cmdRate,
		"measure": cmdMeasure,
		"proc":    cmdProc,
	}
	cmd, ok := cmds[os.Args[1]]
	if !ok {
		usage()
	}
	if err := cmd(os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "load %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: load ports|check|rate|measure|proc [flags] (see go doc ./bench/load)")
	os.Exit(2)
}

// writeJSON writes v as indented JSON to path, or to stdout if path is "".
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if path == "" {
		_, err = os.Stdout.Write(b)
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
