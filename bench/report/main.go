// Command report turns the raw results of a bench/run.sh run into
// bench/out/results.json and bench/out/results.md, computes the ratios
// against HAProxy and the ReverseProxy baseline, and with -check fails if
// the run is not a clean one (see check.go).
//
// The raw directory holds run.json (what bench/run.sh knows about the run)
// and one directory per scenario, ID/scenario.json, with one directory per
// target below it (NN-name/), holding meta.json from run.sh, and for each
// repetition N sat.N.json from `load measure` around wrk and rate.N.json
// from `load rate`. With several repetitions, the tables show medians.
// Scenario C adds converge.N.json from bench/converge for each client count
// N, and scenario D kill.json and scale.json from `load rate -at`.
// Scenario E's targets are B's kind: a direct chain and the meshes.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
)

func main() {
	raw := flag.String("raw", "bench/out/raw", "raw results directory")
	jsonOut := flag.String("json", "bench/out/results.json", "JSON output")
	mdOut := flag.String("md", "bench/out/results.md", "markdown output")
	check := flag.Bool("check", false, "exit 1 unless every required target ran cleanly")
	flag.Parse()
	rep, err := load(*raw)
	if err != nil {
		fmt.Fprintf(os.Stderr, "report: %v\n", err)
		os.Exit(2)
	}
	computeRatios(rep)
	for _, sc := range rep.Scenarios {
		switch sc.ID {
		case "B":
			computeChain(sc)
		case "E":
			computeHops(sc)
		}
	}
	b, _ := json.MarshalIndent(rep, "", "  ")
	if err := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); err != nil {
		fmt.Fprintf(os.Stderr, "report: %v\n", err)
		os.Exit(2)
	}
	if err := os.WriteFile(*mdOut, []byte(markdown(rep)), 0o644); err != nil {
		fmt.Fprintf(os.Stderr, "report: %v\n", err)
		os.Exit(2)
	}
	if *check {
		if problems := checkReport(rep); len(problems) > 0 {
			for _, p := range problems {
				fmt.Fprintf(os.Stderr, "check: %s\n", p)
			}
			os.Exit(1)
		}
		fmt.Println("check: ok")
	}
}

// load reads the raw directory.
func load(dir string) (*Report, error) {
	rep := &Report{}
	if err := readJSON(filepath.Join(dir, "run.json"), &rep.Run); err != nil {
		return nil, err
	}
	scenarios, _ := filepath.Glob(filepath.Join(dir, "*", "scenario.json"))
	sort.Strings(scenarios)
	for _, sf := range scenarios {
		var sc Scenario
		if err := readJSON(sf, &sc); err != nil {
			return nil, err
		}
		targets, _ := filepath.Glob(filepath.Join(filepath.Dir(sf), "*", "meta.json"))
		sort.Strings(targets)
		for _, tf := range targets {
			t, err := loadTarget(filepath.Dir(tf))
			if err != nil {
				return nil, err
			}
			sc.Targets = append(sc.Targets, t)
		}
		if err := loadExtras(filepath.Dir(sf), &sc); err != nil {
			return nil, err
		}
		rep.Scenarios = append(rep.Scenarios, &sc)
	}
	return rep, nil
}

// loadTarget reads one target's files: meta.json, and sat.N.json and
// rate.N.json for each repetition N. Missing ones leave that part out (the
// target was skipped, or failed before it).
func loadTarget(dir string) (*Target, error) {
	t := &Target{}
	if err := readJSON(filepath.Join(dir, "meta.json"), t); err != nil {
		return nil, err
	}
	sats, _ := filepath.Glob(filepath.Join(dir, "sat.*.json"))
	sort.Strings(sats)
	for _, f := range sats {
		s, err := loadSaturation(f)
		if err != nil {
			return nil, err
		}
		t.SaturationRuns = append(t.SaturationRuns, s)
	}
	rates, _ := filepath.Glob(filepath.Join(dir, "rate.*.json"))
	sort.Strings(rates)
	for _, f := range rates {
		var r FixedRate
		if err := readJSON(f, &r); err != nil {
			return nil, err
		}
		if r.Proxy != nil && r.Achieved > 0 {
			r.CPUPer1k = r.Proxy.CPUCores / (r.Achieved / 1000)
		}
		t.FixedRateRuns = append(t.FixedRateRuns, &r)
	}
	t.Saturation = medianSaturation(t.SaturationRuns)
	t.FixedRate = medianFixedRate(t.FixedRateRuns)
	t.MaxSteal = maxSteal(t)
	return t, nil
}

// loadSaturation reads what `load measure` wrote around wrk.
func loadSaturation(path string) (*Saturation, error) {
	var sat struct {
		Proxy  *Proc  `json:"proxy"`
		Cores  *Cores `json:"cores"`
		Result struct {
			RPS    float64        `json:"rps"`
			P50    float64        `json:"p50_us"`
			P90    float64        `json:"p90_us"`
			P99    float64        `json:"p99_us"`
			Max    float64        `json:"max_us"`
			Errors map[string]int `json:"errors"`
		} `json:"result"`
	}
	if err := readJSON(path, &sat); err != nil {
		return nil, err
	}
	s := &Saturation{RPS: sat.Result.RPS, P50: sat.Result.P50, P90: sat.Result.P90, P99: sat.Result.P99,
		Max: sat.Result.Max, Proxy: sat.Proxy, Cores: sat.Cores}
	for _, n := range sat.Result.Errors {
		s.Errors += n
	}
	if p := sat.Proxy; p != nil && p.CPUCores > 0 && sat.Result.RPS > 0 {
		s.RPSPerProxyCore = sat.Result.RPS / p.CPUCores
		if p.UserSeconds > 0 {
			requests := sat.Result.RPS * p.CPUSeconds / p.CPUCores // req/s × the window's wall time
			s.UserUSPerReq = 1e6 * p.UserSeconds / requests
			s.SystemUSPerReq = 1e6 * (p.CPUSeconds - p.UserSeconds) / requests
		}
	}
	return s, nil
}

func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
