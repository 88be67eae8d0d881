package route

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
)

// update regenerates testdata/fallback.txt's answers. Only commit a changed
// answer when you understand why it changed.
var update = flag.Bool("update", false, "rewrite the answers in testdata/fallback.txt from the current output")

// endpointHealth is one endpoint of a scenario: its EDS status and whether
// outlier detection has ejected it.
type endpointHealth struct {
	status  corev3.HealthStatus
	ejected bool
}

// scenarioMembers is a scenario's health view.
type scenarioMembers struct {
	names []string
	eps   [][]endpointHealth
}

func (v scenarioMembers) Len() int            { return len(v.names) }
func (v scenarioMembers) Endpoints(m int) int { return len(v.eps[m]) }
func (v scenarioMembers) Usable(m, i int) bool {
	e := v.eps[m][i]
	return Usable(EDSEligible(e.status), e.ejected)
}

// parseScenario reads "pick [from=N] NAME=STATUS[/ejected],... ...": the
// members in order, each with its endpoints (none after a bare "NAME=").
func parseScenario(line string) (scenarioMembers, int, error) {
	var v scenarioMembers
	from := 0
	fields := strings.Fields(line)
	if len(fields) == 0 || fields[0] != "pick" {
		return v, 0, fmt.Errorf("want pick [from=N] NAME=STATUS,..., got %q", line)
	}
	for _, f := range fields[1:] {
		name, eps, ok := strings.Cut(f, "=")
		if !ok {
			return v, 0, fmt.Errorf("%q: want NAME=STATUS,...", f)
		}
		if name == "from" {
			n, err := strconv.Atoi(eps)
			if err != nil {
				return v, 0, fmt.Errorf("from=%q: %w", eps, err)
			}
			from = n
			continue
		}
		var member []endpointHealth
		for _, e := range strings.Split(eps, ",") {
			if e == "" {
				continue
			}
			status, ejected := strings.CutSuffix(e, "/ejected")
			s, ok := corev3.HealthStatus_value[status]
			if !ok {
				return v, 0, fmt.Errorf("%q: unknown EDS health status %q", f, status)
			}
			member = append(member, endpointHealth{corev3.HealthStatus(s), ejected})
		}
		v.names = append(v.names, name)
		v.eps = append(v.eps, member)
	}
	return v, from, nil
}

// answer is what FirstUsable decides for a scenario, as the golden file
// writes it.
func answer(v scenarioMembers, from int) string {
	switch m := FirstUsable(v, from); {
	case m < 0:
		return "none: 503 UH"
	case m == 0:
		return v.names[m]
	default:
		return v.names[m] + " (fallback, FB)"
	}
}

// TestFallbackScenarios runs testdata/fallback.txt: each case is comment
// lines, a pick line, "----" and the member that takes the request.
func TestFallbackScenarios(t *testing.T) {
	const path = "testdata/fallback.txt"
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		out.WriteString(line + "\n")
		if !strings.HasPrefix(line, "pick") {
			continue
		}
		if i+2 >= len(lines) || lines[i+1] != "----" {
			t.Fatalf("%s:%d: a pick line must be followed by ---- and the answer", path, i+1)
		}
		v, from, err := parseScenario(line)
		if err != nil {
			t.Fatalf("%s:%d: %v", path, i+1, err)
		}
		got, want := answer(v, from), lines[i+2]
		if got != want && !*update {
			t.Errorf("%s:%d: %s\n got: %s\nwant: %s", path, i+1, line, got, want)
		}
		out.WriteString("----\n" + got + "\n")
		i += 2
	}
	if *update {
		if err := os.WriteFile(path, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFirstUsableDoesNotAllocate: the proxy decides on every request.
func TestFirstUsableDoesNotAllocate(t *testing.T) {
	v, _, err := parseScenario("pick a=UNHEALTHY,HEALTHY/ejected b=DRAINING c=UNKNOWN")
	if err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { FirstUsable(v, 0) }); n != 0 {
		t.Errorf("FirstUsable allocates %v times", n)
	}
}
