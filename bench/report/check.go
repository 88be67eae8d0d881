package main

import "fmt"

// required lists the targets of scenario A that must have run cleanly: all
// that were asked for (all five if the run does not say) except lanemesh,
// which may be skipped while its proxy is not there, but must not fail.
func required(run Run) []string {
	asked := run.Targets
	if len(asked) == 0 {
		asked = []string{"direct", "haproxy", "nginx", "baseline", "lanemesh"}
	}
	var out []string
	for _, t := range asked {
		if t != "lanemesh" {
			out = append(out, t)
		}
	}
	return out
}

// checkReport lists what makes the run not clean: a failed target, a
// required one not measured, any error or misrouted request, or a fixed-rate
// run that fell short of its rate.
func checkReport(rep *Report) []string {
	var problems []string
	var a *Scenario
	for _, sc := range rep.Scenarios {
		if sc.ID == "A" {
			a = sc
		}
	}
	if a == nil {
		return []string{"scenario A is missing"}
	}
	for _, name := range required(rep.Run) {
		if t := find(a, name); t == nil || t.Status != "ok" {
			problems = append(problems, fmt.Sprintf("%s was not measured", name))
		}
	}
	for _, t := range a.Targets {
		if t.Status == "failed" {
			problems = append(problems, fmt.Sprintf("%s failed: %s", t.Name, t.Note))
			continue
		}
		if t.Status != "ok" {
			continue
		}
		s, r := sat(t), rate(t)
		switch {
		case s.RPS <= 0:
			problems = append(problems, fmt.Sprintf("%s: no closed-loop throughput", t.Name))
		case s.Errors > 0:
			problems = append(problems, fmt.Sprintf("%s: %d errors in the closed-loop run", t.Name, s.Errors))
		}
		if bad := r.Errors + r.Misrouted + r.Dropped; bad > 0 || r.OK == 0 {
			problems = append(problems, fmt.Sprintf("%s: fixed-rate run had %d ok, %d errors, %d misrouted, %d dropped",
				t.Name, r.OK, r.Errors, r.Misrouted, r.Dropped))
		}
		for _, run := range t.FixedRateRuns {
			if run.Achieved < 0.95*run.Rate {
				problems = append(problems, fmt.Sprintf("%s: a fixed-rate run achieved %.0f of %.0f req/s", t.Name, run.Achieved, run.Rate))
			}
		}
	}
	return problems
}
