package main

import (
	"testing"
	"time"
)

const chainRE = `^-> mocka\(version: {lane}, ip: [0-9.]+\)-> mockb\(version: {lane}, ip: [0-9.]+\)$`

func TestMatcherJudgesChains(t *testing.T) {
	m, err := newMatcher("mocka", "", chainRE, `mockb\(version: v1,`, []string{"v2"})
	if err != nil {
		t.Fatal(err)
	}
	for body, want := range map[string]verdict{
		"-> mocka(version: v2, ip: 127.0.1.2)-> mockb(version: v2, ip: 127.0.1.5)": inLane,
		"-> mocka(version: v2, ip: 127.0.1.2)-> mockb(version: v1, ip: 127.0.1.4)": fellBack,
		"-> mocka(version: v1, ip: 127.0.1.1)-> mockb(version: v3, ip: 127.0.1.6)": misrouted,
	} {
		if got := m.judge("v2", body); got != want {
			t.Errorf("judge(%q) = %v, want %v", body, got, want)
		}
	}
	plain, _ := newMatcher("mocka", "", "", "", []string{"v1"})
	if plain.judge("v1", "mocka-v1\n") != inLane || plain.judge("v1", "mocka-v2\n") != misrouted {
		t.Errorf("default matcher does not judge bench/upstream's bodies")
	}
}

func TestAnalyzeEvent(t *testing.T) {
	start := time.Unix(1000, 0)
	at := func(ms int) time.Time { return start.Add(time.Duration(ms) * time.Millisecond) }
	// One request every 10 ms, answered 2 ms later; the event is at 100 ms.
	// Until 104 ms answers come from the lane; 106..196 fell back, one of
	// them lost; from 200 ms on the lane is back.
	var all []outcome
	for ms := 0; ms < 300; ms += 10 {
		o := outcome{at: at(ms), done: at(ms + 4), latency: 4 * time.Millisecond, status: 200}
		switch {
		case ms == 150:
			o.status = 503
		case ms == 250:
			o.latency = 9 * time.Millisecond
		case ms >= 110 && ms < 200:
			o.verdict = fellBack
		}
		all = append(all, o)
	}
	all = append(all, outcome{err: errDropped})
	res := analyzeEvent(firedEvent{what: "kill -9 1", at: at(100), windowStart: start}, all)
	if res.AtMS != 100 || res.Lost != 2 || res.FellBack != 8 {
		t.Errorf("at %v lost %d fell back %d, want 100, 2, 8", res.AtMS, res.Lost, res.FellBack)
	}
	if res.LastInLaneMS != 4 || res.FirstFallbackMS != 14 || res.BackInLaneMS != 104 {
		t.Errorf("last in lane %v, first fallback %v, back %v; want 4, 14, 104", res.LastInLaneMS, res.FirstFallbackMS, res.BackInLaneMS)
	}
	bins := timeline(start, all)
	if len(bins) != 3 || bins[0].InLane != 10 || bins[1].FellBack != 8 || bins[1].Failed != 1 || bins[2].InLane != 10 ||
		bins[0].MaxMS != 4 || bins[2].MaxMS != 9 {
		t.Errorf("timeline = %+v", bins)
	}
}
