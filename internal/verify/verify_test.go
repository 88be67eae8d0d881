package verify

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	hops := Parse("-> mocka(version: v2, ip: 127.0.1.2)-> mockb(version: v1, ip: 127.0.1.4)-> mockc(version: v1, ip: 127.0.1.7)")
	want := []Hop{{"mocka", "v2", "127.0.1.2"}, {"mockb", "v1", "127.0.1.4"}, {"mockc", "v1", "127.0.1.7"}}
	if len(hops) != len(want) {
		t.Fatalf("got %v", hops)
	}
	for i := range want {
		if hops[i] != want[i] {
			t.Errorf("hop %d: %v, want %v", i, hops[i], want[i])
		}
	}
}

func TestTally(t *testing.T) {
	chain := func(vs ...string) string {
		var b strings.Builder
		for i, v := range vs {
			b.WriteString("-> " + []string{"mocka", "mockb", "mockc"}[i] + "(version: " + v + ", ip: 1.2.3.4)")
		}
		return b.String()
	}
	outcomes := []Outcome{
		{200, chain("v2", "v2", "v2")},
		{200, chain("v2", "v1", "v1")}, // fell back at mockb
		{200, chain("v2", "v2", "v1")}, // fell back at mockc
		{200, chain("v2", "v3", "v3")}, // leaked
		{200, chain("v2", "v1", "v2")}, // fell back at mockb and returned (a permissive lane)
		{200, chain("v1", "v2", "v1")}, // fell back at mocka, returned, fell back again: not returned
		{503, "no healthy upstream"},
		{0, "connection refused"},
		{200, "no chain here"},
	}
	r := Tally("v2", Expect{Default: "v2", DefaultFallback: "v1"}, outcomes)
	if r.Requests != 9 || r.InLane != 1 || r.FellBack["mockb"] != 2 || r.FellBack["mockc"] != 1 || r.FellBack["mocka"] != 1 ||
		r.Returned != 1 || r.Leaked != 1 || r.Failed != 3 {
		t.Fatalf("tally %+v", r)
	}
	if r.OK(true) {
		t.Error("a lane that leaked and failed is OK")
	}
	clean := Tally("v1", Expect{Default: "v1", DefaultFallback: "v1"}, []Outcome{{200, chain("v1", "v1", "v1")}})
	if !clean.OK(false) || clean.InLane != 1 {
		t.Errorf("clean lane %+v not OK", clean)
	}
}

func TestRunSendsLaneHeader(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := r.Header.Get("x-asm-prefer-tag")
		w.Write([]byte("-> mocka(version: " + v + ", ip: 127.0.0.1)"))
	}))
	defer srv.Close()
	reports := Run(t.Context(), Options{URL: srv.URL + "/mock", Header: "x-asm-prefer-tag", Lanes: []string{"v1", "v3"},
		Fallback: "v1", Requests: 20, Concurrency: 4, Client: srv.Client()})
	for _, r := range reports {
		if r.InLane != 20 || !r.OK(false) {
			t.Errorf("lane %s: %+v", r.Lane, r)
		}
	}
	var b strings.Builder
	Format(&b, reports)
	if !strings.Contains(b.String(), "v3    20        20") {
		t.Errorf("table:\n%s", b.String())
	}
}

func TestVersions(t *testing.T) {
	body := "-> mocka(version: v2, ip: 127.0.1.2)-> mockb(version: v1, ip: 127.0.1.4)-> mockc(version: v1, ip: 127.0.1.7)"
	if got := Versions(Parse(body)); got != "v2 v1 v1" {
		t.Errorf("Versions = %q, want %q", got, "v2 v1 v1")
	}
	if got := Versions(Parse("no chain")); got != "" {
		t.Errorf("Versions of no chain = %q", got)
	}
}
