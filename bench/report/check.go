package main

import "fmt"

// required lists the targets of scenario A that must have run cleanly: all
// that were asked for (all six if the run does not say) except lanemesh,
// which may be skipped while its proxy is not there, but must not fail.
func required(run Run) []string {
	asked := run.Targets
	if len(asked) == 0 {
		asked = []string{"direct", "haproxy", "haproxy-headers", "nginx", "baseline", "lanemesh"}
	}
	var out []string
	for _, t := range asked {
		if t != "lanemesh" {
			out = append(out, t)
		}
	}
	return out
}

// asked lists the scenarios the run was asked for; a run.json that records
// none predates the selector and ran A.
func asked(run Run) []string {
	if len(run.Scenarios) == 0 {
		return []string{"A"}
	}
	return run.Scenarios
}

// checkReport lists what makes the run not clean: an asked-for scenario
// missing or failed, and each scenario's own problems (checkGateway,
// checkChain, checkConvergence, checkFailover, checkHops).
func checkReport(rep *Report) []string {
	var problems []string
	for _, id := range asked(rep.Run) {
		var sc *Scenario
		for _, s := range rep.Scenarios {
			if s.ID == id {
				sc = s
			}
		}
		switch {
		case sc == nil:
			problems = append(problems, fmt.Sprintf("scenario %s is missing", id))
			continue
		case sc.Status == "failed":
			problems = append(problems, fmt.Sprintf("scenario %s failed: %s", id, sc.Note))
			continue
		case sc.Status != "measured":
			problems = append(problems, fmt.Sprintf("scenario %s was not measured: %s", id, sc.Status))
			continue
		}
		switch id {
		case "A":
			problems = append(problems, checkGateway(rep, sc)...)
		case "B":
			problems = append(problems, checkChain(sc)...)
		case "C":
			problems = append(problems, checkConvergence(sc)...)
		case "D":
			problems = append(problems, checkFailover(sc)...)
		case "E":
			problems = append(problems, checkHops(sc)...)
		}
	}
	return problems
}

// checkGateway lists scenario A's problems: a failed target, a required
// one not measured, any error or misrouted request, or a fixed-rate run
// that fell short of its rate.
func checkGateway(rep *Report, a *Scenario) []string {
	var problems []string
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
		s := sat(t)
		switch {
		case s.RPS <= 0:
			problems = append(problems, fmt.Sprintf("%s: no closed-loop throughput", t.Name))
		case s.Errors > 0:
			problems = append(problems, fmt.Sprintf("%s: %d errors in the closed-loop run", t.Name, s.Errors))
		}
		problems = append(problems, checkFixedRate(t)...)
	}
	return problems
}

// checkFixedRate lists a target's fixed-rate problems: any request that got
// no good answer, or a run that fell short of its rate.
func checkFixedRate(t *Target) []string {
	var problems []string
	r := rate(t)
	if bad := r.Errors + r.Misrouted + r.Dropped; bad > 0 || r.OK == 0 {
		problems = append(problems, fmt.Sprintf("%s: fixed-rate run had %d ok, %d errors, %d misrouted, %d dropped",
			t.Name, r.OK, r.Errors, r.Misrouted, r.Dropped))
	}
	for _, run := range t.FixedRateRuns {
		if run.Achieved < 0.95*run.Rate {
			problems = append(problems, fmt.Sprintf("%s: a fixed-rate run achieved %.0f of %.0f req/s", t.Name, run.Achieved, run.Rate))
		}
	}
	return problems
}
