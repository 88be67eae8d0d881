package main

import (
	"fmt"
	"regexp"
	"strings"
)

// verdict is where an answer came from, as far as its body tells.
type verdict int

const (
	inLane    verdict = iota // from the lane's own upstream (or chain)
	fellBack                 // from the designated fallback (-fallback-match)
	misrouted                // from anywhere else
)

// matcher decides from a 200 answer's body whether the request stayed in its
// lane. By default the body must be bench/upstream's "<app>-<lane>\n"; with
// expect, exactly that (a plain server); with match, a regular expression in
// which {lane} stands for the request's lane (a chain of mocks, whose body
// is the whole call chain). A body that fails those but matches fallback
// fell back.
type matcher struct {
	app, expect string
	match       map[string]*regexp.Regexp // by lane
	fallback    *regexp.Regexp
}

// newMatcher compiles the -match and -fallback-match patterns for lanes.
func newMatcher(app, expect, match, fallback string, lanes []string) (*matcher, error) {
	m := &matcher{app: app, expect: expect}
	if match != "" {
		m.match = map[string]*regexp.Regexp{}
		for _, lane := range lanes {
			re, err := regexp.Compile(strings.ReplaceAll(match, "{lane}", regexp.QuoteMeta(lane)))
			if err != nil {
				return nil, fmt.Errorf("-match: %w", err)
			}
			m.match[lane] = re
		}
	}
	if fallback != "" {
		re, err := regexp.Compile(fallback)
		if err != nil {
			return nil, fmt.Errorf("-fallback-match: %w", err)
		}
		m.fallback = re
	}
	return m, nil
}

// judge classifies a 200 answer's body for lane.
func (m *matcher) judge(lane, body string) verdict {
	var ok bool
	switch {
	case m.match != nil:
		ok = m.match[lane].MatchString(body)
	case m.expect != "":
		ok = body == m.expect
	default:
		ok = body == expectedBody(m.app, lane)
	}
	switch {
	case ok:
		return inLane
	case m.fallback != nil && m.fallback.MatchString(body):
		return fellBack
	}
	return misrouted
}

// want describes what judge accepts for lane, for error messages.
func (m *matcher) want(lane string) string {
	switch {
	case m.match != nil:
		return "a body matching " + m.match[lane].String()
	case m.expect != "":
		return fmt.Sprintf("%q", m.expect)
	}
	return fmt.Sprintf("%q", expectedBody(m.app, lane))
}
